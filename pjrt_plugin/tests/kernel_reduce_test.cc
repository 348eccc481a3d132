// Reduce against reference loops: every ReduceOp, float and integer dtypes, reduced dims as a
// suffix, a prefix, interleaved, all and none; 0-d and empty; the init applied once; and the
// accuracy of a long f32 sum.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using exe::ReduceOp;
using testing::Dims;
using testing::HostTensor;
using testing::ProgramBuilder;
using testing::ReduceSpec;

testing::RunResult RunReduce(const HostTensor& x, const HostTensor& init, const std::vector<int64_t>& dims,
                             ReduceOp op, DType out_t) {
  Dims od;
  for (size_t d = 0; d < x.info.dims.size(); ++d) {
    if (std::find(dims.begin(), dims.end(), static_cast<int64_t>(d)) == dims.end()) od.push_back(x.info.dims[d]);
  }
  ProgramBuilder pb("reduce");
  const int a = pb.Param(x.info.dtype, x.info.dims);
  const int i = pb.Param(init.info.dtype, {});
  const int o = pb.Output(out_t, od);
  pb.Op(ReduceSpec{dims, op}, {a, i}, {o}, "reduce.0");
  return testing::Run(pb.Finish(), {x, init});
}

// Reference over the kept index of each element, in double / exact int64 with wrap at the end.
void Check(DType t, const Dims& shape, const std::vector<int64_t>& dims, ReduceOp op, uint32_t seed) {
  std::mt19937 rng(seed);
  HostTensor x = testing::Random(t, shape, rng, op == ReduceOp::PRODUCT ? 0.5 : -3,
                                 op == ReduceOp::PRODUCT ? 1.5 : 3);
  HostTensor init = testing::Random(t, {}, rng, -2, 2);
  auto r = RunReduce(x, init, dims, op, t);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const HostTensor& got = r.outputs[0];
  const int rank = static_cast<int>(shape.size());
  std::vector<bool> red(rank, false);
  for (int64_t d : dims) red[d] = true;
  Dims od;
  for (int d = 0; d < rank; ++d) if (!red[d]) od.push_back(shape[d]);
  const auto ostr = testing::RowMajorStrides(od);
  const int64_t n_out = testing::NumElements(od);
  std::vector<double> acc(n_out, init.Get(0)), mag(n_out, std::fabs(init.Get(0)));
  std::vector<int64_t> iacc(n_out, init.GetInt(0));
  std::vector<int64_t> idx(rank, 0);
  for (int64_t e = 0; e < x.size(); ++e) {
    int64_t o = 0;
    for (int d = 0, k = 0; d < rank; ++d) if (!red[d]) o += idx[d] * ostr[k++];
    const double v = x.Get(e);
    const int64_t iv = IsFloat(t) ? 0 : x.GetInt(e);
    switch (op) {
      case ReduceOp::SUM: acc[o] += v; mag[o] += std::fabs(v); iacc[o] += iv; break;
      case ReduceOp::PRODUCT:
        acc[o] *= v;
        iacc[o] = static_cast<int64_t>(static_cast<uint64_t>(iacc[o]) * static_cast<uint64_t>(iv));
        break;
      case ReduceOp::MAX: acc[o] = std::max(acc[o], v); iacc[o] = std::max(iacc[o], iv); break;
      case ReduceOp::MIN: acc[o] = std::min(acc[o], v); iacc[o] = std::min(iacc[o], iv); break;
      case ReduceOp::AND: iacc[o] &= iv; break;
      case ReduceOp::OR: iacc[o] |= iv; break;
      case ReduceOp::XOR: iacc[o] ^= iv; break;
    }
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  for (int64_t o = 0; o < n_out; ++o) {
    if (IsFloat(t)) {
      const double ulp = t == DType::kF32 ? 1.2e-7 : t == DType::kF16 ? 1.0 / 1024 : 1.0 / 128;
      double tol = ulp * std::fabs(acc[o]);
      if (op == ReduceOp::SUM) tol += 1e-6 * mag[o];
      if (op == ReduceOp::PRODUCT) tol += 1e-5 * std::fabs(acc[o]);
      if (t == DType::kF16) tol += 6e-8;  // below f16's smallest subnormal
      if (t == DType::kBF16) tol += 1e-38;
      ASSERT_NEAR(got.Get(o), acc[o], tol) << DTypeName(t) << " op " << static_cast<int>(op) << " at " << o;
      if (op == ReduceOp::MAX || op == ReduceOp::MIN) {
        HostTensor w(t, {});
        w.Set(0, acc[o]);
        ASSERT_EQ(got.Bits(o), w.Bits(0));  // exact
      }
    } else {
      HostTensor w(t, {});
      w.SetInt(0, iacc[o]);
      ASSERT_EQ(got.GetInt(o), w.GetInt(0)) << DTypeName(t) << " op " << static_cast<int>(op) << " at " << o;
    }
  }
}

const std::vector<std::vector<int64_t>> kDimSets = {{2}, {0}, {1}, {0, 2}, {1, 2}, {0, 1, 2}, {}};

TEST(Reduce, FloatOpsAllLayouts) {
  uint32_t seed = 1;
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (ReduceOp op : {ReduceOp::SUM, ReduceOp::PRODUCT, ReduceOp::MAX, ReduceOp::MIN}) {
      for (const auto& dims : kDimSets) Check(t, {7, 13, 11}, dims, op, seed++);
    }
  }
}

