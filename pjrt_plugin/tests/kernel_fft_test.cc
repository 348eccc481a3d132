// The Fft kernel against a direct float64 DFT: FFT/IFFT/RFFT/IRFFT, power-of-two and other
// lengths (Bluestein), 1-3 transformed dims with batch dims, zero-size batches, and its
// validation errors.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "pjrt_plugin/kernels/fft.h"
#include "pjrt_plugin/tests/program_builder.h"

namespace chip {
namespace {

using testing::Dims;
using testing::HostTensor;
using C = std::complex<double>;

enum { kFft = 0, kIfft = 1, kRfft = 2, kIrfft = 3 };

std::string Build(int type, const std::vector<int64_t>& lengths) {
  flatbuffers::FlatBufferBuilder b;
  auto len = b.CreateVector(lengths);
  exe::FftBuilder fb(b);
  fb.add_fft_type(static_cast<uint8_t>(type));
  fb.add_fft_length(len);
  b.Finish(fb.Finish());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

const exe::Fft& Op(const std::string& bytes) { return *flatbuffers::GetRoot<exe::Fft>(bytes.data()); }

// Direct DFT over the last k dims of `x` (shape dims), in float64; inverse scaled by 1/N.
std::vector<C> Dft(const std::vector<C>& x, const Dims& dims, size_t k, bool inverse) {
  std::vector<C> cur = x;
  const size_t rank = dims.size();
  for (size_t axis = rank - k; axis < rank; ++axis) {
    const int64_t n = dims[axis];
    int64_t inner = 1;
    for (size_t d = axis + 1; d < rank; ++d) inner *= dims[d];
    const int64_t outer = n == 0 ? 0 : static_cast<int64_t>(cur.size()) / (n * inner);
    std::vector<C> next(cur.size());
    const double sign = inverse ? 1 : -1;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        for (int64_t f = 0; f < n; ++f) {
          C acc = 0;
          for (int64_t j = 0; j < n; ++j) {
            const double a = sign * 2 * M_PI * static_cast<double>((f * j) % n) / static_cast<double>(n);
            acc += cur[(o * n + j) * inner + i] * C(std::cos(a), std::sin(a));
          }
          next[(o * n + f) * inner + i] = inverse ? acc / static_cast<double>(n) : acc;
        }
    cur = next;
  }
  return cur;
}

void Expect(const std::vector<C>& want, const HostTensor& re, const HostTensor* im, int64_t points,
            const std::string& what) {
  double scale = 1e-30;
  for (const C& w : want) scale = std::max(scale, std::abs(w));
  // f32 butterflies: error ~ eps * log2(N) relative to the transform's magnitude (Bluestein's
  // padded transforms and chirps add a few more stages).
  const double bound = 16 * 0x1p-23 * std::max(1.0, std::log2(static_cast<double>(points) * 4)) * scale;
  ASSERT_EQ(static_cast<size_t>(re.size()), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(re.Get(static_cast<int64_t>(i)), want[i].real(), bound) << what << " re " << i;
    if (im) ASSERT_NEAR(im->Get(static_cast<int64_t>(i)), want[i].imag(), bound) << what << " im " << i;
  }
}

void CheckComplex(const Dims& dims, size_t k, bool inverse, uint32_t seed) {
  std::mt19937 rng(seed);
  HostTensor re = testing::Random(DType::kF32, dims, rng, -1, 1), im = testing::Random(DType::kF32, dims, rng, -1, 1);
  HostTensor ore(DType::kF32, dims), oim(DType::kF32, dims);
  std::vector<int64_t> lengths(dims.end() - static_cast<int64_t>(k), dims.end());
  const std::string bytes = Build(inverse ? kIfft : kFft, lengths);
  ASSERT_TRUE(kernels::ValidateFft(Op(bytes), {&re.info, &im.info}, {&ore.info, &oim.info}).ok());
  ASSERT_TRUE(kernels::RunFft(Op(bytes), {{&re.info, re.bytes.data()}, {&im.info, im.bytes.data()}},
                              {{&ore.info, ore.bytes.data()}, {&oim.info, oim.bytes.data()}}).ok());
  std::vector<C> x(static_cast<size_t>(re.size()));
  for (int64_t i = 0; i < re.size(); ++i) x[static_cast<size_t>(i)] = C(re.Get(i), im.Get(i));
  int64_t points = 1;
  for (int64_t l : lengths) points *= l;
  Expect(Dft(x, dims, k, inverse), ore, &oim, points, inverse ? "ifft" : "fft");
}

TEST(FftKernel, ComplexTransformsOfEveryKindOfLength) {
  uint32_t seed = 1;
  for (int64_t n : {1, 2, 3, 5, 8, 12, 17, 64, 100})
    for (bool inverse : {false, true}) {
      SCOPED_TRACE("n=" + std::to_string(n));
      CheckComplex({3, n}, 1, inverse, seed++);
    }
  CheckComplex({2, 4, 6}, 2, false, seed++);
  CheckComplex({2, 3, 4, 5}, 3, true, seed++);
  CheckComplex({8, 7}, 2, false, seed++);
}

TEST(FftKernel, RealTransforms) {
  std::mt19937 rng(5);
  for (const Dims& dims : {Dims{2, 8}, Dims{3, 9}, Dims{2, 6, 10}, Dims{1, 1}}) {
    const size_t k = dims.size() == 3 ? 2 : 1;
    Dims half = dims;
    half.back() = dims.back() / 2 + 1;
    std::vector<int64_t> lengths(dims.end() - static_cast<int64_t>(k), dims.end());
    HostTensor x = testing::Random(DType::kF32, dims, rng, -1, 1);
    HostTensor re(DType::kF32, half), im(DType::kF32, half), back(DType::kF32, dims);
    const std::string r = Build(kRfft, lengths), ir = Build(kIrfft, lengths);
    ASSERT_TRUE(kernels::ValidateFft(Op(r), {&x.info}, {&re.info, &im.info}).ok());
    ASSERT_TRUE(kernels::RunFft(Op(r), {{&x.info, x.bytes.data()}},
                                {{&re.info, re.bytes.data()}, {&im.info, im.bytes.data()}}).ok());
    std::vector<C> xc(static_cast<size_t>(x.size()));
    for (int64_t i = 0; i < x.size(); ++i) xc[static_cast<size_t>(i)] = x.Get(i);
    const std::vector<C> full = Dft(xc, dims, k, false);
    std::vector<C> want;  // the first n/2+1 entries of every last-axis line
    for (size_t i = 0; i < full.size(); ++i)
      if (static_cast<int64_t>(i % static_cast<size_t>(dims.back())) < half.back()) want.push_back(full[i]);
    int64_t points = 1;
    for (int64_t l : lengths) points *= l;
    Expect(want, re, &im, points, "rfft");
    ASSERT_TRUE(kernels::ValidateFft(Op(ir), {&re.info, &im.info}, {&back.info}).ok());
    ASSERT_TRUE(kernels::RunFft(Op(ir), {{&re.info, re.bytes.data()}, {&im.info, im.bytes.data()}},
                                {{&back.info, back.bytes.data()}}).ok());
    Expect(xc, back, nullptr, points, "irfft(rfft)");
  }
}

TEST(FftKernel, ZeroSizeBatch) {
  HostTensor re(DType::kF32, {0, 8}), im(DType::kF32, {0, 8}), ore(DType::kF32, {0, 8}), oim(DType::kF32, {0, 8});
  const std::string bytes = Build(kFft, {8});
  ASSERT_TRUE(kernels::ValidateFft(Op(bytes), {&re.info, &im.info}, {&ore.info, &oim.info}).ok());
  EXPECT_TRUE(kernels::RunFft(Op(bytes), {{&re.info, nullptr}, {&im.info, nullptr}},
                              {{&ore.info, nullptr}, {&oim.info, nullptr}}).ok());
}

TEST(FftKernel, ValidationErrorsNameTheProblem) {
  auto validate = [](int type, std::vector<int64_t> lengths, std::vector<TensorInfo> in, std::vector<TensorInfo> out) {
    const std::string bytes = Build(type, lengths);
    kernels::TensorInfos ins, outs;
    for (const TensorInfo& t : in) ins.push_back(&t);
    for (const TensorInfo& t : out) outs.push_back(&t);
    return kernels::ValidateFft(Op(bytes), ins, outs).message();
  };
  const TensorInfo f8{DType::kF32, {8}}, f5{DType::kF32, {5}};
  EXPECT_NE(validate(kFft, {8, 1, 1, 1}, {f8, f8}, {f8, f8}).find("1 to 3"), std::string::npos);
  EXPECT_NE(validate(kFft, {8}, {f8}, {f8, f8}).find("planar"), std::string::npos);
  EXPECT_NE(validate(kFft, {8}, {{DType::kBF16, {8}}, f8}, {f8, f8}).find("f32"), std::string::npos);
  EXPECT_NE(validate(kRfft, {8}, {f8}, {f8, f8}).find("do not match"), std::string::npos);
  EXPECT_TRUE(validate(kRfft, {8}, {f8}, {f5, f5}).empty());
  EXPECT_NE(validate(7, {8}, {f8, f8}, {f8, f8}).find("invalid"), std::string::npos);
}

}  // namespace
}  // namespace chip
