// Accuracy of the vectorizable f32 transcendentals (kernels/fast_math.h) against double
// precision, and the branch-free bf16/f16 rounding against the bit-exact conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "pjrt_plugin/kernels/fast_math.h"
#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/core/dtype.h"

namespace chip {
namespace {

namespace fast = kernels::fast;

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t ToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Error in units of the last place of the f32 nearest the exact value.
double UlpError(float got, double exact) {
  const float r = static_cast<float>(exact);
  if (std::isinf(r)) return got == r ? 0 : 1e9;
  const double ulp = std::max(std::nextafter(std::fabs(r), std::numeric_limits<float>::infinity()) - std::fabs(r),
                              static_cast<float>(std::numeric_limits<float>::denorm_min()));
  return std::fabs(static_cast<double>(got) - exact) / ulp;
}

template <typename Fast, typename Exact>
double MaxUlp(Fast f, Exact e, double lo, double hi, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    const float x = static_cast<float>(i < n / 2 ? lo + (hi - lo) * i / (n / 2)
                                                 : std::uniform_real_distribution<double>(lo, hi)(rng));
    worst = std::max(worst, UlpError(f(x), e(static_cast<double>(x))));
  }
  return worst;
}

TEST(FastMath, Exp) {
  auto e = [](double x) { return std::exp(x); };
  EXPECT_LE(MaxUlp(fast::Exp, e, -87, 88.7, 400000, 1), 2.0);
  EXPECT_LE(MaxUlp(fast::Exp, e, -1, 1, 100000, 2), 2.0);
  // Subnormal results: within one subnormal step.
  for (float x = -103.9f; x < -87.4f; x += 0.01f) {
    EXPECT_NEAR(fast::Exp(x), std::exp(static_cast<double>(x)), 2 * std::numeric_limits<float>::denorm_min()) << x;
  }
  EXPECT_EQ(fast::Exp(-200.0f), 0.0f);
  EXPECT_EQ(fast::Exp(89.0f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fast::Exp(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fast::Exp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isnan(fast::Exp(std::nanf(""))));
  EXPECT_EQ(fast::Exp(0.0f), 1.0f);
}

TEST(FastMath, Log) {
  std::mt19937 rng(3);
  double worst = 0;
  for (int i = 0; i < 1000000; ++i) {
    const float x = FromBits(rng() % 0x7F800000u);  // every positive finite magnitude, subnormals too
    if (x == 0) continue;
    worst = std::max(worst, UlpError(fast::Log(x), std::log(static_cast<double>(x))));
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_LE(MaxUlp(fast::Log, [](double x) { return std::log(x); }, 0.5, 2.0, 200000, 4), 2.0);
  EXPECT_EQ(fast::Log(0.0f), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(fast::Log(1.0f), 0.0f);
  EXPECT_EQ(fast::Log(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fast::Log(-1.0f)));
  EXPECT_TRUE(std::isnan(fast::Log(std::nanf(""))));
}

TEST(FastMath, TanhLogisticErf) {
  EXPECT_LE(MaxUlp(fast::Tanh, [](double x) { return std::tanh(x); }, -12, 12, 400000, 5), 3.0);
  EXPECT_LE(MaxUlp(fast::Tanh, [](double x) { return std::tanh(x); }, -1e-3, 1e-3, 10000, 6), 2.0);
  EXPECT_EQ(fast::Tanh(50.0f), 1.0f);
  EXPECT_EQ(fast::Tanh(-50.0f), -1.0f);
  EXPECT_EQ(fast::Tanh(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_TRUE(std::isnan(fast::Tanh(std::nanf(""))));
  auto logistic = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  EXPECT_LE(MaxUlp(fast::Logistic, logistic, -80, 40, 400000, 7), 3.0);
  EXPECT_EQ(fast::Logistic(200.0f), 1.0f);
  EXPECT_EQ(fast::Logistic(-200.0f), 0.0f);
  EXPECT_TRUE(std::isnan(fast::Logistic(std::nanf(""))));
  // erf: absolute error (it is used around 0 and saturates at +-1).
  std::mt19937 rng(8);
  double worst = 0;
  for (int i = 0; i < 400000; ++i) {
    const float x = static_cast<float>(std::uniform_real_distribution<double>(-6, 6)(rng));
    worst = std::max(worst, std::fabs(fast::Erf(x) - std::erf(static_cast<double>(x))));
  }
  EXPECT_LE(worst, 3e-7);
  EXPECT_LE(MaxUlp(fast::Erf, [](double x) { return std::erf(x); }, -0.9, 0.9, 100000, 9), 3.0);
  EXPECT_EQ(fast::Erf(10.0f), 1.0f);
  EXPECT_EQ(fast::Erf(-10.0f), -1.0f);
  EXPECT_TRUE(std::isnan(fast::Erf(std::nanf(""))));
}

TEST(FastMath, BranchFreeRoundingMatchesConversions) {
  std::mt19937 rng(10);
  auto check = [](uint32_t u) {
    const float f = FromBits(u);
    ASSERT_EQ(ToBits(num::RoundBF16(f)), ToBits(BF16BitsToF32(F32ToBF16Bits(f)))) << std::hex << u;
    ASSERT_EQ(ToBits(num::RoundF16(f)), ToBits(F16BitsToF32(F32ToF16Bits(f)))) << std::hex << u;
  };
  for (int i = 0; i < 2000000; ++i) check(rng());
  // Around every f16 and bf16 boundary: subnormals, the normal/subnormal edge, overflow, NaNs.
  for (uint32_t e = 0x30000000u; e < 0x48000000u; e += 0x00100000u) {
    for (uint32_t m = 0; m < 0x2000; m += 7) {
      check(e | m);
      check(e | 0x80000000u | m);
      check(e + 0x1000u - 3 + (m & 7));
    }
  }
  for (uint32_t u : {0x7F800000u, 0xFF800000u, 0x7F800001u, 0x7FC00000u, 0xFFFFFFFFu, 0x7F801234u, 0x477FEFFFu,
                     0x477FF000u, 0x38800000u, 0x387FFFFFu, 0x33000000u, 0x33000001u, 0u, 0x80000000u}) {
    check(u);
  }
}

}  // namespace
}  // namespace chip
