// The convolution kernel (chip::exe::Convolution): see pjrt_plugin/schema/chip_executable.fbs.
// im2col + the DotGeneral GEMM per feature group.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct Convolution; }
namespace kernels {

// Checks the op's attributes against its inputs' and outputs' types (the output shape must be
// the one StableHLO defines for these window parameters).
Status ValidateConvolution(const exe::Convolution& op, const TensorInfos& inputs, const TensorInfos& outputs);

// Runs a validated op. The output must not overlap the inputs (the executor stages it if it does).
Status RunConvolution(const exe::Convolution& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
