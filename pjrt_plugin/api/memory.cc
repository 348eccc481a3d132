#include "pjrt_plugin/api/memory.h"

#include <cstdio>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/device.h"
#include "pjrt_plugin/api/device_description.h"

namespace {

std::string GiB(int64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

}  // namespace

PJRT_Memory::PJRT_Memory(int id, PJRT_Device* device, chip::MemorySpace space, int64_t capacity_bytes)
    : id(id),
      device(device),
      space(space),
      kind(chip::MemorySpaceName(space)),
      kind_id(chip::api::MemoryKindId(space)),
      debug_string("MemorySpace(kind=" + kind + ", id=" + std::to_string(id) + ", chip:" +
                   std::to_string(device->id()) +
                   (space == chip::MemorySpace::kDevice ? " HBM" : " pinned host memory") + ", capacity " +
                   GiB(capacity_bytes) + ")"),
      to_string("MemorySpace(kind=" + kind + ", id=" + std::to_string(id) + ")") {}

namespace chip::api {

PJRT_Error* MemoryId(PJRT_Memory_Id_Args* args) {
  static constexpr const char* kFn = "PJRT_Memory_Id";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Memory_Id_Args, memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->memory, "memory");
    args->id = args->memory->id;
    return Status::Ok();
  });
}

PJRT_Error* MemoryKind(PJRT_Memory_Kind_Args* args) {
  static constexpr const char* kFn = "PJRT_Memory_Kind";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Memory_Kind_Args, memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->memory, "memory");
    args->kind = args->memory->kind.c_str();
    args->kind_size = args->memory->kind.size();
    return Status::Ok();
  });
}

PJRT_Error* MemoryKindId(PJRT_Memory_Kind_Id_Args* args) {
  static constexpr const char* kFn = "PJRT_Memory_Kind_Id";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Memory_Kind_Id_Args, memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->memory, "memory");
    args->kind_id = args->memory->kind_id;
    return Status::Ok();
  });
}

PJRT_Error* MemoryDebugString(PJRT_Memory_DebugString_Args* args) {
  static constexpr const char* kFn = "PJRT_Memory_DebugString";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Memory_DebugString_Args, memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->memory, "memory");
    args->debug_string = args->memory->debug_string.c_str();
    args->debug_string_size = args->memory->debug_string.size();
    return Status::Ok();
  });
}

PJRT_Error* MemoryToString(PJRT_Memory_ToString_Args* args) {
  static constexpr const char* kFn = "PJRT_Memory_ToString";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Memory_ToString_Args, memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->memory, "memory");
    args->to_string = args->memory->to_string.c_str();
    args->to_string_size = args->memory->to_string.size();
    return Status::Ok();
  });
}

PJRT_Error* MemoryAddressableByDevices(PJRT_Memory_AddressableByDevices_Args* args) {
  static constexpr const char* kFn = "PJRT_Memory_AddressableByDevices";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Memory_AddressableByDevices_Args, memory), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->memory, "memory");
    args->devices = args->memory->device->self_list();
    args->num_devices = 1;
    return Status::Ok();
  });
}

PJRT_Error* DeviceDescriptionMemoryDescriptions(PJRT_DeviceDescription_MemoryDescriptions_Args* args) {
  static constexpr const char* kFn = "PJRT_DeviceDescription_MemoryDescriptions";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_DeviceDescription_MemoryDescriptions_Args, device_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device_description, "device_description");
    args->memory_descriptions = args->device_description->memory_description_list();
    args->num_memory_descriptions = kMemorySpaces.size();
    args->default_memory_index = 0;
    return Status::Ok();
  });
}

PJRT_Error* MemoryDescriptionKind(PJRT_MemoryDescription_Kind_Args* args) {
  static constexpr const char* kFn = "PJRT_MemoryDescription_Kind";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_MemoryDescription_Kind_Args, memory_description), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->memory_description, "memory_description");
    args->kind = args->memory_description->kind.c_str();
    args->kind_size = args->memory_description->kind.size();
    args->kind_id = args->memory_description->kind_id;
    return Status::Ok();
  });
}

}  // namespace chip::api
