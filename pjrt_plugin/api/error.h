// PJRT_Error: a chip::Status handed across the C API. The caller owns every PJRT_Error it gets
// and frees it with PJRT_Error_Destroy.
#pragma once

#include <string>

#include "pjrt_plugin/core/status.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_Error {
  explicit PJRT_Error(chip::Status s) : status(std::move(s)) {}
  const chip::Status status;
};

namespace chip::api {

// nullptr for OK, else a new PJRT_Error owned by the caller.
PJRT_Error* ToPjrtError(Status status);
// OK for nullptr. Does not take ownership.
Status ErrorToStatus(const PJRT_Error* error);
PJRT_Error_Code ToPjrtErrorCode(StatusCode code);

// The callback PJRT passes to user callbacks (PJRT_CallbackError).
PJRT_Error* CallbackError(PJRT_Error_Code code, const char* message, size_t message_size);

void ErrorDestroy(PJRT_Error_Destroy_Args* args);
void ErrorMessage(PJRT_Error_Message_Args* args);
PJRT_Error* ErrorGetCode(PJRT_Error_GetCode_Args* args);

}  // namespace chip::api
