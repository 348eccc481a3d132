#include "pjrt_plugin/kernels/dot_general.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/kernels/gemm.h"
#include "pjrt_plugin/kernels/thread_pool.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

std::vector<int64_t> ToVector(const flatbuffers::Vector<int64_t>* v) {
  return v ? std::vector<int64_t>(v->begin(), v->end()) : std::vector<int64_t>();
}

std::string ListString(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "}";
}

// One operand seen as [B, rows, cols] over groups of its dims (each group in the op's order).
struct OperandLayout {
  std::vector<int64_t> batch, rows, cols;  // dims of the operand in each group
  int64_t B = 1, R = 1, C = 1;
};

// Free dims of an operand: those neither batch nor contracting, ascending.
std::vector<int64_t> FreeDims(int rank, const std::vector<int64_t>& batch, const std::vector<int64_t>& contracting) {
  std::vector<int64_t> free;
  for (int d = 0; d < rank; ++d) {
    if (std::find(batch.begin(), batch.end(), d) == batch.end() &&
        std::find(contracting.begin(), contracting.end(), d) == contracting.end()) {
      free.push_back(d);
    }
  }
  return free;
}

OperandLayout MakeLayout(const TensorInfo& t, std::vector<int64_t> batch, std::vector<int64_t> rows,
                         std::vector<int64_t> cols) {
  OperandLayout l;
  l.batch = std::move(batch);
  l.rows = std::move(rows);
  l.cols = std::move(cols);
  for (int64_t d : l.batch) l.B *= t.dims[d];
  for (int64_t d : l.rows) l.R *= t.dims[d];
  for (int64_t d : l.cols) l.C *= t.dims[d];
  return l;
}

// True when the operand's row-major layout already is [group1..., group2..., group3...].
bool IsInOrder(const std::vector<int64_t>& a, const std::vector<int64_t>& b, const std::vector<int64_t>& c) {
  int64_t expect = 0;
  for (const auto* g : {&a, &b, &c}) {
    for (int64_t d : *g) {
      if (d != expect++) return false;
    }
  }
  return true;
}

// Element offsets (in elements of the operand) of every index of a group of dims.
std::vector<int64_t> GroupOffsets(const TensorInfo& t, const std::vector<int64_t>& group) {
  std::vector<int64_t> strides(t.dims.size(), 1);
  for (int k = static_cast<int>(t.dims.size()) - 2; k >= 0; --k) strides[k] = strides[k + 1] * t.dims[k + 1];
  std::vector<int64_t> offsets(1, 0);
  for (int64_t d : group) {
    std::vector<int64_t> next;
    next.reserve(offsets.size() * t.dims[d]);
    for (int64_t base : offsets) {
      for (int64_t i = 0; i < t.dims[d]; ++i) next.push_back(base + i * strides[d]);
    }
    offsets.swap(next);
  }
  return offsets;
}

template <typename T>
T ConvertElement(DType t, const uint8_t* base, int64_t i) {
  if (IsInt4(t)) return static_cast<T>(num::LoadInt4(t, base, i));  // packed: i is an element index
  const int size = DTypeByteSize(t);
  if constexpr (std::is_same_v<T, float>) {
    if (IsFloat(t)) return num::LoadAsFloat(t, base + i * size);
    return static_cast<float>(num::LoadAsInt(t, base + i * size));
  } else {
    return static_cast<T>(num::LoadAsInt(t, base + i * size));
  }
}

// Converts a contiguous run of `n` elements of dtype t to T.
template <typename T>
void ConvertRun(DType t, const uint8_t* src, int64_t n, T* dst) {
  if constexpr (std::is_same_v<T, float>) {
    if (num::FloatRowToF32(t, src, n, dst)) return;
  }
  switch (t) {
    case DType::kS8: { const int8_t* s = reinterpret_cast<const int8_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(s[i]); return; }
    case DType::kPred:
    case DType::kU8: { for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]); return; }
    case DType::kS16: { const int16_t* s = reinterpret_cast<const int16_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(s[i]); return; }
    case DType::kU16: { const uint16_t* s = reinterpret_cast<const uint16_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(s[i]); return; }
    case DType::kS32: { const int32_t* s = reinterpret_cast<const int32_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(s[i]); return; }
    case DType::kU32: { const uint32_t* s = reinterpret_cast<const uint32_t*>(src); for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<int32_t>(s[i])); return; }
    default:
      for (int64_t i = 0; i < n; ++i) dst[i] = ConvertElement<T>(t, src, i);
  }
}

