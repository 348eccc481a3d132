// Radix attention for extend/prefill (custom call "chip.radix_attention_extend";
// docs/attention.md).
//
// Inputs: q [tokens, heads, head_dim] (the new tokens of every sequence, in batch order, then
// padding rows), k_pool, v_pool [rows, kv_heads, head_dim], page_table [batch, max_pages] s32,
// prefix_lens [batch] s32, extend_lens [batch] s32. Attributes: scale, page_size. Output:
// [tokens, heads, head_dim] of q's dtype.
//
// Sequence b's new token i (query row sum(extend_lens[:b]) + i) sits at position
// prefix_lens[b] + i and attends to positions 0 .. prefix_lens[b] + i of its sequence (the
// cached prefix the radix tree matched, all visible, then the new tokens causally), capped at
// max_pages * page_size; the new tokens' K/V must already be in the pools. Rows past the last
// sequence's tokens and rows with nothing visible are zeros. Negative extend lengths count as 0.
// GQA, f32 softmax and page-id clamping as for decode.
//
// Modeled work: each sequence's K/V rows in use are read once (tokens in use * kv_heads *
// head_dim * (k + v dtype sizes)) plus q, the used page-table entries and the output; matrix
// flops 4 * sum over query tokens of (visible keys) * heads * head_dim; one exp per score.
#pragma once

#include "pjrt_plugin/kernels/attention_common.h"
#include "pjrt_plugin/kernels/custom_call.h"

namespace chip {
namespace kernels {

Status ValidateRadixAttentionExtend(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                    const TensorInfos& outputs);
Status RunRadixAttentionExtend(const attention::AttentionParams& params, const TensorRefs& inputs,
                               const TensorRefs& outputs, KernelWork* work);

}  // namespace kernels
}  // namespace chip
