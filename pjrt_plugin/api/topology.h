// PJRT_TopologyDescription: the chips a client has (or would have, for ahead-of-time compilation
// with PJRT_TopologyDescription_Create and PJRT_Compile): one description per device.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pjrt_plugin/api/device_description.h"
#include "pjrt_plugin/runtime/chip_config.h"
#include "xla/pjrt/c/pjrt_c_api.h"

struct PJRT_TopologyDescription {
  // A client's topology: refers to the client's device descriptions (which outlive it).
  PJRT_TopologyDescription(const chip::ChipConfig& config, std::vector<PJRT_DeviceDescription*> descriptions);
  // A standalone topology owning descriptions of `config.num_devices` chips.
  explicit PJRT_TopologyDescription(const chip::ChipConfig& config);
  PJRT_TopologyDescription(const PJRT_TopologyDescription&) = delete;
  PJRT_TopologyDescription& operator=(const PJRT_TopologyDescription&) = delete;

  const chip::ChipConfig config;
  const std::string platform_name;
  const std::string platform_version;
  const std::string serialized;  // the config, for compilation-cache keys
  const std::vector<PJRT_DeviceDescription*>& descriptions() const { return descriptions_; }
  const std::vector<PJRT_NamedValue>& attributes() const { return attributes_; }

 private:
  void InitAttributes();
  std::vector<std::unique_ptr<PJRT_DeviceDescription>> owned_;
  std::vector<PJRT_DeviceDescription*> descriptions_;
  std::vector<PJRT_NamedValue> attributes_;
};

namespace chip::api {

std::string PlatformVersion();

PJRT_Error* TopologyDescriptionCreate(PJRT_TopologyDescription_Create_Args* args);
PJRT_Error* TopologyDescriptionDestroy(PJRT_TopologyDescription_Destroy_Args* args);
PJRT_Error* TopologyDescriptionPlatformName(PJRT_TopologyDescription_PlatformName_Args* args);
PJRT_Error* TopologyDescriptionPlatformVersion(PJRT_TopologyDescription_PlatformVersion_Args* args);
PJRT_Error* TopologyDescriptionGetDeviceDescriptions(PJRT_TopologyDescription_GetDeviceDescriptions_Args* args);
PJRT_Error* TopologyDescriptionSerialize(PJRT_TopologyDescription_Serialize_Args* args);
PJRT_Error* TopologyDescriptionAttributes(PJRT_TopologyDescription_Attributes_Args* args);

}  // namespace chip::api
