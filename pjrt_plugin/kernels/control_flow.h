// Control-flow kernels (chip::exe::While, chip::exe::Case): nested kernel lists (Regions) that
// read and write values of the executable's one value numbering and memory plan. At load time the
// loader prepares the regions' kernels (PrepareContext::PrepareRegion); at run time the executor
// runs them (ExecutionHost::RunKernels). This file holds the loop/branch logic, the carried-value
// assignments and the load-time checks. See pjrt_plugin/schema/chip_executable.fbs.
#pragma once

#include <cstdint>
#include <vector>

#include "pjrt_plugin/kernels/kernel.h"

namespace chip {
namespace kernels {

// The While kind: checks carried types and the cond/body regions' results, prepares the regions.
StatusOr<PreparedOpPtr> PrepareWhile(const exe::Kernel& kernel, const TensorInfos& inputs, const TensorInfos& outputs,
                                     const PrepareContext& ctx);
// The Case kind: a 0-d s32 branch index first, every branch's results of the outputs' types.
StatusOr<PreparedOpPtr> PrepareCase(const exe::Kernel& kernel, const TensorInfos& inputs, const TensorInfos& outputs,
                                    const PrepareContext& ctx);

// Copies srcs[i] to dsts[i] for every i as one parallel assignment (as if all sources were read
// before any destination is written); pairs whose source is the destination are skipped.
// Returns the bytes moved.
int64_t ParallelAssign(const std::vector<const void*>& srcs, const std::vector<void*>& dsts,
                       const std::vector<int64_t>& bytes);

}  // namespace kernels
}  // namespace chip
