// Shared pieces of the paged attention kernels (attention_*.cc): pool addressing with the
// documented page-id clamp, f32 rounding of rows, the unpacked arguments, and argument checks.
//
// Layout (sglang-jax's, docs/attention.md): a pool is [rows, kv_heads, head_dim] with
// rows = num_pages * page_size; the token at position j of sequence b lives in row
// page_table[b, j / page_size] * page_size + j % page_size. Page ids outside [0, num_pages) are
// clamped into it (never read out of bounds), as the jnp reference does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "pjrt_plugin/kernels/custom_call.h"
#include "pjrt_plugin/core/numerics.h"
#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace kernels {
namespace attention {

// The attributes of paged_attention_decode and radix_attention_extend, decoded once at load time.
struct AttentionParams {
  float scale = 1.0f;
  int64_t page_size = 1;
  static StatusOr<AttentionParams> Decode(const CustomCallAttributes& attrs) {
    CHIP_ASSIGN_OR_RETURN(const double scale, attrs.Float("scale"));
    CHIP_ASSIGN_OR_RETURN(const int64_t page_size, attrs.Int("page_size"));
    return AttentionParams{static_cast<float>(scale), page_size};
  }
};

inline bool IsAttentionFloat(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

// Rounds n f32 values to float dtype t and stores them (round to nearest even).
inline void RowFromF32(DType t, const float* src, int64_t n, void* dst) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
    case DType::kBF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = num::F32ToBF16(src[i]);
      break;
    }
    case DType::kF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = num::F32ToF16(src[i]);
      break;
    }
    default: break;
  }
}

// f32 dot product with 8 partial sums (vectorizes without reassociating a single chain).
inline float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// A [rows, kv_heads, head_dim] pool addressed through one sequence's page-table row.
class PagedPool {
 public:
  PagedPool(const TensorRef& pool, int64_t page_size)
      : base_(static_cast<const uint8_t*>(pool.data)),
        dtype_(pool.info->dtype),
        kv_heads_(pool.info->dims[1]),
        head_dim_(pool.info->dims[2]),
        page_size_(page_size),
        num_pages_(page_size > 0 ? pool.info->dims[0] / page_size : 0),
        row_bytes_(pool.info->dims[1] * pool.info->dims[2] * DTypeByteSize(pool.info->dtype)) {}

  int64_t num_pages() const { return num_pages_; }
  int64_t token_bytes() const { return row_bytes_; }  // one token: all KV heads
  DType dtype() const { return dtype_; }

  // The pool row holding position j of the sequence whose page-table row is `pages`.
  int64_t Row(const int32_t* pages, int64_t j) const {
    const int64_t page = std::clamp<int64_t>(pages[j / page_size_], 0, num_pages_ - 1);
    return page * page_size_ + j % page_size_;
  }
  // head_dim f32 values of KV head `kv_head` at position j.
  void Load(const int32_t* pages, int64_t j, int64_t kv_head, float* dst) const {
    const int64_t elem = (Row(pages, j) * kv_heads_ + kv_head) * head_dim_;
    num::FloatRowToF32(dtype_, base_ + elem * DTypeByteSize(dtype_), head_dim_, dst);
  }

 private:
  const uint8_t* base_;
  DType dtype_;
  int64_t kv_heads_, head_dim_, page_size_, num_pages_, row_bytes_;
};

// What decode and extend unpack from their arguments: q [rows, heads, head_dim], k_pool,
// v_pool, page_table [batch, max_pages] (inputs 0-3) and the output.
struct PagedArgs {
  PagedArgs(const AttentionParams& params, const TensorRefs& inputs, const TensorRefs& outputs)
      : scale(params.scale),
        page_size(params.page_size),
        kpool(inputs[1], params.page_size),
        vpool(inputs[2], params.page_size),
        table(static_cast<const int32_t*>(inputs[3].data)),
        heads(inputs[0].info->dims[1]),
        dim(inputs[0].info->dims[2]),
        kv_heads(inputs[1].info->dims[1]),
        group(heads / kv_heads),
        max_pages(inputs[3].info->dims[1]),
        capacity(kpool.num_pages() > 0 ? max_pages * page_size : 0),
        q_t(inputs[0].info->dtype),
        out_t(outputs[0].info->dtype),
        q_esize(DTypeByteSize(q_t)),
        out_esize(DTypeByteSize(out_t)),
        q_base(static_cast<const uint8_t*>(inputs[0].data)),
        out_base(static_cast<uint8_t*>(outputs[0].data)) {}