// Packs an operand into a dense [B, R, C] array of T (converting its dtype).
template <typename T>
void Pack(const TensorRef& x, const OperandLayout& l, T* dst) {
  const TensorInfo& t = *x.info;
  const uint8_t* src = static_cast<const uint8_t*>(x.data);
  const int size = DTypeByteSize(t.dtype);
  if (IsInOrder(l.batch, l.rows, l.cols) && !IsInt4(t.dtype)) {
    ConvertRun<T>(t.dtype, src, l.B * l.R * l.C, dst);
    return;
  }
  const std::vector<int64_t> boff = GroupOffsets(t, l.batch);
  const std::vector<int64_t> roff = GroupOffsets(t, l.rows);
  const std::vector<int64_t> coff = GroupOffsets(t, l.cols);
  bool cols_contiguous = !IsInt4(t.dtype);  // packed int4 is read element by element
  for (size_t i = 0; i < coff.size(); ++i) cols_contiguous = cols_contiguous && coff[i] == static_cast<int64_t>(i);
  ThreadPool::Global().ParallelFor(l.B * l.R, std::max<int64_t>(1, 16384 / std::max<int64_t>(l.C, 1)),
                                   [&](int64_t begin, int64_t end) {
    for (int64_t br = begin; br < end; ++br) {
      const int64_t b = br / l.R, r = br % l.R;
      const int64_t base = boff[b] + roff[r];
      T* out = dst + br * l.C;
      if (cols_contiguous) {
        ConvertRun<T>(t.dtype, src + base * size, l.C, out);
      } else {
        for (int64_t c = 0; c < l.C; ++c) out[c] = ConvertElement<T>(t.dtype, src, base + coff[c]);
      }
    }
  });
}

// Small-M float products with a bf16/f16 right-hand side (decode-time matrix-vector work): the
// weights are converted a row at a time while streaming through them once, instead of packing a
// full f32 copy. x is f32 [B, M, K]; w is [B, K, N] (w_t false) or [B, N, K] (w_t true).
void StreamingSmallM(const float* x, DType wt, const uint8_t* w, bool w_t, float* out, int64_t B, int64_t M,
                     int64_t N, int64_t K) {
  const int wsize = DTypeByteSize(wt);
  if (!w_t) {
    constexpr int64_t kCols = 512;
    const int64_t col_blocks = (N + kCols - 1) / kCols;
    ThreadPool::Global().ParallelFor(B * col_blocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> acc(M * kCols), row(kCols);
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / col_blocks, n0 = (item % col_blocks) * kCols;
        const int64_t width = std::min(kCols, N - n0);
        std::fill(acc.begin(), acc.end(), 0.0f);
        const float* xb = x + b * M * K;
        const uint8_t* wb = w + (b * K * N + n0) * wsize;
        for (int64_t k = 0; k < K; ++k) {
          ConvertRun<float>(wt, wb + k * N * wsize, width, row.data());
          for (int64_t m = 0; m < M; ++m) {
            const float xv = xb[m * K + k];
            float* a = acc.data() + m * kCols;
            for (int64_t j = 0; j < width; ++j) a[j] += xv * row[j];
          }
        }
        for (int64_t m = 0; m < M; ++m) {
          std::memcpy(out + b * M * N + m * N + n0, acc.data() + m * kCols, width * sizeof(float));
        }
      }
    });
    return;
  }
  ThreadPool::Global().ParallelFor(B * N, std::max<int64_t>(1, 65536 / std::max<int64_t>(K, 1)),
                                   [&](int64_t begin, int64_t end) {
    std::vector<float> row(K);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / N, n = item % N;
      ConvertRun<float>(wt, w + (b * N + n) * K * wsize, K, row.data());
      for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + (b * M + m) * K;
        float part[16] = {};
        int64_t k = 0;
        for (; k + 16 <= K; k += 16) {
          for (int j = 0; j < 16; ++j) part[j] += xr[k + j] * row[k + j];
        }
        for (int j = 0; k < K; ++k, ++j) part[j] += xr[k] * row[k];
        float sum = 0;
        for (int j = 0; j < 16; ++j) sum += part[j];
        out[(b * M + m) * N + n] = sum;
      }
    }
  });
}

}  // namespace

