#include "pjrt_plugin/api/profiler_extension.h"

#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pjrt_plugin/api/compiler_bridge.h"
#include "pjrt_plugin/runtime/trace.h"
#include "xla/backends/profiler/plugin/profiler_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_profiler_extension.h"

// One profiling session, created and destroyed by jaxlib's tracer (the caller owns it between
// PLUGIN_Profiler_Create and PLUGIN_Profiler_Destroy). While started it records every chip event
// into its own TraceSession; its XSpace is built once, at the first CollectData.
struct PLUGIN_Profiler {
  std::mutex mu;
  bool running = false;
  std::shared_ptr<chip::TraceSession> session;
  int64_t start_ns = 0;                   // host wall clock at Start
  std::optional<std::string> xspace;      // the serialized XSpace, once collected
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
constexpr int kInternal = 13;

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
  if (owned != nullptr && owned->session != nullptr) chip::TraceRecorder::Global().Detach(owned->session.get());
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
  if (running) {
    if (profiler->session != nullptr) chip::TraceRecorder::Global().Detach(profiler->session.get());
    profiler->session = std::make_shared<chip::TraceSession>();
    profiler->start_ns = chip::HostWallClockNs();
    profiler->xspace.reset();
    chip::TraceRecorder::Global().Attach(profiler->session);
  } else {
    chip::TraceRecorder::Global().Detach(profiler->session.get());
  }
  return nullptr;
}

PLUGIN_Profiler_Error* Start(PLUGIN_Profiler_Start_Args* args) {
  if (args == nullptr) return MakeError(kInvalidArgument, "PLUGIN_Profiler_Start: null args");
  try {
    return SetRunning(args->profiler, true, "PLUGIN_Profiler_Start");
  } catch (const std::exception& e) {  // the session's allocation
    return MakeError(kInternal, std::string("PLUGIN_Profiler_Start: ") + e.what());
  }
}

PLUGIN_Profiler_Error* Stop(PLUGIN_Profiler_Stop_Args* args) {
  if (args == nullptr) return MakeError(kInvalidArgument, "PLUGIN_Profiler_Stop: null args");
  return SetRunning(args->profiler, false, "PLUGIN_Profiler_Stop");
}

// The session's XSpace (jax_chip.xspace builds it from the session's events, once). A call with
// a null buffer returns the session's own copy in `buffer` (what jaxlib 0.6.2's PluginTracer
// reads, after one call) and its size; a call with a buffer copies the bytes into it (the
// two-call protocol profiler_c_api.h describes). A session that never started, or a process
// without Python, gives an XSpace without planes (zero bytes).
PLUGIN_Profiler_Error* CollectDataOrThrow(PLUGIN_Profiler_CollectData_Args* args) {
  constexpr const char* kWhat = "PLUGIN_Profiler_CollectData";
  if (args == nullptr || args->profiler == nullptr) {
    return MakeError(kInvalidArgument, std::string(kWhat) + ": no profiler");
  }
  PLUGIN_Profiler* profiler = args->profiler;
  std::unique_lock<std::mutex> lock(profiler->mu);
  if (!profiler->xspace.has_value()) {
    std::string built;
    if (profiler->session != nullptr) {
      const std::string json = chip::TraceRecorder::ChromeJson(profiler->session->Events());
      const int64_t start_ns = profiler->start_ns;
      lock.unlock();  // Python takes the GIL: never wait for it holding the session's lock
      chip::StatusOr<std::string> xspace = XSpaceWithPython(json, start_ns, kWhat);
      if (!xspace.ok()) return MakeError(static_cast<int>(xspace.status().code()), xspace.status().message());
      built = std::move(xspace).value();
      lock.lock();
    }
    if (!profiler->xspace.has_value()) profiler->xspace = std::move(built);
  }
  std::string& xspace = *profiler->xspace;
  if (args->buffer == nullptr) {
    // The session keeps the bytes until PLUGIN_Profiler_Destroy (jaxlib 0.6.2 parses args->buffer
    // after this one call).
    args->buffer = reinterpret_cast<uint8_t*>(xspace.data());
  } else if (!xspace.empty()) {
    std::memcpy(args->buffer, xspace.data(), xspace.size());  // the header's two-call protocol
  }
  args->buffer_size_in_bytes = xspace.size();
  return nullptr;
}

// No C++ exception crosses the C API (host memory running out while copying the events).
PLUGIN_Profiler_Error* CollectData(PLUGIN_Profiler_CollectData_Args* args) {
  try {
    return CollectDataOrThrow(args);
  } catch (const std::exception& e) {
    return MakeError(kInternal, std::string("PLUGIN_Profiler_CollectData: ") + e.what());
  }
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
