// The ragged_dot kernel (chip::exe::RaggedDot): a grouped matmul over rows sorted by group; see
// pjrt_plugin/schema/chip_executable.fbs.
#pragma once

#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/kernels/kernel.h"

namespace chip {
namespace kernels {

// Validates the op against its types and returns the prepared kernel. Its work depends on the
// group sizes: it rescales the static matrix_flops to the routed rows and adds the rhs slices read.
StatusOr<PreparedOpPtr> PrepareRaggedDot(const exe::Kernel& kernel, const TensorInfos& inputs,
                                         const TensorInfos& outputs, const PrepareContext& ctx);

}  // namespace kernels
}  // namespace chip
