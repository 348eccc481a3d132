#include "pjrt_plugin/core/dtype.h"

#include "pjrt_plugin/core/numerics.h"

namespace chip {

int DTypeByteSize(DType t) {
  switch (t) {
    case DType::kPred:
    case DType::kS8:
    case DType::kU8:
      return 1;
    case DType::kS16:
    case DType::kU16:
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kS32:
    case DType::kU32:
    case DType::kF32:
      return 4;
    case DType::kC64:
      return 8;
    case DType::kInvalid:
      return 0;
  }
  return 0;
}

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kPred: return "pred";
    case DType::kS8: return "s8";
    case DType::kU8: return "u8";
    case DType::kS16: return "s16";
    case DType::kU16: return "u16";
    case DType::kS32: return "s32";
    case DType::kU32: return "u32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kF32: return "f32";
    case DType::kC64: return "c64";
    case DType::kInvalid: return "invalid";
  }
  return "invalid";
}

bool IsFloat(DType t) { return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32; }
bool IsSignedInt(DType t) { return t == DType::kS8 || t == DType::kS16 || t == DType::kS32; }
bool IsUnsignedInt(DType t) {
  return t == DType::kPred || t == DType::kU8 || t == DType::kU16 || t == DType::kU32;
}

uint16_t F32ToBF16Bits(float f) { return num::F32ToBF16(f); }
float BF16BitsToF32(uint16_t b) { return num::BF16ToF32(b); }
uint16_t F32ToF16Bits(float f) { return num::F32ToF16(f); }
float F16BitsToF32(uint16_t h) { return num::F16ToF32(h); }

}  // namespace chip
