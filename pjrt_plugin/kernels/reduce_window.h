// stablehlo.reduce_window (chip::exe::ReduceWindow). Cumulative windows along one dimension (what
// jnp.cumsum/cumprod/cummax/cummin and lax.cumlogsumexp emit) run as scans in O(n); any other
// window (strides, padding, base and window dilations) combines its elements per output, lane-
// parallel over the outputs. Padding and base-dilation holes are the init value.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct ReduceWindow; }
namespace kernels {

// Inputs: N operands (one shape), N 0-d inits. Outputs: N results.
Status ValidateReduceWindow(const exe::ReduceWindow& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunReduceWindow(const exe::ReduceWindow& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
