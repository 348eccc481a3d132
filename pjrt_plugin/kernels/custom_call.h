// Custom-call kernels (chip::exe::CustomCall): native kernels the compiler calls by target name
// (stablehlo.custom_call @chip.paged_attention_decode, ...). The registry (kernel_registry.cc)
// maps a target name to its prepare function; kernels whose work depends on the data (attention:
// the tokens in use) report it at run time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/kernel.h"
#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/core/kernel_work.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace exe {
struct CustomCall;
struct Kernel;
}  // namespace exe
namespace kernels {

// The decoded attributes of one custom call (schema CustomCallAttribute).
class CustomCallAttributes {
 public:
  enum class Kind { kInt, kFloat, kString, kInts, kFloats };
  struct Attr {
    Kind kind = Kind::kInt;
    std::string element;  // "s64", "f32", ... for numbers
    int64_t i = 0;
    double f = 0;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<double> floats;
  };

  // INVALID_ARGUMENT on a malformed attribute (unknown kind, duplicate or missing name).
  static StatusOr<CustomCallAttributes> Decode(const exe::CustomCall& op);

  void Set(const std::string& name, Attr attr) { attrs_[name] = std::move(attr); }
  bool Has(const std::string& name) const { return attrs_.count(name) != 0; }
  const Attr* Find(const std::string& name) const;
  // An integer attribute; INVALID_ARGUMENT naming it when missing or not an integer.
  StatusOr<int64_t> Int(const std::string& name) const;
  // A float attribute (an integer one is converted); INVALID_ARGUMENT when missing.
  StatusOr<double> Float(const std::string& name) const;
  // INVALID_ARGUMENT naming any attribute not in `allowed`.
  Status OnlyThese(const std::vector<std::string>& allowed) const;
  const std::map<std::string, Attr>& all() const { return attrs_; }

 private:
  std::map<std::string, Attr> attrs_;
};

// One built-in custom-call target (registered in kernels/kernel_registry.cc).
struct CustomCallKernel {
  // Checks operand/result types and attributes and decodes the attributes once (load time); the
  // prepared op's Run adds the kernel's data-dependent work to *args.work.
  using PrepareFn = StatusOr<PreparedOpPtr> (*)(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                                const TensorInfos& outputs);
  const char* target = "";
  PrepareFn prepare = nullptr;
  // Per output: the input it updates in place (its storage may be the output's own), or -1.
  std::vector<int> in_place;
};

// A built-in target's prepared op: its attributes decoded once into `Params` (a struct with
// `static StatusOr<Params> Decode(const CustomCallAttributes&)`), then kRun on every execution.
// PrepareFn: CustomCallOp<Params, Validate, Run>::Prepare.
template <typename Params, Status (*kValidate)(const CustomCallAttributes&, const TensorInfos&, const TensorInfos&),
          Status (*kRun)(const Params&, const TensorRefs&, const TensorRefs&, KernelWork*)>
class CustomCallOp final : public PreparedOp {
 public:
  explicit CustomCallOp(Params params) : params_(std::move(params)) {}
  Status Run(const KernelArgs& args) const override { return kRun(params_, args.inputs, args.outputs, args.work); }

  static StatusOr<PreparedOpPtr> Prepare(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                         const TensorInfos& outputs) {
    CHIP_RETURN_IF_ERROR(kValidate(attrs, inputs, outputs));
    CHIP_ASSIGN_OR_RETURN(Params params, Params::Decode(attrs));
    return PreparedOpPtr(new CustomCallOp(std::move(params)));
  }

 private:
  const Params params_;
};

// The Params of a target that takes no attributes.
struct NoAttributes {
  static StatusOr<NoAttributes> Decode(const CustomCallAttributes& /*attrs*/) { return NoAttributes{}; }
};

// Custom calls no built-in kernel implements can be served by an external provider: the API
// layer installs one that runs the XLA FFI handlers users register for platform "chip"
// (jax.ffi.register_ffi_target(..., platform="chip"); pjrt_plugin/api/ffi_call.cc).
class ExternalCustomCalls {
 public:
  virtual ~ExternalCustomCalls() = default;
  virtual bool Has(const std::string& target) const = 0;
  // Runs `target` on the bound buffers (outputs aliased to an input already hold it).
  virtual Status Run(const std::string& target, const CustomCallAttributes& attrs, const TensorRefs& inputs,
                     const TensorRefs& outputs) const = 0;
};
// Installs (or, with nullptr, removes) the provider; thread-safe, process-wide.
void SetExternalCustomCalls(std::shared_ptr<const ExternalCustomCalls> provider);

// The built-in kernel registered under `target`, or nullptr.
const CustomCallKernel* FindCustomCallKernel(const std::string& target);
// Every built-in target, sorted (for error messages).
std::vector<std::string> CustomCallTargets();

// The CustomCall kind (kernel_registry.cc): a built-in target (aliasing consistent with the
// kernel's, and the target's own checks) or one the external provider has (aliased outputs of
// their input's size); UNIMPLEMENTED naming the target otherwise. External handlers' work is their
// inputs read and outputs written (a memory-only model).
StatusOr<PreparedOpPtr> PrepareCustomCall(const exe::Kernel& kernel, const TensorInfos& inputs,
                                          const TensorInfos& outputs, const PrepareContext& ctx);
// The same checks for a CustomCall op table alone.
Status ValidateCustomCall(const exe::CustomCall& op, const TensorInfos& inputs, const TensorInfos& outputs);

}  // namespace kernels
}  // namespace chip
