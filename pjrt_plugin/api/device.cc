#include "pjrt_plugin/api/device.h"

#include "pjrt_plugin/api/args.h"

PJRT_Device::PJRT_Device(PJRT_Client* client, chip::ChipDevice* chip, int process_index)
    : client(client),
      description(chip->id(), process_index, chip->config()),
      chip_(chip),
      memory_(chip->id(), this, chip::MemorySpace::kDevice, chip->config().hbm_bytes),
      pinned_host_memory_(chip->config().num_devices + chip->id(), this, chip::MemorySpace::kPinnedHost,
                          chip->config().pinned_host_bytes),
      memory_list_{{&memory_, &pinned_host_memory_}},
      self_list_{{this}} {}

namespace chip::api {

PJRT_Error* DeviceGetDescription(PJRT_Device_GetDescription_Args* args) {
  static constexpr const char* kFn = "PJRT_Device_GetDescription";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Device_GetDescription_Args, device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device, "device");
    // The C API hands out a mutable pointer; the description is never modified through it.
    args->device_description = const_cast<PJRT_DeviceDescription*>(&args->device->description);
    return Status::Ok();
  });
}

PJRT_Error* DeviceIsAddressable(PJRT_Device_IsAddressable_Args* args) {
  static constexpr const char* kFn = "PJRT_Device_IsAddressable";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Device_IsAddressable_Args, device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device, "device");
    args->is_addressable = true;  // single process: every chip is addressable
    return Status::Ok();
  });
}

PJRT_Error* DeviceLocalHardwareId(PJRT_Device_LocalHardwareId_Args* args) {
  static constexpr const char* kFn = "PJRT_Device_LocalHardwareId";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Device_LocalHardwareId_Args, device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device, "device");
    args->local_hardware_id = args->device->id();
    return Status::Ok();
  });
}

PJRT_Error* DeviceAddressableMemories(PJRT_Device_AddressableMemories_Args* args) {
  static constexpr const char* kFn = "PJRT_Device_AddressableMemories";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Device_AddressableMemories_Args, device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device, "device");
    args->memories = args->device->memory_list();
    args->num_memories = args->device->num_memories();
    return Status::Ok();
  });
}

PJRT_Error* DeviceDefaultMemory(PJRT_Device_DefaultMemory_Args* args) {
  static constexpr const char* kFn = "PJRT_Device_DefaultMemory";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Device_DefaultMemory_Args, device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device, "device");
    args->memory = args->device->memory();
    return Status::Ok();
  });
}

PJRT_Error* DeviceMemoryStats(PJRT_Device_MemoryStats_Args* args) {
  static constexpr const char* kFn = "PJRT_Device_MemoryStats";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Device_MemoryStats_Args, device), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->device, "device");
    const MemoryStats s = args->device->chip().allocator().stats();
    args->bytes_in_use = s.bytes_in_use;
    args->peak_bytes_in_use = s.peak_bytes_in_use;
    args->peak_bytes_in_use_is_set = true;
    args->num_allocs = s.num_allocs;
    args->num_allocs_is_set = true;
    args->largest_alloc_size = s.largest_alloc_size;
    args->largest_alloc_size_is_set = true;
    args->bytes_limit = s.bytes_limit;
    args->bytes_limit_is_set = true;
    // The HBM model has no reservations, pools or fragmentation: free memory is one block.
    args->bytes_reserved = 0;
    args->bytes_reserved_is_set = false;
    args->peak_bytes_reserved = 0;
    args->peak_bytes_reserved_is_set = false;
    args->bytes_reservable_limit = 0;
    args->bytes_reservable_limit_is_set = false;
    args->largest_free_block_bytes = s.bytes_limit - s.bytes_in_use;
    args->largest_free_block_bytes_is_set = true;
    args->pool_bytes = 0;
    args->pool_bytes_is_set = false;
    args->peak_pool_bytes = 0;
    args->peak_pool_bytes_is_set = false;
    return Status::Ok();
  });
}

}  // namespace chip::api
