// Dispatch of the data-movement, indexing and sorting kernels (gather, scatter, dynamic_slice,
// dynamic_update_slice, pad, sort, top_k, variadic reduce, reduce_window) for the loader
// (runtime/loaded_program.cc) and the executor (runtime/executor.cc).
#pragma once

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/runtime/status.h"

namespace chip {
namespace exe {
struct Kernel;
enum class KernelOp : uint8_t;
}  // namespace exe
namespace kernels {

// Is `op` one of the kernels of this file?
bool IsIndexingKernel(exe::KernelOp op);
// Trace category ("gather", "sort", ...), or nullptr when not an indexing kernel.
const char* IndexingCategory(exe::KernelOp op);
// Load-time checks of an indexing kernel's op table against its input and output types.
Status ValidateIndexingKernel(const exe::Kernel& kernel, const TensorInfos& inputs, const TensorInfos& outputs);
// Runs a validated indexing kernel. Outputs overlapping inputs are staged, except the in-place
// updates of scatter and dynamic_update_slice (output storage == its operand's).
Status RunIndexingKernel(const exe::Kernel& kernel, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
