// stablehlo.reduce with several operands or a general body (chip::exe::VariadicReduce), e.g.
// argmax/argmin. Bodies the compiler recognized (ARGMAX/ARGMIN) run natively, each output folding
// its elements in order; any other body is a region program applied lane-parallel over the
// outputs (and, for few outputs, over chunks of the reduced elements whose partial results are
// combined last).
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe { struct VariadicReduce; }
namespace kernels {

// Inputs: N operands (one shape), N 0-d inits. Outputs: N results (operand dims without `dims`).
Status ValidateVariadicReduce(const exe::VariadicReduce& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunVariadicReduce(const exe::VariadicReduce& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
