#include "pjrt_plugin/kernels/control_flow.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/index_util.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

bool SameType(const TensorInfo& a, const TensorInfo& b) { return a.dtype == b.dtype && a.dims == b.dims; }

// A region, prepared: its kernels and the values holding its results.
struct PreparedRegion {
  PreparedKernels kernels;
  std::vector<int> results;
};

// Checks a region's result ids and types against `want` (nullptr entries: any type), then
// prepares its kernels.
StatusOr<PreparedRegion> PrepareRegion(const exe::Region* region, const std::string& what,
                                       const std::vector<const TensorInfo*>& want, const PrepareContext& ctx) {
  if (region == nullptr) return InvalidArgument(what + " is missing");
  const size_t n = region->results() ? region->results()->size() : 0;
  if (n != want.size()) {
    return InvalidArgument(what + " has " + std::to_string(n) + " results, expected " + std::to_string(want.size()));
  }
  PreparedRegion out;
  for (size_t i = 0; i < n; ++i) {
    const int v = region->results()->Get(static_cast<flatbuffers::uoffset_t>(i));
    const TensorInfo* t = ctx.value(v);
    if (t == nullptr) {
      return InvalidArgument(what + " result " + std::to_string(i) + " is value " + std::to_string(v) +
                             ", which does not exist");
    }
    if (want[i] != nullptr && !SameType(*t, *want[i])) {
      return InvalidArgument(what + " result " + std::to_string(i) + " is " + t->ToString() + ", expected " +
                             want[i]->ToString());
    }
    out.results.push_back(v);
  }
  CHIP_ASSIGN_OR_RETURN(out.kernels, ctx.PrepareRegion(*region, what));
  return out;
}

std::vector<int> Ids(const flatbuffers::Vector<int32_t>* ids) {
  return ids ? std::vector<int>(ids->begin(), ids->end()) : std::vector<int>();
}

// Assigns values src_ids[i] to dst_ids[i], i < n, as one parallel assignment; returns the bytes moved.
int64_t AssignValues(const std::vector<int>& src_ids, const std::vector<int>& dst_ids, size_t n,
                     const ExecutionHost& host) {
  std::vector<const void*> srcs(n);
  std::vector<void*> dsts(n);
  std::vector<int64_t> bytes(n);
  for (size_t i = 0; i < n; ++i) {
    srcs[i] = host.data(src_ids[i]);
    dsts[i] = host.data(dst_ids[i]);
    bytes[i] = host.type(dst_ids[i]).byte_size();
  }
  return ParallelAssign(srcs, dsts, bytes);
}

// cond/body until cond is false; the carried values live in the kernel's outputs.
class PreparedWhile final : public PreparedOp {
 public:
  PreparedWhile(std::string name, size_t num_carried, std::vector<int> inputs, std::vector<int> outputs,
                PreparedRegion cond, PreparedRegion body)
      : name_(std::move(name)), num_carried_(num_carried), inputs_(std::move(inputs)), outputs_(std::move(outputs)),
        cond_(std::move(cond)), body_(std::move(body)) {}

  Status Run(const KernelArgs& args) const override {
    ExecutionHost& host = *args.host;
    const size_t n = num_carried_;
    if (n > 0) {
      const int64_t moved = AssignValues(inputs_, outputs_, n, host);
      if (moved > 0) host.RecordCopy(name_ + ".init", moved);
    }
    const uint8_t* pred = static_cast<const uint8_t*>(host.data(cond_.results[0]));
    for (;;) {
      CHIP_RETURN_IF_ERROR(host.RunKernels(cond_.kernels));
      if (*pred == 0) break;
      CHIP_RETURN_IF_ERROR(host.RunKernels(body_.kernels));
      if (n > 0) {
        const int64_t moved = AssignValues(body_.results, outputs_, n, host);
        if (moved > 0) host.RecordCopy(name_ + ".carry", moved);
      }
    }
    return Status::Ok();
  }

 private:
  const std::string name_;
  const size_t num_carried_;
  const std::vector<int> inputs_, outputs_;
  const PreparedRegion cond_, body_;
};

