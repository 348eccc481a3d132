// Concatenate along every dim (with empty pieces) and Copy (also as a reshape into another type).
#include <gtest/gtest.h>

#include <random>

#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using testing::ConcatSpec;
using testing::CopySpec;
using testing::Dims;
using testing::HostTensor;
using testing::ProgramBuilder;

TEST(Concatenate, EveryDimAndDtype) {
  std::mt19937 rng(1);
  for (DType t : {DType::kF32, DType::kBF16, DType::kS8, DType::kU32, DType::kPred}) {
    for (int dim = 0; dim < 3; ++dim) {
      std::vector<Dims> shapes;
      for (int64_t piece : {3, 0, 5, 1}) {
        Dims s = {4, 6, 7};
        s[dim] = piece;
        shapes.push_back(s);
      }
      std::vector<HostTensor> ins;
      ProgramBuilder pb("concat");
      std::vector<int> vals;
      for (const Dims& s : shapes) {
        ins.push_back(testing::Random(t, s, rng));
        vals.push_back(pb.Param(t, s));
      }
      Dims od = {4, 6, 7};
      od[dim] = 9;
      const int o = pb.Output(t, od);
      pb.Op(ConcatSpec{dim}, vals, {o}, "concatenate.0");
      auto r = testing::Run(pb.Finish(), ins);
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      const auto ostr = testing::RowMajorStrides(od);
      for (int64_t i = 0; i < od[0]; ++i) {
        for (int64_t j = 0; j < od[1]; ++j) {
          for (int64_t k = 0; k < od[2]; ++k) {
            int64_t idx[3] = {i, j, k};
            size_t p = 0;
            while (idx[dim] >= shapes[p][dim]) idx[dim] -= shapes[p++][dim];
            const auto s = testing::RowMajorStrides(shapes[p]);
            const uint32_t want = ins[p].Bits(idx[0] * s[0] + idx[1] * s[1] + idx[2] * s[2]);
            ASSERT_EQ(r.outputs[0].Bits(i * ostr[0] + j * ostr[1] + k * ostr[2]), want);
          }
        }
      }
    }
  }
}

TEST(Copy, CopiesBytesAcrossAReshape) {
  std::mt19937 rng(2);
  HostTensor x = testing::Random(DType::kBF16, {6, 10}, rng);
  ProgramBuilder pb("copy");
  const int a = pb.Param(DType::kBF16, {6, 10});
  const int t = pb.Temp(DType::kBF16, {60});
  const int o = pb.Output(DType::kS16, {3, 20});
  pb.Op(CopySpec{}, {a}, {t});
  pb.Op(CopySpec{}, {t}, {o});
  auto r = testing::Run(pb.Finish(), {x});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.outputs[0].bytes, x.bytes);
}

TEST(Copy, OutputsOfParametersConstantsAndReshapes) {
  // Outputs that are not written by a kernel: a parameter returned as is, a constant, and a
  // reshape (alias) of a kernel result.
  std::mt19937 rng(3);
  HostTensor x = testing::Random(DType::kF32, {2, 3}, rng);
  HostTensor c = testing::Random(DType::kS32, {4}, rng);
  ProgramBuilder pb("passthrough");
  const int a = pb.Param(DType::kF32, {2, 3});
  const int k = pb.Constant(c);
  const int t = pb.Temp(DType::kF32, {2, 3});
  pb.Op(CopySpec{}, {a}, {t});
  const int flat = pb.Alias(t, DType::kF32, {6});
  pb.OutputOf(a);
  pb.OutputOf(k);
  pb.OutputOf(flat);
  auto r = testing::Run(pb.Finish(), {x});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(r.outputs[0].bytes, x.bytes);
  EXPECT_EQ(r.outputs[1].bytes, c.bytes);
  EXPECT_EQ(r.outputs[2].bytes, x.bytes);
  EXPECT_EQ(r.outputs[2].info.dims, (Dims{6}));
}

}  // namespace
}  // namespace chip
