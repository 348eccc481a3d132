#include "pjrt_plugin/api/ffi_extension.h"

#include <memory>

#include "pjrt_plugin/api/args.h"

PJRT_ExecuteContext::~PJRT_ExecuteContext() {
  for (const PJRT_FFI_UserData& d : user_data_) {
    if (d.deleter != nullptr) d.deleter(d.data);
  }
}

chip::Status PJRT_ExecuteContext::Add(const PJRT_FFI_UserData& data) {
  for (const PJRT_FFI_UserData& d : user_data_) {
    if (d.type_id == data.type_id) {
      return chip::Status(chip::StatusCode::kAlreadyExists,
                          "PJRT_FFI_UserData_Add: the execute context already has user data of type id " +
                              std::to_string(data.type_id));
    }
  }
  user_data_.push_back(data);
  return chip::Status::Ok();
}

void* PJRT_ExecuteContext::Find(int64_t type_id) const {
  for (const PJRT_FFI_UserData& d : user_data_) {
    if (d.type_id == type_id) return d.data;
  }
  return nullptr;
}

namespace chip::api {

FfiRegistry& FfiRegistry::Global() {
  static FfiRegistry* registry = new FfiRegistry();  // never destroyed: handlers may be looked up at exit
  return *registry;
}

Status FfiRegistry::RegisterHandler(const FfiHandler& handler) {
  if (handler.name.empty()) return InvalidArgument("FFI handler registration: the target name is empty");
  if (handler.api_version != 1) {
    return Unimplemented("FFI handler '" + handler.name + "': api_version " + std::to_string(handler.api_version) +
                         " (untyped custom calls) is not supported on the chip; register a typed XLA FFI "
                         "handler (api_version=1)");
  }
  if (handler.execute == nullptr) {
    return InvalidArgument("FFI handler '" + handler.name + "' has no execute stage");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = handlers_.find(handler.name);
  if (it != handlers_.end()) {
    const FfiHandler& old = it->second;
    if (old.execute == handler.execute && old.instantiate == handler.instantiate &&
        old.prepare == handler.prepare && old.initialize == handler.initialize && old.traits == handler.traits) {
      return Status::Ok();
    }
    return Status(StatusCode::kAlreadyExists,
                  "FFI handler '" + handler.name + "' is already registered for platform chip with a different handler");
  }
  handlers_.emplace(handler.name, handler);
  return Status::Ok();
}

std::optional<FfiHandler> FfiRegistry::FindHandler(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = handlers_.find(name);
  if (it == handlers_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> FfiRegistry::HandlerNames() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& kv : handlers_) names.push_back(kv.first);
  return names;
}

Status FfiRegistry::RegisterTypeId(const std::string& name, int64_t* type_id) {
  if (name.empty()) return InvalidArgument("FFI type id registration: the type name is empty");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = type_ids_.find(name);
  if (it != type_ids_.end()) {
    if (*type_id == 0) {
      *type_id = it->second;
      return Status::Ok();
    }
    if (*type_id != it->second) {
      return InvalidArgument("FFI type '" + name + "' is registered with type id " + std::to_string(it->second) +
                             ", not " + std::to_string(*type_id));
    }
    return Status::Ok();
  }
  if (*type_id == 0) {
    *type_id = next_type_id_++;
  } else {
    for (const auto& kv : type_ids_) {
      if (kv.second == *type_id) {
        return Status(StatusCode::kAlreadyExists, "FFI type id " + std::to_string(*type_id) +
                                                      " is already taken by type '" + kv.first + "'");
      }
    }
    if (*type_id >= next_type_id_) next_type_id_ = *type_id + 1;
  }
  type_ids_[name] = *type_id;
  return Status::Ok();
}

std::optional<int64_t> FfiRegistry::FindTypeId(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = type_ids_.find(name);
  if (it == type_ids_.end()) return std::nullopt;
  return it->second;
}

namespace {

PJRT_Error* TypeIdRegister(PJRT_FFI_TypeID_Register_Args* args) {
  static constexpr const char* kFn = "PJRT_FFI_TypeID_Register";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_FFI_TypeID_Register_Args, type_id), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->type_name, "type_name");
    Status s = FfiRegistry::Global().RegisterTypeId(std::string(args->type_name, args->type_name_size), &args->type_id);
    if (!s.ok()) return Status(s.code(), std::string(kFn) + ": " + s.message());
    return Status::Ok();
  });
}

PJRT_Error* UserDataAdd(PJRT_FFI_UserData_Add_Args* args) {
  static constexpr const char* kFn = "PJRT_FFI_UserData_Add";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_FFI_UserData_Add_Args, user_data), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->context, "context");
    return args->context->Add(args->user_data);
  });
}

}  // namespace

PJRT_Extension_Base* FfiExtension(PJRT_Extension_Base* next) {
  static PJRT_FFI_Extension extension = [] {
    PJRT_FFI_Extension e{};
    e.base.struct_size = PJRT_FFI_Extension_STRUCT_SIZE;
    e.base.type = PJRT_Extension_Type_FFI;
    e.type_id_register = TypeIdRegister;
    e.user_data_add = UserDataAdd;
    return e;
  }();
  extension.base.next = next;
  return &extension.base;
}

PJRT_Error* ExecuteContextCreate(PJRT_ExecuteContext_Create_Args* args) {
  return RunApi("PJRT_ExecuteContext_Create", args, kArgsHeaderSize, [&]() -> Status {
    args->context = new PJRT_ExecuteContext();
    return Status::Ok();
  });
}

PJRT_Error* ExecuteContextDestroy(PJRT_ExecuteContext_Destroy_Args* args) {
  return RunApi("PJRT_ExecuteContext_Destroy", args, CHIP_MIN_ARGS_SIZE(PJRT_ExecuteContext_Destroy_Args, context), [&]() -> Status {
    std::unique_ptr<PJRT_ExecuteContext> owned(args->context);
    return Status::Ok();
  });
}

}  // namespace chip::api
