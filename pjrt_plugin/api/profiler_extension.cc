#include "pjrt_plugin/api/profiler_extension.h"

#include <memory>
#include <mutex>
#include <string>

#include "xla/backends/profiler/plugin/profiler_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_profiler_extension.h"

// One profiling session, created and destroyed by jaxlib's tracer (the caller owns it between
// PLUGIN_Profiler_Create and PLUGIN_Profiler_Destroy).
struct PLUGIN_Profiler {
  std::mutex mu;
  bool running = false;
};

// An error of the profiler API (its own error type, not PJRT_Error).
struct PLUGIN_Profiler_Error {
  std::string message;
  int code;
};

namespace chip::api {
namespace {

constexpr int kFailedPrecondition = 9;   // absl::StatusCode::kFailedPrecondition
constexpr int kInvalidArgument = 3;

PLUGIN_Profiler_Error* MakeError(int code, std::string message) {
  return std::make_unique<PLUGIN_Profiler_Error>(PLUGIN_Profiler_Error{std::move(message), code}).release();
}

void ErrorDestroy(PLUGIN_Profiler_Error_Destroy_Args* args) {
  if (args == nullptr) return;
  std::unique_ptr<PLUGIN_Profiler_Error> owned(args->error);
}

void ErrorMessage(PLUGIN_Profiler_Error_Message_Args* args) {
  if (args == nullptr || args->error == nullptr) return;
  args->message = args->error->message.data();
  args->message_size = args->error->message.size();
}

PLUGIN_Profiler_Error* ErrorGetCode(PLUGIN_Profiler_Error_GetCode_Args* args) {
  if (args == nullptr || args->error == nullptr) return MakeError(kInvalidArgument, "no error given");
  args->code = args->error->code;
  return nullptr;
}

PLUGIN_Profiler_Error* Create(PLUGIN_Profiler_Create_Args* args) {
  if (args == nullptr) return MakeError(kInvalidArgument, "PLUGIN_Profiler_Create: null args");
  args->profiler = std::make_unique<PLUGIN_Profiler>().release();
  return nullptr;
}

PLUGIN_Profiler_Error* Destroy(PLUGIN_Profiler_Destroy_Args* args) {
  if (args == nullptr) return MakeError(kInvalidArgument, "PLUGIN_Profiler_Destroy: null args");
  std::unique_ptr<PLUGIN_Profiler> owned(args->profiler);
  return nullptr;
}

PLUGIN_Profiler_Error* SetRunning(PLUGIN_Profiler* profiler, bool running, const char* what) {
  if (profiler == nullptr) return MakeError(kInvalidArgument, std::string(what) + ": no profiler");
  std::lock_guard<std::mutex> lock(profiler->mu);
  if (profiler->running == running) {
    return MakeError(kFailedPrecondition, std::string(what) + ": the session is already " +
                                              (running ? "started" : "stopped"));
  }
  profiler->running = running;
  return nullptr;
}

PLUGIN_Profiler_Error* Start(PLUGIN_Profiler_Start_Args* args) {
  if (args == nullptr) return MakeError(kInvalidArgument, "PLUGIN_Profiler_Start: null args");
  return SetRunning(args->profiler, true, "PLUGIN_Profiler_Start");
}

PLUGIN_Profiler_Error* Stop(PLUGIN_Profiler_Stop_Args* args) {
  if (args == nullptr) return MakeError(kInvalidArgument, "PLUGIN_Profiler_Stop: null args");
  return SetRunning(args->profiler, false, "PLUGIN_Profiler_Stop");
}

// The session's XSpace: empty (no planes), whose serialization is zero bytes.
PLUGIN_Profiler_Error* CollectData(PLUGIN_Profiler_CollectData_Args* args) {
  if (args == nullptr || args->profiler == nullptr) {
    return MakeError(kInvalidArgument, "PLUGIN_Profiler_CollectData: no profiler");
  }
  args->buffer_size_in_bytes = 0;
  return nullptr;
}

}  // namespace

PJRT_Extension_Base* ProfilerExtension(PJRT_Extension_Base* next) {
  static PLUGIN_Profiler_Api api = [] {
    PLUGIN_Profiler_Api a{};
    a.struct_size = PLUGIN_Profiler_Api_STRUCT_SIZE;
    a.error_destroy = ErrorDestroy;
    a.error_message = ErrorMessage;
    a.error_get_code = ErrorGetCode;
    a.create = Create;
    a.destroy = Destroy;
    a.start = Start;
    a.stop = Stop;
    a.collect_data = CollectData;
    return a;
  }();
  static PJRT_Profiler_Extension extension = [] {
    PJRT_Profiler_Extension e{};
    e.base.struct_size = PJRT_Profiler_Extension_STRUCT_SIZE;
    e.base.type = PJRT_Extension_Type_Profiler;
    e.profiler_api = &api;
    e.traceme_context_id = 0;
    return e;
  }();
  extension.base.next = next;
  return &extension.base;
}

}  // namespace chip::api
