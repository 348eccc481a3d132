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

// ---- fp8 (float8_e4m3fn, float8_e5m2 and their fnuz variants) ---------------------------------
//
// XLA's semantics (what XLA:CPU computes, tests/test_lowp.py): round to nearest even; e4m3fn has
// no infinity (overflow and +-inf become NaN, sign kept), e5m2 overflows to +-inf, the fnuz types
// have one NaN (0x80: overflow, inf and NaN) and no -0. XLA converts f32 to e4m3fn and e5m2
// through f16 (two roundings); to the fnuz types directly. Any NaN becomes e4m3fn/e5m2's
// sign|0x7F (e4m3fn); e5m2 truncates f16's NaN bits and sets the quiet bit. An f8 register holds
// the f32 value; an e5m2 NaN keeps its payload as f16 would (converting it to f32/bf16 quiets it).

struct Fp8Format {
  int mbits;        // mantissa bits
  int bias;
  int emax_field;   // largest exponent field of a finite value
  uint8_t max_mag;  // bits of the largest finite magnitude
  bool ieee;        // infinities and NaNs like IEEE (e5m2)
  bool fnuz;        // NaN is 0x80; no -0
};

inline const Fp8Format& Fp8Of(DType t) {
  static constexpr Fp8Format kE4M3FN{3, 7, 15, 0x7E, false, false};
  static constexpr Fp8Format kE5M2{2, 15, 30, 0x7B, true, false};
  static constexpr Fp8Format kE4M3FNUZ{3, 8, 15, 0x7F, false, true};
  static constexpr Fp8Format kE5M2FNUZ{2, 16, 31, 0x7F, false, true};
  switch (t) {
    case DType::kF8E5M2: return kE5M2;
    case DType::kF8E4M3FNUZ: return kE4M3FNUZ;
    case DType::kF8E5M2FNUZ: return kE5M2FNUZ;
    default: return kE4M3FN;
  }
}

// The value of f8 bits (NaN: sign|quiet NaN; e5m2 NaNs keep their f16 payload).
inline float Fp8ToF32(DType t, uint8_t b) {
  if (t == DType::kF8E5M2) return F16ToF32(static_cast<uint16_t>(b) << 8);
  const Fp8Format& f = Fp8Of(t);
  if (f.fnuz && b == 0x80) return BitsFloat(0x7FC00000u);
  const bool neg = (b & 0x80u) != 0;
  if (!f.fnuz && (b & 0x7Fu) == 0x7Fu) return BitsFloat((neg ? 0x80000000u : 0u) | 0x7FC00000u);
  const int e = (b & 0x7F) >> f.mbits;
  const int m = b & ((1 << f.mbits) - 1);
  const float mag = e == 0 ? std::ldexp(static_cast<float>(m), 1 - f.bias - f.mbits)
                           : std::ldexp(static_cast<float>(m + (1 << f.mbits)), e - f.bias - f.mbits);
  return neg ? -mag : mag;
}

// Fp8ToF32 of all 256 bit patterns of fp8 type t (built once), for loops over arrays.
inline const float* Fp8Table(DType t) {
  struct Table {
    float v[4][256];
    Table() {
      const DType types[4] = {DType::kF8E4M3FN, DType::kF8E5M2, DType::kF8E4M3FNUZ, DType::kF8E5M2FNUZ};
      for (int k = 0; k < 4; ++k) {
        for (int b = 0; b < 256; ++b) v[k][b] = Fp8ToF32(types[k], static_cast<uint8_t>(b));
      }
    }
  };
  static const Table table;
  switch (t) {
    case DType::kF8E5M2: return table.v[1];
    case DType::kF8E4M3FNUZ: return table.v[2];
    case DType::kF8E5M2FNUZ: return table.v[3];
    default: return table.v[0];
  }
}

// Rounds a finite-or-infinite non-NaN f32 to f8 bits directly (nearest even).
inline uint8_t F32ToFp8Direct(const Fp8Format& f, float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const uint8_t overflow = f.fnuz ? 0x80 : f.ieee ? static_cast<uint8_t>(sign | 0x7C) : static_cast<uint8_t>(sign | 0x7F);
  const float a = std::fabs(x);
  if (std::isinf(a)) return overflow;
  const int emin = 1 - f.bias;
  int e = 0;
  std::frexp(a, &e);
  e -= 1;  // a = 1.m * 2^e
  const int qexp = (e < emin ? emin : e) - f.mbits;
  const double r = std::nearbyint(std::ldexp(static_cast<double>(a), -qexp));  // default mode: even
  if (r == 0) return f.fnuz ? 0 : sign;
  const double v = std::ldexp(r, qexp);
  int ve = 0;
  std::frexp(v, &ve);
  ve -= 1;
  if (ve < emin) return static_cast<uint8_t>(sign | static_cast<int>(r));  // subnormal
  const int field = ve + f.bias;
  const int mant = static_cast<int>(std::ldexp(v, f.mbits - ve)) - (1 << f.mbits);
  const int bits = (field << f.mbits) | mant;
  if (field > f.emax_field || bits > f.max_mag) return overflow;
  return static_cast<uint8_t>(sign | bits);
}

