#include "pjrt_plugin/kernels/fft.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

enum FftType : int { kFft = 0, kIfft = 1, kRfft = 2, kIrfft = 3 };

std::string TypeName(int t) {
  switch (t) {
    case kFft: return "FFT";
    case kIfft: return "IFFT";
    case kRfft: return "RFFT";
    case kIrfft: return "IRFFT";
    default: return "fft_type " + std::to_string(t);
  }
}

bool IsPowerOfTwo(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// An in-place radix-2 decimation-in-time transform of a power-of-two length; twiddles computed
// in f64 and rounded to f32 once, butterflies in f32.
class Radix2 {
 public:
  Radix2(int64_t n, bool inverse) : n_(n), rev_(static_cast<size_t>(n)), wr_(static_cast<size_t>(n / 2)), wi_(static_cast<size_t>(n / 2)) {
    int bits = 0;
    while ((int64_t{1} << bits) < n) ++bits;
    for (int64_t i = 0; i < n; ++i) {
      int64_t r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      rev_[static_cast<size_t>(i)] = r;
    }
    const double sign = inverse ? 1.0 : -1.0;
    for (int64_t k = 0; k < n / 2; ++k) {
      const double a = sign * 2.0 * M_PI * static_cast<double>(k) / static_cast<double>(n);
      wr_[static_cast<size_t>(k)] = static_cast<float>(std::cos(a));
      wi_[static_cast<size_t>(k)] = static_cast<float>(std::sin(a));
    }
  }

  // Unscaled transform of re/im (length n) in place.
  void Run(float* re, float* im) const {
    for (int64_t i = 0; i < n_; ++i) {
      const int64_t r = rev_[static_cast<size_t>(i)];
      if (r > i) {
        std::swap(re[i], re[r]);
        std::swap(im[i], im[r]);
      }
    }
    for (int64_t len = 2; len <= n_; len <<= 1) {
      const int64_t half = len / 2, step = n_ / len;
      for (int64_t start = 0; start < n_; start += len) {
        for (int64_t j = 0; j < half; ++j) {
          const float c = wr_[static_cast<size_t>(j * step)], s = wi_[static_cast<size_t>(j * step)];
          const int64_t a = start + j, b = a + half;
          const float tr = re[b] * c - im[b] * s;
          const float ti = re[b] * s + im[b] * c;
          re[b] = re[a] - tr;
          im[b] = im[a] - ti;
          re[a] += tr;
          im[a] += ti;
        }
      }
    }
  }

 private:
  int64_t n_;
  std::vector<int64_t> rev_;
  std::vector<float> wr_, wi_;
};

// One unscaled complex transform of length n along a line: radix-2 for powers of two, else
// Bluestein: X_k = conj(w_k) * sum_j (x_j conj(w_j)) w_{k-j}, w_j = exp(i*pi*j^2/n) (sign
// flipped for the inverse), the convolution by power-of-two transforms of length m >= 2n-1.
class Plan1D {
 public:
  Plan1D(int64_t n, bool inverse) : n_(n) {
    if (IsPowerOfTwo(n)) {
      direct_ = std::make_unique<Radix2>(n, inverse);
      return;
    }
    m_ = 1;
    while (m_ < 2 * n - 1) m_ <<= 1;
    fwd_ = std::make_unique<Radix2>(m_, false);
    inv_ = std::make_unique<Radix2>(m_, true);
    const double sign = inverse ? 1.0 : -1.0;
    cr_.resize(static_cast<size_t>(n));
    ci_.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      // j^2 mod 2n keeps the angle's argument small (exact in f64 for any int64 n we accept).
      const int64_t q = (j * j) % (2 * n);
      const double a = sign * M_PI * static_cast<double>(q) / static_cast<double>(n);
      cr_[static_cast<size_t>(j)] = static_cast<float>(std::cos(a));
      ci_[static_cast<size_t>(j)] = static_cast<float>(std::sin(a));
    }
    // Transform of the filter conj(chirp) at 0..n-1 and m-n+1..m-1, scaled by 1/m for the
    // inverse transform of the product.
    br_.assign(static_cast<size_t>(m_), 0.0f);
    bi_.assign(static_cast<size_t>(m_), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      br_[static_cast<size_t>(j)] = cr_[static_cast<size_t>(j)];
      bi_[static_cast<size_t>(j)] = -ci_[static_cast<size_t>(j)];
      if (j > 0) {
        br_[static_cast<size_t>(m_ - j)] = cr_[static_cast<size_t>(j)];
        bi_[static_cast<size_t>(m_ - j)] = -ci_[static_cast<size_t>(j)];
      }
    }
    fwd_->Run(br_.data(), bi_.data());
    const float scale = 1.0f / static_cast<float>(m_);
    for (int64_t k = 0; k < m_; ++k) {
      br_[static_cast<size_t>(k)] *= scale;
      bi_[static_cast<size_t>(k)] *= scale;
    }
  }

  // `work` holds 2*m floats (Bluestein only).
  void Run(float* re, float* im, std::vector<float>& work) const {
    if (direct_) {
      direct_->Run(re, im);
      return;
    }
    work.assign(static_cast<size_t>(2 * m_), 0.0f);
    float* ar = work.data();
    float* ai = work.data() + m_;
    for (int64_t j = 0; j < n_; ++j) {  // a_j = x_j * chirp_j
      const float c = cr_[static_cast<size_t>(j)], s = ci_[static_cast<size_t>(j)];
      ar[j] = re[j] * c - im[j] * s;
      ai[j] = re[j] * s + im[j] * c;
    }
    fwd_->Run(ar, ai);
    for (int64_t k = 0; k < m_; ++k) {
      const float xr = ar[k], xi = ai[k];
      const float c = br_[static_cast<size_t>(k)], s = bi_[static_cast<size_t>(k)];
      ar[k] = xr * c - xi * s;
      ai[k] = xr * s + xi * c;
    }
    inv_->Run(ar, ai);
    for (int64_t k = 0; k < n_; ++k) {  // X_k = conv_k * chirp_k
      const float c = cr_[static_cast<size_t>(k)], s = ci_[static_cast<size_t>(k)];
      re[k] = ar[k] * c - ai[k] * s;
      im[k] = ar[k] * s + ai[k] * c;
    }
  }

 private:
  int64_t n_;
  int64_t m_ = 0;
  std::unique_ptr<Radix2> direct_, fwd_, inv_;
  std::vector<float> cr_, ci_, br_, bi_;
};

