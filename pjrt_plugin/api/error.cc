#include "pjrt_plugin/api/error.h"

#include <memory>

#include "pjrt_plugin/api/args.h"

namespace chip::api {

PJRT_Error* ToPjrtError(Status status) {
  if (status.ok()) return nullptr;
  return new PJRT_Error(std::move(status));
}

Status ErrorToStatus(const PJRT_Error* error) {
  return error == nullptr ? Status::Ok() : error->status;
}

PJRT_Error_Code ToPjrtErrorCode(StatusCode code) {
  // chip::StatusCode uses PJRT_Error_Code's numbering (status.h); OK has no PJRT code.
  return code == StatusCode::kOk ? PJRT_Error_Code_UNKNOWN : static_cast<PJRT_Error_Code>(code);
}

PJRT_Error* CallbackError(PJRT_Error_Code code, const char* message, size_t message_size) {
  int c = static_cast<int>(code);
  if (c < static_cast<int>(StatusCode::kCancelled) || c > static_cast<int>(StatusCode::kUnauthenticated)) {
    c = static_cast<int>(StatusCode::kUnknown);
  }
  return new PJRT_Error(Status(static_cast<StatusCode>(c),
                               message == nullptr ? std::string() : std::string(message, message_size)));
}

void ErrorDestroy(PJRT_Error_Destroy_Args* args) {
  if (args == nullptr || args->struct_size < PJRT_Error_Destroy_Args_STRUCT_SIZE) return;
  std::unique_ptr<PJRT_Error> owned(args->error);
}

void ErrorMessage(PJRT_Error_Message_Args* args) {
  if (args == nullptr || args->struct_size < PJRT_Error_Message_Args_STRUCT_SIZE) return;
  if (args->error == nullptr) {
    args->message = "";
    args->message_size = 0;
    return;
  }
  const std::string& m = args->error->status.message();
  args->message = m.c_str();
  args->message_size = m.size();
}

PJRT_Error* ErrorGetCode(PJRT_Error_GetCode_Args* args) {
  return RunApi("PJRT_Error_GetCode", args, CHIP_MIN_ARGS_SIZE(PJRT_Error_GetCode_Args, error), [&]() -> Status {
    if (args->error == nullptr) return InvalidArgument("PJRT_Error_GetCode: error is null");
    args->code = ToPjrtErrorCode(args->error->status.code());
    return Status::Ok();
  });
}

}  // namespace chip::api
