// DotGeneral against a double-precision reference loop: layouts (plain, transposed operands,
// batch dims anywhere), dtypes (f32, bf16, f16, mixed, integers with int32 accumulation), K = 0,
// empty outputs, outer products, and a size that takes the parallel path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using testing::Dims;
using testing::DotSpec;
using testing::HostTensor;
using testing::ProgramBuilder;

struct DotCase {
  DType lhs_t, rhs_t, out_t;
  Dims lhs, rhs;
  DotSpec spec;
};

std::vector<int64_t> FreeDims(int rank, const std::vector<int64_t>& b, const std::vector<int64_t>& c) {
  std::vector<int64_t> f;
  for (int d = 0; d < rank; ++d) {
    if (std::find(b.begin(), b.end(), d) == b.end() && std::find(c.begin(), c.end(), d) == c.end()) f.push_back(d);
  }
  return f;
}

// Reference: out[batch..., lhs free..., rhs free...] = sum over contracting of lhs * rhs, in
// double (floats) or wrapping int32 (integers). Also returns sum |lhs * rhs| for tolerances.
void Reference(const DotCase& c, const HostTensor& lhs, const HostTensor& rhs, std::vector<double>* out,
               std::vector<double>* mag, Dims* out_dims) {
  const auto lf = FreeDims(static_cast<int>(c.lhs.size()), c.spec.lhs_batch, c.spec.lhs_contracting);
  const auto rf = FreeDims(static_cast<int>(c.rhs.size()), c.spec.rhs_batch, c.spec.rhs_contracting);
  Dims od;
  for (int64_t d : c.spec.lhs_batch) od.push_back(c.lhs[d]);
  for (int64_t d : lf) od.push_back(c.lhs[d]);
  for (int64_t d : rf) od.push_back(c.rhs[d]);
  Dims kd;
  for (int64_t d : c.spec.lhs_contracting) kd.push_back(c.lhs[d]);
  *out_dims = od;
  const int64_t n_out = testing::NumElements(od), n_k = testing::NumElements(kd);
  out->assign(n_out, 0);
  mag->assign(n_out, 0);
  const auto ls = testing::RowMajorStrides(c.lhs), rs = testing::RowMajorStrides(c.rhs);
  const bool integer = !IsFloat(c.lhs_t) && !IsFloat(c.rhs_t);
  for (int64_t o = 0; o < n_out; ++o) {
    // Unravel the output index.
    std::vector<int64_t> oi(od.size());
    int64_t rem = o;
    for (int k = static_cast<int>(od.size()) - 1; k >= 0; --k) {
      oi[k] = rem % od[k];
      rem /= od[k];
    }
    int64_t lbase = 0, rbase = 0;
    size_t p = 0;
    for (size_t i = 0; i < c.spec.lhs_batch.size(); ++i, ++p) {
      lbase += oi[p] * ls[c.spec.lhs_batch[i]];
      rbase += oi[p] * rs[c.spec.rhs_batch[i]];
    }
    for (int64_t d : lf) lbase += oi[p++] * ls[d];
    for (int64_t d : rf) rbase += oi[p++] * rs[d];
    double acc = 0, m = 0;
    uint32_t iacc = 0;
    for (int64_t k = 0; k < n_k; ++k) {
      int64_t rem2 = k, loff = lbase, roff = rbase;
      for (int j = static_cast<int>(kd.size()) - 1; j >= 0; --j) {
        const int64_t idx = rem2 % kd[j];
        rem2 /= kd[j];
        loff += idx * ls[c.spec.lhs_contracting[j]];
        roff += idx * rs[c.spec.rhs_contracting[j]];
      }
      if (integer) {
        iacc += static_cast<uint32_t>(lhs.GetInt(loff)) * static_cast<uint32_t>(rhs.GetInt(roff));
      } else {
        acc += lhs.Get(loff) * rhs.Get(roff);
        m += std::fabs(lhs.Get(loff) * rhs.Get(roff));
      }
    }
    (*out)[o] = integer ? static_cast<double>(static_cast<int32_t>(iacc)) : acc;
    (*mag)[o] = m;
  }
}

