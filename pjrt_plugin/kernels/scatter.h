// stablehlo.scatter (chip::exe::Scatter): several operands, batching dims, any index_vector_dim,
// and any update computation: natively for the RegionKinds (set, add, mul, max, min, and, or,
// xor), else as a region program. Update windows are combined in order (duplicate indices
// combine sequentially); a window that does not fit inside the operand is skipped whole (XLA
// semantics, JAX's mode="drop"). In place when an output's storage is its operand's own.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct Scatter; }
namespace kernels {

// Inputs: N operands, scatter_indices, N updates. Outputs: N results (the operands' types).
Status ValidateScatter(const exe::Scatter& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunScatter(const exe::Scatter& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
