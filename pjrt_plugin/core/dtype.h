// Element types of the chip and their host representation. The numbering is the executable
// schema's chip::exe::DType (pjrt_plugin/schema/chip_executable.fbs).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace chip {

enum class DType : uint8_t {
  kInvalid = 0,
  kPred = 1,
  kS8 = 2,
  kU8 = 3,
  kS16 = 4,
  kU16 = 5,
  kS32 = 6,
  kU32 = 7,
  kF16 = 8,
  kBF16 = 9,
  kF32 = 10,
  // complex64: (real, imag) f32 pairs. Only parameters, outputs and their storage aliases have
  // it: the compiler lowers complex computations to f32 programs (docs/compiler.md).
  kC64 = 20,
};

// Bytes per element (PRED is one byte). 0 for kInvalid.
int DTypeByteSize(DType t);
// "bf16", "s32", ...
const char* DTypeName(DType t);
bool IsFloat(DType t);  // real floating point (not complex)
bool IsSignedInt(DType t);
bool IsUnsignedInt(DType t);  // includes PRED

// Round-to-nearest-even conversions; NaN stays NaN.
uint16_t F32ToBF16Bits(float f);
float BF16BitsToF32(uint16_t b);
uint16_t F32ToF16Bits(float f);
float F16BitsToF32(uint16_t h);

}  // namespace chip
