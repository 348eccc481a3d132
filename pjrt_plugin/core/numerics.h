// Inline numeric helpers shared by the kernels: bit-exact bf16/f16 conversions (round to nearest
// even), rounding an f32 to a narrower float dtype, wrapping integers to a dtype's width, and
// reading/writing one element of any dtype as f32 or int64.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "pjrt_plugin/core/dtype.h"

namespace chip {
namespace num {

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t F32ToBF16(float f) {
  uint32_t x = FloatBits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
    // NaN: keep sign and the payload's top bits (so bf16 NaNs round-trip bit-exactly); a payload
    // that lived only in the dropped bits becomes the quiet NaN.
    const uint16_t h = static_cast<uint16_t>(x >> 16);
    return (h & 0x7Fu) ? h : static_cast<uint16_t>(h | 0x0040u);
  }
  uint32_t bias = 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + bias) >> 16);
}
inline float BF16ToF32(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

inline uint16_t F32ToF16(float f) {
  uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7FFFFFFFu;
  if (x >= 0x7F800000u) {
    if (x == 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00u);
    // NaN: payload's top bits kept (f16 NaNs round-trip bit-exactly), else the quiet NaN.
    const uint32_t m = (x >> 13) & 0x3FFu;
    return static_cast<uint16_t>(sign | 0x7C00u | (m ? m : 0x200u));
  }
  if (x >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to infinity
  if (x < 0x38800000u) {                                                 // f16 subnormal or zero
    if (x < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t e = x >> 23;
    const uint32_t m = (x & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  const uint32_t v = x - 0x38000000u;
  return static_cast<uint16_t>(sign | ((v + 0xFFFu + ((v >> 13) & 1u)) >> 13));
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu;
  const uint32_t m = h & 0x3FFu;
  if (e == 0) {
    float f = static_cast<float>(m) * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -f : f;
  }
  if (e == 31) return BitsFloat(sign | 0x7F800000u | (m << 13));
  return BitsFloat(sign | ((e + 112u) << 23) | (m << 13));
}

// Rounds to bf16 precision (nearest even) without leaving f32; branch-free so loops vectorize.
// Equals BF16ToF32(F32ToBF16(f)) for every f, NaNs included.
inline float RoundBF16(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) & 0xFFFF0000u;
  const uint32_t nan = (x & 0xFFFF0000u) | ((x & 0x007F0000u) ? 0u : 0x00400000u);
  return BitsFloat((x & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded);
}

// Rounds to f16 precision and range (nearest even; overflow to inf; f16 subnormals) without
// leaving f32; branch-free. Equals F16ToF32(F32ToF16(f)) for every f, NaNs included.
inline float RoundF16(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = x & 0x80000000u;
  const uint32_t ax = x & 0x7FFFFFFFu;
  // Normal f16 range: keep 10 mantissa bits.
  const uint32_t normal = (ax + 0xFFFu + ((ax >> 13) & 1u)) & 0xFFFFE000u;
  // Subnormal f16 range (|f| < 2^-14): multiples of 2^-24, rounded by the FPU (0.5 = 2^23 * 2^-24).
  const float af = BitsFloat(ax);
  const uint32_t sub = FloatBits((af + 0.5f) - 0.5f);
  uint32_t r = ax < 0x38800000u ? sub : normal;
  r = ax >= 0x477FF000u ? 0x7F800000u : r;  // rounds past 65504: infinity
  const uint32_t nan = (x & 0x7FFFE000u) | ((x & 0x007FE000u) ? 0u : 0x00400000u);
  r = ax > 0x7F800000u ? (nan & 0x7FFFFFFFu) : r;
  return BitsFloat(sign | r);
}

// Rounds an f32 value to the precision of float dtype `t` (identity for f32).
inline float RoundTo(DType t, float f) {
  switch (t) {
    case DType::kBF16: return RoundBF16(f);
    case DType::kF16: return RoundF16(f);
    default: return f;
  }
}

// Wraps an integer to the width of integer dtype `t` (PRED: nonzero -> 1).
inline int64_t WrapTo(DType t, int64_t v) {
  switch (t) {
    case DType::kPred: return v != 0;
    case DType::kS8: return static_cast<int8_t>(v);
    case DType::kU8: return static_cast<uint8_t>(v);
    case DType::kS16: return static_cast<int16_t>(v);
    case DType::kU16: return static_cast<uint16_t>(v);
    case DType::kS32: return static_cast<int32_t>(v);
    case DType::kU32: return static_cast<uint32_t>(v);
    default: return v;
  }
}

inline int BitWidth(DType t) { return t == DType::kPred ? 1 : 8 * DTypeByteSize(t); }

inline int64_t MinValue(DType t) {
  switch (t) {
    case DType::kS8: return std::numeric_limits<int8_t>::min();
    case DType::kS16: return std::numeric_limits<int16_t>::min();
    case DType::kS32: return std::numeric_limits<int32_t>::min();
    default: return 0;
  }
}
inline int64_t MaxValue(DType t) {
  switch (t) {
    case DType::kPred: return 1;
    case DType::kS8: return std::numeric_limits<int8_t>::max();
    case DType::kU8: return std::numeric_limits<uint8_t>::max();
    case DType::kS16: return std::numeric_limits<int16_t>::max();
    case DType::kU16: return std::numeric_limits<uint16_t>::max();
    case DType::kS32: return std::numeric_limits<int32_t>::max();
    case DType::kU32: return std::numeric_limits<uint32_t>::max();
    default: return 0;
  }
}

// XLA's float -> integer conversion: truncate toward zero, saturate, NaN -> 0 (PRED: x != 0).
inline int64_t FloatToInt(DType t, float f) {
  if (t == DType::kPred) return f != 0.0f;
  if (std::isnan(f)) return 0;
  const double d = std::trunc(static_cast<double>(f));
  const double lo = static_cast<double>(MinValue(t)), hi = static_cast<double>(MaxValue(t));
  if (d <= lo) return MinValue(t);
  if (d >= hi) return MaxValue(t);
  return static_cast<int64_t>(d);
}

// Converts n contiguous elements of float dtype t (f32, bf16, f16) to f32. False, with dst
// untouched, when t is not a float dtype.
inline bool FloatRowToF32(DType t, const void* src, int64_t n, float* dst) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return true;
    case DType::kBF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = BF16ToF32(s[i]);
      return true;
    }
    case DType::kF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(s[i]);
      return true;
    }
    default: return false;
  }
}

// One element of dtype `t` at `p` as f32 (floats) or int64 (integers, pred).
inline float LoadAsFloat(DType t, const void* p) {
  switch (t) {
    case DType::kF32: { float f; std::memcpy(&f, p, 4); return f; }
    case DType::kBF16: { uint16_t b; std::memcpy(&b, p, 2); return BF16ToF32(b); }
    case DType::kF16: { uint16_t b; std::memcpy(&b, p, 2); return F16ToF32(b); }
    default: return 0.0f;
  }
}
inline int64_t LoadAsInt(DType t, const void* p) {
  switch (t) {
    case DType::kPred: return *static_cast<const uint8_t*>(p) != 0;
    case DType::kS8: return *static_cast<const int8_t*>(p);
    case DType::kU8: return *static_cast<const uint8_t*>(p);
    case DType::kS16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case DType::kU16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case DType::kS32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::kU32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    default: return 0;
  }
}
inline void StoreFloat(DType t, void* p, float f) {
  switch (t) {
    case DType::kF32: std::memcpy(p, &f, 4); break;
    case DType::kBF16: { uint16_t b = F32ToBF16(f); std::memcpy(p, &b, 2); break; }
    case DType::kF16: { uint16_t b = F32ToF16(f); std::memcpy(p, &b, 2); break; }
    default: break;
  }
}
inline void StoreInt(DType t, void* p, int64_t v) {
  switch (t) {
    case DType::kPred: *static_cast<uint8_t*>(p) = v != 0; break;
    case DType::kS8: case DType::kU8: *static_cast<uint8_t*>(p) = static_cast<uint8_t>(v); break;
    case DType::kS16: case DType::kU16: { uint16_t x = static_cast<uint16_t>(v); std::memcpy(p, &x, 2); break; }
    case DType::kS32: case DType::kU32: { uint32_t x = static_cast<uint32_t>(v); std::memcpy(p, &x, 4); break; }
    default: break;
  }
}

}  // namespace num
}  // namespace chip
