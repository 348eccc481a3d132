// Paged attention for decode (custom call "chip.paged_attention_decode"; docs/attention.md).
//
// Inputs: q [batch, heads, head_dim], k_pool, v_pool [rows, kv_heads, head_dim] (f32/bf16/f16,
// each its own dtype), page_table [batch, max_pages] s32, seq_lens [batch] s32. Attributes:
// scale (float), page_size (int). Output: [batch, heads, head_dim] of q's dtype.
//
// Sequence b's one query attends to its first min(seq_lens[b], max_pages * page_size) cached
// tokens (a length <= 0 gives zeros). Query head h reads KV head h / (heads / kv_heads). Scores,
// softmax and the weighted sum are f32; the output is rounded once. Page ids outside
// [0, num_pages) are clamped (the jnp reference's rule): nothing is read out of bounds.
//
// Modeled work, from the lengths at run time: the K/V rows of the tokens in use
// (tokens * kv_heads * head_dim * (k + v dtype sizes)) plus q, the used page-table entries and
// the output; vector flops 4 * tokens * heads * head_dim; one exp per score. The pool size
// does not enter.
#pragma once

#include "pjrt_plugin/kernels/attention_common.h"
#include "pjrt_plugin/kernels/custom_call.h"

namespace chip {
namespace kernels {

Status ValidatePagedAttentionDecode(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                    const TensorInfos& outputs);
Status RunPagedAttentionDecode(const attention::AttentionParams& params, const TensorRefs& inputs,
                               const TensorRefs& outputs, KernelWork* work);

}  // namespace kernels
}  // namespace chip