  const float scale;
  const int64_t page_size;
  const PagedPool kpool, vpool;
  const int32_t* const table;
  const int64_t heads, dim, kv_heads, group, max_pages;
  const int64_t capacity;  // positions a page-table row can address (0 for an empty pool)
  const DType q_t, out_t;
  const int64_t q_esize, out_esize;
  const uint8_t* const q_base;
  uint8_t* const out_base;
};

// Checks a [rows, kv_heads, head_dim] float pool; names it in errors.
inline Status CheckPool(const TensorInfo& t, const std::string& name) {
  if (t.dims.size() != 3 || !IsAttentionFloat(t.dtype)) {
    return InvalidArgument(name + " must be [rows, kv_heads, head_dim] of f32/bf16/f16, got " + t.ToString());
  }
  if (t.dims[1] <= 0) return InvalidArgument(name + " " + t.ToString() + " has no KV heads");
  return Status::Ok();
}

inline Status CheckS32(const TensorInfo& t, const std::string& name, size_t rank) {
  if (t.dtype != DType::kS32 || t.dims.size() != rank) {
    return InvalidArgument(name + " must be an s32 array of rank " + std::to_string(rank) + ", got " + t.ToString());
  }
  return Status::Ok();
}

// The page-size attribute; the pool's rows must be a multiple of it.
inline StatusOr<int64_t> CheckPageSize(int64_t page_size, const TensorInfo& pool) {
  if (page_size < 1) return InvalidArgument("page_size " + std::to_string(page_size) + " must be >= 1");
  if (pool.dims[0] % page_size != 0) {
    return InvalidArgument("pool rows " + std::to_string(pool.dims[0]) + " is not a multiple of page_size " +
                           std::to_string(page_size));
  }
  return page_size;
}

// Checks what decode and extend share: q, pools, page table, attributes. Returns page_size.
inline StatusOr<int64_t> CheckQueryAndPools(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                            const TensorInfos& outputs) {
  CHIP_RETURN_IF_ERROR(attrs.OnlyThese({"scale", "page_size"}));
  CHIP_RETURN_IF_ERROR(attrs.Float("scale").status());
  CHIP_ASSIGN_OR_RETURN(const int64_t page_size, attrs.Int("page_size"));
  const TensorInfo& q = *inputs[0];
  if (q.dims.size() != 3 || !IsAttentionFloat(q.dtype)) {
    return InvalidArgument("q must be [tokens, heads, head_dim] of f32/bf16/f16, got " + q.ToString());
  }
  CHIP_RETURN_IF_ERROR(CheckPool(*inputs[1], "k_pool"));
  CHIP_RETURN_IF_ERROR(CheckPool(*inputs[2], "v_pool"));
  const TensorInfo& k = *inputs[1];
  if (inputs[2]->dims != k.dims) {
    return InvalidArgument("v_pool " + inputs[2]->ToString() + " must have k_pool's shape " + k.ToString());
  }
  if (q.dims[2] != k.dims[2]) {
    return InvalidArgument("q head_dim " + std::to_string(q.dims[2]) + " != pool head_dim " + std::to_string(k.dims[2]));
  }
  if (q.dims[1] % k.dims[1] != 0) {
    return InvalidArgument(std::to_string(q.dims[1]) + " query heads is not a multiple of " + std::to_string(k.dims[1]) +
                           " KV heads");
  }
  CHIP_RETURN_IF_ERROR(CheckS32(*inputs[3], "page_table", 2));
  if (outputs.size() != 1 || outputs[0]->dtype != q.dtype || outputs[0]->dims != q.dims) {
    return InvalidArgument("the output must be " + q.ToString());
  }
  return CheckPageSize(page_size, k);
}

}  // namespace attention
}  // namespace kernels
}  // namespace chip
