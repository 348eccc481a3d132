// stablehlo.triangular_solve (chip::exe::TriangularSolve): solves op(a) x = b (left_side) or
// x op(a) = b for x, with a triangular, batched over the leading dimensions.
#pragma once

#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/kernels/tensor_ref.h"

namespace chip {
namespace exe { struct TriangularSolve; }
namespace kernels {

// Inputs: a [..., m, m], b [..., m, n] (left_side) or [..., n, m]; both f32, bf16 or f16, the
// same dtype and batch dimensions. Output: x, b's type. Only the triangle of a named by `lower`
// is read (and not its diagonal when unit_diagonal).
Status ValidateTriangularSolve(const exe::TriangularSolve& op, const TensorInfos& inputs,
                               const TensorInfos& outputs);
Status RunTriangularSolve(const exe::TriangularSolve& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
