#include "pjrt_plugin/kernels/custom_call.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

#include "pjrt_plugin/kernels/attention_decode.h"
#include "pjrt_plugin/kernels/attention_extend.h"
#include "pjrt_plugin/kernels/attention_kv_write.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace kernels {
namespace {

std::string TargetOf(const exe::CustomCall& op) { return op.target() ? op.target()->str() : ""; }

std::mutex g_external_mu;
std::shared_ptr<const ExternalCustomCalls>& ExternalSlot() {
  static std::shared_ptr<const ExternalCustomCalls> provider;
  return provider;
}

std::shared_ptr<const ExternalCustomCalls> External() {
  std::lock_guard<std::mutex> lock(g_external_mu);
  return ExternalSlot();
}

std::string KnownTargets() {
  std::string known;
  for (const std::string& t : CustomCallTargets()) known += (known.empty() ? "" : ", ") + t;
  return known;
}

// An external call: declared aliases must pair outputs with inputs of the same size.
Status ValidateExternal(const exe::CustomCall& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  const auto* alias = op.output_operand_alias();
  if (alias == nullptr) return Status::Ok();
  if (alias->size() != outputs.size()) {
    return InvalidArgument("output_operand_alias has " + std::to_string(alias->size()) + " entries for " +
                           std::to_string(outputs.size()) + " outputs");
  }
  for (flatbuffers::uoffset_t r = 0; r < alias->size(); ++r) {
    const int in = alias->Get(r);
    if (in < -1 || in >= static_cast<int>(inputs.size())) {
      return InvalidArgument("output " + std::to_string(r) + " is aliased to input " + std::to_string(in) + " of " +
                             std::to_string(inputs.size()));
    }
    if (in >= 0 && inputs[in]->byte_size() != outputs[r]->byte_size()) {
      return InvalidArgument("output " + std::to_string(r) + " " + outputs[r]->ToString() + " is aliased to input " +
                             std::to_string(in) + " " + inputs[in]->ToString() + " of a different size");
    }
  }
  return Status::Ok();
}

}  // namespace

void SetExternalCustomCalls(std::shared_ptr<const ExternalCustomCalls> provider) {
  std::lock_guard<std::mutex> lock(g_external_mu);
  ExternalSlot() = std::move(provider);
}

const CustomCallAttributes::Attr* CustomCallAttributes::Find(const std::string& name) const {
  auto it = attrs_.find(name);
  return it == attrs_.end() ? nullptr : &it->second;
}

StatusOr<int64_t> CustomCallAttributes::Int(const std::string& name) const {
  const Attr* a = Find(name);
  if (a == nullptr) return InvalidArgument("missing integer attribute '" + name + "'");
  if (a->kind != Kind::kInt) return InvalidArgument("attribute '" + name + "' must be an integer");
  return a->i;
}

StatusOr<double> CustomCallAttributes::Float(const std::string& name) const {
  const Attr* a = Find(name);
  if (a == nullptr) return InvalidArgument("missing float attribute '" + name + "'");
  if (a->kind == Kind::kFloat) return a->f;
  if (a->kind == Kind::kInt) return static_cast<double>(a->i);
  return InvalidArgument("attribute '" + name + "' must be a float");
}

Status CustomCallAttributes::OnlyThese(const std::vector<std::string>& allowed) const {
  for (const auto& [name, attr] : attrs_) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return InvalidArgument("unknown attribute '" + name + "' (it takes " + (list.empty() ? "none" : list) + ")");
    }
  }
  return Status::Ok();
}

StatusOr<CustomCallAttributes> CustomCallAttributes::Decode(const exe::CustomCall& op) {
  CustomCallAttributes out;
  if (op.attributes() == nullptr) return out;
  for (const exe::CustomCallAttribute* a : *op.attributes()) {
    if (a->name() == nullptr || a->name()->size() == 0) return InvalidArgument("an attribute has no name");
    const std::string name = a->name()->str();
    if (out.Has(name)) return InvalidArgument("attribute '" + name + "' is given twice");
    Attr attr;
    attr.element = a->element() ? a->element()->str() : "";
    switch (a->kind()) {
      case exe::AttrKind::INT: attr.kind = Kind::kInt; attr.i = a->i(); break;
      case exe::AttrKind::FLOAT: attr.kind = Kind::kFloat; attr.f = a->f(); break;
      case exe::AttrKind::STRING: attr.kind = Kind::kString; attr.s = a->s() ? a->s()->str() : ""; break;
      case exe::AttrKind::INTS:
        attr.kind = Kind::kInts;
        if (a->ints()) attr.ints.assign(a->ints()->begin(), a->ints()->end());
        break;
      case exe::AttrKind::FLOATS:
        attr.kind = Kind::kFloats;
        if (a->floats()) attr.floats.assign(a->floats()->begin(), a->floats()->end());
        break;
      default:
        return InvalidArgument("attribute '" + name + "' has unknown kind " + std::to_string(static_cast<int>(a->kind())));
    }
    out.Set(name, std::move(attr));
  }
  return out;
}