Status ValidateDotGeneral(const exe::DotGeneral& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (inputs.size() != 2 || outputs.size() != 1) {
    return InvalidArgument("dot_general takes 2 inputs and 1 output, got " + std::to_string(inputs.size()) +
                           " and " + std::to_string(outputs.size()));
  }
  const TensorInfo& lhs = *inputs[0];
  const TensorInfo& rhs = *inputs[1];
  const TensorInfo& out = *outputs[0];
  const std::vector<int64_t> lb = ToVector(op.lhs_batch()), rb = ToVector(op.rhs_batch());
  const std::vector<int64_t> lc = ToVector(op.lhs_contracting()), rc = ToVector(op.rhs_contracting());
  const std::string sig = "dot_general(" + lhs.ToString() + ", " + rhs.ToString() + ") batch " + ListString(lb) +
                          "x" + ListString(rb) + " contracting " + ListString(lc) + "x" + ListString(rc);
  if (lb.size() != rb.size() || lc.size() != rc.size()) {
    return InvalidArgument(sig + ": lhs and rhs need as many batch and contracting dims");
  }
  auto check_dims = [&](const TensorInfo& t, const std::vector<int64_t>& b, const std::vector<int64_t>& c,
                        const char* side) -> Status {
    std::vector<bool> used(t.dims.size(), false);
    for (const auto* g : {&b, &c}) {
      for (int64_t d : *g) {
        if (d < 0 || d >= static_cast<int64_t>(t.dims.size()) || used[d]) {
          return InvalidArgument(sig + ": " + side + " dim " + std::to_string(d) + " is out of range or repeated");
        }
        used[d] = true;
      }
    }
    return Status::Ok();
  };
  CHIP_RETURN_IF_ERROR(check_dims(lhs, lb, lc, "lhs"));
  CHIP_RETURN_IF_ERROR(check_dims(rhs, rb, rc, "rhs"));
  std::vector<int64_t> expect;
  for (size_t i = 0; i < lb.size(); ++i) {
    if (lhs.dims[lb[i]] != rhs.dims[rb[i]]) return InvalidArgument(sig + ": batch dim sizes differ");
    expect.push_back(lhs.dims[lb[i]]);
  }
  for (size_t i = 0; i < lc.size(); ++i) {
    if (lhs.dims[lc[i]] != rhs.dims[rc[i]]) return InvalidArgument(sig + ": contracting dim sizes differ");
  }
  for (int64_t d : FreeDims(static_cast<int>(lhs.dims.size()), lb, lc)) expect.push_back(lhs.dims[d]);
  for (int64_t d : FreeDims(static_cast<int>(rhs.dims.size()), rb, rc)) expect.push_back(rhs.dims[d]);
  if (IsInt4(out.dtype)) return InvalidArgument(sig + ": output is " + out.ToString() + "; int4 results are not supported");
  if (out.dims != expect) {
    TensorInfo e{out.dtype, expect};
    return InvalidArgument(sig + ": output is " + out.ToString() + ", expected " + e.ToString());
  }
  return Status::Ok();
}

