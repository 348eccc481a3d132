#include "pjrt_plugin/api/device_description.h"

#include <cstring>

#include "pjrt_plugin/api/args.h"

namespace chip::api {

PJRT_NamedValue NamedInt64(const char* name, int64_t value) {
  PJRT_NamedValue v{};
  v.struct_size = PJRT_NamedValue_STRUCT_SIZE;
  v.name = name;
  v.name_size = std::strlen(name);
  v.type = PJRT_NamedValue_kInt64;
  v.int64_value = value;
  v.value_size = 1;
  return v;
}

PJRT_NamedValue NamedInt64List(const char* name, const int64_t* values, size_t n) {
  PJRT_NamedValue v{};
  v.struct_size = PJRT_NamedValue_STRUCT_SIZE;
  v.name = name;
  v.name_size = std::strlen(name);
  v.type = PJRT_NamedValue_kInt64List;
  v.int64_array_value = values;
  v.value_size = n;
  return v;
}

PJRT_NamedValue NamedString(const char* name, const std::string& value) {
  PJRT_NamedValue v{};
  v.struct_size = PJRT_NamedValue_STRUCT_SIZE;
  v.name = name;
  v.name_size = std::strlen(name);
  v.type = PJRT_NamedValue_kString;
  v.string_value = value.c_str();
  v.value_size = value.size();
  return v;
}

PJRT_NamedValue NamedFloat(const char* name, float value) {
  PJRT_NamedValue v{};
  v.struct_size = PJRT_NamedValue_STRUCT_SIZE;
  v.name = name;
  v.name_size = std::strlen(name);
  v.type = PJRT_NamedValue_kFloat;
  v.float_value = value;
  v.value_size = 1;
  return v;
}

}  // namespace chip::api

PJRT_DeviceDescription::PJRT_DeviceDescription(int id, int process_index, const chip::ChipConfig& config)
    : id(id),
      process_index(process_index),
      debug_string("chip:" + std::to_string(id)),
      to_string("ChipDevice(id=" + std::to_string(id) + ")"),
      matrix_unit_{config.matrix_tile, config.matrix_tile} {
  using chip::api::NamedInt64;
  // jaxlib accepts only int64, int64-list and string device attributes.
  attributes_ = {
      NamedInt64("num_cores", 1),
      NamedInt64("hbm_bytes", config.hbm_bytes),
      NamedInt64("sram_bytes", config.sram_bytes),
      chip::api::NamedInt64List("matrix_unit", matrix_unit_.data(), matrix_unit_.size()),
      NamedInt64("chip_links", config.chip_links),
  };
}

namespace chip::api {

PJRT_Error* DeviceDescriptionId(PJRT_DeviceDescription_Id_Args* args) {
  static constexpr const char* kFn = "PJRT_DeviceDescription_Id";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_DeviceDescription_Id_Args, device_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device_description, "device_description");
    args->id = args->device_description->id;
    return Status::Ok();
  });
}

PJRT_Error* DeviceDescriptionProcessIndex(PJRT_DeviceDescription_ProcessIndex_Args* args) {
  static constexpr const char* kFn = "PJRT_DeviceDescription_ProcessIndex";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_DeviceDescription_ProcessIndex_Args, device_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device_description, "device_description");
    args->process_index = args->device_description->process_index;
    return Status::Ok();
  });
}

PJRT_Error* DeviceDescriptionAttributes(PJRT_DeviceDescription_Attributes_Args* args) {
  static constexpr const char* kFn = "PJRT_DeviceDescription_Attributes";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_DeviceDescription_Attributes_Args, device_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device_description, "device_description");
    const auto& attrs = args->device_description->attributes();
    args->attributes = attrs.data();
    args->num_attributes = attrs.size();
    return Status::Ok();
  });
}

PJRT_Error* DeviceDescriptionKind(PJRT_DeviceDescription_Kind_Args* args) {
  static constexpr const char* kFn = "PJRT_DeviceDescription_Kind";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_DeviceDescription_Kind_Args, device_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device_description, "device_description");
    args->device_kind = args->device_description->kind.c_str();
    args->device_kind_size = args->device_description->kind.size();
    return Status::Ok();
  });
}

PJRT_Error* DeviceDescriptionDebugString(PJRT_DeviceDescription_DebugString_Args* args) {
  static constexpr const char* kFn = "PJRT_DeviceDescription_DebugString";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_DeviceDescription_DebugString_Args, device_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device_description, "device_description");
    args->debug_string = args->device_description->debug_string.c_str();
    args->debug_string_size = args->device_description->debug_string.size();
    return Status::Ok();
  });
}

PJRT_Error* DeviceDescriptionToString(PJRT_DeviceDescription_ToString_Args* args) {
  static constexpr const char* kFn = "PJRT_DeviceDescription_ToString";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_DeviceDescription_ToString_Args, device_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device_description, "device_description");
    args->to_string = args->device_description->to_string.c_str();
    args->to_string_size = args->device_description->to_string.size();
    return Status::Ok();
  });
}

}  // namespace chip::api
