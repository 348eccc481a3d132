// A test-only fault: makes one chip execution fail as a hardware error would, so that the layers
// above (jax, sglang-jax's scheduler) can be tested on what they do with a failed execution.
// CHIP_FAULT_INJECT_FILE=path (read at first use; unset: nothing is checked and nothing costs):
// before each execution the device looks for that file; if it exists and its first line is a
// substring of the executable's name (an empty file matches every executable), the device
// deletes the file and fails that one execution with INTERNAL "injected chip fault ...". Its
// outputs complete with that error and any donated inputs are lost, as on a real failure.
// Only the execution that deletes the file fails (two devices never both take one fault).
#pragma once

#include <string>

#include "pjrt_plugin/core/status.h"

namespace chip {

// OK, or the injected fault for an execution of `program` (then the fault is consumed).
Status TakeInjectedFault(const std::string& program);

}  // namespace chip
