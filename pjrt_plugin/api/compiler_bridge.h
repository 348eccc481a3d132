// The bridge to the chip compiler, which is Python (jax_chip.compiler.driver) and runs inside the
// host Python process through pybind11, and to the XSpace builder of jax.profiler sessions
// (jax_chip.xspace). The plugin never links libpython: its Python symbols are
// weak and resolve to the interpreter that loaded the plugin. Without one (a C++ host), compiling
// is FAILED_PRECONDITION, while loading serialized executables still works.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pjrt_plugin/runtime/chip_config.h"
#include "pjrt_plugin/core/status.h"

namespace chip::api {

// True when the plugin runs inside an initialized Python interpreter.
bool PythonHostAvailable();

// jax_chip.compiler.driver.compile_program(code, fmt, compile_options, chip_config) -> executable
// bytes. `compile_options` (a serialized CompileOptionsProto) is parsed here, once, and reaches
// Python as a dict {"num_replicas", "num_partitions", "device_ordinal", "device_ids"}
// (compile_options.h's CompileDeviceOptions); `chip_config` as a dict of the chip model's fields
// (chip_config_fields.h). A Python exception with a `pjrt_code` attribute ("INVALID_ARGUMENT", "UNIMPLEMENTED",
// ...) becomes that code with str(exception) as message; any other is INTERNAL with its traceback.
// `function` prefixes error messages.
StatusOr<std::string> CompileWithPython(std::string_view code, std::string_view format,
                                        std::string_view compile_options, const ChipConfig& config,
                                        const char* function);

// jax_chip.xspace.build_xspace(chrome_json, session_start_ns) -> a serialized XSpace holding the
// chip's planes for the events of one jax.profiler session (`chrome_json` is
// TraceRecorder::ChromeJson of them; `session_start_ns` the host wall clock at its start). Empty
// (an XSpace without planes) when the process has no Python interpreter; a Python exception is an
// error like CompileWithPython's.
StatusOr<std::string> XSpaceWithPython(std::string_view chrome_json, int64_t session_start_ns,
                                       const char* function);

}  // namespace chip::api
