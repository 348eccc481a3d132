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
  // Low-precision types (numbered apart from the others so that other additions merge).
  kF8E4M3FN = 20,
  kF8E5M2 = 21,
  kF8E4M3FNUZ = 22,
  kF8E5M2FNUZ = 23,
  kS4 = 24,  // packed two to a byte in device memory (element 2i in the low nibble)
  kU4 = 25,
  // complex64: (real, imag) f32 pairs. Only parameters, outputs and their storage aliases have
  // it: the compiler lowers complex computations to f32 programs (docs/compiler.md).
  kC64 = 26,
};

// Bytes per element (PRED is one byte; the 4-bit types: 1, the byte that holds one, although
// arrays of them are packed: use DTypeBits / PackedByteSize for sizes). 0 for kInvalid.
int DTypeByteSize(DType t);
// Bits per element in memory: 4 for s4/u4, else 8 * DTypeByteSize.
int DTypeBits(DType t);
// Bytes of n elements as they lie in device memory (4-bit types packed two to a byte).
int64_t PackedByteSize(DType t, int64_t n);
bool IsValidDType(DType t);
bool IsFloat8(DType t);
bool IsInt4(DType t);
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
