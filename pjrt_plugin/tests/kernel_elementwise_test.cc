// The fused elementwise kernel: every EwOp on every dtype it takes, against reference loops on
// random inputs; views (broadcast, transpose, strided slices, reverse), tiles, 0-d and size-0,
// multi-output, in-place updates, and the parallel path.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using exe::EwOp;
using testing::Dims;
using testing::HostTensor;
using testing::InstrSpec;
using testing::ProgramBuilder;

const DType kFloats[] = {DType::kF32, DType::kBF16, DType::kF16};
const DType kInts[] = {DType::kS8, DType::kU8, DType::kS16, DType::kU16, DType::kS32, DType::kU32};
const DType kAll[] = {DType::kPred, DType::kS8, DType::kU8, DType::kS16, DType::kU16,
                      DType::kS32,  DType::kU32, DType::kF16, DType::kBF16, DType::kF32};

int Width(DType t) { return t == DType::kPred ? 1 : 8 * DTypeByteSize(t); }
int64_t Wrap(DType t, int64_t v) {
  if (t == DType::kPred) return v != 0;
  const int w = Width(t);
  const uint64_t m = (uint64_t{1} << w) - 1;
  uint64_t u = static_cast<uint64_t>(v) & m;
  if (IsSignedInt(t) && (u >> (w - 1))) u |= ~m;
  return static_cast<int64_t>(u);
}
int64_t IntMin(DType t) { return IsSignedInt(t) ? -(int64_t{1} << (Width(t) - 1)) : 0; }
int64_t IntMax(DType t) {
  if (t == DType::kPred) return 1;
  return IsSignedInt(t) ? (int64_t{1} << (Width(t) - 1)) - 1 : (int64_t{1} << Width(t)) - 1;
}
float RoundTo(DType t, double v) {
  HostTensor h(t, {});
  h.Set(0, v);
  return static_cast<float>(h.Get(0));
}

// Runs one op over inputs loaded through identity views: registers 0..n-1 load the inputs, the
// op is register n with operands 0, 1, 2.
HostTensor RunOp(EwOp op, DType result, const std::vector<HostTensor>& ins, int64_t imm_i = 0, double imm_f = 0) {
  ProgramBuilder pb("ew_" + std::to_string(static_cast<int>(op)));
  const Dims dims = ins.empty() ? Dims{} : ins[0].info.dims;
  std::vector<int> in_values;
  testing::ElementwiseSpec spec;
  spec.dims = dims;
  for (size_t i = 0; i < ins.size(); ++i) {
    in_values.push_back(pb.Param(ins[i].info.dtype, ins[i].info.dims));
    spec.views.push_back(testing::IdentityView(static_cast<int>(i), dims));
    spec.instrs.push_back({EwOp::LOAD, ins[i].info.dtype, static_cast<int>(i)});
  }
  const int n = static_cast<int>(ins.size());
  spec.instrs.push_back({op, result, 0, n > 1 ? 1 : 0, n > 2 ? 2 : 0, imm_i, imm_f});
  spec.results.push_back({n, 0});
  const int out = pb.Output(result, dims);
  pb.Elementwise(in_values, {out}, spec);
  testing::RunResult r = testing::Run(pb.Finish(), ins);
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  return r.status.ok() ? r.outputs[0] : HostTensor(result, dims);
}

bool SameFloat(double got, double want, double rel, double abs_tol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= abs_tol + rel * std::fabs(want);
}

// ---- floating ops ----------------------------------------------------------------------------------

struct FloatOp {
  EwOp op;
  int arity;
  std::function<double(double, double, double)> ref;  // evaluated in double (or float, see `exact`)
  bool exact;  // IEEE-exact in f32: compare bit-exactly after rounding
  double lo = -4, hi = 4;
};

double RoundF32(double x) { return static_cast<float>(x); }

