// The copy kernel (chip::exe::Copy): see pjrt_plugin/schema/chip_executable.fbs.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct Copy; }
namespace kernels {

// Checks the op's attributes against its inputs' and outputs' types.
Status ValidateCopy(const exe::Copy& op, const TensorInfos& inputs, const TensorInfos& outputs);

// Runs a validated op (a byte copy; the output may overlap the input).
Status RunCopy(const exe::Copy& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
