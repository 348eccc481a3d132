// stablehlo.gather (chip::exe::Gather) with its full semantics: batching dims, any
// index_vector_dim, collapsed slice dims, start_index_map. Start indices are clamped so every
// slice lies inside the operand (XLA semantics), so no index value can read out of bounds.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct Gather; }
namespace kernels {

// Inputs: operand, start_indices (any integer dtype). Output: the gathered slices.
Status ValidateGather(const exe::Gather& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunGather(const exe::Gather& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
