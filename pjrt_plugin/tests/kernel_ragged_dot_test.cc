// The RaggedDot kernel against a float64 grouped matmul on random inputs: rhs as [g, k, n] and
// [g, n, k], empty groups, rows past the last group (zero), group sizes that overrun m or are
// negative, f32 and bf16; and its load-time validation errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using testing::Dims;
using testing::HostTensor;
using testing::RawOpSpec;

std::string Program(DType t, DType out_t, int64_t m, int64_t k, int64_t n, int64_t g, int64_t rhs_contracting,
                    DType sizes_t = DType::kS32, int64_t row_pad = 8) {
  testing::ProgramBuilder pb;
  const Dims rhs_dims = rhs_contracting == 1 ? Dims{g, k, n} : Dims{g, n, k};
  const int a = pb.Param(t, {m, k});
  const int w = pb.Param(t, rhs_dims);
  const int s = pb.Param(sizes_t, {g});
  const int o = pb.Output(out_t, {m, n});
  RawOpSpec op{exe::KernelOp::RaggedDot, [=](flatbuffers::FlatBufferBuilder& b) {
                 return exe::CreateRaggedDot(b, rhs_contracting, row_pad).Union();
               }};
  pb.Op(op, {a, w, s}, {o}, "ragged_dot.0");
  return pb.Finish();
}

void Check(DType t, int64_t m, int64_t k, int64_t n, const std::vector<int64_t>& sizes, int64_t rhs_contracting,
           uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t g = static_cast<int64_t>(sizes.size());
  HostTensor a = testing::Random(t, {m, k}, rng, -2, 2);
  HostTensor w = testing::Random(t, rhs_contracting == 1 ? Dims{g, k, n} : Dims{g, n, k}, rng, -2, 2);
  HostTensor s(DType::kS32, {g});
  for (int64_t i = 0; i < g; ++i) s.SetInt(i, sizes[static_cast<size_t>(i)]);
  auto r = testing::Run(Program(t, t, m, k, n, g, rhs_contracting), {a, w, s});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const double eps = t == DType::kF32 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -8);
  int64_t start = 0;
  for (int64_t grp = 0; grp <= g; ++grp) {
    const int64_t rows = grp < g ? std::min(std::max<int64_t>(sizes[static_cast<size_t>(grp)], 0), m - start) : m - start;
    for (int64_t row = start; row < start + rows; ++row) {
      for (int64_t j = 0; j < n; ++j) {
        const double got = r.outputs[0].Get(row * n + j);
        if (grp == g) {  // past the last group
          ASSERT_EQ(got, 0.0) << "row " << row;
          continue;
        }
        double want = 0, mag = 0;
        for (int64_t c = 0; c < k; ++c) {
          const int64_t wi = rhs_contracting == 1 ? (grp * k + c) * n + j : (grp * n + j) * k + c;
          want += a.Get(row * k + c) * w.Get(wi);
          mag += std::fabs(a.Get(row * k + c) * w.Get(wi));
        }
        // f32 accumulation of k terms, then one rounding to the output type
        ASSERT_LE(std::fabs(got - want), (k * std::ldexp(1.0, -24) + eps) * mag)
            << "row " << row << " col " << j << " group " << grp;
      }
    }
    start += rows;
  }
}

TEST(RaggedDotKernel, MatchesAFloat64GroupedMatmul) {
  Check(DType::kF32, 40, 24, 12, {7, 0, 13, 1, 19}, 1, 1);   // every row, an empty group
  Check(DType::kF32, 40, 24, 12, {5, 9, 0, 6}, 2, 2);        // rhs [g, n, k]; rows left over
  Check(DType::kF32, 30, 16, 9, {25, 20, 3}, 1, 3);          // overruns m
  Check(DType::kF32, 30, 16, 9, {-4, 12, 10}, 1, 4);         // a negative size is empty
  Check(DType::kBF16, 33, 32, 17, {10, 0, 12, 11}, 1, 5);
  Check(DType::kF32, 0, 8, 4, {0, 0}, 1, 6);                 // no rows
}

TEST(RaggedDotKernel, ValidationErrorsNameTheKernelAndTypes) {
  struct Case {
    std::string bytes;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {Program(DType::kS32, DType::kS32, 8, 4, 3, 2, 1), "same floating-point type"},
      {Program(DType::kF32, DType::kF32, 8, 4, 3, 2, 3), "rhs_contracting 3"},
      {Program(DType::kF32, DType::kF32, 8, 4, 3, 2, 1, DType::kF32), "group_sizes f32[2]"},
      {Program(DType::kF32, DType::kF32, 8, 4, 3, 2, 1, DType::kS32, 0), "row_pad"},
      {Program(DType::kBF16, DType::kF16, 8, 4, 3, 2, 1), "not output f16[8,3]"},
  };
  for (const Case& c : cases) {
    auto loaded = LoadedProgram::Load(c.bytes);
    ASSERT_FALSE(loaded.ok()) << c.expect;
    EXPECT_NE(loaded.status().ToString().find("ragged_dot"), std::string::npos) << loaded.status().ToString();
    EXPECT_NE(loaded.status().ToString().find(c.expect), std::string::npos) << loaded.status().ToString();
  }
}

}  // namespace
}  // namespace chip
