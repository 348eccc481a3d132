// The registry of kernel kinds: one line per schema KernelOp, one line per built-in custom-call
// target (docs/adding-a-kernel.md). Nothing else in the loader or the executor names a kind.
#include <algorithm>
#include <cstring>
#include <vector>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/attention_decode.h"
#include "pjrt_plugin/kernels/attention_extend.h"
#include "pjrt_plugin/kernels/attention_kv_write.h"
#include "pjrt_plugin/kernels/concatenate.h"
#include "pjrt_plugin/kernels/control_flow.h"
#include "pjrt_plugin/kernels/convolution.h"
#include "pjrt_plugin/kernels/copy.h"
#include "pjrt_plugin/kernels/custom_call.h"
#include "pjrt_plugin/kernels/dot_general.h"
#include "pjrt_plugin/kernels/dynamic_slice.h"
#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/kernels/gather.h"
#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/kernels/kernel.h"
#include "pjrt_plugin/kernels/pad.h"
#include "pjrt_plugin/kernels/ragged_dot.h"
#include "pjrt_plugin/kernels/reduce.h"
#include "pjrt_plugin/kernels/reduce_window.h"
#include "pjrt_plugin/kernels/scatter.h"
#include "pjrt_plugin/kernels/sort.h"
#include "pjrt_plugin/kernels/triangular_solve.h"
#include "pjrt_plugin/kernels/variadic_reduce.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

using exe::KernelOp;

// A kind whose prepared state is its op table itself, read in place from the executable (the
// loaded program keeps the bytes alive): Validate at load, Run on every execution.
template <typename Op, Status (*kValidate)(const Op&, const TensorInfos&, const TensorInfos&),
          Status (*kRun)(const Op&, const TensorRefs&, const TensorRefs&)>
class OpTable final : public PreparedOp {
 public:
  explicit OpTable(const Op& op) : op_(op) {}
  Status Run(const KernelArgs& args) const override { return kRun(op_, args.inputs, args.outputs); }

  static StatusOr<PreparedOpPtr> Prepare(const exe::Kernel& kernel, const TensorInfos& inputs,
                                         const TensorInfos& outputs, const PrepareContext& /*ctx*/) {
    const Op& op = *kernel.op_as<Op>();
    CHIP_RETURN_IF_ERROR(kValidate(op, inputs, outputs));
    return PreparedOpPtr(new OpTable(op));
  }

 private:
  const Op& op_;
};

// ---- the kinds ----------------------------------------------------------------------------------
const KernelKind kKinds[] = {
    {KernelOp::Elementwise, "elementwise", Staging::kNone, PrepareElementwise},
    {KernelOp::DotGeneral, "dot_general", Staging::kStaged,
     OpTable<exe::DotGeneral, ValidateDotGeneral, RunDotGeneral>::Prepare},
    {KernelOp::Reduce, "reduce", Staging::kStaged, PrepareReduce},
    {KernelOp::Concatenate, "concatenate", Staging::kStaged,
     OpTable<exe::Concatenate, ValidateConcatenate, RunConcatenate>::Prepare},
    {KernelOp::Copy, "copy", Staging::kNone, OpTable<exe::Copy, ValidateCopy, RunCopy>::Prepare},
    {KernelOp::While, "while", Staging::kNone, PrepareWhile, /*control_flow=*/true},
    {KernelOp::Case, "case", Staging::kNone, PrepareCase, /*control_flow=*/true},
    {KernelOp::CustomCall, "custom_call", Staging::kNone, PrepareCustomCall},
    {KernelOp::Gather, "gather", Staging::kStaged, OpTable<exe::Gather, ValidateGather, RunGather>::Prepare},
    {KernelOp::Scatter, "scatter", Staging::kInPlace, OpTable<exe::Scatter, ValidateScatter, RunScatter>::Prepare},
    {KernelOp::DynamicSlice, "dynamic_slice", Staging::kStaged,
     OpTable<exe::DynamicSlice, ValidateDynamicSlice, RunDynamicSlice>::Prepare},
    {KernelOp::DynamicUpdateSlice, "dynamic_update_slice", Staging::kInPlace,
     OpTable<exe::DynamicUpdateSlice, ValidateDynamicUpdateSlice, RunDynamicUpdateSlice>::Prepare},
    {KernelOp::Pad, "pad", Staging::kStaged, OpTable<exe::Pad, ValidatePad, RunPad>::Prepare},
    {KernelOp::Sort, "sort", Staging::kStaged, OpTable<exe::Sort, ValidateSort, RunSort>::Prepare},
    {KernelOp::TopK, "top_k", Staging::kStaged, OpTable<exe::TopK, ValidateTopK, RunTopK>::Prepare},
    {KernelOp::VariadicReduce, "variadic_reduce", Staging::kStaged,
     OpTable<exe::VariadicReduce, ValidateVariadicReduce, RunVariadicReduce>::Prepare},
    {KernelOp::ReduceWindow, "reduce_window", Staging::kStaged,
     OpTable<exe::ReduceWindow, ValidateReduceWindow, RunReduceWindow>::Prepare},
    {KernelOp::Convolution, "convolution", Staging::kStaged,
     OpTable<exe::Convolution, ValidateConvolution, RunConvolution>::Prepare},
    {KernelOp::TriangularSolve, "triangular_solve", Staging::kStaged,
     OpTable<exe::TriangularSolve, ValidateTriangularSolve, RunTriangularSolve>::Prepare},
    {KernelOp::RaggedDot, "ragged_dot", Staging::kStaged, PrepareRaggedDot},
};