TEST(Reduce, IntegerOpsAllLayouts) {
  uint32_t seed = 100;
  for (DType t : {DType::kS8, DType::kU8, DType::kS16, DType::kU16, DType::kS32, DType::kU32}) {
    for (ReduceOp op : {ReduceOp::SUM, ReduceOp::PRODUCT, ReduceOp::MAX, ReduceOp::MIN, ReduceOp::AND, ReduceOp::OR,
                        ReduceOp::XOR}) {
      for (const auto& dims : kDimSets) Check(t, {5, 9, 6}, dims, op, seed++);
    }
  }
}

TEST(Reduce, PredOps) {
  uint32_t seed = 500;
  for (ReduceOp op : {ReduceOp::AND, ReduceOp::OR, ReduceOp::XOR, ReduceOp::MAX, ReduceOp::MIN}) {
    for (const auto& dims : kDimSets) Check(DType::kPred, {3, 4, 5}, dims, op, seed++);
  }
}

TEST(Reduce, ShapesWithOnesAndLargeRows) {
  Check(DType::kF32, {1, 1000, 1}, {1}, ReduceOp::SUM, 7);
  Check(DType::kF32, {3000, 7}, {0}, ReduceOp::SUM, 8);     // column sums (prefix)
  Check(DType::kBF16, {9, 4099}, {1}, ReduceOp::SUM, 9);    // row sums (suffix)
  Check(DType::kF32, {40, 30, 50}, {0, 2}, ReduceOp::SUM, 10);  // interleaved
  Check(DType::kF32, {}, {}, ReduceOp::SUM, 11);            // 0-d operand
}

TEST(Reduce, EmptyReductionGivesInitAndEmptyOutput) {
  std::mt19937 rng(12);
  HostTensor x(DType::kF32, {4, 0});
  HostTensor init = testing::Random(DType::kF32, {}, rng);
  auto r = RunReduce(x, init, {1}, ReduceOp::SUM, DType::kF32);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.outputs[0].Get(i), init.Get(0));
  auto r2 = RunReduce(x, init, {0}, ReduceOp::MAX, DType::kF32);
  ASSERT_TRUE(r2.status.ok()) << r2.status.ToString();
  EXPECT_EQ(r2.outputs[0].size(), 0);
}

TEST(Reduce, InitAppliedOnce) {
  HostTensor x(DType::kS32, {3, 4});
  for (int i = 0; i < 12; ++i) x.SetInt(i, i + 1);
  HostTensor init(DType::kS32, {});
  init.SetInt(0, 100);
  auto r = RunReduce(x, init, {1}, ReduceOp::SUM, DType::kS32);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.outputs[0].GetInt(0), 100 + 1 + 2 + 3 + 4);
  EXPECT_EQ(r.outputs[0].GetInt(2), 100 + 9 + 10 + 11 + 12);
}

// Input fusion: the prologue computes x * x on chip and the kernel sums it per row.
testing::ElementwiseSpec SquarePrologue(DType t, const Dims& dims) {
  testing::ElementwiseSpec p;
  p.dims = dims;
  p.views = {{0, 0, testing::RowMajorStrides(dims)}};
  p.instrs = {{exe::EwOp::LOAD, t, 0}, {exe::EwOp::MUL, t, 0, 0}};
  p.results = {{1, 0}};
  return p;
}

