// stablehlo.dynamic_slice and stablehlo.dynamic_update_slice (chip::exe::DynamicSlice,
// chip::exe::DynamicUpdateSlice): a block copy at run-time start indices, clamped like XLA so
// the block always lies inside the operand. The update is in place when the output's storage is
// the operand's own (a donated buffer): only the updated block is written.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe {
struct DynamicSlice;
struct DynamicUpdateSlice;
}  // namespace exe
namespace kernels {

// Inputs: operand, one 0-d integer start per operand dim. Output: slice_sizes.
Status ValidateDynamicSlice(const exe::DynamicSlice& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunDynamicSlice(const exe::DynamicSlice& op, const TensorRefs& inputs, const TensorRefs& outputs);

// Inputs: operand, update, one 0-d integer start per operand dim. Output: the operand's type.
Status ValidateDynamicUpdateSlice(const exe::DynamicUpdateSlice& op, const TensorInfos& inputs,
                                  const TensorInfos& outputs);
Status RunDynamicUpdateSlice(const exe::DynamicUpdateSlice& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
