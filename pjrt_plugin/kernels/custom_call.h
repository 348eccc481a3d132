// Custom-call kernels (chip::exe::CustomCall): native kernels the compiler calls by target name
// (stablehlo.custom_call @chip.paged_attention_decode, ...). The registry maps a target name to
// its validate and run functions; kernels whose work depends on the data (attention: the tokens
// in use) report it at run time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/runtime/cost_model.h"
#include "pjrt_plugin/runtime/status.h"

namespace chip {
namespace exe { struct CustomCall; }
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

// One native custom-call kernel.
struct CustomCallKernel {
  // Checks operand/result types and attributes (at load time).
  using ValidateFn = Status (*)(const CustomCallAttributes& attrs, const TensorInfos& inputs,
                                const TensorInfos& outputs);
  // Runs a validated call; adds its data-dependent work to *work.
  using RunFn = Status (*)(const CustomCallAttributes& attrs, const TensorRefs& inputs,
                           const TensorRefs& outputs, KernelWork* work);
  const char* target = "";
  ValidateFn validate = nullptr;
  RunFn run = nullptr;
  // Per output: the input it updates in place (its storage may be the output's own), or -1.
  std::vector<int> in_place;
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

// Load-time check of a CustomCall kernel: a built-in target (aliasing consistent with the
// kernel's, and the kernel's own validation) or one the external provider has (aliased outputs
// of their input's size); UNIMPLEMENTED naming the target otherwise.
Status ValidateCustomCall(const exe::CustomCall& op, const TensorInfos& inputs, const TensorInfos& outputs);

// Runs a validated CustomCall kernel. *work starts as the kernel's static cost (if any) and
// gets the kernel's data-dependent work added (external handlers: their inputs read and outputs
// written, a memory-only model).
Status RunCustomCall(const exe::CustomCall& op, const TensorRefs& inputs, const TensorRefs& outputs,
                     KernelWork* work);

}  // namespace kernels
}  // namespace chip
