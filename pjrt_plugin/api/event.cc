#include "pjrt_plugin/api/event.h"

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/error.h"

namespace chip::api {

PJRT_Event* NewEvent(std::shared_ptr<AsyncEvent> event) { return new PJRT_Event(std::move(event)); }

PJRT_Error* EventDestroy(PJRT_Event_Destroy_Args* args) {
  return RunApi("PJRT_Event_Destroy", args, CHIP_MIN_ARGS_SIZE(PJRT_Event_Destroy_Args, event), [&]() -> Status {
    std::unique_ptr<PJRT_Event> owned(args->event);
    return Status::Ok();
  });
}

PJRT_Error* EventIsReady(PJRT_Event_IsReady_Args* args) {
  static constexpr const char* kFn = "PJRT_Event_IsReady";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Event_IsReady_Args, event), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->event, "event");
    args->is_ready = args->event->event->IsReady();
    return Status::Ok();
  });
}

PJRT_Error* EventError(PJRT_Event_Error_Args* args) {
  static constexpr const char* kFn = "PJRT_Event_Error";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Event_Error_Args, event), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->event, "event");
    if (!args->event->event->IsReady()) {
      return FailedPrecondition("PJRT_Event_Error: the event is not ready yet (check PJRT_Event_IsReady first)");
    }
    return args->event->event->status();
  });
}

PJRT_Error* EventAwait(PJRT_Event_Await_Args* args) {
  static constexpr const char* kFn = "PJRT_Event_Await";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Event_Await_Args, event), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->event, "event");
    return args->event->event->Await();
  });
}

PJRT_Error* EventOnReady(PJRT_Event_OnReady_Args* args) {
  static constexpr const char* kFn = "PJRT_Event_OnReady";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Event_OnReady_Args, user_arg), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->event, "event");
    CHIP_REQUIRE_NON_NULL(kFn, args->callback, "callback");
    PJRT_Event_OnReadyCallback callback = args->callback;
    void* user_arg = args->user_arg;
    // The callback owns the PJRT_Error it receives. It may run on this thread (already ready) or
    // on a device's queue worker.
    args->event->event->OnReady([callback, user_arg](const Status& status) {
      callback(ToPjrtError(status), user_arg);
    });
    return Status::Ok();
  });
}

}  // namespace chip::api