// ---- the built-in custom-call targets -----------------------------------------------------------
const std::vector<CustomCallKernel>& CustomCallKernels() {
  static const std::vector<CustomCallKernel> kernels = {
      {"chip.paged_kv_write", CustomCallOp<NoAttributes, ValidatePagedKvWrite, RunPagedKvWrite>::Prepare, {0, 1}},
      {"chip.paged_attention_decode",
       CustomCallOp<attention::AttentionParams, ValidatePagedAttentionDecode, RunPagedAttentionDecode>::Prepare, {-1}},
      {"chip.radix_attention_extend",
       CustomCallOp<attention::AttentionParams, ValidateRadixAttentionExtend, RunRadixAttentionExtend>::Prepare, {-1}},
  };
  return kernels;
}

}  // namespace

const KernelKind* FindKernelKind(exe::KernelOp op) {
  for (const KernelKind& kind : kKinds) {
    if (kind.op == op) return &kind;
  }
  return nullptr;
}

const CustomCallKernel* FindCustomCallKernel(const std::string& target) {
  for (const CustomCallKernel& k : CustomCallKernels()) {
    if (target == k.target) return &k;
  }
  return nullptr;
}

std::vector<std::string> CustomCallTargets() {
  std::vector<std::string> names;
  for (const CustomCallKernel& k : CustomCallKernels()) names.push_back(k.target);
  std::sort(names.begin(), names.end());
  return names;
}

Status RunKernel(const PreparedKernel& kernel, const KernelArgs& args) {
  const Staging staging = kernel.kind->staging;
  if (staging == Staging::kNone) return kernel.op->Run(args);
  const TensorRefs& ins = args.inputs;
  const TensorRefs& outs = args.outputs;
  // In-place kinds: output i may be its operand i's own storage; only the operands (the first
  // outputs.size() inputs) are checked, the kernels stage overlapping indices/updates themselves.
  const size_t checked = staging == Staging::kInPlace ? std::min(outs.size(), ins.size()) : ins.size();
  std::vector<size_t> staged_outputs;
  for (size_t o = 0; o < outs.size(); ++o) {
    for (size_t i = 0; i < checked; ++i) {
      if (staging == Staging::kInPlace && i == o && ins[i].data == outs[o].data) continue;
      if (idx::Overlaps(ins[i], outs[o])) {
        staged_outputs.push_back(o);
        break;
      }
    }
  }
  if (staged_outputs.empty()) return kernel.op->Run(args);
  TensorRefs staged = outs;
  std::vector<AlignedBuffer> scratch(staged_outputs.size());
  for (size_t s = 0; s < staged_outputs.size(); ++s) {
    scratch[s].Resize(static_cast<size_t>(outs[staged_outputs[s]].info->byte_size()));
    staged[staged_outputs[s]].data = scratch[s].data();
  }
  CHIP_RETURN_IF_ERROR(kernel.op->Run(KernelArgs{ins, staged, args.work, args.host}));
  for (size_t s = 0; s < staged_outputs.size(); ++s) {
    const size_t o = staged_outputs[s];
    std::memcpy(outs[o].data, scratch[s].data(), static_cast<size_t>(outs[o].info->byte_size()));
  }
  return Status::Ok();
}

}  // namespace kernels
}  // namespace chip
