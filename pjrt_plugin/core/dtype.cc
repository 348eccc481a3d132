#include "pjrt_plugin/core/dtype.h"

#include "pjrt_plugin/core/numerics.h"

namespace chip {

int DTypeByteSize(DType t) {
  switch (t) {
    case DType::kPred:
    case DType::kS8:
    case DType::kU8:
    case DType::kF8E4M3FN:
    case DType::kF8E5M2:
    case DType::kF8E4M3FNUZ:
    case DType::kF8E5M2FNUZ:
    case DType::kS4:
    case DType::kU4:
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
    case DType::kF8E4M3FN: return "f8e4m3fn";
    case DType::kF8E5M2: return "f8e5m2";
    case DType::kF8E4M3FNUZ: return "f8e4m3fnuz";
    case DType::kF8E5M2FNUZ: return "f8e5m2fnuz";
    case DType::kS4: return "s4";
    case DType::kU4: return "u4";
    case DType::kC64: return "c64";
    case DType::kInvalid: return "invalid";
  }
  return "invalid";
}

int DTypeBits(DType t) { return IsInt4(t) ? 4 : 8 * DTypeByteSize(t); }

int64_t PackedByteSize(DType t, int64_t n) { return IsInt4(t) ? (n + 1) / 2 : n * DTypeByteSize(t); }

bool IsValidDType(DType t) { return DTypeByteSize(t) > 0; }

bool IsFloat8(DType t) {
  return t == DType::kF8E4M3FN || t == DType::kF8E5M2 || t == DType::kF8E4M3FNUZ || t == DType::kF8E5M2FNUZ;
}

bool IsInt4(DType t) { return t == DType::kS4 || t == DType::kU4; }

bool IsFloat(DType t) { return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || IsFloat8(t); }
bool IsSignedInt(DType t) { return t == DType::kS8 || t == DType::kS16 || t == DType::kS32 || t == DType::kS4; }
bool IsUnsignedInt(DType t) {
  return t == DType::kPred || t == DType::kU8 || t == DType::kU16 || t == DType::kU32 || t == DType::kU4;
}

uint16_t F32ToBF16Bits(float f) { return num::F32ToBF16(f); }
float BF16BitsToF32(uint16_t b) { return num::BF16ToF32(b); }
uint16_t F32ToF16Bits(float f) { return num::F32ToF16(f); }
float F16BitsToF32(uint16_t h) { return num::F16ToF32(h); }

}  // namespace chip