std::vector<FloatOp> FloatOps() {
  auto f2 = [](auto fn) { return [fn](double a, double b, double) { return fn(a, b); }; };
  auto f1 = [](auto fn) { return [fn](double a, double, double) { return fn(a); }; };
  auto nanmax = [](double a, double b) { return (std::isnan(a) || std::isnan(b)) ? NAN : std::max(a, b); };
  auto nanmin = [](double a, double b) { return (std::isnan(a) || std::isnan(b)) ? NAN : std::min(a, b); };
  return {
      {EwOp::ADD, 2, f2([](double a, double b) { return RoundF32(a + b); }), true},
      {EwOp::SUB, 2, f2([](double a, double b) { return RoundF32(a - b); }), true},
      {EwOp::MUL, 2, f2([](double a, double b) { return RoundF32(a * b); }), true},
      {EwOp::DIV, 2, f2([](double a, double b) { return RoundF32(a / b); }), true},
      {EwOp::MAX, 2, f2(nanmax), true},
      {EwOp::MIN, 2, f2(nanmin), true},
      {EwOp::POW, 2, f2([](double a, double b) { return std::pow(a, b); }), false, 0.1, 3},
      {EwOp::REM, 2, f2([](double a, double b) { return std::fmod(a, b); }), true},
      {EwOp::ATAN2, 2, f2([](double a, double b) { return std::atan2(a, b); }), false},
      {EwOp::NEG, 1, f1([](double a) { return -a; }), true},
      {EwOp::ABS, 1, f1([](double a) { return std::fabs(a); }), true},
      {EwOp::SIGN, 1, f1([](double a) { return a > 0 ? 1.0 : a < 0 ? -1.0 : a; }), true},
      {EwOp::EXP, 1, f1([](double a) { return std::exp(a); }), false},
      {EwOp::EXPM1, 1, f1([](double a) { return std::expm1(a); }), false},
      {EwOp::LOG, 1, f1([](double a) { return std::log(a); }), false, 0.01, 50},
      {EwOp::LOG1P, 1, f1([](double a) { return std::log1p(a); }), false, -0.9, 50},
      {EwOp::TANH, 1, f1([](double a) { return std::tanh(a); }), false},
      {EwOp::LOGISTIC, 1, f1([](double a) { return 1.0 / (1.0 + std::exp(-a)); }), false, -20, 20},
      {EwOp::SQRT, 1, f1([](double a) { return RoundF32(std::sqrt(a)); }), true, 0, 100},
      {EwOp::RSQRT, 1, f1([](double a) { return 1.0 / std::sqrt(a); }), false, 0.01, 100},
      {EwOp::CBRT, 1, f1([](double a) { return std::cbrt(a); }), false, -50, 50},
      {EwOp::SIN, 1, f1([](double a) { return std::sin(a); }), false, -10, 10},
      {EwOp::COS, 1, f1([](double a) { return std::cos(a); }), false, -10, 10},
      {EwOp::TAN, 1, f1([](double a) { return std::tan(a); }), false, -1.4, 1.4},
      {EwOp::ERF, 1, f1([](double a) { return std::erf(a); }), false},
      {EwOp::FLOOR, 1, f1([](double a) { return std::floor(a); }), true, -40, 40},
      {EwOp::CEIL, 1, f1([](double a) { return std::ceil(a); }), true, -40, 40},
      {EwOp::ROUND_NEAREST_EVEN, 1,
       f1([](double a) {
         const double r = std::floor(a);
         const double d = a - r;
         if (d > 0.5) return r + 1;
         if (d < 0.5) return r;
         return std::fmod(r, 2.0) == 0 ? r : r + 1;
       }),
       true, -40, 40},
      {EwOp::ROUND_AFZ, 1, f1([](double a) { return a < 0 ? -std::floor(-a + 0.5) : std::floor(a + 0.5); }), true,
       -40, 40},
      {EwOp::CLAMP, 3, [nanmax, nanmin](double lo, double x, double hi) { return nanmin(nanmax(x, lo), hi); }, true},
  };
}

class FloatOpTest : public ::testing::TestWithParam<DType> {};

