#include "pjrt_plugin/api/compiler_bridge.h"

#include <pybind11/pybind11.h>

#include "pjrt_plugin/api/compile_options.h"
#include "pjrt_plugin/api/python_weak_symbols.h"

namespace py = pybind11;

namespace chip::api {
namespace {

constexpr const char* kDriverModule = "jax_chip.compiler.driver";
constexpr const char* kDriverFunction = "compile_program";

py::dict ConfigDict(const ChipConfig& c) {
  py::dict d;
#define CHIP_CONFIG_TO_DICT(name, type, default_value, unit, lo, lo_inclusive, hi, doc) d[#name] = c.name;
  CHIP_CONFIG_FIELDS(CHIP_CONFIG_TO_DICT)
#undef CHIP_CONFIG_TO_DICT
  return d;
}

// The compile options as parsed here (compile_options.h), for the Python compiler.
py::dict CompileOptionsDict(const CompileDeviceOptions& o) {
  py::dict d;
  d["num_replicas"] = o.num_replicas;
  d["num_partitions"] = o.num_partitions;
  d["device_ordinal"] = o.device_ordinal;
  py::list ids;
  for (int64_t id : o.device_ids) ids.append(id);
  d["device_ids"] = ids;
  return d;
}

// "INVALID_ARGUMENT" -> kInvalidArgument; nullopt-like kOk for an unknown name.
StatusCode CodeFromName(const std::string& name) {
  for (int c = static_cast<int>(StatusCode::kCancelled); c <= static_cast<int>(StatusCode::kUnauthenticated); ++c) {
    if (name == StatusCodeName(static_cast<StatusCode>(c))) return static_cast<StatusCode>(c);
  }
  return StatusCode::kOk;
}

constexpr const char* kXSpaceModule = "jax_chip.xspace";
constexpr const char* kXSpaceFunction = "build_xspace";

// The Status for the Python exception in `e` raised by `callee` ("the chip compiler
// (module.function)"). Requires the GIL.
Status StatusFromPythonError(py::error_already_set& e, const char* function, const std::string& callee) {
  const std::string prefix = std::string(function) + ": ";
  try {
    py::object value = e.value();
    if (!value.is_none() && py::hasattr(value, "pjrt_code")) {
      std::string code_name = py::str(value.attr("pjrt_code"));
      StatusCode code = CodeFromName(code_name);
      std::string message = py::str(value);
      if (code != StatusCode::kOk) return Status(code, prefix + message);
      return Internal(prefix + message + " (the compiler raised it with unknown pjrt_code '" + code_name + "')");
    }
    py::object format = py::module_::import("traceback").attr("format_exception");
    py::object lines = format(e.type(), e.value(), e.trace());
    std::string text = py::str(py::str("").attr("join")(lines));
    return Internal(prefix + callee + " raised an exception:\n" + text);
  } catch (const std::exception& inner) {
    return Internal(prefix + callee + " raised " + e.what() + " (formatting it failed: " + inner.what() + ")");
  }
}

// `result` as bytes (bytes, bytearray or memoryview), else an error naming `callee`. Requires the GIL.
StatusOr<std::string> BytesResult(py::object result, const char* function, const std::string& callee) {
  if (!py::isinstance<py::bytes>(result)) {
    if (py::isinstance<py::bytearray>(result) || py::isinstance<py::memoryview>(result)) {
      result = py::module_::import("builtins").attr("bytes")(result);
    } else {
      return Internal(std::string(function) + ": " + callee + " returned " +
                      std::string(py::str(result.get_type())) + ", expected bytes");
    }
  }
  return std::string(result.cast<std::string>());
}

}  // namespace

bool PythonHostAvailable() {
  // Weak: null when no Python interpreter is loaded in the process.
  return &Py_IsInitialized != nullptr && Py_IsInitialized() != 0;
}

StatusOr<std::string> CompileWithPython(std::string_view code, std::string_view format,
                                        std::string_view compile_options, const ChipConfig& config,
                                        const char* function) {
  if (!PythonHostAvailable()) {
    return FailedPrecondition(
        std::string(function) +
        ": compiling needs a Python host: the chip compiler is the Python package jax_chip, run "
        "inside the process that loaded the plugin, and this process has no initialized Python "
        "interpreter. Compile in a Python process (e.g. through JAX) and load the serialized "
        "executable here with PJRT_Executable_DeserializeAndLoad, which needs no Python.");
  }
  StatusOr<CompileDeviceOptions> options = ParseCompileDeviceOptions(compile_options);
  if (!options.ok()) return Status(options.status().code(), std::string(function) + ": " + options.status().message());
  py::gil_scoped_acquire gil;
  try {
    py::module_ driver = py::module_::import(kDriverModule);
    py::object result = driver.attr(kDriverFunction)(py::bytes(code.data(), code.size()),
                                                     py::str(format.data(), format.size()),
                                                     CompileOptionsDict(options.value()),
                                                     ConfigDict(config));
    return BytesResult(std::move(result), function, std::string(kDriverModule) + "." + kDriverFunction);
  } catch (py::error_already_set& e) {
    return StatusFromPythonError(e, function,
                                 std::string("the chip compiler (") + kDriverModule + "." + kDriverFunction + ")");
  } catch (const std::exception& e) {
    return Internal(std::string(function) + ": calling the chip compiler failed: " + e.what());
  }
}

StatusOr<std::string> XSpaceWithPython(std::string_view chrome_json, int64_t session_start_ns,
                                       const char* function) {
  if (!PythonHostAvailable()) return std::string();
  const std::string callee = std::string(kXSpaceModule) + "." + kXSpaceFunction;
  py::gil_scoped_acquire gil;
  try {
    py::module_ module = py::module_::import(kXSpaceModule);
    py::object result = module.attr(kXSpaceFunction)(py::str(chrome_json.data(), chrome_json.size()),
                                                     py::int_(session_start_ns));
    return BytesResult(std::move(result), function, callee);
  } catch (py::error_already_set& e) {
    return StatusFromPythonError(e, function, callee);
  } catch (const std::exception& e) {
    return Internal(std::string(function) + ": calling " + callee + " failed: " + e.what());
  }
}

}  // namespace chip::api
