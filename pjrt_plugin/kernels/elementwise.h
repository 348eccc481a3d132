// The fused elementwise kernel: a straight-line register program (chip::exe::Elementwise)
// evaluated over every element of its iteration space, a tile of elements at a time.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/runtime/status.h"

namespace chip {
namespace exe { struct Elementwise; }
namespace kernels {

// Checks the program against its inputs' and outputs' types: views in bounds, registers defined
// before use, operand and result dtypes valid for each op, results covering every output.
Status ValidateElementwise(const exe::Elementwise& op, const TensorInfos& inputs, const TensorInfos& outputs);

// Runs a validated program. Outputs may alias inputs (in-place updates are staged when needed).
Status RunElementwise(const exe::Elementwise& op, const TensorRefs& inputs, const TensorRefs& outputs);

// Element-level semantics, shared with tests: XLA's reduce-precision of an f32 value.
float ReducePrecision(float x, int exponent_bits, int mantissa_bits);

}  // namespace kernels
}  // namespace chip
