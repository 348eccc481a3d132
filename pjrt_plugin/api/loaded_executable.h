// PJRT_LoadedExecutable: a chip program bound to the client's devices it runs on (from the
// compile options' device assignment). Execute enqueues one run per device and returns at once;
// outputs are buffers whose ready events complete when the run finishes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pjrt_plugin/runtime/loaded_program.h"
#include "pjrt_plugin/core/status.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_LoadedExecutable {
  // `bound`: the devices came from compile options. An executable deserialized without compile
  // options (PJRT 0.70 callers cannot pass them) is not bound: a single-device run follows its
  // arguments' chip (see PJRT_LoadedExecutable_Execute).
  PJRT_LoadedExecutable(PJRT_Client* client, std::shared_ptr<const chip::LoadedProgram> program,
                        std::vector<PJRT_Device*> devices, bool bound);
  PJRT_LoadedExecutable(const PJRT_LoadedExecutable&) = delete;
  PJRT_LoadedExecutable& operator=(const PJRT_LoadedExecutable&) = delete;

  // The program; FAILED_PRECONDITION naming `function` after PJRT_LoadedExecutable_Delete.
  chip::StatusOr<std::shared_ptr<const chip::LoadedProgram>> program(const char* function) const;
  void Delete();
  bool is_deleted() const;

  PJRT_Client* const client;
  const std::vector<PJRT_Device*> devices;  // replica-major, as in the device assignment
  const bool bound;
  const std::string name;
  const std::string fingerprint;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const chip::LoadedProgram> program_;  // null once deleted
};

namespace chip::api {

// Wraps `program` (from the compiler or from serialized bytes) for `client`; `compile_options`
// (a serialized CompileOptionsProto, may be empty) choose the devices.
StatusOr<PJRT_LoadedExecutable*> NewLoadedExecutable(PJRT_Client* client,
                                                     std::shared_ptr<const LoadedProgram> program,
                                                     std::string_view compile_options, const char* function);

PJRT_Error* LoadedExecutableDestroy(PJRT_LoadedExecutable_Destroy_Args* args);
PJRT_Error* LoadedExecutableGetExecutable(PJRT_LoadedExecutable_GetExecutable_Args* args);
PJRT_Error* LoadedExecutableAddressableDevices(PJRT_LoadedExecutable_AddressableDevices_Args* args);
PJRT_Error* LoadedExecutableDelete(PJRT_LoadedExecutable_Delete_Args* args);
PJRT_Error* LoadedExecutableIsDeleted(PJRT_LoadedExecutable_IsDeleted_Args* args);
PJRT_Error* LoadedExecutableExecute(PJRT_LoadedExecutable_Execute_Args* args);
PJRT_Error* LoadedExecutableFingerprint(PJRT_LoadedExecutable_Fingerprint_Args* args);
PJRT_Error* ExecutableDeserializeAndLoad(PJRT_Executable_DeserializeAndLoad_Args* args);

}  // namespace chip::api
