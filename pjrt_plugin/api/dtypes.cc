#include "pjrt_plugin/api/dtypes.h"

#include <string>

namespace chip::api {

const char* PjrtTypeName(PJRT_Buffer_Type type) {
  switch (type) {
    case PJRT_Buffer_Type_INVALID: return "invalid";
    case PJRT_Buffer_Type_PRED: return "bool";
    case PJRT_Buffer_Type_S8: return "int8";
    case PJRT_Buffer_Type_S16: return "int16";
    case PJRT_Buffer_Type_S32: return "int32";
    case PJRT_Buffer_Type_S64: return "int64";
    case PJRT_Buffer_Type_U8: return "uint8";
    case PJRT_Buffer_Type_U16: return "uint16";
    case PJRT_Buffer_Type_U32: return "uint32";
    case PJRT_Buffer_Type_U64: return "uint64";
    case PJRT_Buffer_Type_F16: return "float16";
    case PJRT_Buffer_Type_F32: return "float32";
    case PJRT_Buffer_Type_F64: return "float64";
    case PJRT_Buffer_Type_BF16: return "bfloat16";
    case PJRT_Buffer_Type_C64: return "complex64";
    case PJRT_Buffer_Type_C128: return "complex128";
    case PJRT_Buffer_Type_F8E5M2: return "float8_e5m2";
    case PJRT_Buffer_Type_F8E4M3FN: return "float8_e4m3fn";
    case PJRT_Buffer_Type_F8E4M3B11FNUZ: return "float8_e4m3b11fnuz";
    case PJRT_Buffer_Type_F8E5M2FNUZ: return "float8_e5m2fnuz";
    case PJRT_Buffer_Type_F8E4M3FNUZ: return "float8_e4m3fnuz";
    case PJRT_Buffer_Type_S4: return "int4";
    case PJRT_Buffer_Type_U4: return "uint4";
    case PJRT_Buffer_Type_TOKEN: return "token";
    case PJRT_Buffer_Type_S2: return "int2";
    case PJRT_Buffer_Type_U2: return "uint2";
    case PJRT_Buffer_Type_F8E4M3: return "float8_e4m3";
    case PJRT_Buffer_Type_F8E3M4: return "float8_e3m4";
    case PJRT_Buffer_Type_F8E8M0FNU: return "float8_e8m0fnu";
    case PJRT_Buffer_Type_F4E2M1FN: return "float4_e2m1fn";
  }
  return "unknown";
}

namespace {

// What to use instead of a type the chip lacks.
const char* Suggestion(PJRT_Buffer_Type type) {
  switch (type) {
    case PJRT_Buffer_Type_S64: return "use int32 (jax_enable_x64 off)";
    case PJRT_Buffer_Type_U64: return "use uint32 (jax_enable_x64 off)";
    case PJRT_Buffer_Type_F64: return "use float32 (jax_enable_x64 off)";
    case PJRT_Buffer_Type_C128: return "use complex64 (jax_enable_x64 off)";
    case PJRT_Buffer_Type_F8E4M3B11FNUZ:
    case PJRT_Buffer_Type_F8E4M3:
    case PJRT_Buffer_Type_F8E3M4:
    case PJRT_Buffer_Type_F8E8M0FNU:
    case PJRT_Buffer_Type_F4E2M1FN: return "use bfloat16 or float16";
    case PJRT_Buffer_Type_S2: return "use int4 or int8";
    case PJRT_Buffer_Type_U2: return "use uint4 or uint8";
    default: return "supported types are bool, int4, uint4, int8, uint8, int16, uint16, int32, uint32, float16, bfloat16, float32, float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, complex64";
  }
}

}  // namespace

StatusOr<DType> FromPjrtType(PJRT_Buffer_Type type, const char* context) {
  switch (type) {
    case PJRT_Buffer_Type_PRED: return DType::kPred;
    case PJRT_Buffer_Type_S8: return DType::kS8;
    case PJRT_Buffer_Type_U8: return DType::kU8;
    case PJRT_Buffer_Type_S16: return DType::kS16;
    case PJRT_Buffer_Type_U16: return DType::kU16;
    case PJRT_Buffer_Type_S32: return DType::kS32;
    case PJRT_Buffer_Type_U32: return DType::kU32;
    case PJRT_Buffer_Type_F16: return DType::kF16;
    case PJRT_Buffer_Type_BF16: return DType::kBF16;
    case PJRT_Buffer_Type_F32: return DType::kF32;
    case PJRT_Buffer_Type_F8E4M3FN: return DType::kF8E4M3FN;
    case PJRT_Buffer_Type_F8E5M2: return DType::kF8E5M2;
    case PJRT_Buffer_Type_F8E4M3FNUZ: return DType::kF8E4M3FNUZ;
    case PJRT_Buffer_Type_F8E5M2FNUZ: return DType::kF8E5M2FNUZ;
    case PJRT_Buffer_Type_S4: return DType::kS4;
    case PJRT_Buffer_Type_U4: return DType::kU4;
    case PJRT_Buffer_Type_C64: return DType::kC64;
    default: break;
  }
  return InvalidArgument(std::string(context) + ": " + PjrtTypeName(type) +
                         " (PJRT_Buffer_Type " + std::to_string(static_cast<int>(type)) +
                         ") is not supported on the chip; " + Suggestion(type));
}

PJRT_Buffer_Type ToPjrtType(DType dtype) {
  switch (dtype) {
    case DType::kPred: return PJRT_Buffer_Type_PRED;
    case DType::kS8: return PJRT_Buffer_Type_S8;
    case DType::kU8: return PJRT_Buffer_Type_U8;
    case DType::kS16: return PJRT_Buffer_Type_S16;
    case DType::kU16: return PJRT_Buffer_Type_U16;
    case DType::kS32: return PJRT_Buffer_Type_S32;
    case DType::kU32: return PJRT_Buffer_Type_U32;
    case DType::kF16: return PJRT_Buffer_Type_F16;
    case DType::kBF16: return PJRT_Buffer_Type_BF16;
    case DType::kF32: return PJRT_Buffer_Type_F32;
    case DType::kF8E4M3FN: return PJRT_Buffer_Type_F8E4M3FN;
    case DType::kF8E5M2: return PJRT_Buffer_Type_F8E5M2;
    case DType::kF8E4M3FNUZ: return PJRT_Buffer_Type_F8E4M3FNUZ;
    case DType::kF8E5M2FNUZ: return PJRT_Buffer_Type_F8E5M2FNUZ;
    case DType::kS4: return PJRT_Buffer_Type_S4;
    case DType::kU4: return PJRT_Buffer_Type_U4;
    case DType::kC64: return PJRT_Buffer_Type_C64;
    case DType::kInvalid: break;
  }
  return PJRT_Buffer_Type_INVALID;
}

}  // namespace chip::api
