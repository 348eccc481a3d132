#include "pjrt_plugin/kernels/indexing.h"

#include <cstring>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/dynamic_slice.h"
#include "pjrt_plugin/kernels/gather.h"
#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/kernels/pad.h"
#include "pjrt_plugin/kernels/reduce_window.h"
#include "pjrt_plugin/kernels/scatter.h"
#include "pjrt_plugin/kernels/sort.h"
#include "pjrt_plugin/kernels/variadic_reduce.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using exe::KernelOp;

// Runs `run` with outputs that overlap any input computed into scratch and copied afterwards.
template <typename Fn>
Status Staged(const TensorRefs& ins, const TensorRefs& outs, Fn run) {
  TensorRefs staged = outs;
  std::vector<AlignedBuffer> scratch(outs.size());
  for (size_t o = 0; o < outs.size(); ++o) {
    for (const TensorRef& in : ins) {
      if (idx::Overlaps(in, outs[o])) {
        scratch[o].Resize(static_cast<size_t>(outs[o].info->byte_size()));
        staged[o].data = scratch[o].data();
        break;
      }
    }
  }
  CHIP_RETURN_IF_ERROR(run(staged));
  for (size_t o = 0; o < outs.size(); ++o) {
    if (scratch[o].data() != nullptr) std::memcpy(outs[o].data, scratch[o].data(), outs[o].info->byte_size());
  }
  return Status::Ok();
}

// In-place kernels: output i may be its operand i's own memory (then it is updated in place);
// any other overlap of an output with an operand is staged. (The kernels stage overlapping
// indices/updates themselves.)
template <typename Fn>
Status InPlace(const TensorRefs& ins, const TensorRefs& outs, size_t num_operands, Fn run) {
  TensorRefs staged = outs;
  std::vector<AlignedBuffer> scratch(outs.size());
  for (size_t o = 0; o < outs.size(); ++o) {
    for (size_t i = 0; i < num_operands; ++i) {
      if (i == o && ins[i].data == outs[o].data) continue;
      if (idx::Overlaps(ins[i], outs[o])) {
        scratch[o].Resize(static_cast<size_t>(outs[o].info->byte_size()));
        staged[o].data = scratch[o].data();
        break;
      }
    }
  }
  CHIP_RETURN_IF_ERROR(run(staged));
  for (size_t o = 0; o < outs.size(); ++o) {
    if (scratch[o].data() != nullptr) std::memcpy(outs[o].data, scratch[o].data(), outs[o].info->byte_size());
  }
  return Status::Ok();
}

}  // namespace

bool IsIndexingKernel(KernelOp op) { return IndexingCategory(op) != nullptr; }

const char* IndexingCategory(KernelOp op) {
  switch (op) {
    case KernelOp::Gather: return "gather";
    case KernelOp::Scatter: return "scatter";
    case KernelOp::DynamicSlice: return "dynamic_slice";
    case KernelOp::DynamicUpdateSlice: return "dynamic_update_slice";
    case KernelOp::Pad: return "pad";
    case KernelOp::Sort: return "sort";
    case KernelOp::TopK: return "top_k";
    case KernelOp::VariadicReduce: return "variadic_reduce";
    case KernelOp::ReduceWindow: return "reduce_window";
    default: return nullptr;
  }
}

Status ValidateIndexingKernel(const exe::Kernel& kernel, const TensorInfos& inputs, const TensorInfos& outputs) {
  if (kernel.op() == nullptr) return InvalidArgument("the kernel has no op table");
  switch (kernel.op_type()) {
    case KernelOp::Gather: return ValidateGather(*kernel.op_as_Gather(), inputs, outputs);
    case KernelOp::Scatter: return ValidateScatter(*kernel.op_as_Scatter(), inputs, outputs);
    case KernelOp::DynamicSlice: return ValidateDynamicSlice(*kernel.op_as_DynamicSlice(), inputs, outputs);
    case KernelOp::DynamicUpdateSlice:
      return ValidateDynamicUpdateSlice(*kernel.op_as_DynamicUpdateSlice(), inputs, outputs);
    case KernelOp::Pad: return ValidatePad(*kernel.op_as_Pad(), inputs, outputs);
    case KernelOp::Sort: return ValidateSort(*kernel.op_as_Sort(), inputs, outputs);
    case KernelOp::TopK: return ValidateTopK(*kernel.op_as_TopK(), inputs, outputs);
    case KernelOp::VariadicReduce: return ValidateVariadicReduce(*kernel.op_as_VariadicReduce(), inputs, outputs);
    case KernelOp::ReduceWindow: return ValidateReduceWindow(*kernel.op_as_ReduceWindow(), inputs, outputs);
    default: return InvalidArgument("not an indexing kernel");
  }
}

Status RunIndexingKernel(const exe::Kernel& kernel, const TensorRefs& ins, const TensorRefs& outs) {
  switch (kernel.op_type()) {
    case KernelOp::Gather:
      return Staged(ins, outs, [&](const TensorRefs& o) { return RunGather(*kernel.op_as_Gather(), ins, o); });
    case KernelOp::Scatter:
      return InPlace(ins, outs, outs.size(), [&](const TensorRefs& o) {
        return RunScatter(*kernel.op_as_Scatter(), ins, o);
      });
    case KernelOp::DynamicSlice:
      return Staged(ins, outs, [&](const TensorRefs& o) {
        return RunDynamicSlice(*kernel.op_as_DynamicSlice(), ins, o);
      });
    case KernelOp::DynamicUpdateSlice:
      return InPlace(ins, outs, 1, [&](const TensorRefs& o) {
        return RunDynamicUpdateSlice(*kernel.op_as_DynamicUpdateSlice(), ins, o);
      });
    case KernelOp::Pad:
      return Staged(ins, outs, [&](const TensorRefs& o) { return RunPad(*kernel.op_as_Pad(), ins, o); });
    case KernelOp::Sort:
      return Staged(ins, outs, [&](const TensorRefs& o) { return RunSort(*kernel.op_as_Sort(), ins, o); });
    case KernelOp::TopK:
      return Staged(ins, outs, [&](const TensorRefs& o) { return RunTopK(*kernel.op_as_TopK(), ins, o); });
    case KernelOp::VariadicReduce:
      return Staged(ins, outs, [&](const TensorRefs& o) {
        return RunVariadicReduce(*kernel.op_as_VariadicReduce(), ins, o);
      });
    case KernelOp::ReduceWindow:
      return Staged(ins, outs, [&](const TensorRefs& o) {
        return RunReduceWindow(*kernel.op_as_ReduceWindow(), ins, o);
      });
    default:
      return InvalidArgument("not an indexing kernel");
  }
}

}  // namespace kernels
}  // namespace chip