// Planar complex data of shape dims (row major) in two f32 arrays.
struct Planar {
  std::vector<int64_t> dims;
  std::vector<float> re, im;
  int64_t size() const { return static_cast<int64_t>(re.size()); }
};

// Unscaled transforms along axis `axis` of every line of `x`.
void TransformAxis(Planar& x, size_t axis, bool inverse) {
  const int64_t n = x.dims[axis];
  if (n <= 1 || x.size() == 0) return;
  int64_t inner = 1;
  for (size_t d = axis + 1; d < x.dims.size(); ++d) inner *= x.dims[d];
  const int64_t outer = x.size() / (n * inner);
  const Plan1D plan(n, inverse);
  std::vector<float> lr(static_cast<size_t>(n)), li(static_cast<size_t>(n)), work;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * n * inner + i;
      for (int64_t j = 0; j < n; ++j) {
        lr[static_cast<size_t>(j)] = x.re[static_cast<size_t>(base + j * inner)];
        li[static_cast<size_t>(j)] = x.im[static_cast<size_t>(base + j * inner)];
      }
      plan.Run(lr.data(), li.data(), work);
      for (int64_t j = 0; j < n; ++j) {
        x.re[static_cast<size_t>(base + j * inner)] = lr[static_cast<size_t>(j)];
        x.im[static_cast<size_t>(base + j * inner)] = li[static_cast<size_t>(j)];
      }
    }
  }
}

void Scale(Planar& x, int64_t n) {
  const float s = 1.0f / static_cast<float>(n);
  for (float& v : x.re) v *= s;
  for (float& v : x.im) v *= s;
}

int64_t Product(const std::vector<int64_t>& v, size_t from) {
  int64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

std::vector<float> Load(const TensorRef& t) {
  std::vector<float> v(static_cast<size_t>(t.info->num_elements()));
  if (!v.empty()) std::memcpy(v.data(), t.data, v.size() * sizeof(float));
  return v;
}

void Store(const std::vector<float>& v, const TensorRef& t) {
  if (!v.empty()) std::memcpy(t.data, v.data(), v.size() * sizeof(float));
}

}  // namespace

