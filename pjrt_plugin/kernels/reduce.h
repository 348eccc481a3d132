// The reduce kernel (chip::exe::Reduce): see pjrt_plugin/schema/chip_executable.fbs.
#pragma once

#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/kernels/kernel.h"
#include "pjrt_plugin/kernels/tensor_ref.h"

namespace chip {
namespace exe {
struct Kernel;
struct Reduce;
}  // namespace exe
namespace kernels {

// Checks the op's attributes against its inputs' and outputs' types.
Status ValidateReduce(const exe::Reduce& op, const TensorInfos& inputs, const TensorInfos& outputs);

// The Reduce kind (kernel_registry.cc): validates the op and prepares it once (a fused prologue's
// register program decoded at load time). Outputs must not overlap inputs (the kind is staged).
StatusOr<PreparedOpPtr> PrepareReduce(const exe::Kernel& kernel, const TensorInfos& inputs,
                                      const TensorInfos& outputs, const PrepareContext& ctx);

}  // namespace kernels
}  // namespace chip