// The selected branch (an index out of range selects the last), then its results into the outputs.
class PreparedCase final : public PreparedOp {
 public:
  PreparedCase(std::string name, int index_value, std::vector<int> outputs, std::vector<PreparedRegion> branches)
      : name_(std::move(name)), index_value_(index_value), outputs_(std::move(outputs)),
        branches_(std::move(branches)) {}

  Status Run(const KernelArgs& args) const override {
    ExecutionHost& host = *args.host;
    const int nb = static_cast<int>(branches_.size());
    int32_t index = 0;
    std::memcpy(&index, host.data(index_value_), sizeof(index));
    if (index < 0 || index >= nb) index = nb - 1;
    const PreparedRegion& branch = branches_[static_cast<size_t>(index)];
    CHIP_RETURN_IF_ERROR(host.RunKernels(branch.kernels));
    if (!outputs_.empty()) {
      const int64_t moved = AssignValues(branch.results, outputs_, outputs_.size(), host);
      if (moved > 0) host.RecordCopy(name_ + ".results", moved);
    }
    return Status::Ok();
  }

 private:
  const std::string name_;
  const int index_value_;
  const std::vector<int> outputs_;
  const std::vector<PreparedRegion> branches_;
};

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
      if (j != i && srcs[j] != dsts[j] && idx::Overlaps(srcs[i], bytes[i], dsts[j], bytes[j])) staged = true;
    }
    if (idx::Overlaps(srcs[i], bytes[i], dsts[i], bytes[i])) staged = true;   // partial overlap
  }
  if (total == 0) return 0;
  if (!staged) {
    for (size_t i = 0; i < n; ++i) {
      if (srcs[i] != dsts[i] && bytes[i] > 0) std::memcpy(dsts[i], srcs[i], static_cast<size_t>(bytes[i]));
    }
    return total;
  }
  // Some source is overwritten by another pair's destination: read every source first.
  AlignedBuffer scratch;
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

StatusOr<PreparedOpPtr> PrepareWhile(const exe::Kernel& kernel, const TensorInfos& inputs, const TensorInfos& outputs,
                                     const PrepareContext& ctx) {
  const exe::While& op = *kernel.op_as_While();
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
  CHIP_ASSIGN_OR_RETURN(PreparedRegion cond, PrepareRegion(op.cond(), "while cond region", {&kPredScalar}, ctx));
  std::vector<const TensorInfo*> carried(outputs.begin(), outputs.end());
  CHIP_ASSIGN_OR_RETURN(PreparedRegion body, PrepareRegion(op.body(), "while body region", carried, ctx));
  return PreparedOpPtr(new PreparedWhile(kernel.name() ? kernel.name()->str() : "while", static_cast<size_t>(n),
                                         Ids(kernel.inputs()), Ids(kernel.outputs()), std::move(cond),
                                         std::move(body)));
}

StatusOr<PreparedOpPtr> PrepareCase(const exe::Kernel& kernel, const TensorInfos& inputs, const TensorInfos& outputs,
                                    const PrepareContext& ctx) {
  const exe::Case& op = *kernel.op_as_Case();
  if (inputs.empty() || inputs[0]->dtype != DType::kS32 || !inputs[0]->dims.empty()) {
    return InvalidArgument("case needs a 0-d s32 branch index as its first input" +
                           (inputs.empty() ? std::string() : ", got " + inputs[0]->ToString()));
  }
  const size_t nb = op.branches() ? op.branches()->size() : 0;
  if (nb == 0) return InvalidArgument("case has no branches");
  std::vector<const TensorInfo*> want(outputs.begin(), outputs.end());
  std::vector<PreparedRegion> branches;
  for (size_t b = 0; b < nb; ++b) {
    CHIP_ASSIGN_OR_RETURN(PreparedRegion branch,
                          PrepareRegion(op.branches()->Get(static_cast<flatbuffers::uoffset_t>(b)),
                                        "case branch " + std::to_string(b), want, ctx));
    branches.push_back(std::move(branch));
  }
  return PreparedOpPtr(new PreparedCase(kernel.name() ? kernel.name()->str() : "case", kernel.inputs()->Get(0),
                                        Ids(kernel.outputs()), std::move(branches)));
}

}  // namespace kernels
}  // namespace chip
