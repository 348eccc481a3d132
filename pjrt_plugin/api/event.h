// PJRT_Event: a handle on a chip::AsyncEvent (shared with the runtime and other handles).
#pragma once

#include <memory>

#include "pjrt_plugin/runtime/async_event.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_Event {
  explicit PJRT_Event(std::shared_ptr<chip::AsyncEvent> e) : event(std::move(e)) {}
  const std::shared_ptr<chip::AsyncEvent> event;
};

namespace chip::api {

// A new caller-owned PJRT_Event on `event`.
PJRT_Event* NewEvent(std::shared_ptr<AsyncEvent> event);

PJRT_Error* EventDestroy(PJRT_Event_Destroy_Args* args);
PJRT_Error* EventIsReady(PJRT_Event_IsReady_Args* args);
PJRT_Error* EventError(PJRT_Event_Error_Args* args);
PJRT_Error* EventAwait(PJRT_Event_Await_Args* args);
PJRT_Error* EventOnReady(PJRT_Event_OnReady_Args* args);

}  // namespace chip::api
