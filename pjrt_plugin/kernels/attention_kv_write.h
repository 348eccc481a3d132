// The paged KV write (custom call "chip.paged_kv_write"; docs/attention.md).
//
// Inputs: k_pool, v_pool [rows, kv_heads, head_dim] (f32/bf16/f16), k_new [tokens, kv_heads,
// head_dim] of k_pool's dtype, v_new likewise for v_pool, slots [tokens] s32. Outputs: the
// updated k_pool and v_pool. Token t is written to row slots[t]; slots outside [0, rows) (-1 is
// sglang-jax's padding) are dropped, never wrapped. When an output's storage is its pool's own
// (a donated pool: the compiler aliases them) only the written rows are touched; otherwise the
// pool is copied into the output first.
//
// Modeled work: the rows written (tokens kept * kv_heads * head_dim * dtype size, read from the
// new K/V and written to the pools) plus the slots; a copied pool adds its size read and
// written. Never the pool size when it is updated in place.
#pragma once

#include "pjrt_plugin/kernels/custom_call.h"

namespace chip {
namespace kernels {

Status ValidatePagedKvWrite(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                            const TensorInfos& outputs);
Status RunPagedKvWrite(const NoAttributes& params, const TensorRefs& inputs,
                       const TensorRefs& outputs, KernelWork* work);

}  // namespace kernels
}  // namespace chip