TEST(Reduce, PrologueComputesTheOperand) {
  for (DType t : {DType::kF32, DType::kS32}) {
    std::mt19937 rng(static_cast<unsigned>(t));
    const Dims dims{3, 37};
    HostTensor x = testing::Random(t, dims, rng, -3, 3);
    HostTensor init = testing::Random(t, {}, rng, -2, 2);
    if (t == DType::kS32) {   // small values: the squares' sum is exact
      for (int64_t e = 0; e < x.size(); ++e) x.SetInt(e, static_cast<int64_t>(rng() % 13) - 6);
      init.SetInt(0, 5);
    }
    ProgramBuilder pb("reduce_prologue");
    const int a = pb.Param(t, dims);
    const int i = pb.Param(t, {});
    const int o = pb.Output(t, {3});
    pb.Op(ReduceSpec{{1}, ReduceOp::SUM, SquarePrologue(t, dims)}, {a, i}, {o}, "reduce.0");
    auto r = testing::Run(pb.Finish(), {x, init});
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    for (int row = 0; row < 3; ++row) {
      double want = init.Get(0);
      for (int c = 0; c < 37; ++c) want += x.Get(row * 37 + c) * x.Get(row * 37 + c);
      EXPECT_NEAR(r.outputs[0].Get(row), want, 1e-4 * std::fabs(want) + 1e-6) << DTypeName(t) << " row " << row;
    }
  }
}

TEST(Reduce, MalformedPrologueIsRejectedAtLoad) {
  const Dims dims{2, 8};
  testing::ElementwiseSpec two_results = SquarePrologue(DType::kF32, dims);
  two_results.results = {{1, 0}, {0, 1}};
  testing::ElementwiseSpec bad_input = SquarePrologue(DType::kF32, dims);
  bad_input.views[0].input = 5;   // the kernel has one prologue input
  for (const auto& [prologue, needle] :
       {std::pair{two_results, "exactly one result"}, std::pair{bad_input, "reduce prologue: "}}) {
    ProgramBuilder pb("bad_prologue");
    const int a = pb.Param(DType::kF32, dims);
    const int i = pb.Param(DType::kF32, {});
    const int o = pb.Output(DType::kF32, {2});
    pb.Op(ReduceSpec{{1}, ReduceOp::SUM, prologue}, {a, i}, {o}, "reduce.0");
    auto p = LoadedProgram::Load(pb.Finish());
    ASSERT_FALSE(p.ok()) << needle;
    EXPECT_NE(p.status().message().find(needle), std::string::npos) << p.status().message();
  }
}

TEST(Reduce, NaNPropagatesThroughMax) {
  HostTensor x(DType::kF32, {2, 3});
  const float v[] = {1, std::numeric_limits<float>::quiet_NaN(), 3, 4, 5, 6};
  for (int i = 0; i < 6; ++i) x.Set(i, v[i]);
  HostTensor init(DType::kF32, {});
  init.Set(0, -std::numeric_limits<float>::infinity());
  auto r = RunReduce(x, init, {1}, ReduceOp::MAX, DType::kF32);
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(std::isnan(r.outputs[0].Get(0)));
  EXPECT_EQ(r.outputs[0].Get(1), 6.0);
}

TEST(Reduce, LongF32SumIsAccurate) {
  // 2^20 values: naive f32 accumulation drifts far more than 1e-6 relative; pairwise does not.
  std::mt19937 rng(13);
  const int64_t n = int64_t{1} << 20;
  HostTensor x = testing::Random(DType::kF32, {n}, rng, 0.0, 1.0);
  HostTensor init(DType::kF32, {});
  init.Set(0, 0.0);
  double exact = 0;
  for (int64_t i = 0; i < n; ++i) exact += x.Get(i);
  auto r = RunReduce(x, init, {0}, ReduceOp::SUM, DType::kF32);
  ASSERT_TRUE(r.status.ok());
  EXPECT_NEAR(r.outputs[0].Get(0), exact, 1e-6 * exact);
  // The same as columns of a [n/4, 4] array (prefix reduction).
  HostTensor y = x;
  y.info.dims = {n / 4, 4};
  auto r2 = RunReduce(y, init, {0}, ReduceOp::SUM, DType::kF32);
  ASSERT_TRUE(r2.status.ok());
  for (int c = 0; c < 4; ++c) {
    double e = 0;
    for (int64_t i = c; i < n; i += 4) e += x.Get(i);
    EXPECT_NEAR(r2.outputs[0].Get(c), e, 1e-6 * e);
  }
}

}  // namespace
}  // namespace chip
