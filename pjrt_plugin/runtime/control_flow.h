// Control-flow kernels (chip::exe::While, chip::exe::Case): nested kernel lists (Regions) that
// read and write values of the executable's one value numbering and memory plan. The executor
// runs the regions' kernels; this file holds the loop/branch logic, the carried-value
// assignments and the load-time checks. See pjrt_plugin/schema/chip_executable.fbs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pjrt_plugin/kernels/tensor_ref.h"
#include "pjrt_plugin/runtime/status.h"

namespace chip {
namespace exe {
struct Kernel;
struct Region;
struct While;
struct Case;
}  // namespace exe

// What the loader gives the checks: the type of a value id (nullptr when out of range) and a
// validator for a nested region's kernels.
struct RegionChecker {
  std::function<const TensorInfo*(int value)> value;
  std::function<Status(const exe::Region& region, const std::string& what)> validate_kernels;
};

// Load-time checks of a While/Case kernel (inputs/outputs are the kernel's value types).
Status ValidateWhile(const exe::While& op, const kernels::TensorInfos& inputs, const kernels::TensorInfos& outputs,
                     const RegionChecker& checker);
Status ValidateCase(const exe::Case& op, const kernels::TensorInfos& inputs, const kernels::TensorInfos& outputs,
                    const RegionChecker& checker);

// What the executor gives the control-flow kernels at run time.
struct ControlFlowContext {
  const std::vector<void*>* ptr = nullptr;                       // storage of every value id
  const LoadedProgram* program = nullptr;                        // value types
  std::function<Status(const exe::Region& region)> run_region;   // runs a region's kernels
  // Records the modeled cost of moving `bytes` bytes on the device (carried-value assignment).
  std::function<void(const std::string& name, int64_t bytes)> record_copy;
};

// Runs a validated While kernel: initial copies, then cond/body until cond is false.
Status RunWhile(const exe::Kernel& kernel, const ControlFlowContext& ctx);
// Runs a validated Case kernel: the selected branch, then its results into the outputs.
Status RunCase(const exe::Kernel& kernel, const ControlFlowContext& ctx);

// Copies srcs[i] to dsts[i] for every i as one parallel assignment (as if all sources were read
// before any destination is written); pairs whose source is the destination are skipped.
// Returns the bytes moved.
int64_t ParallelAssign(const std::vector<const void*>& srcs, const std::vector<void*>& dsts,
                       const std::vector<int64_t>& bytes);

}  // namespace chip
