// The Convolution kernel against a direct (naive) convolution on random data: dimension numbers,
// strides, padding, dilations, feature groups, window reversal; and its validation errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "pjrt_plugin/kernels/convolution.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using testing::Dims;
using testing::HostTensor;

struct ConvSpec {
  std::vector<int64_t> strides, pad_lo, pad_hi, lhs_dil, rhs_dil;
  std::vector<bool> reverse;
  int64_t groups = 1;
  // NHWC / HWIO / NHWC-style roles for 2 spatial dims unless overridden
  int64_t ib = 0, ifd = 3, ki = 2, ko = 3, ob = 0, of = 3;
  std::vector<int64_t> isd{1, 2}, ksd{0, 1}, osd{1, 2};
};

std::string Build(const ConvSpec& s) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<uint8_t> rev(s.reverse.begin(), s.reverse.end());
  auto strides = b.CreateVector(s.strides), lo = b.CreateVector(s.pad_lo), hi = b.CreateVector(s.pad_hi);
  auto ld = b.CreateVector(s.lhs_dil), rd = b.CreateVector(s.rhs_dil);
  auto rv = b.CreateVector(rev);
  auto isd = b.CreateVector(s.isd), ksd = b.CreateVector(s.ksd), osd = b.CreateVector(s.osd);
  exe::ConvolutionBuilder cb(b);
  cb.add_window_strides(strides);
  cb.add_padding_low(lo);
  cb.add_padding_high(hi);
  cb.add_lhs_dilation(ld);
  cb.add_rhs_dilation(rd);
  cb.add_window_reversal(rv);
  cb.add_feature_group_count(s.groups);
  cb.add_input_batch_dimension(s.ib);
  cb.add_input_feature_dimension(s.ifd);
  cb.add_input_spatial_dimensions(isd);
  cb.add_kernel_input_feature_dimension(s.ki);
  cb.add_kernel_output_feature_dimension(s.ko);
  cb.add_kernel_spatial_dimensions(ksd);
  cb.add_output_batch_dimension(s.ob);
  cb.add_output_feature_dimension(s.of);
  cb.add_output_spatial_dimensions(osd);
  b.Finish(cb.Finish());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

const exe::Convolution& Op(const std::string& bytes) {
  return *flatbuffers::GetRoot<exe::Convolution>(bytes.data());
}

int64_t Offset(const Dims& dims, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < dims.size(); ++d) off = off * dims[d] + idx[d];
  return off;
}

// Direct convolution in double, 2 spatial dims, any dimension numbers.
std::vector<double> Naive(const ConvSpec& s, const HostTensor& x, const HostTensor& w, const Dims& out_dims) {
  const Dims& xd = x.info.dims;
  const Dims& wd = w.info.dims;
  const int64_t N = xd[s.ib], C = xd[s.ifd], O = wd[s.ko], G = s.groups, Cg = C / G, Og = O / G;
  std::vector<double> out(static_cast<size_t>(testing::NumElements(out_dims)), 0.0);
  const int64_t OH = out_dims[s.osd[0]], OW = out_dims[s.osd[1]], KH = wd[s.ksd[0]], KW = wd[s.ksd[1]];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t o = 0; o < O; ++o) {
          const int64_t grp = o / Og;
          double acc = 0;
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw)
              for (int64_t c = 0; c < Cg; ++c) {
                const int64_t ph = oh * s.strides[0] + kh * s.rhs_dil[0] - s.pad_lo[0];
                const int64_t pw = ow * s.strides[1] + kw * s.rhs_dil[1] - s.pad_lo[1];
                if (ph < 0 || pw < 0 || ph % s.lhs_dil[0] || pw % s.lhs_dil[1]) continue;
                const int64_t ih = ph / s.lhs_dil[0], iw = pw / s.lhs_dil[1];
                if (ih >= xd[s.isd[0]] || iw >= xd[s.isd[1]]) continue;
                std::vector<int64_t> xi(4), wi(4);
                xi[s.ib] = n;
                xi[s.ifd] = grp * Cg + c;
                xi[s.isd[0]] = ih;
                xi[s.isd[1]] = iw;
                wi[s.ki] = c;
                wi[s.ko] = o;
                wi[s.ksd[0]] = s.reverse[0] ? KH - 1 - kh : kh;
                wi[s.ksd[1]] = s.reverse[1] ? KW - 1 - kw : kw;
                acc += x.Get(Offset(xd, xi)) * w.Get(Offset(wd, wi));
              }
          std::vector<int64_t> oi(4);
          oi[s.ob] = n;
          oi[s.of] = o;
          oi[s.osd[0]] = oh;
          oi[s.osd[1]] = ow;
          out[static_cast<size_t>(Offset(out_dims, oi))] = acc;
        }
  return out;
}

