// Helpers shared by the data-movement, indexing and sorting kernels (gather, scatter,
// dynamic_slice, pad, sort, reduce_window, ...): shape arithmetic, reading integer indices of any
// dtype, block copies, overlap checks, and the checks of dimension-number attributes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace kernels {
namespace idx {

using Dims = std::vector<int64_t>;

inline Dims RowMajorStrides(const Dims& dims) {
  Dims s(dims.size(), 1);
  for (int k = static_cast<int>(dims.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

// Writes `count` copies of the `e`-byte element at `value` (an init value, a fill value) to dst.
inline void Fill(uint8_t* dst, const void* value, int e, int64_t count) {
  for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * e, value, e);
}

inline int64_t Product(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

inline std::string Str(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

inline Dims ToDims(const flatbuffers::Vector<int64_t>* v) {
  return v ? Dims(v->begin(), v->end()) : Dims();
}

// An integer element of dtype `t` (any integer type; pred reads 0/1).
inline int64_t ReadIndex(DType t, const void* p) { return num::LoadAsInt(t, p); }

// Kernels over several operands with one init each (variadic reduce, reduce_window): n outputs,
// inputs = the n operands, then their n inits.
inline Status CheckOperandsThenInits(const std::string& what, size_t num_inputs, size_t num_outputs) {
  if (num_outputs == 0 || num_inputs != 2 * num_outputs) {
    return InvalidArgument(what + " with " + std::to_string(num_outputs) + " outputs takes " +
                           std::to_string(2 * num_outputs) + " inputs (operands, then inits), got " +
                           std::to_string(num_inputs));
  }
  return Status::Ok();
}

inline bool IsIndexType(DType t) { return t != DType::kInvalid && t != DType::kPred && !IsFloat(t); }

inline int64_t Clamp(int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); }

inline bool Overlaps(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  if (a_bytes <= 0 || b_bytes <= 0 || a == nullptr || b == nullptr) return false;
  const uintptr_t pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(b_bytes) && pb < pa + static_cast<uintptr_t>(a_bytes);
}

inline bool Overlaps(const TensorRef& a, const TensorRef& b) {
  return Overlaps(a.data, a.info->byte_size(), b.data, b.info->byte_size());
}

// Calls fn(outer multi-index) for every index of `dims` (row-major); nothing when any dim is 0.
template <typename Fn>
void ForEachIndex(const Dims& dims, Fn fn) {
  const int rank = static_cast<int>(dims.size());
  for (int64_t d : dims) {
    if (d == 0) return;
  }
  Dims i(rank, 0);
  while (true) {
    fn(static_cast<const Dims&>(i));
    int k = rank - 1;
    for (; k >= 0; --k) {
      if (++i[k] < dims[k]) break;
      i[k] = 0;
    }
    if (k < 0) return;
  }
}

// Copies the block of shape `sizes` starting at `src_start` in a row-major `src_dims` tensor to
// `dst_start` in a row-major `dst_dims` tensor (elements of `elem` bytes). Block and both tensors
// have one rank; the caller guarantees the block lies inside both. memmove: may overlap.
inline void CopyBlock(const uint8_t* src, const Dims& src_dims, const Dims& src_start, uint8_t* dst,
                      const Dims& dst_dims, const Dims& dst_start, const Dims& sizes, int elem) {
  const int rank = static_cast<int>(sizes.size());
  if (Product(sizes) == 0) return;
  if (rank == 0) {
    std::memmove(dst, src, elem);
    return;
  }
  const Dims ss = RowMajorStrides(src_dims), ds = RowMajorStrides(dst_dims);
  const int64_t run = sizes[rank - 1] * elem;
  Dims outer(sizes.begin(), sizes.end() - 1);
  ForEachIndex(outer, [&](const Dims& i) {
    int64_t so = src_start[rank - 1], d_o = dst_start[rank - 1];
    for (int k = 0; k < rank - 1; ++k) {
      so += (src_start[k] + i[k]) * ss[k];
      d_o += (dst_start[k] + i[k]) * ds[k];
    }
    std::memmove(dst + d_o * elem, src + so * elem, run);
  });
}

// Checks a list of dimension numbers: each in [0, rank), and (when `sorted`) strictly increasing,
// else unique. `what` names the attribute in the message.
inline Status CheckDims(const Dims& dims, int64_t rank, bool sorted, const std::string& what) {
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0 || dims[i] >= rank) {
      return InvalidArgument(what + " " + Str(dims) + " has dimension " + std::to_string(dims[i]) +
                             " outside [0, " + std::to_string(rank) + ")");
    }
    for (size_t j = 0; j < i; ++j) {
      if (dims[j] == dims[i]) return InvalidArgument(what + " " + Str(dims) + " repeats a dimension");
      if (sorted && dims[j] > dims[i]) return InvalidArgument(what + " " + Str(dims) + " is not sorted");
    }
  }
  return Status::Ok();
}

inline bool Contains(const Dims& dims, int64_t d) { return std::find(dims.begin(), dims.end(), d) != dims.end(); }

inline Status CheckScalarIndex(const TensorInfo& t, const std::string& what) {
  if (!t.dims.empty() || !IsIndexType(t.dtype)) {
    return InvalidArgument(what + " must be a 0-d integer, got " + t.ToString());
  }
  return Status::Ok();
}

}  // namespace idx
}  // namespace kernels
}  // namespace chip
