// The TriangularSolve kernel against a float64 substitution on random well-conditioned systems:
// left and right side, lower and upper, transposed, unit diagonal, batches, f32/bf16; the
// untouched triangle is garbage and must not be read; and its validation errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "pjrt_plugin/kernels/triangular_solve.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using testing::Dims;
using testing::HostTensor;

struct Flags {
  bool left = true, lower = true, unit = false, transpose = false;
};

std::string Build(const Flags& f) {
  flatbuffers::FlatBufferBuilder b;
  exe::TriangularSolveBuilder tb(b);
  tb.add_left_side(f.left);
  tb.add_lower(f.lower);
  tb.add_unit_diagonal(f.unit);
  tb.add_transpose_a(f.transpose);
  b.Finish(tb.Finish());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

const exe::TriangularSolve& Op(const std::string& bytes) {
  return *flatbuffers::GetRoot<exe::TriangularSolve>(bytes.data());
}

// op(a)[i][k] of one batch, reading only the triangle the flags name (as float64).
double OpA(const HostTensor& a, int64_t base, int64_t m, const Flags& f, int64_t i, int64_t k) {
  const int64_t r = f.transpose ? k : i, c = f.transpose ? i : k;
  if (r == c) return f.unit ? 1.0 : a.Get(base + r * m + c);
  const bool in_triangle = f.lower ? r > c : r < c;
  return in_triangle ? a.Get(base + r * m + c) : 0.0;
}

// Solves by Gaussian elimination with the dense op(a) in float64 (independent of the kernel's
// substitution order).
std::vector<double> Reference(const HostTensor& a, const HostTensor& b, int64_t batches, int64_t m, int64_t n,
                              const Flags& f) {
  std::vector<double> x(static_cast<size_t>(b.size()));
  for (int64_t bt = 0; bt < batches; ++bt) {
    // Equations: left: op(a) X = B, X [m, n]. Right: X op(a) = B, i.e. op(a)^T X^T = B^T.
    std::vector<double> M(static_cast<size_t>(m * m)), R(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t k = 0; k < m; ++k)
        M[i * m + k] = f.left ? OpA(a, bt * m * m, m, f, i, k) : OpA(a, bt * m * m, m, f, k, i);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        R[i * n + j] = f.left ? b.Get(bt * m * n + i * n + j) : b.Get(bt * m * n + j * m + i);
    for (int64_t p = 0; p < m; ++p) {  // no pivoting: the diagonal dominates
      for (int64_t i = 0; i < m; ++i) {
        if (i == p) continue;
        const double factor = M[i * m + p] / M[p * m + p];
        for (int64_t k = 0; k < m; ++k) M[i * m + k] -= factor * M[p * m + k];
        for (int64_t j = 0; j < n; ++j) R[i * n + j] -= factor * R[p * n + j];
      }
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const double v = R[i * n + j] / M[i * m + i];
        if (f.left) x[bt * m * n + i * n + j] = v;
        else x[bt * m * n + j * m + i] = v;
      }
  }
  return x;
}

void Check(DType t, const Flags& f, int64_t batches, int64_t m, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> off(-1, 1), diag(2, 3), garbage(-1e6, 1e6);
  HostTensor a(t, {batches, m, m});
  for (int64_t bt = 0; bt < batches; ++bt)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < m; ++c) {
        const bool in_triangle = r == c || (f.lower ? r > c : r < c);
        // Outside the triangle (and on a unit diagonal) garbage: the kernel must not read it.
        const double v = !in_triangle || (r == c && f.unit) ? garbage(rng)
                         : r == c                            ? diag(rng) * (off(rng) < 0 ? -1 : 1)
                                                             : off(rng) / static_cast<double>(m);
        a.Set(bt * m * m + r * m + c, v);
      }
  const Dims bd = f.left ? Dims{batches, m, n} : Dims{batches, n, m};
  HostTensor b = testing::Random(t, bd, rng, -2, 2);
  HostTensor x(t, bd);
  const std::string bytes = Build(f);
  ASSERT_TRUE(kernels::ValidateTriangularSolve(Op(bytes), {&a.info, &b.info}, {&x.info}).ok());
  Status s = kernels::RunTriangularSolve(Op(bytes), {{&a.info, a.bytes.data()}, {&b.info, b.bytes.data()}},
                                         {{&x.info, x.bytes.data()}});
  ASSERT_TRUE(s.ok()) << s.message();
  const std::vector<double> want = Reference(a, b, batches, m, n, f);
  // |x| stays O(1) (diagonally dominant, |b| <= 2); each element accumulates about m rounding
  // steps of f32 plus one rounding to the output type.
  const double out_eps = t == DType::kF32 ? 0x1p-23 : 0x1p-8;
  for (int64_t i = 0; i < x.size(); ++i) {
    const double bound = 4 * (out_eps * std::abs(want[i]) + m * 0x1p-23 * 4);
    ASSERT_NEAR(x.Get(i), want[i], bound) << "element " << i << " m=" << m << " n=" << n;
  }
}

TEST(TriangularSolveKernel, AllFlagCombinations) {
  uint32_t seed = 1;
  for (DType t : {DType::kF32, DType::kBF16})
    for (bool left : {true, false})
      for (bool lower : {true, false})
        for (bool transpose : {false, true})
          for (bool unit : {false, true}) {
            SCOPED_TRACE(std::string(DTypeName(t)) + " left=" + std::to_string(left) + " lower=" +
                         std::to_string(lower) + " transpose=" + std::to_string(transpose) +
                         " unit=" + std::to_string(unit));
            Check(t, Flags{left, lower, unit, transpose}, 3, 17, 5, seed++);
          }
}

TEST(TriangularSolveKernel, EdgeShapes) {
  Check(DType::kF32, Flags{}, 1, 1, 1, 7);        // 1x1
  Check(DType::kF32, Flags{}, 2, 64, 1, 8);       // a vector right-hand side
  Check(DType::kF32, Flags{false, false, false, true}, 1, 33, 70, 9);
  HostTensor a(DType::kF32, {0, 4, 4}), b(DType::kF32, {0, 4, 3}), x(DType::kF32, {0, 4, 3});
  const std::string bytes = Build(Flags{});
  EXPECT_TRUE(kernels::ValidateTriangularSolve(Op(bytes), {&a.info, &b.info}, {&x.info}).ok());
  EXPECT_TRUE(kernels::RunTriangularSolve(Op(bytes), {{&a.info, nullptr}, {&b.info, nullptr}}, {{&x.info, nullptr}})
                  .ok());
}

TEST(TriangularSolveKernel, ValidationErrorsNameTheProblem) {
  const std::string bytes = Build(Flags{});
  auto validate = [&](TensorInfo a, TensorInfo b, TensorInfo x) {
    return kernels::ValidateTriangularSolve(Op(bytes), {&a, &b}, {&x}).message();
  };
  EXPECT_NE(validate({DType::kS32, {4, 4}}, {DType::kS32, {4, 2}}, {DType::kS32, {4, 2}}).find("floating-point"),
            std::string::npos);
  EXPECT_NE(validate({DType::kF32, {4, 3}}, {DType::kF32, {4, 2}}, {DType::kF32, {4, 2}}).find("square"),
            std::string::npos);
  EXPECT_NE(validate({DType::kF32, {4, 4}}, {DType::kF32, {3, 2}}, {DType::kF32, {3, 2}}).find("m = 4"),
            std::string::npos);
  EXPECT_NE(validate({DType::kF32, {4, 4}}, {DType::kF32, {4, 2}}, {DType::kF16, {4, 2}}).find("output"),
            std::string::npos);
}

}  // namespace
}  // namespace chip
