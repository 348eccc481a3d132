// Branch-free f32 approximations of the transcendentals LLMs spend their elementwise time in
// (exp, log, tanh, logistic, erf), written so the compiler vectorizes loops over them. Accuracy
// is within a few ulp of the correctly rounded result (tests check it against double precision),
// like XLA:CPU's own approximations. Polynomial coefficients are the classic Cephes single
// precision ones (S. Moshier), evaluated without FMA contraction so results do not depend on
// the build's instruction set.
#pragma once

#include <cstdint>
#include <cstring>

#include "pjrt_plugin/core/numerics.h"

namespace chip {
namespace kernels {
namespace fast {

using num::BitsFloat;
using num::FloatBits;

// e^x. Overflow gives +inf, underflow rounds through the subnormals to 0, NaN stays NaN.
inline float Exp(float x) {
  const float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
  // n = round(x / ln2) with the 1.5 * 2^23 trick (round to nearest even, vectorizes everywhere).
  const float t = xc * 1.44269504088896341f + 12582912.0f;
  const float n = t - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // Scale by 2^n in two steps so n in [-150, 129] never leaves the normal exponent range.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni / 2;
  const int32_t n2 = ni - n1;
  const float s1 = BitsFloat(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = BitsFloat(static_cast<uint32_t>(n2 + 127) << 23);
  const float result = (p * s1) * s2;
  return x != x ? x : result;
}

// Natural logarithm. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
inline float Log(float x) {
  const bool subnormal = x < 1.17549435e-38f;
  const float xs = subnormal ? x * 8388608.0f : x;  // 2^23
  const uint32_t bits = FloatBits(xs);
  int32_t e = static_cast<int32_t>((bits >> 23) & 0xFF) - 126 - (subnormal ? 23 : 0);
  float m = BitsFloat((bits & 0x007FFFFFu) | 0x3F000000u);  // [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e -= small ? 1 : 0;
  m = (small ? m + m : m) - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  const float fe = static_cast<float>(e);
  y = y + fe * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = m + y;
  r = r + fe * 0.693359375f;
  const float inf = BitsFloat(0x7F800000u);
  r = x == inf ? inf : r;
  r = x == 0.0f ? -inf : r;
  r = (x < 0.0f || x != x) ? BitsFloat(0x7FC00000u) : r;
  return r;
}

// tanh: an odd polynomial near 0, 1 - 2 / (e^2|x| + 1) elsewhere.
inline float Tanh(float x) {
  const float ax = x < 0 ? -x : x;
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float e = Exp(2.0f * (ax > 20.0f ? 20.0f : ax));
  float large = 1.0f - 2.0f / (e + 1.0f);
  large = x < 0 ? -large : large;
  const float r = ax < 0.625f ? small : large;
  return x != x ? x : r;
}

// 1 / (1 + e^-x), accurate in both tails.
inline float Logistic(float x) {
  const float ax = x < 0 ? -x : x;
  const float e = Exp(-ax);  // in (0, 1]
  const float pos = 1.0f / (1.0f + e);
  const float r = x < 0 ? e / (1.0f + e) : pos;
  return x != x ? x : r;
}

// erf: an odd polynomial for |x| < 1 (Cephes erff); a degree-10 least-squares polynomial in
// |x| - 1.5 on [1, 2); 1 - erfc(|x|) beyond, with erfc(a) = e^-a^2 / a * R(1/a^2) (Cephes erfcf).
inline float Erf(float x) {
  const float ax = x < 0 ? -x : x;
  const float z = x * x;
  float s = 7.853861353153693e-5f;
  s = s * z - 8.010193625184903e-4f;
  s = s * z + 5.188327685732524e-3f;
  s = s * z - 2.685381193529856e-2f;
  s = s * z + 1.128358514861418e-1f;
  s = s * z - 3.761262582423300e-1f;
  s = s * z + 1.128379165726710e+0f;
  const float small = x * s;
  const float t = ax - 1.5f;
  float m = -4.159397940e-05f;
  m = m * t + 1.548232511e-03f;
  m = m * t - 2.376039047e-03f;
  m = m * t - 4.705177620e-03f;
  m = m * t + 1.932778955e-02f;
  m = m * t - 1.487016492e-02f;
  m = m * t - 4.459894821e-02f;
  m = m * t + 1.387521625e-01f;
  m = m * t - 1.783954352e-01f;
  m = m * t + 1.189302877e-01f;
  m = m * t + 9.661051631e-01f;
  const float ac = ax < 2.0f ? 2.0f : (ax > 10.0f ? 10.0f : ax);
  const float q = 1.0f / (ac * ac);
  float p = -1.047766399936249e+1f;
  p = p * q + 1.297719955372516e+1f;
  p = p * q - 7.495518717768503e+0f;
  p = p * q + 2.921019019210786e+0f;
  p = p * q - 1.015265279202700e+0f;
  p = p * q + 4.218463358204948e-1f;
  p = p * q - 2.820767439740514e-1f;
  p = p * q + 5.641895067754075e-1f;
  const float tail = 1.0f - Exp(-ac * ac) / ac * p;
  float r = ax < 1.0f ? small : (ax < 2.0f ? m : tail);
  r = (ax >= 1.0f && x < 0) ? -r : r;
  return x != x ? x : r;
}

}  // namespace fast
}  // namespace kernels
}  // namespace chip