Status RunDotGeneral(const exe::DotGeneral& op, const TensorRefs& inputs, const TensorRefs& outputs) {
  const TensorInfo& lhs = *inputs[0].info;
  const TensorInfo& rhs = *inputs[1].info;
  const TensorInfo& out = *outputs[0].info;
  const int64_t out_elems = out.num_elements();
  if (out_elems == 0) return Status::Ok();
  const std::vector<int64_t> lb = ToVector(op.lhs_batch()), rb = ToVector(op.rhs_batch());
  const std::vector<int64_t> lc = ToVector(op.lhs_contracting()), rc = ToVector(op.rhs_contracting());
  const std::vector<int64_t> lf = FreeDims(static_cast<int>(lhs.dims.size()), lb, lc);
  const std::vector<int64_t> rf = FreeDims(static_cast<int>(rhs.dims.size()), rb, rc);
  OperandLayout L = MakeLayout(lhs, lb, lf, lc);  // [B, M, K]
  OperandLayout R = MakeLayout(rhs, rb, rc, rf);     // [B, K, N]
  const int64_t B = L.B, M = L.R, K = L.C, N = R.C;
  uint8_t* dst = static_cast<uint8_t*>(outputs[0].data);

  const bool integer = !IsFloat(lhs.dtype) && !IsFloat(rhs.dtype);
  if (integer) {
    // int32 accumulation (wrapping), then converted to the output dtype.
    AlignedBuffer a(sizeof(int32_t) * std::max<int64_t>(B * M * K, 1));
    AlignedBuffer b(sizeof(int32_t) * std::max<int64_t>(B * K * N, 1));
    AlignedBuffer c(sizeof(int32_t) * out_elems);
    Pack<int32_t>(inputs[0], L, a.as<int32_t>());
    Pack<int32_t>(inputs[1], R, b.as<int32_t>());
    int32_t* acc = c.as<int32_t>();
    if (K == 0) {
      std::fill(acc, acc + out_elems, 0);
    } else {
      // Wrapping int32 arithmetic: accumulate in uint32 (same bits, no signed overflow).
      const uint32_t* ua = a.as<uint32_t>();
      const uint32_t* ub = b.as<uint32_t>();
      uint32_t* uc = c.as<uint32_t>();
      ThreadPool::Global().ParallelFor(B * M, std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(1, N * K)),
                                       [&](int64_t begin, int64_t end) {
        for (int64_t bm = begin; bm < end; ++bm) {
          const int64_t bi = bm / M;
          uint32_t* row = uc + bm * N;
          std::fill(row, row + N, 0u);
          const uint32_t* arow = ua + bm * K;
          const uint32_t* bmat = ub + bi * K * N;
          for (int64_t k = 0; k < K; ++k) {
            const uint32_t av = arow[k];
            if (av == 0) continue;
            const uint32_t* brow = bmat + k * N;
            for (int64_t n = 0; n < N; ++n) row[n] += av * brow[n];
          }
        }
      });
    }
    for (int64_t i = 0; i < out_elems; ++i) {
      if (IsFloat(out.dtype)) num::StoreFloat(out.dtype, dst + i * DTypeByteSize(out.dtype), static_cast<float>(acc[i]));
      else num::StoreInt(out.dtype, dst + i * DTypeByteSize(out.dtype), acc[i]);
    }
    return Status::Ok();
  }

  // Floating: operands exact in f32, f32 accumulation, one rounding to the output dtype.
  const float* a_ptr = nullptr;
  const float* b_ptr = nullptr;
  bool a_t = false, b_t = false;
  AlignedBuffer a_buf, b_buf, c_buf;
  if (lhs.dtype == DType::kF32 && IsInOrder(lb, lf, lc)) {
    a_ptr = static_cast<const float*>(inputs[0].data);
  } else if (lhs.dtype == DType::kF32 && IsInOrder(lb, lc, lf)) {
    a_ptr = static_cast<const float*>(inputs[0].data);
    a_t = true;
  } else {
    a_buf.Resize(sizeof(float) * std::max<int64_t>(B * M * K, 1));
    Pack<float>(inputs[0], L, a_buf.as<float>());
    a_ptr = a_buf.as<float>();
  }
  float* c_ptr = nullptr;
  if (out.dtype == DType::kF32) {
    c_ptr = reinterpret_cast<float*>(dst);
  } else {
    c_buf.Resize(sizeof(float) * out_elems);
    c_ptr = c_buf.as<float>();
  }
  const bool rhs_kn = IsInOrder(rb, rc, rf), rhs_nk = IsInOrder(rb, rf, rc);
  if (M <= 16 && K > 0 && (rhs.dtype == DType::kBF16 || rhs.dtype == DType::kF16) && (rhs_kn || rhs_nk)) {
    if (a_t) {  // the streaming kernel reads lhs rows
      a_buf.Resize(sizeof(float) * std::max<int64_t>(B * M * K, 1));
      Pack<float>(inputs[0], L, a_buf.as<float>());
      a_ptr = a_buf.as<float>();
    }
    StreamingSmallM(a_ptr, rhs.dtype, static_cast<const uint8_t*>(inputs[1].data), !rhs_kn, c_ptr, B, M, N, K);
  } else {
    if (rhs.dtype == DType::kF32 && rhs_kn) {
      b_ptr = static_cast<const float*>(inputs[1].data);
    } else if (rhs.dtype == DType::kF32 && rhs_nk) {
      b_ptr = static_cast<const float*>(inputs[1].data);
      b_t = true;
    } else {
      b_buf.Resize(sizeof(float) * std::max<int64_t>(B * K * N, 1));
      Pack<float>(inputs[1], R, b_buf.as<float>());
      b_ptr = b_buf.as<float>();
    }
    DeterministicGemm(a_ptr, a_t, b_ptr, b_t, c_ptr, B, M, N, K);
  }
  if (out.dtype != DType::kF32) {
    const int size = DTypeByteSize(out.dtype);
    for (int64_t i = 0; i < out_elems; ++i) {
      if (IsFloat(out.dtype)) num::StoreFloat(out.dtype, dst + i * size, c_ptr[i]);
      else num::StoreInt(out.dtype, dst + i * size, num::FloatToInt(out.dtype, c_ptr[i]));
    }
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