void Check(const ConvSpec& s, DType t, const Dims& xd, const Dims& wd, const Dims& od, double tol) {
  std::mt19937 rng(17);
  HostTensor x = testing::Random(t, xd, rng, -2, 2), w = testing::Random(t, wd, rng, -1, 1);
  HostTensor out(t == DType::kBF16 ? DType::kF32 : t, od);
  const std::string bytes = Build(s);
  kernels::TensorInfos ins{&x.info, &w.info}, outs{&out.info};
  Status v = kernels::ValidateConvolution(Op(bytes), ins, outs);
  ASSERT_TRUE(v.ok()) << v.ToString();
  Status r = kernels::RunConvolution(Op(bytes), {{&x.info, x.bytes.data()}, {&w.info, w.bytes.data()}},
                                     {{&out.info, out.bytes.data()}});
  ASSERT_TRUE(r.ok()) << r.ToString();
  const std::vector<double> want = Naive(s, x, w, od);
  for (int64_t i = 0; i < out.size(); ++i) {
    EXPECT_NEAR(out.Get(i), want[static_cast<size_t>(i)], tol * (1 + std::fabs(want[static_cast<size_t>(i)])))
        << "element " << i;
  }
}

TEST(Convolution, SameNhwc) {
  ConvSpec s{{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {false, false}};
  Check(s, DType::kF32, {2, 6, 7, 3}, {3, 3, 3, 4}, {2, 6, 7, 4}, 1e-5);
}

TEST(Convolution, StridedDilatedGroupedReversed) {
  ConvSpec s{{2, 1}, {1, 0}, {2, 1}, {1, 2}, {2, 1}, {true, false}, 2};
  // in 9x9, lhs dilation (1,2): 9 x 17; padded 12 x 18; kernel 3x3 dilated (2,1): 5 x 3;
  // out ((12-5)/2+1, (18-3)/1+1) = (4, 16)
  Check(s, DType::kF32, {2, 9, 9, 6}, {3, 3, 3, 4}, {2, 4, 16, 4}, 1e-5);
}

TEST(Convolution, NchwOihwWithBf16Inputs) {
  ConvSpec s{{2, 2}, {0, 0}, {0, 0}, {1, 1}, {1, 1}, {false, false}};
  s.ib = 0; s.ifd = 1; s.isd = {2, 3};
  s.ko = 0; s.ki = 1; s.ksd = {2, 3};
  s.ob = 0; s.of = 1; s.osd = {2, 3};
  Check(s, DType::kBF16, {2, 4, 9, 9}, {6, 4, 3, 3}, {2, 6, 4, 4}, 1e-5);
}

TEST(Convolution, RejectsWrongShapesAndAttributes) {
  std::mt19937 rng(1);
  HostTensor x(DType::kF32, {1, 5, 5, 4}), w(DType::kF32, {3, 3, 4, 2});
  auto validate = [&](const ConvSpec& s, const Dims& od) {
    TensorInfo o{DType::kF32, od};
    return kernels::ValidateConvolution(Op(Build(s)), {&x.info, &w.info}, {&o});
  };
  ConvSpec ok{{1, 1}, {0, 0}, {0, 0}, {1, 1}, {1, 1}, {false, false}};
  EXPECT_TRUE(validate(ok, {1, 3, 3, 2}).ok());
  Status wrong_out = validate(ok, {1, 4, 3, 2});
  EXPECT_NE(wrong_out.message().find("the window gives 3"), std::string::npos) << wrong_out.ToString();
  ConvSpec groups = ok;
  groups.groups = 3;
  EXPECT_NE(validate(groups, {1, 3, 3, 2}).message().find("feature_group_count 3"), std::string::npos);
  ConvSpec zero_stride = ok;
  zero_stride.strides = {0, 1};
  EXPECT_NE(validate(zero_stride, {1, 3, 3, 2}).message().find("strides and dilations"), std::string::npos);
  ConvSpec bad_dims = ok;
  bad_dims.isd = {1, 1};
  EXPECT_NE(validate(bad_dims, {1, 3, 3, 2}).message().find("not a permutation"), std::string::npos);
}

}  // namespace
}  // namespace chip