void Check(const DotCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  HostTensor lhs = testing::Random(c.lhs_t, c.lhs, rng, -3, 3, false);
  HostTensor rhs = testing::Random(c.rhs_t, c.rhs, rng, -3, 3, false);
  std::vector<double> want, mag;
  Dims od;
  Reference(c, lhs, rhs, &want, &mag, &od);
  ProgramBuilder pb("dot");
  const int a = pb.Param(c.lhs_t, c.lhs);
  const int b = pb.Param(c.rhs_t, c.rhs);
  const int o = pb.Output(c.out_t, od);
  pb.Op(c.spec, {a, b}, {o}, "dot_general.0");
  auto r = testing::Run(pb.Finish(), {lhs, rhs});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  const HostTensor& got = r.outputs[0];
  ASSERT_EQ(got.info.dims, od);
  const bool integer = !IsFloat(c.lhs_t) && !IsFloat(c.rhs_t);
  for (int64_t i = 0; i < got.size(); ++i) {
    if (integer && !IsFloat(c.out_t)) {
      HostTensor w(c.out_t, {});
      w.SetInt(0, static_cast<int64_t>(want[i]));
      ASSERT_EQ(got.GetInt(i), w.GetInt(0)) << "at " << i;
    } else {
      // f32 accumulation error plus one rounding to the output dtype.
      const double out_eps = c.out_t == DType::kF32 ? 0 : c.out_t == DType::kF16 ? 1.0 / 1024 : 1.0 / 128;
      const double tol = 1e-5 * mag[i] + out_eps * std::fabs(want[i]) + 1e-6;
      ASSERT_NEAR(got.Get(i), want[i], tol) << "at " << i;
    }
  }
}

TEST(DotGeneral, PlainMatmulF32) {
  Check({DType::kF32, DType::kF32, DType::kF32, {37, 129}, {129, 65}, {{}, {}, {1}, {0}}}, 1);
}

TEST(DotGeneral, TransposedOperands) {
  // x @ W^T (rhs [N, K]), lhs^T @ y (lhs [K, M]), both transposed.
  Check({DType::kF32, DType::kF32, DType::kF32, {13, 70}, {33, 70}, {{}, {}, {1}, {1}}}, 2);
  Check({DType::kF32, DType::kF32, DType::kF32, {70, 13}, {70, 33}, {{}, {}, {0}, {0}}}, 3);
  Check({DType::kF32, DType::kF32, DType::kF32, {70, 13}, {33, 70}, {{}, {}, {0}, {1}}}, 4);
}

TEST(DotGeneral, BatchDimsAnywhere) {
  // Attention-like: q [B, T, H, D] x k [B, S, H, D] -> [B, H, T, S].
  Check({DType::kF32, DType::kF32, DType::kF32, {2, 5, 3, 16}, {2, 7, 3, 16}, {{0, 2}, {0, 2}, {3}, {3}}}, 5);
  // Batch dims in different positions and two contracting dims in swapped order.
  Check({DType::kF32, DType::kF32, DType::kF32, {4, 3, 2, 5}, {5, 2, 6, 3}, {{1}, {3}, {2, 3}, {1, 0}}}, 6);
}

TEST(DotGeneral, LowPrecisionAndMixed) {
  const DotSpec mm{{}, {}, {1}, {0}};
  Check({DType::kBF16, DType::kBF16, DType::kF32, {31, 200}, {200, 17}, mm}, 7);
  Check({DType::kBF16, DType::kBF16, DType::kBF16, {31, 200}, {200, 17}, mm}, 8);
  Check({DType::kF16, DType::kF16, DType::kF16, {31, 200}, {200, 17}, mm}, 9);
  Check({DType::kBF16, DType::kF32, DType::kF32, {9, 64}, {64, 11}, mm}, 10);
  Check({DType::kBF16, DType::kBF16, DType::kBF16, {2, 9, 64}, {2, 11, 64}, {{0}, {0}, {2}, {2}}}, 11);
}

