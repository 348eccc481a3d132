#include "pjrt_plugin/runtime/control_flow.h"

#include <algorithm>
#include <cstring>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/runtime/loaded_program.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace {

bool SameType(const TensorInfo& a, const TensorInfo& b) { return a.dtype == b.dtype && a.dims == b.dims; }

// Checks a region's result ids and types against `want` (nullptr entries: any type).
Status CheckRegion(const exe::Region* region, const std::string& what, const std::vector<const TensorInfo*>& want,
                   const RegionChecker& checker) {
  if (region == nullptr) return InvalidArgument(what + " is missing");
  const size_t n = region->results() ? region->results()->size() : 0;
  if (n != want.size()) {
    return InvalidArgument(what + " has " + std::to_string(n) + " results, expected " + std::to_string(want.size()));
  }
  for (size_t i = 0; i < n; ++i) {
    const int v = region->results()->Get(static_cast<flatbuffers::uoffset_t>(i));
    const TensorInfo* t = checker.value(v);
    if (t == nullptr) {
      return InvalidArgument(what + " result " + std::to_string(i) + " is value " + std::to_string(v) +
                             ", which does not exist");
    }
    if (want[i] != nullptr && !SameType(*t, *want[i])) {
      return InvalidArgument(what + " result " + std::to_string(i) + " is " + t->ToString() + ", expected " +
                             want[i]->ToString());
    }
  }
  return checker.validate_kernels(*region, what);
}

// Overlap of two byte ranges.
bool Overlap(const void* a, int64_t na, const void* b, int64_t nb) {
  if (na <= 0 || nb <= 0) return false;
  const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(nb) && pb < pa + static_cast<uintptr_t>(na);
}

int64_t AssignValues(const flatbuffers::Vector<int32_t>* src_ids, const flatbuffers::Vector<int32_t>* dst_ids, size_t n,
                     const ControlFlowContext& ctx) {
  std::vector<const void*> srcs(n);
  std::vector<void*> dsts(n);
  std::vector<int64_t> bytes(n);
  for (size_t i = 0; i < n; ++i) {
    const int s = src_ids->Get(static_cast<flatbuffers::uoffset_t>(i));
    const int d = dst_ids->Get(static_cast<flatbuffers::uoffset_t>(i));
    srcs[i] = (*ctx.ptr)[s];
    dsts[i] = (*ctx.ptr)[d];
    bytes[i] = ctx.program->value(d).byte_size();
  }
  return ParallelAssign(srcs, dsts, bytes);
}

}  // namespace

int64_t ParallelAssign(const std::vector<const void*>& srcs, const std::vector<void*>& dsts,
                       const std::vector<int64_t>& bytes) {
  const size_t n = srcs.size();
  bool staged = false;
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (srcs[i] == dsts[i] || bytes[i] <= 0) continue;
    total += bytes[i];
    for (size_t j = 0; j < n && !staged; ++j) {
      if (j != i && srcs[j] != dsts[j] && Overlap(srcs[i], bytes[i], dsts[j], bytes[j])) staged = true;
    }
    if (Overlap(srcs[i], bytes[i], dsts[i], bytes[i])) staged = true;   // partial overlap
  }
  if (total == 0) return 0;
  if (!staged) {
    for (size_t i = 0; i < n; ++i) {
      if (srcs[i] != dsts[i] && bytes[i] > 0) std::memcpy(dsts[i], srcs[i], static_cast<size_t>(bytes[i]));
    }
    return total;
  }
  // Some source is overwritten by another pair's destination: read every source first.
  kernels::AlignedBuffer scratch;
  scratch.Resize(static_cast<size_t>(total));
  uint8_t* p = static_cast<uint8_t*>(scratch.data());
  for (size_t i = 0; i < n; ++i) {
    if (srcs[i] == dsts[i] || bytes[i] <= 0) continue;
    std::memcpy(p, srcs[i], static_cast<size_t>(bytes[i]));
    p += bytes[i];
  }
  p = static_cast<uint8_t*>(scratch.data());
  for (size_t i = 0; i < n; ++i) {
    if (srcs[i] == dsts[i] || bytes[i] <= 0) continue;
    std::memcpy(dsts[i], p, static_cast<size_t>(bytes[i]));
    p += bytes[i];
  }
  return total;
}