TEST_P(FloatOpTest, MatchesReference) {
  const DType t = GetParam();
  std::mt19937 rng(static_cast<unsigned>(t) * 7919);
  const double rel = t == DType::kF32 ? 2e-6 : t == DType::kF16 ? 2e-3 : 1.6e-2;
  for (const FloatOp& op : FloatOps()) {
    for (const Dims& dims : {Dims{3, 7, 37}, Dims{}, Dims{1029}}) {
      std::vector<HostTensor> ins;
      for (int i = 0; i < op.arity; ++i) ins.push_back(testing::Random(t, dims, rng, op.lo, op.hi));
      if (op.op == EwOp::CLAMP) {  // keep lo <= hi mostly, with some inverted pairs
        for (int64_t i = 0; i < ins[0].size(); ++i) {
          if (i % 5 && ins[0].Get(i) > ins[2].Get(i)) {
            const double a = ins[0].Get(i);
            ins[0].Set(i, ins[2].Get(i));
            ins[2].Set(i, a);
          }
        }
      }
      const HostTensor out = RunOp(op.op, t, ins);
      for (int64_t i = 0; i < out.size(); ++i) {
        const double a = ins[0].Get(i);
        const double b = op.arity > 1 ? ins[1].Get(i) : 0;
        const double c = op.arity > 2 ? ins[2].Get(i) : 0;
        const double want = RoundTo(t, op.ref(a, b, c));
        const double got = out.Get(i);
        if (op.exact) {
          ASSERT_TRUE(SameFloat(got, want, 0, 0))
              << DTypeName(t) << " op " << static_cast<int>(op.op) << " (" << a << ", " << b << ", " << c
              << ") = " << got << ", want " << want;
        } else {
          ASSERT_TRUE(SameFloat(got, want, rel, 1e-6))
              << DTypeName(t) << " op " << static_cast<int>(op.op) << " (" << a << ", " << b << ") = " << got
              << ", want " << want;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Floats, FloatOpTest, ::testing::ValuesIn(kFloats),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

TEST(Elementwise, FloatNaNAndSpecialValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  HostTensor a(DType::kF32, {6}), b(DType::kF32, {6});
  const float av[] = {nan, 1.0f, -inf, 2.0f, -0.0f, 3.0f};
  const float bv[] = {1.0f, nan, 5.0f, 2.0f, 0.0f, inf};
  for (int i = 0; i < 6; ++i) {
    a.Set(i, av[i]);
    b.Set(i, bv[i]);
  }
  HostTensor mx = RunOp(EwOp::MAX, DType::kF32, {a, b});
  HostTensor mn = RunOp(EwOp::MIN, DType::kF32, {a, b});
  EXPECT_TRUE(std::isnan(mx.Get(0)));
  EXPECT_TRUE(std::isnan(mx.Get(1)));
  EXPECT_TRUE(std::isnan(mn.Get(0)));
  EXPECT_TRUE(std::isnan(mn.Get(1)));
  EXPECT_EQ(mx.Get(2), 5.0);
  EXPECT_EQ(mn.Get(2), -inf);
  EXPECT_EQ(mx.Get(5), inf);
  HostTensor eq = RunOp(EwOp::CMP_EQ, DType::kPred, {a, b});
  HostTensor ne = RunOp(EwOp::CMP_NE, DType::kPred, {a, b});
  HostTensor lt = RunOp(EwOp::CMP_LT, DType::kPred, {a, b});
  EXPECT_EQ(eq.GetInt(0), 0);
  EXPECT_EQ(ne.GetInt(0), 1);
  EXPECT_EQ(lt.GetInt(1), 0);
  EXPECT_EQ(eq.GetInt(3), 1);
  EXPECT_EQ(eq.GetInt(4), 1);  // -0 == +0
  HostTensor fin = RunOp(EwOp::IS_FINITE, DType::kPred, {a});
  EXPECT_EQ(fin.GetInt(0), 0);
  EXPECT_EQ(fin.GetInt(1), 1);
  EXPECT_EQ(fin.GetInt(2), 0);
  HostTensor sg = RunOp(EwOp::SIGN, DType::kF32, {a});
  EXPECT_TRUE(std::isnan(sg.Get(0)));
  EXPECT_EQ(sg.Bits(4), 0x80000000u);  // sign(-0) = -0
  // Float -> int conversion: NaN -> 0, saturating, truncating toward zero.
  HostTensor c(DType::kF32, {7});
  const float cv[] = {nan, inf, -inf, 1e10f, -1e10f, -2.7f, 2.7f};
  for (int i = 0; i < 7; ++i) c.Set(i, cv[i]);
  HostTensor s8 = RunOp(EwOp::CONVERT, DType::kS8, {c});
  const int64_t want_s8[] = {0, 127, -128, 127, -128, -2, 2};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(s8.GetInt(i), want_s8[i]) << i;
  HostTensor u32 = RunOp(EwOp::CONVERT, DType::kU32, {c});
  const int64_t want_u32[] = {0, 4294967295LL, 0, 4294967295LL, 0, 0, 2};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(u32.GetInt(i), want_u32[i]) << i;
  HostTensor s32 = RunOp(EwOp::CONVERT, DType::kS32, {c});
  const int64_t want_s32[] = {0, 2147483647LL, -2147483648LL, 2147483647LL, -2147483648LL, -2, 2};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(s32.GetInt(i), want_s32[i]) << i;
  HostTensor pr = RunOp(EwOp::CONVERT, DType::kPred, {c});
  for (int i = 0; i < 7; ++i) EXPECT_EQ(pr.GetInt(i), 1) << i;  // NaN != 0
}

TEST(Elementwise, BF16RoundsAfterEveryInstruction) {
  // (a + b) - a in bf16: the sum is rounded to bf16 before the subtraction.
  ProgramBuilder pb;
  const int a = pb.Param(DType::kBF16, {4});
  const int b = pb.Param(DType::kBF16, {4});
  const int out = pb.Output(DType::kBF16, {4});
  testing::ElementwiseSpec spec;
  spec.dims = {4};
  spec.views = {testing::IdentityView(0, {4}), testing::IdentityView(1, {4})};
  spec.instrs = {{EwOp::LOAD, DType::kBF16, 0}, {EwOp::LOAD, DType::kBF16, 1},
                 {EwOp::ADD, DType::kBF16, 0, 1}, {EwOp::SUB, DType::kBF16, 2, 0}};
  spec.results = {{3, 0}};
  pb.Elementwise({a, b}, {out}, spec);
  HostTensor x(DType::kBF16, {4}), y(DType::kBF16, {4});
  const double xs[] = {256, 1, 1000, -3}, ys[] = {1, 0.001, 3, 0.0078125};
  for (int i = 0; i < 4; ++i) {
    x.Set(i, xs[i]);
    y.Set(i, ys[i]);
  }
  auto r = testing::Run(pb.Finish(), {x, y});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 4; ++i) {
    const float sum = RoundTo(DType::kBF16, static_cast<float>(x.Get(i)) + static_cast<float>(y.Get(i)));
    EXPECT_EQ(r.outputs[0].Get(i), RoundTo(DType::kBF16, sum - static_cast<float>(x.Get(i)))) << i;
  }
  EXPECT_EQ(r.outputs[0].Get(0), 0.0);  // 256 + 1 rounds back to 256 in bf16
}

// ---- integer ops -----------------------------------------------------------------------------------

int64_t RefIntPow(int64_t base, int64_t e, DType t) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
  uint64_t r = 1;
  for (int64_t i = 0; i < e; ++i) r *= static_cast<uint64_t>(base);
  return Wrap(t, static_cast<int64_t>(r));
}

struct IntOp {
  EwOp op;
  int arity;
  std::function<int64_t(int64_t, int64_t, int64_t, DType)> ref;
};

std::vector<IntOp> IntOps() {
  auto shift_amount = [](int64_t b, DType t) {
    return static_cast<uint64_t>(b) & ((uint64_t{1} << Width(t)) - 1);
  };
  return {
      {EwOp::ADD, 2, [](int64_t a, int64_t b, int64_t, DType t) { return Wrap(t, a + b); }},
      {EwOp::SUB, 2, [](int64_t a, int64_t b, int64_t, DType t) { return Wrap(t, a - b); }},
      {EwOp::MUL, 2, [](int64_t a, int64_t b, int64_t, DType t) {
         return Wrap(t, static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b)));
       }},
      {EwOp::DIV, 2, [](int64_t a, int64_t b, int64_t, DType t) {
         if (b == 0) return Wrap(t, -1);
         if (IsSignedInt(t) && a == IntMin(t) && b == -1) return a;
         return a / b;
       }},
      {EwOp::REM, 2, [](int64_t a, int64_t b, int64_t, DType t) {
         if (b == 0) return a;
         if (IsSignedInt(t) && a == IntMin(t) && b == -1) return int64_t{0};
         return a % b;
       }},
      {EwOp::MAX, 2, [](int64_t a, int64_t b, int64_t, DType) { return std::max(a, b); }},
      {EwOp::MIN, 2, [](int64_t a, int64_t b, int64_t, DType) { return std::min(a, b); }},
      {EwOp::POW, 2, [](int64_t a, int64_t b, int64_t, DType t) { return RefIntPow(a, b, t); }},
      {EwOp::NEG, 1, [](int64_t a, int64_t, int64_t, DType t) { return Wrap(t, -a); }},
      {EwOp::ABS, 1, [](int64_t a, int64_t, int64_t, DType t) { return Wrap(t, a < 0 ? -a : a); }},
      {EwOp::SIGN, 1, [](int64_t a, int64_t, int64_t, DType) { return int64_t{(a > 0) - (a < 0)}; }},
      {EwOp::AND, 2, [](int64_t a, int64_t b, int64_t, DType t) { return Wrap(t, a & b); }},
      {EwOp::OR, 2, [](int64_t a, int64_t b, int64_t, DType t) { return Wrap(t, a | b); }},
      {EwOp::XOR, 2, [](int64_t a, int64_t b, int64_t, DType t) { return Wrap(t, a ^ b); }},
      {EwOp::NOT, 1, [](int64_t a, int64_t, int64_t, DType t) { return Wrap(t, ~a); }},
      {EwOp::SHL, 2, [shift_amount](int64_t a, int64_t b, int64_t, DType t) {
         const uint64_t s = shift_amount(b, t);
         return s >= static_cast<uint64_t>(Width(t)) ? 0 : Wrap(t, static_cast<int64_t>(static_cast<uint64_t>(a) << s));
       }},
      {EwOp::SHR_LOGICAL, 2, [shift_amount](int64_t a, int64_t b, int64_t, DType t) {
         const uint64_t s = shift_amount(b, t);
         const uint64_t bits = static_cast<uint64_t>(a) & ((uint64_t{1} << Width(t)) - 1);
         return s >= static_cast<uint64_t>(Width(t)) ? 0 : Wrap(t, static_cast<int64_t>(bits >> s));
       }},
      {EwOp::SHR_ARITHMETIC, 2, [shift_amount](int64_t a, int64_t b, int64_t, DType t) {
         const uint64_t s = shift_amount(b, t);
         const uint64_t bits = static_cast<uint64_t>(a) & ((uint64_t{1} << Width(t)) - 1);
         const bool negative = (bits >> (Width(t) - 1)) & 1;
         if (s >= static_cast<uint64_t>(Width(t))) return Wrap(t, negative ? -1 : 0);
         uint64_t r = bits >> s;
         if (negative) r |= ~((uint64_t{1} << (Width(t) - s)) - 1);  // sign fill
         return Wrap(t, static_cast<int64_t>(r));
       }},
      {EwOp::POPCNT, 1, [](int64_t a, int64_t, int64_t, DType t) {
         uint64_t bits = static_cast<uint64_t>(a) & ((uint64_t{1} << Width(t)) - 1);
         int64_t n = 0;
         for (; bits; bits >>= 1) n += bits & 1;
         return n;
       }},
      {EwOp::CLZ, 1, [](int64_t a, int64_t, int64_t, DType t) {
         const uint64_t bits = static_cast<uint64_t>(a) & ((uint64_t{1} << Width(t)) - 1);
         int64_t n = 0;
         for (int64_t i = Width(t) - 1; i >= 0 && !((bits >> i) & 1); --i) ++n;
         return n;
       }},
      {EwOp::CLAMP, 3, [](int64_t lo, int64_t x, int64_t hi, DType) { return std::min(std::max(x, lo), hi); }},
      {EwOp::MUL_HI, 2, [](int64_t a, int64_t b, int64_t, DType t) {
         // the double-width product in 128 bits, then its high half
         if (IsSignedInt(t)) return static_cast<int64_t>((static_cast<__int128>(a) * b) >> Width(t));
         const unsigned __int128 m = (static_cast<unsigned __int128>(1) << Width(t)) - 1;
         const unsigned __int128 p = (static_cast<unsigned __int128>(static_cast<uint64_t>(a)) & m) *
                                     (static_cast<unsigned __int128>(static_cast<uint64_t>(b)) & m);
         return static_cast<int64_t>(p >> Width(t));
       }},
  };
}

class IntOpTest : public ::testing::TestWithParam<DType> {};

TEST_P(IntOpTest, MatchesReference) {
  const DType t = GetParam();
  std::mt19937 rng(static_cast<unsigned>(t) * 104729);
  for (const IntOp& op : IntOps()) {
    if ((op.op == EwOp::NEG || op.op == EwOp::ABS || op.op == EwOp::SIGN) && false) continue;
    for (const Dims& dims : {Dims{5, 111}, Dims{}, Dims{2049}}) {
      std::vector<HostTensor> ins;
      for (int i = 0; i < op.arity; ++i) ins.push_back(testing::Random(t, dims, rng));
      const int64_t n = ins[0].size();
      if (op.arity == 2) {
        for (int64_t i = 0; i < n; ++i) {
          if (op.op == EwOp::DIV || op.op == EwOp::REM) {
            if (i % 7 == 0) ins[1].SetInt(i, 0);
            if (i % 11 == 0) ins[0].SetInt(i, IntMin(t));
            if (i % 13 == 0) ins[1].SetInt(i, -1);
            if (i % 3 == 1) ins[1].SetInt(i, static_cast<int64_t>(rng() % 9) - 4);  // small divisors
          } else if (op.op == EwOp::POW) {
            ins[1].SetInt(i, static_cast<int64_t>(rng() % 16) - (IsSignedInt(t) ? 4 : 0));
            if (i % 5 == 0) ins[0].SetInt(i, static_cast<int64_t>(rng() % 5) - 2);  // -2..2
          } else if (op.op == EwOp::SHL || op.op == EwOp::SHR_LOGICAL || op.op == EwOp::SHR_ARITHMETIC) {
            if (i % 4) ins[1].SetInt(i, static_cast<int64_t>(rng() % (2 * Width(t))));  // in and out of range
          }
        }
      }
      const HostTensor out = RunOp(op.op, t, ins);
      for (int64_t i = 0; i < out.size(); ++i) {
        const int64_t a = ins[0].GetInt(i);
        const int64_t b = op.arity > 1 ? ins[1].GetInt(i) : 0;
        const int64_t c = op.arity > 2 ? ins[2].GetInt(i) : 0;
        const int64_t want = Wrap(t, op.ref(a, b, c, t));
        ASSERT_EQ(out.GetInt(i), want) << DTypeName(t) << " op " << static_cast<int>(op.op) << " (" << a << ", "
                                       << b << ", " << c << ")";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ints, IntOpTest, ::testing::ValuesIn(kInts),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

TEST(Elementwise, PredLogic) {
  std::mt19937 rng(5);
  HostTensor a = testing::Random(DType::kPred, {300}, rng);
  HostTensor b = testing::Random(DType::kPred, {300}, rng);
  HostTensor band = RunOp(EwOp::AND, DType::kPred, {a, b});
  HostTensor bor = RunOp(EwOp::OR, DType::kPred, {a, b});
  HostTensor bxor = RunOp(EwOp::XOR, DType::kPred, {a, b});
  HostTensor bnot = RunOp(EwOp::NOT, DType::kPred, {a});
  HostTensor eq = RunOp(EwOp::CMP_EQ, DType::kPred, {a, b});
  HostTensor lt = RunOp(EwOp::CMP_LT, DType::kPred, {a, b});
  for (int i = 0; i < 300; ++i) {
    const int64_t x = a.GetInt(i), y = b.GetInt(i);
    ASSERT_EQ(band.GetInt(i), x & y);
    ASSERT_EQ(bor.GetInt(i), x | y);
    ASSERT_EQ(bxor.GetInt(i), x ^ y);
    ASSERT_EQ(bnot.GetInt(i), 1 - x);
    ASSERT_EQ(eq.GetInt(i), x == y);
    ASSERT_EQ(lt.GetInt(i), x < y);
    ASSERT_TRUE(bnot.bytes[i] == 0 || bnot.bytes[i] == 1);
  }
}

TEST(Elementwise, ComparesAndSelectEveryDtype) {
  std::mt19937 rng(6);
  for (DType t : kAll) {
    HostTensor a = testing::Random(t, {3, 100}, rng, -3, 3);
    HostTensor b = testing::Random(t, {3, 100}, rng, -3, 3);
    for (int64_t i = 0; i < a.size(); i += 4) b.Set(i, a.Get(i));  // some equal pairs
    const EwOp ops[] = {EwOp::CMP_EQ, EwOp::CMP_NE, EwOp::CMP_LT, EwOp::CMP_LE, EwOp::CMP_GT, EwOp::CMP_GE};
    for (int k = 0; k < 6; ++k) {
      HostTensor r = RunOp(ops[k], DType::kPred, {a, b});
      for (int64_t i = 0; i < a.size(); ++i) {
        const double x = a.Get(i), y = b.Get(i);
        const bool want = k == 0 ? x == y : k == 1 ? x != y : k == 2 ? x < y : k == 3 ? x <= y : k == 4 ? x > y : x >= y;
        ASSERT_EQ(r.GetInt(i), want) << DTypeName(t) << " cmp " << k << " " << x << " " << y;
      }
    }
    HostTensor p = testing::Random(DType::kPred, {3, 100}, rng);
    HostTensor s = RunOp(EwOp::SELECT, t, {p, a, b});
    for (int64_t i = 0; i < a.size(); ++i) ASSERT_EQ(s.Bits(i), p.GetInt(i) ? a.Bits(i) : b.Bits(i)) << DTypeName(t);
  }
}

TEST(Elementwise, ConvertEveryPair) {
  std::mt19937 rng(7);
  for (DType from : kAll) {
    HostTensor x = testing::Random(from, {517}, rng, -300, 300);
    if (IsFloat(from)) {
      x.Set(0, 1e9);
      x.Set(1, -1e9);
      x.Set(2, std::numeric_limits<float>::quiet_NaN());
      x.Set(3, 70000.5);
      x.Set(4, 0.0);
    }
    for (DType to : kAll) {
      HostTensor y = RunOp(EwOp::CONVERT, to, {x});
      for (int64_t i = 0; i < x.size(); ++i) {
        const double v = x.Get(i);
        if (IsFloat(to)) {
          const double want = RoundTo(to, static_cast<float>(v));
          ASSERT_TRUE(SameFloat(y.Get(i), want, 0, 0)) << DTypeName(from) << "->" << DTypeName(to) << " " << v;
        } else if (to == DType::kPred) {
          ASSERT_EQ(y.GetInt(i), v != 0 ? 1 : 0) << DTypeName(from) << "->pred " << v;
        } else if (IsFloat(from)) {
          int64_t want = 0;
          if (!std::isnan(v)) {
            const double tr = std::trunc(v);
            want = tr <= IntMin(to) ? IntMin(to) : tr >= IntMax(to) ? IntMax(to) : static_cast<int64_t>(tr);
          }
          ASSERT_EQ(y.GetInt(i), want) << DTypeName(from) << "->" << DTypeName(to) << " " << v;
        } else {
          ASSERT_EQ(y.GetInt(i), Wrap(to, x.GetInt(i))) << DTypeName(from) << "->" << DTypeName(to);
        }
      }
    }
  }
}

TEST(Elementwise, BitcastConvertSameWidth) {
  std::mt19937 rng(8);
  const std::vector<std::vector<DType>> groups = {
      {DType::kS8, DType::kU8}, {DType::kS16, DType::kU16, DType::kF16, DType::kBF16},
      {DType::kS32, DType::kU32, DType::kF32}};
  for (const auto& g : groups) {
    for (DType from : g) {
      HostTensor x(from, {257});
      for (int64_t i = 0; i < x.size(); ++i) {  // arbitrary bit patterns, NaNs included
        const uint32_t bits = rng();
        std::memcpy(x.at(i), &bits, DTypeByteSize(from));
      }
      for (DType to : g) {
        HostTensor y = RunOp(EwOp::BITCAST_CONVERT, to, {x});
        for (int64_t i = 0; i < x.size(); ++i) {
          ASSERT_EQ(y.Bits(i), x.Bits(i)) << DTypeName(from) << "->" << DTypeName(to) << " at " << i;
        }
      }
    }
  }
}

TEST(Elementwise, ReducePrecision) {
  std::mt19937 rng(9);
  HostTensor x = testing::Random(DType::kF32, {4000}, rng, -70000, 70000);
  for (int64_t i = 0; i < 1000; ++i) x.Set(i, x.Get(i) * 1e-9);  // tiny values (f16 subnormal range)
  HostTensor bf = RunOp(EwOp::REDUCE_PRECISION, DType::kF32, {x}, (8 << 16) | 7);
  HostTensor hf = RunOp(EwOp::REDUCE_PRECISION, DType::kF32, {x}, (5 << 16) | 10);
  HostTensor id = RunOp(EwOp::REDUCE_PRECISION, DType::kF32, {x}, (8 << 16) | 23);
  for (int64_t i = 0; i < x.size(); ++i) {
    const float v = static_cast<float>(x.Get(i));
    ASSERT_EQ(bf.Get(i), RoundTo(DType::kBF16, v)) << v;
    ASSERT_EQ(id.Bits(i), x.Bits(i));
    // 10 mantissa bits rounded at any exponent, then the 5-bit exponent range (no denormals).
    int e = 0;
    const double m = std::frexp(static_cast<double>(v), &e);
    const double r = std::ldexp(std::nearbyint(m * 2048.0) / 2048.0, e);
    if (std::fabs(r) > 65504.0) {
      ASSERT_TRUE(std::isinf(hf.Get(i))) << v;
    } else if (std::fabs(r) < 6.103515625e-05) {
      ASSERT_EQ(hf.Get(i), 0.0) << v;
      ASSERT_EQ(std::signbit(hf.Get(i)), std::signbit(v));
    } else {
      ASSERT_EQ(hf.Get(i), r) << v;
    }
  }
  EXPECT_TRUE(std::isnan(kernels::ReducePrecision(std::nanf(""), 5, 10)));
  EXPECT_TRUE(std::isinf(kernels::ReducePrecision(1e30f, 5, 10)));
}

// ---- CONST, IOTA, views --------------------------------------------------------------------------

TEST(Elementwise, ConstAndIota) {
  const Dims dims = {3, 5, 7};
  for (DType t : kAll) {
    for (int dim = 0; dim < 3; ++dim) {
      ProgramBuilder pb;
      const int out = pb.Output(t, dims);
      const int out2 = pb.Output(t, dims);
      testing::ElementwiseSpec spec;
      spec.dims = dims;
      spec.instrs = {{EwOp::IOTA, t, dim}, {EwOp::CONST, t, 0, 0, 0, 3, 2.5}, {EwOp::ADD, t, 0, 1}};
      spec.results = {{0, 0}, {2, 1}};
      pb.Elementwise({}, {out, out2}, spec);
      auto r = testing::Run(pb.Finish(), {});
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      const double c = IsFloat(t) ? 2.5 : 3;
      for (int64_t i = 0; i < 105; ++i) {
        const int64_t idx[] = {i / 35, (i / 7) % 5, i % 7};
        HostTensor expect(t, {2});
        expect.Set(0, static_cast<double>(idx[dim]));
        if (IsFloat(t)) expect.Set(1, RoundTo(t, static_cast<float>(idx[dim]) + 2.5f));
        else expect.SetInt(1, Wrap(t, idx[dim] + static_cast<int64_t>(c)));
        ASSERT_EQ(r.outputs[0].Bits(i), expect.Bits(0)) << DTypeName(t) << " dim " << dim;
        ASSERT_EQ(r.outputs[1].Bits(i), expect.Bits(1)) << DTypeName(t) << " dim " << dim;
      }
    }
  }
}

TEST(Elementwise, ViewsBroadcastTransposeSliceReverse) {
  std::mt19937 rng(10);
  // x: f32[6, 10]. Iteration space [5, 3]:
  //   view0: transpose-with-stride slice x[1:6, 2:8:2]^T-ish: element (i, j) = x[1 + i, 2 + 2j]
  //   view1: broadcast of row vector y[3] along dim 0 (stride 0)
  //   view2: reverse along dim 1 of x[0, 0:3]: element (i, j) = x[0, 2 - j]
  //   view3: transpose of z[3, 5]: element (i, j) = z[j, i]
  HostTensor x = testing::Random(DType::kF32, {6, 10}, rng);
  HostTensor y = testing::Random(DType::kF32, {3}, rng);
  HostTensor z = testing::Random(DType::kF32, {3, 5}, rng);
  ProgramBuilder pb;
  const int vx = pb.Param(DType::kF32, {6, 10});
  const int vy = pb.Param(DType::kF32, {3});
  const int vz = pb.Param(DType::kF32, {3, 5});
  const int out = pb.Output(DType::kF32, {5, 3});
  testing::ElementwiseSpec spec;
  spec.dims = {5, 3};
  spec.views = {{0, 12, {10, 2}}, {1, 0, {0, 1}}, {0, 2, {0, -1}}, {2, 0, {1, 5}}};
  spec.instrs = {{EwOp::LOAD, DType::kF32, 0}, {EwOp::LOAD, DType::kF32, 1}, {EwOp::LOAD, DType::kF32, 2},
                 {EwOp::LOAD, DType::kF32, 3}, {EwOp::MUL, DType::kF32, 0, 1}, {EwOp::ADD, DType::kF32, 4, 2},
                 {EwOp::SUB, DType::kF32, 5, 3}};
  spec.results = {{6, 0}};
  pb.Elementwise({vx, vy, vz}, {out}, spec);
  auto r = testing::Run(pb.Finish(), {x, y, z});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 3; ++j) {
      const float a = static_cast<float>(x.Get((1 + i) * 10 + 2 + 2 * j));
      const float b = static_cast<float>(y.Get(j));
      const float c = static_cast<float>(x.Get(2 - j));
      const float d = static_cast<float>(z.Get(j * 5 + i));
      EXPECT_EQ(r.outputs[0].Get(i * 3 + j), (a * b + c) - d) << i << "," << j;
    }
  }
}

TEST(Elementwise, ZeroDAndSizeZero) {
  std::mt19937 rng(11);
  HostTensor s = testing::Random(DType::kBF16, {}, rng);
  HostTensor r0 = RunOp(EwOp::EXP, DType::kBF16, {s});
  EXPECT_TRUE(SameFloat(r0.Get(0), RoundTo(DType::kBF16, std::exp(static_cast<float>(s.Get(0)))), 0.01, 0));
  HostTensor e(DType::kS32, {0, 5}), f(DType::kS32, {0, 5});
  HostTensor r1 = RunOp(EwOp::ADD, DType::kS32, {e, f});
  EXPECT_EQ(r1.size(), 0);
  EXPECT_EQ(r1.info.dims, (Dims{0, 5}));
}

TEST(Elementwise, MultipleOutputsAndDeadCode) {
  std::mt19937 rng(12);
  HostTensor a = testing::Random(DType::kF32, {1000}, rng);
  ProgramBuilder pb;
  const int va = pb.Param(DType::kF32, {1000});
  const int o0 = pb.Output(DType::kF32, {1000});
  const int o1 = pb.Output(DType::kBF16, {1000});
  testing::ElementwiseSpec spec;
  spec.dims = {1000};
  spec.views = {testing::IdentityView(0, {1000})};
  spec.instrs = {{EwOp::LOAD, DType::kF32, 0},   {EwOp::EXP, DType::kF32, 0},  // dead
                 {EwOp::NEG, DType::kF32, 0},    {EwOp::CONVERT, DType::kBF16, 2},
                 {EwOp::MUL, DType::kF32, 0, 0}};
  spec.results = {{4, 0}, {3, 1}};
  pb.Elementwise({va}, {o0, o1}, spec);
  auto r = testing::Run(pb.Finish(), {a});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 1000; ++i) {
    const float x = static_cast<float>(a.Get(i));
    ASSERT_EQ(r.outputs[0].Get(i), x * x);
    ASSERT_EQ(r.outputs[1].Get(i), RoundTo(DType::kBF16, -x));
  }
}

TEST(Elementwise, BroadcastScalarsAndConstantsAcrossTiles) {
  // Invariant registers (a broadcast scalar and constant chain) with a tile-crossing size.
  std::mt19937 rng(13);
  HostTensor x = testing::Random(DType::kF16, {7, 301}, rng);
  HostTensor s = testing::Random(DType::kF16, {}, rng);
  ProgramBuilder pb;
  const int vx = pb.Param(DType::kF16, {7, 301});
  const int vs = pb.Param(DType::kF16, {});
  const int out = pb.Output(DType::kF16, {7, 301});
  testing::ElementwiseSpec spec;
  spec.dims = {7, 301};
  spec.views = {testing::IdentityView(0, {7, 301}), {1, 0, {0, 0}}};
  spec.instrs = {{EwOp::LOAD, DType::kF16, 0},
                 {EwOp::LOAD, DType::kF16, 1},
                 {EwOp::CONST, DType::kF16, 0, 0, 0, 0, 0.1},
                 {EwOp::MUL, DType::kF16, 1, 2},
                 {EwOp::ADD, DType::kF16, 0, 3}};
  spec.results = {{4, 0}};
  pb.Elementwise({vx, vs}, {out}, spec);
  auto r = testing::Run(pb.Finish(), {x, s});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const float c = RoundTo(DType::kF16, 0.1);
  const float sc = RoundTo(DType::kF16, static_cast<float>(s.Get(0)) * c);
  for (int64_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(r.outputs[0].Get(i), RoundTo(DType::kF16, static_cast<float>(x.Get(i)) + sc)) << i;
  }
}

TEST(Elementwise, InvariantLoadNextToAnIotaOfSizeOne) {
  // dims [1, 700]: dim 0 is kept for the IOTA; the scalar view has a nonzero stride on it.
  std::mt19937 rng(17);
  HostTensor s = testing::Random(DType::kS32, {1}, rng, -50, 50, false);
  ProgramBuilder pb;
  const int vs = pb.Param(DType::kS32, {1});
  const int out = pb.Output(DType::kS32, {1, 700});
  testing::ElementwiseSpec spec;
  spec.dims = {1, 700};
  spec.views = {{0, 0, {7, 0}}};
  spec.instrs = {{EwOp::LOAD, DType::kS32, 0}, {EwOp::IOTA, DType::kS32, 0}, {EwOp::IOTA, DType::kS32, 1},
                 {EwOp::ADD, DType::kS32, 0, 1}, {EwOp::ADD, DType::kS32, 3, 2}};
  spec.results = {{4, 0}};
  pb.Elementwise({vs}, {out}, spec);
  auto r = testing::Run(pb.Finish(), {s});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 700; ++i) ASSERT_EQ(r.outputs[0].GetInt(i), s.GetInt(0) + i);
}

TEST(Elementwise, BroadcastScalarIntoFewerElementsThanATile) {
  // Regression: an invariant (broadcast) load over an iteration space smaller than a tile.
  std::mt19937 rng(18);
  for (const Dims& dims : {Dims{5}, Dims{3, 4}, Dims{}}) {
    HostTensor s = testing::Random(DType::kBF16, {}, rng);
    HostTensor x = testing::Random(DType::kBF16, dims, rng);
    ProgramBuilder pb;
    const int vs = pb.Param(DType::kBF16, {});
    const int vx = pb.Param(DType::kBF16, dims);
    const int out = pb.Output(DType::kBF16, dims);
    testing::ElementwiseSpec spec;
    spec.dims = dims;
    spec.views = {{0, 0, std::vector<int64_t>(dims.size(), 0)}, testing::IdentityView(1, dims)};
    spec.instrs = {{EwOp::LOAD, DType::kBF16, 0}, {EwOp::LOAD, DType::kBF16, 1}, {EwOp::SUB, DType::kBF16, 1, 0}};
    spec.results = {{2, 0}};
    pb.Elementwise({vs, vx}, {out}, spec);
    auto r = testing::Run(pb.Finish(), {s, x});
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    for (int64_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(r.outputs[0].Get(i), RoundTo(DType::kBF16, static_cast<float>(x.Get(i)) - static_cast<float>(s.Get(0))));
    }
  }
}

TEST(Elementwise, LargeParallel) {
  std::mt19937 rng(14);
  const Dims dims = {3, 100003};
  HostTensor a = testing::Random(DType::kBF16, dims, rng);
  HostTensor b = testing::Random(DType::kBF16, dims, rng);
  HostTensor r = RunOp(EwOp::MUL, DType::kBF16, {a, b});
  for (int64_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(r.Get(i), RoundTo(DType::kBF16, static_cast<float>(a.Get(i)) * static_cast<float>(b.Get(i)))) << i;
  }
}

TEST(Elementwise, InPlaceUpdateOfDonatedParameter) {
  // out0 aliases param 0 (donated): out = x + 1 computed in place, and a transposed read of the
  // same buffer into out1 must see the original values.
  std::mt19937 rng(15);
  HostTensor x = testing::Random(DType::kS32, {64, 48}, rng, -1000, 1000, false);
  ProgramBuilder pb;
  pb.Param(DType::kS32, {64, 48}, /*aliased_output=*/0);
  const int o0 = pb.Output(DType::kS32, {64, 48}, /*aliased_parameter=*/0);
  const int o1 = pb.Output(DType::kS32, {48, 64});
  // Kernel 0: out1 = transpose(out0) (out0 starts out holding x).
  testing::ElementwiseSpec transpose;
  transpose.dims = {48, 64};
  transpose.views = {{0, 0, {1, 48}}};
  transpose.instrs = {{EwOp::LOAD, DType::kS32, 0}};
  transpose.results = {{0, 0}};
  pb.Elementwise({o0}, {o1}, transpose);
  // Kernel 1: out0 = out0 + 1, in place.
  testing::ElementwiseSpec inc;
  inc.dims = {64, 48};
  inc.views = {testing::IdentityView(0, {64, 48})};
  inc.instrs = {{EwOp::LOAD, DType::kS32, 0}, {EwOp::CONST, DType::kS32, 0, 0, 0, 1}, {EwOp::ADD, DType::kS32, 0, 1}};
  inc.results = {{2, 0}};
  pb.Elementwise({o0}, {o0}, inc);
  const std::string bytes = pb.Finish();
  for (bool donate : {false, true}) {
    auto program = LoadedProgram::Load(bytes);
    ASSERT_TRUE(program.ok()) << program.status().ToString();
    ChipDevice& dev = testing::TestDevice();
    auto arg = dev.CreateFromHost(x.info, x.bytes.data()).value();
    void* arg_memory = arg->allocation->data();
    std::vector<std::shared_ptr<DeviceArray>> outs = {
        std::make_shared<DeviceArray>(0, program.value()->output(0), AsyncEvent::Create()),
        std::make_shared<DeviceArray>(0, program.value()->output(1), AsyncEvent::Create())};
    ASSERT_TRUE(dev.EnqueueExecute(program.value(), {arg}, {donate}, outs)->Await().ok());
    ASSERT_TRUE(outs[0]->ready->Await().ok());
    EXPECT_EQ(outs[0]->allocation->data() == arg_memory, donate);
    const int32_t* o0p = static_cast<const int32_t*>(outs[0]->allocation->data());
    const int32_t* o1p = static_cast<const int32_t*>(outs[1]->allocation->data());
    const int32_t* argp = static_cast<const int32_t*>(arg->allocation->data());
    for (int i = 0; i < 64; ++i) {
      for (int j = 0; j < 48; ++j) {
        ASSERT_EQ(o1p[j * 64 + i], x.GetInt(i * 48 + j));
        ASSERT_EQ(o0p[i * 48 + j], x.GetInt(i * 48 + j) + 1);
        if (!donate) {
          ASSERT_EQ(argp[i * 48 + j], x.GetInt(i * 48 + j));  // argument untouched
        }
      }
    }
  }
}

TEST(Elementwise, OverlappingNonIdentityViewIsStaged) {
  // out = reverse(out) in place: the read of the same memory through a reversed view must see the
  // original values (the kernel stages its output).
  std::mt19937 rng(16);
  HostTensor x = testing::Random(DType::kF32, {5000}, rng);
  ProgramBuilder pb;
  pb.Param(DType::kF32, {5000}, 0);
  const int o = pb.Output(DType::kF32, {5000}, 0);
  testing::ElementwiseSpec spec;
  spec.dims = {5000};
  spec.views = {{0, 4999, {-1}}};
  spec.instrs = {{EwOp::LOAD, DType::kF32, 0}};
  spec.results = {{0, 0}};
  pb.Elementwise({o}, {o}, spec);
  auto r = testing::RunOn(testing::TestDevice(), pb.Finish(), {x}, {true});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(r.outputs[0].Get(i), x.Get(4999 - i));
}

}  // namespace
}  // namespace chip