Status ValidateFft(const exe::Fft& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  const int type = static_cast<int>(op.fft_type());
  if (type < kFft || type > kIrfft) return InvalidArgument("fft: invalid " + TypeName(type));
  const std::string what = "fft " + TypeName(type);
  const size_t k = op.fft_length() ? op.fft_length()->size() : 0;
  if (k < 1 || k > 3) return InvalidArgument(what + " needs 1 to 3 fft_length entries, got " + std::to_string(k));
  const size_t n_in = type == kRfft ? 1 : 2, n_out = type == kIrfft ? 1 : 2;
  if (inputs.size() != n_in || outputs.size() != n_out) {
    return InvalidArgument(what + " takes " + std::to_string(n_in) + " input(s) and " + std::to_string(n_out) +
                           " output(s) (planar complex: real and imaginary parts)");
  }
  for (const TensorInfos* side : {&inputs, &outputs}) {
    for (const TensorInfo* t : *side) {
      if (t->dtype != DType::kF32 || t->dims.size() < k || t->dims != (*side)[0]->dims) {
        return InvalidArgument(what + ": every input and output is f32 (planar complex parts of one shape) with rank >= " +
                               std::to_string(k) + ", got " + t->ToString());
      }
    }
  }
  const std::vector<int64_t>& in = inputs[0]->dims;
  const std::vector<int64_t>& out = outputs[0]->dims;
  std::vector<int64_t> full = in;  // the real-space shape
  const size_t rank = in.size();
  for (size_t i = 0; i < k; ++i) {
    const int64_t len = (*op.fft_length())[static_cast<flatbuffers::uoffset_t>(i)];
    if (len < 0) return InvalidArgument(what + ": negative fft_length " + std::to_string(len));
    full[rank - k + i] = len;
  }
  std::vector<int64_t> spectrum = full;
  if (type == kRfft || type == kIrfft) spectrum[rank - 1] = full[rank - 1] / 2 + 1;
  const std::vector<int64_t>& want_in = (type == kIrfft) ? spectrum : full;
  const std::vector<int64_t>& want_out = (type == kRfft) ? spectrum : full;
  if (in != want_in || out != want_out || out.size() != rank) {
    return InvalidArgument(what + " with fft_length of the last " + std::to_string(k) +
                           " dims: input " + inputs[0]->ToString() + " and output " + outputs[0]->ToString() +
                           " do not match");
  }
  return Status::Ok();
}

Status RunFft(const exe::Fft& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const int type = static_cast<int>(op.fft_type());
  const size_t k = op.fft_length()->size();
  const bool inverse = type == kIfft || type == kIrfft;
  Planar x;
  x.dims = inputs[0].info->dims;
  const size_t rank = x.dims.size();
  if (type == kRfft) {
    x.re = Load(inputs[0]);
    x.im.assign(x.re.size(), 0.0f);
  } else {
    x.re = Load(inputs[0]);
    x.im = Load(inputs[1]);
  }
  if (type == kIrfft) {
    // The inner axes first on the half spectrum, then the last axis on its Hermitian extension.
    for (size_t a = rank - k; a + 1 < rank; ++a) TransformAxis(x, a, true);
    const std::vector<int64_t>& out_dims = outputs[0].info->dims;
    const int64_t n = out_dims[rank - 1], h = x.dims[rank - 1];
    const int64_t lines = h == 0 ? 0 : x.size() / h;
    Planar full;
    full.dims = out_dims;
    full.re.assign(static_cast<size_t>(lines * n), 0.0f);
    full.im.assign(static_cast<size_t>(lines * n), 0.0f);
    for (int64_t l = 0; l < lines; ++l) {
      for (int64_t j = 0; j < n; ++j) {
        const bool mirrored = j >= h;
        const int64_t src = l * h + (mirrored ? n - j : j);
        full.re[static_cast<size_t>(l * n + j)] = x.re[static_cast<size_t>(src)];
        full.im[static_cast<size_t>(l * n + j)] = mirrored ? -x.im[static_cast<size_t>(src)] : x.im[static_cast<size_t>(src)];
      }
    }
    TransformAxis(full, rank - 1, true);
    Scale(full, Product(out_dims, rank - k));
    Store(full.re, outputs[0]);
    return Status::Ok();
  }
  for (size_t a = rank; a-- > rank - k;) TransformAxis(x, a, inverse);
  if (type == kIfft) Scale(x, Product(x.dims, rank - k));
  if (type == kRfft) {
    const std::vector<int64_t>& out_dims = outputs[0].info->dims;
    const int64_t n = x.dims[rank - 1], h = out_dims[rank - 1];
    const int64_t lines = n == 0 ? 0 : x.size() / n;
    std::vector<float> re(static_cast<size_t>(lines * h)), im(static_cast<size_t>(lines * h));
    for (int64_t l = 0; l < lines; ++l) {
      for (int64_t j = 0; j < h; ++j) {
        re[static_cast<size_t>(l * h + j)] = x.re[static_cast<size_t>(l * n + j)];
        im[static_cast<size_t>(l * h + j)] = x.im[static_cast<size_t>(l * n + j)];
      }
    }
    Store(re, outputs[0]);
    Store(im, outputs[1]);
    return Status::Ok();
  }
  Store(x.re, outputs[0]);
  Store(x.im, outputs[1]);
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
