// PJRT_Memory: a memory space of a device. Each chip has two: "device" (its HBM, the default,
// memory id = device id) and "pinned_host" (host RAM attached to it over the host link, memory
// id = num_devices + device id), each addressed by that one device. Buffers in pinned_host are
// host-resident: device memory stats do not count them, and programs do not read them (copy them
// to device memory first). PJRT_MemoryDescription is the same kinds without a device (memory
// descriptions extension, for ahead-of-time compilation against a topology).
#pragma once

#include <array>
#include <string>

#include "pjrt_plugin/runtime/chip_device.h"
#include "xla/pjrt/c/pjrt_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_memory_descriptions_extension.h"

namespace chip::api {
inline constexpr const char* kDeviceMemoryKind = "device";
inline constexpr int kDeviceMemoryKindId = 0;
inline constexpr const char* kPinnedHostMemoryKind = "pinned_host";
inline constexpr int kPinnedHostMemoryKindId = 1;
// Every space a chip has, default first.
inline constexpr std::array<MemorySpace, 2> kMemorySpaces = {MemorySpace::kDevice, MemorySpace::kPinnedHost};
inline int MemoryKindId(MemorySpace space) {
  return space == MemorySpace::kDevice ? kDeviceMemoryKindId : kPinnedHostMemoryKindId;
}
}  // namespace chip::api

struct PJRT_MemoryDescription {
  explicit PJRT_MemoryDescription(chip::MemorySpace space)
      : kind(chip::MemorySpaceName(space)), kind_id(chip::api::MemoryKindId(space)) {}
  const std::string kind;
  const int kind_id;
};

struct PJRT_Memory {
  PJRT_Memory(int id, PJRT_Device* device, chip::MemorySpace space, int64_t capacity_bytes);
  PJRT_Memory(const PJRT_Memory&) = delete;
  PJRT_Memory& operator=(const PJRT_Memory&) = delete;

  const int id;
  PJRT_Device* const device;  // the one device that addresses it (owner)
  const chip::MemorySpace space;
  const std::string kind;
  const int kind_id;
  const std::string debug_string;
  const std::string to_string;
};

namespace chip::api {

PJRT_Error* MemoryId(PJRT_Memory_Id_Args* args);
PJRT_Error* MemoryKind(PJRT_Memory_Kind_Args* args);
PJRT_Error* MemoryKindId(PJRT_Memory_Kind_Id_Args* args);
PJRT_Error* MemoryDebugString(PJRT_Memory_DebugString_Args* args);
PJRT_Error* MemoryToString(PJRT_Memory_ToString_Args* args);
PJRT_Error* MemoryAddressableByDevices(PJRT_Memory_AddressableByDevices_Args* args);

// Memory descriptions extension.
PJRT_Error* DeviceDescriptionMemoryDescriptions(PJRT_DeviceDescription_MemoryDescriptions_Args* args);
PJRT_Error* MemoryDescriptionKind(PJRT_MemoryDescription_Kind_Args* args);

}  // namespace chip::api
