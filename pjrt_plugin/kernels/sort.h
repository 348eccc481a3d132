// stablehlo.sort (chip::exe::Sort) and top_k (chip::exe::TopK).
//
// Sort permutes N operands together along one dimension. Lexicographic comparators the compiler
// recognized (Sort.keys: jnp.sort, argsort, lax.sort with num_keys) compare precomputed keys
// natively; any other comparator is its region program, evaluated per comparison. The sort is a
// merge sort (stable), safe for comparators that are not strict weak orders.
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe {
struct Sort;
struct TopK;
}  // namespace exe
namespace kernels {

// Inputs: N operands of one shape. Outputs: N sorted results.
Status ValidateSort(const exe::Sort& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunSort(const exe::Sort& op, const TensorRefs& inputs, const TensorRefs& outputs);

// Inputs: operand [..., n]. Outputs: values [..., k] (operand dtype), indices [..., k] (s32).
Status ValidateTopK(const exe::TopK& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunTopK(const exe::TopK& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
