// PJRT_Device: one emulated chip of a client (a chip::ChipDevice), with its description and its
// memories: "device" (its HBM, the default) and "pinned_host".
#pragma once

#include <array>
#include <memory>

#include "pjrt_plugin/api/device_description.h"
#include "pjrt_plugin/api/memory.h"
#include "pjrt_plugin/runtime/chip_device.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_Device {
  PJRT_Device(PJRT_Client* client, chip::ChipDevice* chip, int process_index);
  PJRT_Device(const PJRT_Device&) = delete;
  PJRT_Device& operator=(const PJRT_Device&) = delete;

  int id() const { return description.id; }
  chip::ChipDevice& chip() const { return *chip_; }
  // The default memory (HBM).
  PJRT_Memory* memory() { return &memory_; }
  PJRT_Memory* memory(chip::MemorySpace space) {
    return space == chip::MemorySpace::kDevice ? &memory_ : &pinned_host_memory_;
  }
  // Every memory of the device, default first.
  PJRT_Memory* const* memory_list() const { return memory_list_.data(); }
  size_t num_memories() const { return memory_list_.size(); }
  // A one-element list holding this device (PJRT_Memory_AddressableByDevices).
  PJRT_Device* const* self_list() const { return self_list_.data(); }

  PJRT_Client* const client;
  const PJRT_DeviceDescription description;

 private:
  chip::ChipDevice* const chip_;  // owned by the client's ChipRuntime
  PJRT_Memory memory_;
  PJRT_Memory pinned_host_memory_;
  std::array<PJRT_Memory*, 2> memory_list_;
  std::array<PJRT_Device*, 1> self_list_;
};

namespace chip::api {

PJRT_Error* DeviceGetDescription(PJRT_Device_GetDescription_Args* args);
PJRT_Error* DeviceIsAddressable(PJRT_Device_IsAddressable_Args* args);
PJRT_Error* DeviceLocalHardwareId(PJRT_Device_LocalHardwareId_Args* args);
PJRT_Error* DeviceAddressableMemories(PJRT_Device_AddressableMemories_Args* args);
PJRT_Error* DeviceDefaultMemory(PJRT_Device_DefaultMemory_Args* args);
PJRT_Error* DeviceMemoryStats(PJRT_Device_MemoryStats_Args* args);

}  // namespace chip::api