Status ValidateWhile(const exe::While& op, const kernels::TensorInfos& inputs, const kernels::TensorInfos& outputs,
                     const RegionChecker& checker) {
  const int n = op.num_carried();
  if (n < 0 || static_cast<size_t>(n) != outputs.size() || static_cast<size_t>(n) > inputs.size()) {
    return InvalidArgument("while with num_carried " + std::to_string(n) + " has " + std::to_string(inputs.size()) +
                           " inputs and " + std::to_string(outputs.size()) +
                           " outputs (needs num_carried outputs and at least num_carried inputs)");
  }
  for (int i = 0; i < n; ++i) {
    if (!SameType(*inputs[i], *outputs[i])) {
      return InvalidArgument("while carried value " + std::to_string(i) + ": initial value " + inputs[i]->ToString() +
                             " and result " + outputs[i]->ToString() + " differ");
    }
  }
  static const TensorInfo kPredScalar{DType::kPred, {}};
  CHIP_RETURN_IF_ERROR(CheckRegion(op.cond(), "while cond region", {&kPredScalar}, checker));
  std::vector<const TensorInfo*> carried(outputs.begin(), outputs.end());
  return CheckRegion(op.body(), "while body region", carried, checker);
}

Status ValidateCase(const exe::Case& op, const kernels::TensorInfos& inputs, const kernels::TensorInfos& outputs,
                    const RegionChecker& checker) {
  if (inputs.empty() || inputs[0]->dtype != DType::kS32 || !inputs[0]->dims.empty()) {
    return InvalidArgument("case needs a 0-d s32 branch index as its first input" +
                           (inputs.empty() ? std::string() : ", got " + inputs[0]->ToString()));
  }
  const size_t nb = op.branches() ? op.branches()->size() : 0;
  if (nb == 0) return InvalidArgument("case has no branches");
  std::vector<const TensorInfo*> want(outputs.begin(), outputs.end());
  for (size_t b = 0; b < nb; ++b) {
    CHIP_RETURN_IF_ERROR(CheckRegion(op.branches()->Get(static_cast<flatbuffers::uoffset_t>(b)),
                                     "case branch " + std::to_string(b), want, checker));
  }
  return Status::Ok();
}

Status RunWhile(const exe::Kernel& kernel, const ControlFlowContext& ctx) {
  const exe::While& op = *kernel.op_as_While();
  const size_t n = static_cast<size_t>(op.num_carried());
  const std::string name = kernel.name() ? kernel.name()->str() : "while";
  if (n > 0) {
    const int64_t moved = AssignValues(kernel.inputs(), kernel.outputs(), n, ctx);
    if (moved > 0) ctx.record_copy(name + ".init", moved);
  }
  const exe::Region& cond = *op.cond();
  const exe::Region& body = *op.body();
  const uint8_t* pred = static_cast<const uint8_t*>((*ctx.ptr)[cond.results()->Get(0)]);
  for (;;) {
    CHIP_RETURN_IF_ERROR(ctx.run_region(cond));
    if (*pred == 0) break;
    CHIP_RETURN_IF_ERROR(ctx.run_region(body));
    if (n > 0) {
      const int64_t moved = AssignValues(body.results(), kernel.outputs(), n, ctx);
      if (moved > 0) ctx.record_copy(name + ".carry", moved);
    }
  }
  return Status::Ok();
}

Status RunCase(const exe::Kernel& kernel, const ControlFlowContext& ctx) {
  const exe::Case& op = *kernel.op_as_Case();
  const int nb = static_cast<int>(op.branches()->size());
  int32_t index = 0;
  std::memcpy(&index, (*ctx.ptr)[kernel.inputs()->Get(0)], sizeof(index));
  if (index < 0 || index >= nb) index = nb - 1;
  const exe::Region& branch = *op.branches()->Get(static_cast<flatbuffers::uoffset_t>(index));
  CHIP_RETURN_IF_ERROR(ctx.run_region(branch));
  const size_t n = kernel.outputs() ? kernel.outputs()->size() : 0;
  if (n > 0) {
    const int64_t moved = AssignValues(branch.results(), kernel.outputs(), n, ctx);
    if (moved > 0) {
      ctx.record_copy((kernel.name() ? kernel.name()->str() : "case") + ".results", moved);
    }
  }
  return Status::Ok();
}

}  // namespace chip
