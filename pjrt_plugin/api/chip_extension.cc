#include "pjrt_plugin/api/chip_extension.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/ffi_extension.h"
#include "pjrt_plugin/api/version.h"
#include "pjrt_plugin/runtime/trace.h"

namespace {

char* MallocString(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// NULL for OK, else the message (malloc'd).
char* ErrorString(const chip::Status& s) { return s.ok() ? nullptr : MallocString(s.ToString()); }

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

}  // extern "C"