TEST(DotGeneral, SmallMStreamingWeights) {
  // Decode-shaped products (few rows, bf16/f16 weights) take the streaming path.
  Check({DType::kBF16, DType::kBF16, DType::kBF16, {8, 300}, {300, 1100}, {{}, {}, {1}, {0}}}, 30);
  Check({DType::kF32, DType::kF16, DType::kF32, {1, 77}, {77, 513}, {{}, {}, {1}, {0}}}, 31);
  Check({DType::kBF16, DType::kBF16, DType::kF32, {3, 130}, {257, 130}, {{}, {}, {1}, {1}}}, 32);
  Check({DType::kBF16, DType::kBF16, DType::kF32, {130, 5}, {130, 40}, {{}, {}, {0}, {0}}}, 33);  // lhs^T
  Check({DType::kBF16, DType::kBF16, DType::kBF16, {4, 2, 64}, {4, 64, 33}, {{0}, {0}, {2}, {1}}}, 34);
}

TEST(DotGeneral, IntegersAccumulateInInt32) {
  const DotSpec mm{{}, {}, {1}, {0}};
  Check({DType::kS8, DType::kS8, DType::kS32, {19, 300}, {300, 23}, mm}, 12);
  Check({DType::kU8, DType::kU8, DType::kS32, {19, 300}, {300, 23}, mm}, 13);
  Check({DType::kS8, DType::kU8, DType::kS32, {19, 300}, {300, 23}, mm}, 14);
  Check({DType::kS16, DType::kS16, DType::kS16, {5, 40}, {40, 6}, mm}, 15);
  Check({DType::kS8, DType::kS8, DType::kF32, {5, 40}, {40, 6}, mm}, 16);
  // Wrapping int32 accumulation with full-range values.
  std::mt19937 rng(17);
  HostTensor a(DType::kS32, {3, 50}), b(DType::kS32, {50, 4});
  for (int64_t i = 0; i < a.size(); ++i) a.SetInt(i, static_cast<int32_t>(rng()));
  for (int64_t i = 0; i < b.size(); ++i) b.SetInt(i, static_cast<int32_t>(rng()));
  ProgramBuilder pb;
  const int va = pb.Param(DType::kS32, {3, 50}), vb = pb.Param(DType::kS32, {50, 4});
  const int o = pb.Output(DType::kS32, {3, 4});
  pb.Op(mm, {va, vb}, {o});
  auto r = testing::Run(pb.Finish(), {a, b});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) {
      uint32_t acc = 0;
      for (int k = 0; k < 50; ++k) acc += static_cast<uint32_t>(a.GetInt(i * 50 + k)) * static_cast<uint32_t>(b.GetInt(k * 4 + j));
      ASSERT_EQ(r.outputs[0].GetInt(i * 4 + j), static_cast<int32_t>(acc));
    }
  }
}

TEST(DotGeneral, DegenerateShapes) {
  Check({DType::kF32, DType::kF32, DType::kF32, {4, 0}, {0, 3}, {{}, {}, {1}, {0}}}, 18);   // K = 0: zeros
  Check({DType::kF32, DType::kF32, DType::kF32, {0, 5}, {5, 3}, {{}, {}, {1}, {0}}}, 19);   // M = 0
  Check({DType::kF32, DType::kF32, DType::kF32, {6}, {7}, {{}, {}, {}, {}}}, 20);           // outer product
  Check({DType::kF32, DType::kF32, DType::kF32, {64}, {64}, {{}, {}, {0}, {0}}}, 21);       // 0-d result
  Check({DType::kBF16, DType::kBF16, DType::kF32, {1, 1}, {1, 1}, {{}, {}, {1}, {0}}}, 22);
}

TEST(DotGeneral, LargeParallel) {
  Check({DType::kBF16, DType::kBF16, DType::kF32, {256, 512}, {512, 200}, {{}, {}, {1}, {0}}}, 23);
  Check({DType::kF32, DType::kF32, DType::kF32, {8, 64, 96}, {8, 96, 80}, {{0}, {0}, {2}, {1}}}, 24);
}

}  // namespace
}  // namespace chip
