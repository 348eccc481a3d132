// The kernel interface the loader and the executor share (docs/adding-a-kernel.md).
//
// Every kind of kernel (schema KernelOp) is defined once, by one KernelKind line in
// kernels/kernel_registry.cc: its trace category, its staging policy and its prepare function.
// Built-in custom-call targets are defined the same way, one CustomCallKernel line each in the
// same file. At load time LoadedProgram::Load checks what every kernel shares (value ids, read-only
// storage, static cost) and calls the kind's prepare function once per kernel: it validates the op
// table against the kernel's value types and decodes it into a PreparedOp. At run time RunProgram
// loops over the prepared kernels and calls RunKernel, which applies the staging policy and runs
// the PreparedOp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/core/kernel_work.h"
#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/kernels/tensor_ref.h"

namespace chip {
namespace exe {
struct Kernel;
struct Region;
enum class KernelOp : uint8_t;
}  // namespace exe
namespace kernels {

// How outputs whose storage overlaps an input's are handled before the kernel runs.
enum class Staging {
  kNone,     // the kernel handles overlap itself
  kStaged,   // an output overlapping any input is computed into host scratch and copied afterwards
  kInPlace,  // output i may be input i's own storage (updated in place); other overlaps are staged
};

class ExecutionHost;
struct PreparedKernel;
using PreparedKernels = std::vector<PreparedKernel>;

// One run of a prepared kernel.
struct KernelArgs {
  const TensorRefs& inputs;
  const TensorRefs& outputs;
  KernelWork* work;     // starts as the kernel's static cost; kernels whose work depends on the data add it
  ExecutionHost* host;  // nested regions and values by id (control flow)
};

// A kernel's op decoded once at load time. Run is called on every execution, possibly from
// several devices' workers at once: it keeps no per-run state in the object.
class PreparedOp {
 public:
  virtual ~PreparedOp() = default;
  virtual Status Run(const KernelArgs& args) const = 0;
};

// What the loader offers a prepare function beyond the kernel and its value types.
class PrepareContext {
 public:
  virtual ~PrepareContext() = default;
  // The type of value `id`, or nullptr when there is no such value.
  virtual const TensorInfo* value(int id) const = 0;
  // Checks and prepares a nested region's kernels (control flow); `what` names the region.
  virtual StatusOr<PreparedKernels> PrepareRegion(const exe::Region& region, const std::string& what) const = 0;
};

using PreparedOpPtr = std::unique_ptr<const PreparedOp>;

// One kind of kernel.
struct KernelKind {
  // Validates the kernel's op table against its input and output types and decodes it.
  using PrepareFn = StatusOr<PreparedOpPtr> (*)(const exe::Kernel& kernel, const TensorInfos& inputs,
                                                const TensorInfos& outputs, const PrepareContext& ctx);
  exe::KernelOp op;
  const char* category;  // the trace category ("dot_general")
  Staging staging;
  PrepareFn prepare;
  // Control flow: the kernel runs nested kernels, each traced and costed on its own, and records
  // no event itself; its errors are its nested kernels', which already name them.
  bool control_flow = false;
  // The kernel reads and writes fp8 and packed 4-bit values (the loader rejects them elsewhere).
  bool low_precision = false;
};

// The kind of `op`, or nullptr when this runtime does not implement it.
const KernelKind* FindKernelKind(exe::KernelOp op);

// A kernel of a loaded program, ready to run.
struct PreparedKernel {
  const KernelKind* kind = nullptr;
  std::string name;                  // the schema's name, or "kernel.<index>"
  std::string source;                // JAX source location, or ""
  std::vector<int> inputs, outputs;  // value ids
  KernelWork static_work;            // the schema's KernelCost
  PreparedOpPtr op;
};

// What the executor offers a running kernel beyond its bound inputs and outputs.
class ExecutionHost {
 public:
  virtual ~ExecutionHost() = default;
  virtual void* data(int value) const = 0;
  virtual const TensorInfo& type(int value) const = 0;
  // Runs a nested kernel list (each kernel traced and costed).
  virtual Status RunKernels(const PreparedKernels& kernels) = 0;
  // Records the modeled cost of moving `bytes` bytes on the device (carried-value assignment).
  virtual void RecordCopy(const std::string& name, int64_t bytes) = 0;
};

// Runs a prepared kernel on bound storage under its kind's staging policy.
Status RunKernel(const PreparedKernel& kernel, const KernelArgs& args);

}  // namespace kernels
}  // namespace chip
