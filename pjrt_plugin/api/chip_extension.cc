#include "pjrt_plugin/api/chip_extension.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/ffi_extension.h"
#include "pjrt_plugin/api/version.h"
#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/runtime/chip_config.h"
#include "pjrt_plugin/runtime/cost_model.h"
#include "pjrt_plugin/runtime/executor.h"
#include "pjrt_plugin/runtime/loaded_program.h"
#include "pjrt_plugin/runtime/trace.h"

namespace {

char* MallocString(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// NULL for OK, else the message (malloc'd).
char* ErrorString(const chip::Status& s) { return s.ok() ? nullptr : MallocString(s.ToString()); }

// Host memory for chip_run_executable: 64-byte aligned, like device memory.
struct HostBuffer {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data;
  explicit HostBuffer(int64_t bytes) {
    const size_t rounded = (static_cast<size_t>(bytes) + 63) / 64 * 64 + 64;
    data.reset(std::aligned_alloc(64, rounded));
    if (data == nullptr) throw std::bad_alloc();
  }
};

bool Aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

// Loads and runs `bytes` over host buffers (chip_run_executable).
chip::Status RunOnHost(std::string bytes, const void* const* params, int n_params, void* const* outputs,
                       int n_outputs) {
  CHIP_ASSIGN_OR_RETURN(std::shared_ptr<const chip::LoadedProgram> program,
                        chip::LoadedProgram::Load(std::move(bytes)));
  if (n_params != program->num_parameters() || n_outputs != program->num_outputs()) {
    return chip::InvalidArgument("the executable has " + std::to_string(program->num_parameters()) +
                                 " parameter(s) and " + std::to_string(program->num_outputs()) +
                                 " output(s); got " + std::to_string(n_params) + " and " +
                                 std::to_string(n_outputs) + " buffers");
  }
  for (int i = 0; i < n_params; ++i) {
    if (params[i] == nullptr && program->parameter(i).byte_size() > 0) {
      return chip::InvalidArgument("parameter " + std::to_string(i) + "'s buffer is null");
    }
  }
  for (int o = 0; o < n_outputs; ++o) {
    if (outputs[o] == nullptr && program->output(o).byte_size() > 0) {
      return chip::InvalidArgument("output " + std::to_string(o) + "'s buffer is null");
    }
  }
  std::vector<HostBuffer> staged;  // 64-byte aligned copies of caller buffers that are not
  chip::ExecutionBindings bindings;
  for (int i = 0; i < n_params; ++i) {
    void* p = const_cast<void*>(params[i]);  // parameters are only read (aliased ones: below)
    if (!Aligned(p)) {
      const int64_t bytes = program->parameter(i).byte_size();
      p = staged.emplace_back(bytes).data.get();
      if (bytes > 0) std::memcpy(p, params[i], static_cast<size_t>(bytes));
    }
    bindings.parameters.push_back(p);
  }
  std::vector<int> copy_back;  // outputs computed in a staged buffer
  for (int o = 0; o < n_outputs; ++o) {
    const int64_t bytes = program->output(o).byte_size();
    void* out = outputs[o];
    if (!Aligned(out)) {
      out = staged.emplace_back(bytes).data.get();
      copy_back.push_back(o);
    }
    const int alias = program->output_aliased_parameter(o);
    if (alias >= 0) {  // donated: the output starts as the parameter and is updated in place
      if (bytes > 0) std::memcpy(out, params[alias], static_cast<size_t>(bytes));
      bindings.parameters[alias] = out;
    }
    bindings.outputs.push_back(out);
  }
  HostBuffer arena(program->arena_bytes());
  bindings.arena = arena.data.get();
  chip::TraceRecorder::ScopedSuppression off_the_trace;
  CHIP_RETURN_IF_ERROR(chip::RunProgram(*program, bindings, chip::ChipConfig(), /*device_id=*/-1,
                                        /*launch_id=*/0, /*start_s=*/0)
                           .status());
  for (int o : copy_back) {
    const int64_t bytes = program->output(o).byte_size();
    if (bytes > 0) std::memcpy(outputs[o], bindings.outputs[o], static_cast<size_t>(bytes));
  }
  return chip::Status::Ok();
}

// The dtype the trace names `name` (core/dtype.h's DTypeName).
chip::StatusOr<chip::DType> DTypeNamed(const char* name) {
  for (int v = 0; v <= 255; ++v) {   // every DType member (fp8, int4 and c64 are numbered past kF32)
    const auto t = static_cast<chip::DType>(v);
    if (chip::IsValidDType(t) && name != nullptr && std::strcmp(chip::DTypeName(t), name) == 0) return t;
  }
  return chip::InvalidArgument(std::string("unknown matrix dtype '") + (name ? name : "(null)") + "'");
}

chip::Status ModelWork(const char* const* option_names, const int* option_is_int, const int64_t* option_ints,
                       const double* option_floats, int n_options, const double* kernel_work,
                       const char* const* kernel_dtypes, int64_t n_kernels, double* kernel_times,
                       const char** kernel_bounds, const char* const* transfer_names, const double* transfer_bytes,
                       int64_t n_transfers, double* transfer_seconds) {
  if (n_options < 0 || n_kernels < 0 || n_transfers < 0 ||
      (n_options > 0 && (option_names == nullptr || option_is_int == nullptr || option_ints == nullptr ||
                         option_floats == nullptr)) ||
      (n_kernels > 0 && (kernel_work == nullptr || kernel_dtypes == nullptr || kernel_times == nullptr ||
                         kernel_bounds == nullptr)) ||
      (n_transfers > 0 && (transfer_names == nullptr || transfer_bytes == nullptr || transfer_seconds == nullptr))) {
    return chip::InvalidArgument("null or negative argument");
  }
  std::map<std::string, chip::ChipConfig::OptionValue> options;
  for (int i = 0; i < n_options; ++i) {
    if (option_names[i] == nullptr) return chip::InvalidArgument("option " + std::to_string(i) + " has no name");
    options[option_names[i]] = option_is_int[i] ? chip::ChipConfig::OptionValue(option_ints[i])
                                                : chip::ChipConfig::OptionValue(option_floats[i]);
  }
  CHIP_ASSIGN_OR_RETURN(chip::ChipConfig config, chip::ChipConfig::FromNamedOptions(options));
  for (int64_t k = 0; k < n_kernels; ++k) {
    const double* w = kernel_work + 7 * k;
    chip::KernelWork work;
    work.matrix_flops = w[0];
    work.vector_flops = w[1];
    work.transcendentals = w[2];
    work.bytes_read = w[3];
    work.bytes_written = w[4];
    work.sram_bytes_read = w[5];
    work.sram_bytes_written = w[6];
    CHIP_ASSIGN_OR_RETURN(work.matrix_dtype, DTypeNamed(kernel_dtypes[k]));
    const chip::ModeledTime t = chip::ModelKernel(work, config);
    double* out = kernel_times + 6 * k;
    out[0] = t.total_s;
    out[1] = t.launch_s;
    out[2] = t.matrix_s;
    out[3] = t.vector_s;
    out[4] = t.memory_s;
    out[5] = t.sram_s;
    kernel_bounds[k] = t.bound;
  }
  for (int64_t t = 0; t < n_transfers; ++t) {
    if (transfer_names[t] == nullptr) return chip::InvalidArgument("transfer " + std::to_string(t) + " has no name");
    // A transfer event records the bytes it copied as read (device_to_host), written
    // (host_to_device) or both (device_copy, chip_to_chip): chip_device.cc.
    const double bytes = std::max(transfer_bytes[2 * t], transfer_bytes[2 * t + 1]);
    CHIP_ASSIGN_OR_RETURN(transfer_seconds[t], chip::ModelTransferSeconds(transfer_names[t], bytes, config));
  }
  return chip::Status::Ok();
}

std::string JsonNameList(const std::vector<std::string>& names) {
  std::string s = "[";
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", \"" : "\"") + names[i] + "\"";
  return s + "]";
}

void WriteError(const std::string& message, char* error, size_t error_len) {
  if (error == nullptr || error_len == 0) return;
  const size_t n = std::min(message.size(), error_len - 1);
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

}  // namespace

extern "C" {

int chip_profiler_start(void) {
  try {
    chip::TraceRecorder::Global().Start();
    return 0;
  } catch (...) {
    return -1;
  }
}

int chip_profiler_stop(void) {
  try {
    chip::TraceRecorder::Global().Stop();
    return 0;
  } catch (...) {
    return -1;
  }
}

char* chip_profiler_trace_json(void) {
  try {
    return MallocString(chip::TraceRecorder::Global().ToChromeJson());
  } catch (...) {
    return nullptr;
  }
}

void chip_free(void* p) { std::free(p); }

double chip_device_modeled_time_s(int device_id) {
  try {
    return chip::api::LiveClientModeledTimeSeconds(device_id);
  } catch (...) {
    return -1;
  }
}

const char* chip_plugin_version(void) { return chip::api::kPluginVersion; }

char* chip_ffi_register_handler(const char* name, void* execute, void* instantiate, void* prepare,
                                void* initialize, int api_version, uint32_t traits) {
  try {
    if (name == nullptr) return MallocString("chip_ffi_register_handler: name is null");
    chip::api::FfiHandler h;
    h.name = name;
    h.api_version = api_version;
    h.traits = traits;
    h.execute = reinterpret_cast<XLA_FFI_Handler*>(execute);
    h.instantiate = reinterpret_cast<XLA_FFI_Handler*>(instantiate);
    h.prepare = reinterpret_cast<XLA_FFI_Handler*>(prepare);
    h.initialize = reinterpret_cast<XLA_FFI_Handler*>(initialize);
    return ErrorString(chip::api::FfiRegistry::Global().RegisterHandler(h));
  } catch (const std::exception& e) {
    return MallocString(std::string("chip_ffi_register_handler: ") + e.what());
  } catch (...) {
    return MallocString("chip_ffi_register_handler: unexpected C++ exception");
  }
}

char* chip_ffi_register_type_id(const char* name, int64_t* type_id) {
  try {
    if (name == nullptr || type_id == nullptr) return MallocString("chip_ffi_register_type_id: null argument");
    return ErrorString(chip::api::FfiRegistry::Global().RegisterTypeId(name, type_id));
  } catch (const std::exception& e) {
    return MallocString(std::string("chip_ffi_register_type_id: ") + e.what());
  } catch (...) {
    return MallocString("chip_ffi_register_type_id: unexpected C++ exception");
  }
}

const char* chip_config_fields_json(void) { return chip::ChipConfig::FieldsJson().c_str(); }

const char* chip_cost_model_fields_json(void) {
  static const std::string json = JsonNameList(chip::CostModelFields());
  return json.c_str();
}

char* chip_model_work(const char* const* option_names, const int* option_is_int, const int64_t* option_ints,
                      const double* option_floats, int n_options, const double* kernel_work,
                      const char* const* kernel_dtypes, int64_t n_kernels, double* kernel_times,
                      const char** kernel_bounds, const char* const* transfer_names, const double* transfer_bytes,
                      int64_t n_transfers, double* transfer_seconds) {
  try {
    const chip::Status s = ModelWork(option_names, option_is_int, option_ints, option_floats, n_options, kernel_work,
                                     kernel_dtypes, n_kernels, kernel_times, kernel_bounds, transfer_names,
                                     transfer_bytes, n_transfers, transfer_seconds);
    return s.ok() ? nullptr : MallocString("chip_model_work: " + s.ToString());
  } catch (const std::exception& e) {
    return MallocString(std::string("chip_model_work: ") + e.what());
  } catch (...) {
    return MallocString("chip_model_work: unexpected C++ exception");
  }
}

const char* chip_elementwise_ops_json(void) { return chip::kernels::ElementwiseOpsJson().c_str(); }

int chip_run_executable(const void* exe, size_t len, const void* const* params, int n_params,
                        void* const* outputs, int n_outputs, char* error, size_t error_len) {
  try {
    if (exe == nullptr || n_params < 0 || n_outputs < 0 || (n_params > 0 && params == nullptr) ||
        (n_outputs > 0 && outputs == nullptr)) {
      WriteError("chip_run_executable: null or negative argument", error, error_len);
      return -1;
    }
    const chip::Status s =
        RunOnHost(std::string(static_cast<const char*>(exe), len), params, n_params, outputs, n_outputs);
    if (s.ok()) return 0;
    WriteError("chip_run_executable: " + s.ToString(), error, error_len);
  } catch (const std::bad_alloc&) {
    WriteError("chip_run_executable: host memory exhausted", error, error_len);
  } catch (const std::exception& e) {
    WriteError(std::string("chip_run_executable: ") + e.what(), error, error_len);
  } catch (...) {
    WriteError("chip_run_executable: unexpected C++ exception", error, error_len);
  }
  return -1;
}

}  // extern "C"
