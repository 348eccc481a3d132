#include "pjrt_plugin/api/topology.h"

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/client.h"
#include "pjrt_plugin/api/version.h"

namespace chip::api {

std::string PlatformVersion() {
  return std::string("chip emulator plugin ") + kPluginVersion + " (PJRT C API " +
         std::to_string(PJRT_API_MAJOR) + "." + std::to_string(PJRT_API_MINOR) + ")";
}

}  // namespace chip::api

PJRT_TopologyDescription::PJRT_TopologyDescription(const chip::ChipConfig& config,
                                                   std::vector<PJRT_DeviceDescription*> descriptions)
    : config(config),
      platform_name(chip::api::kPlatformName),
      platform_version(chip::api::PlatformVersion()),
      serialized("chip-topology-v1\n" + config.ToString()),
      descriptions_(std::move(descriptions)) {
  InitAttributes();
}

PJRT_TopologyDescription::PJRT_TopologyDescription(const chip::ChipConfig& config)
    : config(config),
      platform_name(chip::api::kPlatformName),
      platform_version(chip::api::PlatformVersion()),
      serialized("chip-topology-v1\n" + config.ToString()) {
  for (int i = 0; i < config.num_devices; ++i) {
    owned_.push_back(std::make_unique<PJRT_DeviceDescription>(i, /*process_index=*/0, config));
    descriptions_.push_back(owned_.back().get());
  }
  InitAttributes();
}

void PJRT_TopologyDescription::InitAttributes() {
  attributes_ = {chip::api::NamedInt64("num_devices", static_cast<int64_t>(descriptions_.size())),
                 chip::api::NamedInt64("hbm_bytes", config.hbm_bytes)};
}

namespace chip::api {

PJRT_Error* TopologyDescriptionCreate(PJRT_TopologyDescription_Create_Args* args) {
  static constexpr const char* kFn = "PJRT_TopologyDescription_Create";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_TopologyDescription_Create_Args, num_options), [&]() -> Status {
    CHIP_ASSIGN_OR_RETURN(ChipConfig config, ConfigFromNamedValues(args->create_options, args->num_options, kFn));
    args->topology = std::make_unique<PJRT_TopologyDescription>(config).release();
    return Status::Ok();
  });
}

PJRT_Error* TopologyDescriptionDestroy(PJRT_TopologyDescription_Destroy_Args* args) {
  static constexpr const char* kFn = "PJRT_TopologyDescription_Destroy";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_TopologyDescription_Destroy_Args, topology), [&]() -> Status {
    if (args->topology != nullptr && IsClientTopology(args->topology)) {
      return InvalidArgument(std::string(kFn) +
                             ": the topology belongs to a client (PJRT_Client_TopologyDescription) and "
                             "must not be destroyed by the caller");
    }
    std::unique_ptr<PJRT_TopologyDescription> owned(args->topology);
    return Status::Ok();
  });
}

PJRT_Error* TopologyDescriptionPlatformName(PJRT_TopologyDescription_PlatformName_Args* args) {
  static constexpr const char* kFn = "PJRT_TopologyDescription_PlatformName";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_TopologyDescription_PlatformName_Args, topology), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->topology, "topology");
    args->platform_name = args->topology->platform_name.c_str();
    args->platform_name_size = args->topology->platform_name.size();
    return Status::Ok();
  });
}

PJRT_Error* TopologyDescriptionPlatformVersion(PJRT_TopologyDescription_PlatformVersion_Args* args) {
  static constexpr const char* kFn = "PJRT_TopologyDescription_PlatformVersion";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_TopologyDescription_PlatformVersion_Args, topology), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->topology, "topology");
    args->platform_version = args->topology->platform_version.c_str();
    args->platform_version_size = args->topology->platform_version.size();
    return Status::Ok();
  });
}

PJRT_Error* TopologyDescriptionGetDeviceDescriptions(PJRT_TopologyDescription_GetDeviceDescriptions_Args* args) {
  static constexpr const char* kFn = "PJRT_TopologyDescription_GetDeviceDescriptions";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_TopologyDescription_GetDeviceDescriptions_Args, topology), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->topology, "topology");
    args->descriptions = args->topology->descriptions().data();
    args->num_descriptions = args->topology->descriptions().size();
    return Status::Ok();
  });
}

}  // namespace chip::api

// Backs the bytes PJRT_TopologyDescription_Serialize returns.
struct PJRT_SerializedTopology {
  std::string bytes;
};

namespace chip::api {

PJRT_Error* TopologyDescriptionSerialize(PJRT_TopologyDescription_Serialize_Args* args) {
  static constexpr const char* kFn = "PJRT_TopologyDescription_Serialize";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_TopologyDescription_Serialize_Args, topology), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->topology, "topology");
    auto s = std::make_unique<PJRT_SerializedTopology>();
    s->bytes = args->topology->serialized;
    args->serialized_bytes = s->bytes.data();
    args->serialized_bytes_size = s->bytes.size();
    args->serialized_topology_deleter = [](PJRT_SerializedTopology* t) { delete t; };
    args->serialized_topology = s.release();
    return Status::Ok();
  });
}

PJRT_Error* TopologyDescriptionAttributes(PJRT_TopologyDescription_Attributes_Args* args) {
  static constexpr const char* kFn = "PJRT_TopologyDescription_Attributes";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_TopologyDescription_Attributes_Args, topology), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->topology, "topology");
    args->attributes = args->topology->attributes().data();
    args->num_attributes = args->topology->attributes().size();
    return Status::Ok();
  });
}

}  // namespace chip::api