namespace {

// A call no built-in kernel implements, run by the external provider (XLA FFI handlers).
class ExternalCall final : public PreparedOp {
 public:
  ExternalCall(std::string target, CustomCallAttributes attrs, std::vector<int> alias)
      : target_(std::move(target)), attrs_(std::move(attrs)), alias_(std::move(alias)) {}

  Status Run(const KernelArgs& args) const override {
    const TensorRefs& inputs = args.inputs;
    const TensorRefs& outputs = args.outputs;
    KernelWork* work = args.work;
    const auto external = External();
    if (external == nullptr || !external->Has(target_)) {
      return Unimplemented("custom call target '" + target_ + "' is not implemented by this runtime (no built-in "
                           "kernel and no XLA FFI handler registered for platform chip)");
    }
    // XLA's custom-call semantics: an output aliased to an input IS that input's buffer. Where the
    // compiler gave them different storage, the output starts as a copy of the input and the
    // handler sees the output's buffer as that input.
    TensorRefs call_inputs = inputs;
    for (size_t r = 0; r < alias_.size() && r < outputs.size(); ++r) {
      const int in = alias_[r];
      if (in < 0 || outputs[r].data == inputs[in].data) continue;
      const int64_t bytes = outputs[r].info->byte_size();
      if (bytes > 0) std::memmove(outputs[r].data, inputs[in].data, static_cast<size_t>(bytes));
      call_inputs[in].data = outputs[r].data;
      work->bytes_read += static_cast<double>(bytes);
      work->bytes_written += static_cast<double>(bytes);
    }
    for (const TensorRef& in : inputs) work->bytes_read += static_cast<double>(in.info->byte_size());
    for (const TensorRef& out : outputs) work->bytes_written += static_cast<double>(out.info->byte_size());
    return external->Run(target_, attrs_, call_inputs, outputs);
  }

 private:
  const std::string target_;
  const CustomCallAttributes attrs_;
  const std::vector<int> alias_;  // output_operand_alias
};

StatusOr<PreparedOpPtr> PrepareOp(const exe::CustomCall& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  const std::string target = TargetOf(op);
  const CustomCallKernel* kernel = FindCustomCallKernel(target);
  const std::string where = "custom call '" + target + "': ";
  if (kernel == nullptr) {
    const auto external = External();
    if (external != nullptr && external->Has(target)) {
      const Status s = ValidateExternal(op, inputs, outputs);
      if (!s.ok()) return Status(s.code(), where + s.message());
      CHIP_ASSIGN_OR_RETURN(CustomCallAttributes attrs, CustomCallAttributes::Decode(op));
      std::vector<int> alias;
      if (op.output_operand_alias()) alias.assign(op.output_operand_alias()->begin(), op.output_operand_alias()->end());
      return PreparedOpPtr(new ExternalCall(target, std::move(attrs), std::move(alias)));
    }
    return Unimplemented("custom call target '" + target + "' is not implemented by this runtime (it has " +
                         KnownTargets() + ", and the XLA FFI handlers registered for platform chip)");
  }
  if (const auto* alias = op.output_operand_alias()) {
    if (alias->size() != outputs.size()) {
      return InvalidArgument(where + "output_operand_alias has " + std::to_string(alias->size()) + " entries for " +
                             std::to_string(outputs.size()) + " outputs");
    }
    for (flatbuffers::uoffset_t r = 0; r < alias->size(); ++r) {
      const int want = r < kernel->in_place.size() ? kernel->in_place[r] : -1;
      if (alias->Get(r) != want) {
        return InvalidArgument(where + "output " + std::to_string(r) + " is aliased to input " +
                               std::to_string(alias->Get(r)) + ", the kernel updates input " + std::to_string(want) +
                               " in place");
      }
    }
  }
  CHIP_ASSIGN_OR_RETURN(const CustomCallAttributes attrs, CustomCallAttributes::Decode(op));
  StatusOr<PreparedOpPtr> prepared = kernel->prepare(attrs, inputs, outputs);
  if (!prepared.ok()) return Status(prepared.status().code(), where + prepared.status().message());
  return prepared;
}

}  // namespace

StatusOr<PreparedOpPtr> PrepareCustomCall(const exe::Kernel& kernel, const TensorInfos& inputs,
                                          const TensorInfos& outputs, const PrepareContext& /*ctx*/) {
  return PrepareOp(*kernel.op_as_CustomCall(), inputs, outputs);
}

Status ValidateCustomCall(const exe::CustomCall& op, const TensorInfos& inputs, const TensorInfos& outputs) {
  return PrepareOp(op, inputs, outputs).status();
}

}  // namespace kernels
}  // namespace chip
