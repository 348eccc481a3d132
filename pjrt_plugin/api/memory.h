// PJRT_Memory: a device's memory space. The chip has one kind, "device" (its HBM), one memory per
// device, with the device's id. PJRT_MemoryDescription is the same kind without a device (memory
// descriptions extension, for ahead-of-time compilation against a topology).
#pragma once

#include <string>

#include "xla/pjrt/c/pjrt_c_api.h"
#include "xla/pjrt/c/pjrt_c_api_memory_descriptions_extension.h"

namespace chip::api {
inline constexpr const char* kDeviceMemoryKind = "device";
inline constexpr int kDeviceMemoryKindId = 0;
}  // namespace chip::api

struct PJRT_MemoryDescription {
  std::string kind = chip::api::kDeviceMemoryKind;
  int kind_id = chip::api::kDeviceMemoryKindId;
};

struct PJRT_Memory {
  PJRT_Memory(int id, PJRT_Device* device, int64_t capacity_bytes);
  PJRT_Memory(const PJRT_Memory&) = delete;
  PJRT_Memory& operator=(const PJRT_Memory&) = delete;

  const int id;
  PJRT_Device* const device;  // the one device that addresses it (owner)
  const std::string kind = chip::api::kDeviceMemoryKind;
  const int kind_id = chip::api::kDeviceMemoryKindId;
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
