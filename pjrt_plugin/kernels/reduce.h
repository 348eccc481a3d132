// The reduce kernel (chip::exe::Reduce): see pjrt_plugin/schema/chip_executable.fbs.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct Reduce; }
namespace kernels {

// Checks the op's attributes against its inputs' and outputs' types.
Status ValidateReduce(const exe::Reduce& op, const TensorInfos& inputs, const TensorInfos& outputs);

// Runs a validated op. Outputs must not overlap inputs (the executor stages them if they do).
Status RunReduce(const exe::Reduce& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
