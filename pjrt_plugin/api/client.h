// PJRT_Client: the chips of one process (a chip::ChipRuntime) as PJRT devices and memories.
// Created from named options (chip::ChipConfig::FromNamedOptions). The most recently created live
// client is "the" client the chip_* extension functions report on.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pjrt_plugin/api/device.h"
#include "pjrt_plugin/api/topology.h"
#include "pjrt_plugin/runtime/chip_config.h"
#include "pjrt_plugin/runtime/chip_device.h"
#include "pjrt_plugin/core/status.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_Client {
  static chip::StatusOr<std::unique_ptr<PJRT_Client>> Create(const chip::ChipConfig& config);
  ~PJRT_Client();
  PJRT_Client(const PJRT_Client&) = delete;
  PJRT_Client& operator=(const PJRT_Client&) = delete;

  const chip::ChipConfig& config() const { return runtime_->config(); }
  int num_devices() const { return static_cast<int>(devices_.size()); }
  // nullptr if there is no device with this id.
  PJRT_Device* device(int id) const;
  PJRT_Device* const* device_list() const { return device_ptrs_.data(); }
  PJRT_Memory* const* memory_list() const { return memory_ptrs_.data(); }
  size_t num_memories() const { return memory_ptrs_.size(); }
  PJRT_TopologyDescription* topology() const { return topology_.get(); }
  // True if `device` belongs to this client.
  bool Owns(const PJRT_Device* device) const;

  // PJRT_Client_DmaMap / DmaUnmap: host ranges registered for transfers. The emulated host link
  // needs no pinning, so a mapping is only checked (non-null, no overlap; unmap what was mapped).
  chip::Status DmaMap(const void* data, size_t size, const char* function);
  chip::Status DmaUnmap(const void* data, const char* function);

  const std::string platform_name;
  const std::string platform_version;

 private:
  std::mutex dma_mu_;
  std::map<uintptr_t, size_t> dma_mappings_;  // start -> size
  explicit PJRT_Client(std::unique_ptr<chip::ChipRuntime> runtime);
  // Declared before the devices: destroyed after every PJRT object that refers to its chips.
  std::unique_ptr<chip::ChipRuntime> runtime_;
  std::vector<std::unique_ptr<PJRT_Device>> devices_;
  std::vector<PJRT_Device*> device_ptrs_;
  std::vector<PJRT_Memory*> memory_ptrs_;
  std::unique_ptr<PJRT_TopologyDescription> topology_;
};

namespace chip::api {

// PJRT_NamedValues -> ChipConfig (unknown names or bad values: INVALID_ARGUMENT naming them).
StatusOr<ChipConfig> ConfigFromNamedValues(const PJRT_NamedValue* options, size_t num_options,
                                           const char* function);

// True if `topology` is some live client's (PJRT_Client_TopologyDescription) topology.
bool IsClientTopology(const PJRT_TopologyDescription* topology);

// Modeled chip time of device `device_id` of the most recently created live client, or -1.
double LiveClientModeledTimeSeconds(int device_id);

PJRT_Error* ClientCreate(PJRT_Client_Create_Args* args);
PJRT_Error* ClientDestroy(PJRT_Client_Destroy_Args* args);
PJRT_Error* ClientPlatformName(PJRT_Client_PlatformName_Args* args);
PJRT_Error* ClientProcessIndex(PJRT_Client_ProcessIndex_Args* args);
PJRT_Error* ClientPlatformVersion(PJRT_Client_PlatformVersion_Args* args);
PJRT_Error* ClientTopologyDescription(PJRT_Client_TopologyDescription_Args* args);
PJRT_Error* ClientDevices(PJRT_Client_Devices_Args* args);
PJRT_Error* ClientAddressableDevices(PJRT_Client_AddressableDevices_Args* args);
PJRT_Error* ClientLookupDevice(PJRT_Client_LookupDevice_Args* args);
PJRT_Error* ClientLookupAddressableDevice(PJRT_Client_LookupAddressableDevice_Args* args);
PJRT_Error* ClientAddressableMemories(PJRT_Client_AddressableMemories_Args* args);
PJRT_Error* ClientDefaultDeviceAssignment(PJRT_Client_DefaultDeviceAssignment_Args* args);
PJRT_Error* ClientDmaMap(PJRT_Client_DmaMap_Args* args);
PJRT_Error* ClientDmaUnmap(PJRT_Client_DmaUnmap_Args* args);

}  // namespace chip::api