// XLA's f32 -> f8 conversion.
inline uint8_t F32ToFp8(DType t, float x) {
  const Fp8Format& f = Fp8Of(t);
  if (std::isnan(x)) {
    if (f.fnuz) return 0x80;
    const uint8_t sign = std::signbit(x) ? 0x80 : 0;
    // e5m2: f16's NaN bits truncated, quiet bit set (f32 bit 21 is the kept payload bit).
    if (f.ieee) return static_cast<uint8_t>(sign | 0x7E | ((FloatBits(x) >> 21) & 1u));
    return static_cast<uint8_t>(sign | 0x7F);
  }
  if (!f.fnuz) x = F16ToF32(F32ToF16(x));  // XLA:CPU rounds to f16 first
  return F32ToFp8Direct(f, x);
}

// Stores an f8 register value (already an f8 value, or NaN) as bits; e5m2 NaNs keep their payload.
inline uint8_t StoreFp8Bits(DType t, float x) {
  if (t == DType::kF8E5M2 && std::isnan(x)) return static_cast<uint8_t>(F32ToF16(x) >> 8);
  return F32ToFp8(t, x);
}

// Rounds f32 to the value of f8 type t as XLA's conversion does (NaN: the f8's canonical NaN).
inline float RoundFp8(DType t, float x) { return Fp8ToF32(t, F32ToFp8(t, x)); }

// ---- 4-bit integers: element i of a packed array is the low nibble of byte i/2 for even i, the
// high nibble for odd i.

inline int64_t LoadInt4(DType t, const uint8_t* base, int64_t i) {
  const int nib = (base[i >> 1] >> ((i & 1) * 4)) & 0xF;
  return t == DType::kS4 ? static_cast<int64_t>((nib ^ 8) - 8) : nib;
}
inline void StoreInt4(uint8_t* base, int64_t i, int64_t v) {
  const int shift = static_cast<int>(i & 1) * 4;
  uint8_t& byte = base[i >> 1];
  byte = static_cast<uint8_t>((byte & ~(0xF << shift)) | ((static_cast<int>(v) & 0xF) << shift));
}

// Rounds an f32 value to the precision of float dtype `t` (identity for f32).
inline float RoundTo(DType t, float f) {
  switch (t) {
    case DType::kBF16: return RoundBF16(f);
    case DType::kF16: return RoundF16(f);
    case DType::kF8E4M3FN:
    case DType::kF8E5M2:
    case DType::kF8E4M3FNUZ:
    case DType::kF8E5M2FNUZ: return RoundFp8(t, f);
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
    case DType::kS4: return static_cast<int64_t>(((v & 0xF) ^ 8) - 8);
    case DType::kU4: return v & 0xF;
    default: return v;
  }
}

inline int BitWidth(DType t) { return t == DType::kPred ? 1 : DTypeBits(t); }

inline int64_t MinValue(DType t) {
  switch (t) {
    case DType::kS8: return std::numeric_limits<int8_t>::min();
    case DType::kS16: return std::numeric_limits<int16_t>::min();
    case DType::kS32: return std::numeric_limits<int32_t>::min();
    case DType::kS4: return -8;
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
    case DType::kS4: return 7;
    case DType::kU4: return 15;
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
    case DType::kF8E4M3FN:
    case DType::kF8E5M2:
    case DType::kF8E4M3FNUZ:
    case DType::kF8E5M2FNUZ: {
      const uint8_t* s = static_cast<const uint8_t*>(src);
      const float* table = Fp8Table(t);
      for (int64_t i = 0; i < n; ++i) dst[i] = table[s[i]];
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
    case DType::kF8E4M3FN:
    case DType::kF8E5M2:
    case DType::kF8E4M3FNUZ:
    case DType::kF8E5M2FNUZ: return Fp8ToF32(t, *static_cast<const uint8_t*>(p));
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
    case DType::kF8E4M3FN:
    case DType::kF8E5M2:
    case DType::kF8E4M3FNUZ:
    case DType::kF8E5M2FNUZ: *static_cast<uint8_t*>(p) = F32ToFp8(t, f); break;
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
