// The XLA FFI side of the plugin: the PJRT FFI extension (custom type ids; user data attached to
// an execute context) and the registry of FFI handlers registered for platform "chip"
// (jax.ffi.register_ffi_target(..., platform="chip") reaches it through
// chip_ffi_register_handler, chip_extension.h). The registry is process-wide so that the runtime
// can look handlers up by custom-call target name when it runs a program.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pjrt_plugin/core/status.h"
#include "xla/ffi/api/c_api.h"
#include "xla/pjrt/c/pjrt_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_ffi_extension.h"

namespace chip::api {

struct FfiHandler {
  std::string name;        // custom-call target name
  int api_version = 1;     // 1: typed XLA FFI; 0: legacy custom call (rejected)
  XLA_FFI_Handler_Traits traits = 0;
  // Stage handlers; `execute` is required, the others may be null.
  XLA_FFI_Handler* instantiate = nullptr;
  XLA_FFI_Handler* prepare = nullptr;
  XLA_FFI_Handler* initialize = nullptr;
  XLA_FFI_Handler* execute = nullptr;
};

class FfiRegistry {
 public:
  static FfiRegistry& Global();

  // Registering the same handler twice is fine; a different one under a taken name is
  // ALREADY_EXISTS. api_version 0 (untyped custom calls) is UNIMPLEMENTED on the chip.
  Status RegisterHandler(const FfiHandler& handler);
  std::optional<FfiHandler> FindHandler(const std::string& name) const;
  std::vector<std::string> HandlerNames() const;

  // XLA's semantics: *type_id == 0 assigns a fresh id; otherwise the id must match the one the
  // name already has (or is taken for the name if the name is new and the id is free).
  Status RegisterTypeId(const std::string& name, int64_t* type_id);
  std::optional<int64_t> FindTypeId(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, FfiHandler> handlers_;
  std::map<std::string, int64_t> type_ids_;
  int64_t next_type_id_ = 1;
};

// The extension struct for the PJRT_Api extension chain (static storage), linked to `next`.
PJRT_Extension_Base* FfiExtension(PJRT_Extension_Base* next);

PJRT_Error* ExecuteContextCreate(PJRT_ExecuteContext_Create_Args* args);
PJRT_Error* ExecuteContextDestroy(PJRT_ExecuteContext_Destroy_Args* args);

}  // namespace chip::api

// User data for FFI handlers of one execution (PJRT_FFI_UserData_Add). Deleters run on destroy.
struct PJRT_ExecuteContext {
  PJRT_ExecuteContext() = default;
  ~PJRT_ExecuteContext();
  PJRT_ExecuteContext(const PJRT_ExecuteContext&) = delete;
  PJRT_ExecuteContext& operator=(const PJRT_ExecuteContext&) = delete;

  chip::Status Add(const PJRT_FFI_UserData& data);
  // nullptr if no data of this type was added.
  void* Find(int64_t type_id) const;

 private:
  std::vector<PJRT_FFI_UserData> user_data_;
};
