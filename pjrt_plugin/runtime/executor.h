// The program interpreter: runs a loaded program's kernels in order on the calling thread (a
// device's queue worker), over storage bound to each value.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pjrt_plugin/runtime/chip_config.h"
#include "pjrt_plugin/runtime/device_memory.h"
#include "pjrt_plugin/runtime/loaded_program.h"
#include "pjrt_plugin/core/status.h"

namespace chip {

struct ExecutionBindings {
  std::vector<void*> parameters;  // one per program parameter (read-only unless aliased)
  std::vector<void*> outputs;     // one per program output
  void* arena = nullptr;          // program.arena_bytes() bytes
};

struct ExecutionResult {
  double modeled_s = 0;   // sum of the kernels' modeled times
  int64_t kernels = 0;
};

// Runs every kernel. When tracing is on, records one kernel event per kernel starting at
// `start_s` on `device_id`'s modeled clock. A kernel that fails (e.g. data-dependent bounds)
// stops the execution and returns its error, naming the kernel and its source location.
StatusOr<ExecutionResult> RunProgram(const LoadedProgram& program, const ExecutionBindings& bindings,
                                     const ChipConfig& config, int device_id, int64_t launch_id,
                                     double start_s);

}  // namespace chip
