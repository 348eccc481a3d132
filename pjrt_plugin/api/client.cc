#include "pjrt_plugin/api/client.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>

#include "pjrt_plugin/api/args.h"
#include "pjrt_plugin/api/version.h"

namespace chip::api {
namespace {

// Every live client, oldest first (the chip_* extension functions use the newest).
std::mutex& LiveClientsMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<PJRT_Client*>& LiveClients() {
  static std::vector<PJRT_Client*> clients;
  return clients;
}

}  // namespace
}  // namespace chip::api

chip::StatusOr<std::unique_ptr<PJRT_Client>> PJRT_Client::Create(const chip::ChipConfig& config) {
  CHIP_ASSIGN_OR_RETURN(std::unique_ptr<chip::ChipRuntime> runtime, chip::ChipRuntime::Create(config));
  std::unique_ptr<PJRT_Client> client(new PJRT_Client(std::move(runtime)));
  std::lock_guard<std::mutex> lock(chip::api::LiveClientsMutex());
  chip::api::LiveClients().push_back(client.get());
  return client;
}

PJRT_Client::PJRT_Client(std::unique_ptr<chip::ChipRuntime> runtime)
    : platform_name(chip::api::kPlatformName),
      platform_version(chip::api::PlatformVersion()),
      runtime_(std::move(runtime)) {
  std::vector<PJRT_DeviceDescription*> descriptions;
  for (int i = 0; i < runtime_->num_devices(); ++i) {
    devices_.push_back(std::make_unique<PJRT_Device>(this, &runtime_->device(i), /*process_index=*/0));
    device_ptrs_.push_back(devices_.back().get());
    descriptions.push_back(const_cast<PJRT_DeviceDescription*>(&devices_.back()->description));
  }
  // Every device's default memory first (memory id = position), then the pinned host memories.
  for (chip::MemorySpace space : chip::api::kMemorySpaces) {
    for (const auto& d : devices_) memory_ptrs_.push_back(d->memory(space));
  }
  topology_ = std::make_unique<PJRT_TopologyDescription>(runtime_->config(), std::move(descriptions));
}

PJRT_Client::~PJRT_Client() {
  {
    std::lock_guard<std::mutex> lock(chip::api::LiveClientsMutex());
    auto& live = chip::api::LiveClients();
    live.erase(std::remove(live.begin(), live.end(), this), live.end());
  }
  // Finish queued work while every object it may refer to is still alive.
  for (int i = 0; i < runtime_->num_devices(); ++i) runtime_->device(i).Drain();
}

PJRT_Device* PJRT_Client::device(int id) const {
  if (id < 0 || id >= num_devices()) return nullptr;
  return device_ptrs_[id];
}

bool PJRT_Client::Owns(const PJRT_Device* device) const {
  return device != nullptr && device->client == this;
}

chip::Status PJRT_Client::DmaMap(const void* data, size_t size, const char* function) {
  if (data == nullptr || size == 0) {
    return chip::InvalidArgument(std::string(function) + ": cannot map " + std::to_string(size) + " bytes at " +
                                 (data == nullptr ? "a null pointer" : "a non-null pointer"));
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  std::lock_guard<std::mutex> lock(dma_mu_);
  auto next = dma_mappings_.lower_bound(start);
  const bool overlaps_next = next != dma_mappings_.end() && next->first < start + size;
  const bool overlaps_prev = next != dma_mappings_.begin() && std::prev(next)->first + std::prev(next)->second > start;
  if (overlaps_next || overlaps_prev) {
    return chip::InvalidArgument(std::string(function) + ": the " + std::to_string(size) +
                                 "-byte range overlaps a range that is already mapped");
  }
  dma_mappings_[start] = size;
  return chip::Status::Ok();
}

chip::Status PJRT_Client::DmaUnmap(const void* data, const char* function) {
  std::lock_guard<std::mutex> lock(dma_mu_);
  if (dma_mappings_.erase(reinterpret_cast<uintptr_t>(data)) == 0) {
    return chip::InvalidArgument(std::string(function) + ": no mapped range starts at that address");
  }
  return chip::Status::Ok();
}

namespace chip::api {

StatusOr<ChipConfig> ConfigFromNamedValues(const PJRT_NamedValue* options, size_t num_options,
                                           const char* function) {
  std::map<std::string, ChipConfig::OptionValue> values;
  if (num_options > 0 && options == nullptr) {
    return InvalidArgument(std::string(function) + ": create_options is null but num_options is " +
                           std::to_string(num_options));
  }
  for (size_t i = 0; i < num_options; ++i) {
    const PJRT_NamedValue& v = options[i];
    std::string where = std::string(function) + ": create option " + std::to_string(i);
    CHIP_RETURN_IF_ERROR(CheckStructSize(function, ("create_options[" + std::to_string(i) + "]").c_str(),
                                         v.struct_size, PJRT_NamedValue_STRUCT_SIZE));
    if (v.name == nullptr) return InvalidArgument(where + " has a null name");
    std::string name(v.name, v.name_size);
    switch (v.type) {
      case PJRT_NamedValue_kString:
        values[name] = std::string(v.string_value == nullptr ? "" : v.string_value,
                                   v.string_value == nullptr ? 0 : v.value_size);
        break;
      case PJRT_NamedValue_kInt64: values[name] = static_cast<int64_t>(v.int64_value); break;
      case PJRT_NamedValue_kFloat: values[name] = static_cast<double>(v.float_value); break;
      case PJRT_NamedValue_kBool: values[name] = static_cast<bool>(v.bool_value); break;
      case PJRT_NamedValue_kInt64List:
        return InvalidArgument(std::string(function) + ": chip option '" + name +
                               "' is a list; chip options take a single number");
      default:
        return InvalidArgument(std::string(function) + ": chip option '" + name + "' has unknown value type " +
                               std::to_string(static_cast<int>(v.type)));
    }
  }
  StatusOr<ChipConfig> config = ChipConfig::FromNamedOptions(values);
  if (!config.ok()) {
    return Status(config.status().code(), std::string(function) + ": " + config.status().message());
  }
  return config;
}

bool IsClientTopology(const PJRT_TopologyDescription* topology) {
  std::lock_guard<std::mutex> lock(LiveClientsMutex());
  for (const PJRT_Client* c : LiveClients()) {
    if (c->topology() == topology) return true;
  }
  return false;
}

double LiveClientModeledTimeSeconds(int device_id) {
  std::lock_guard<std::mutex> lock(LiveClientsMutex());
  if (LiveClients().empty()) return -1;
  PJRT_Device* d = LiveClients().back()->device(device_id);
  return d == nullptr ? -1 : d->chip().modeled_time_s();
}

PJRT_Error* ClientCreate(PJRT_Client_Create_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_Create";
  // kv_try_get_* (0.61) are inside 0.70's struct; the key-value store is not used (one process).
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_Create_Args, num_options), [&]() -> Status {
    CHIP_ASSIGN_OR_RETURN(ChipConfig config, ConfigFromNamedValues(args->create_options, args->num_options, kFn));
    StatusOr<std::unique_ptr<PJRT_Client>> client = PJRT_Client::Create(config);
    if (!client.ok()) {
      return Status(client.status().code(), std::string(kFn) + ": " + client.status().message());
    }
    args->client = std::move(client).value().release();
    return Status::Ok();
  });
}

PJRT_Error* ClientDestroy(PJRT_Client_Destroy_Args* args) {
  return RunApi("PJRT_Client_Destroy", args, CHIP_MIN_ARGS_SIZE(PJRT_Client_Destroy_Args, client), [&]() -> Status {
    std::unique_ptr<PJRT_Client> owned(args->client);
    return Status::Ok();
  });
}

PJRT_Error* ClientPlatformName(PJRT_Client_PlatformName_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_PlatformName";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_PlatformName_Args, client), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    args->platform_name = args->client->platform_name.c_str();
    args->platform_name_size = args->client->platform_name.size();
    return Status::Ok();
  });
}

PJRT_Error* ClientProcessIndex(PJRT_Client_ProcessIndex_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_ProcessIndex";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_ProcessIndex_Args, client), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    args->process_index = 0;
    return Status::Ok();
  });
}

PJRT_Error* ClientPlatformVersion(PJRT_Client_PlatformVersion_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_PlatformVersion";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_PlatformVersion_Args, client), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    args->platform_version = args->client->platform_version.c_str();
    args->platform_version_size = args->client->platform_version.size();
    return Status::Ok();
  });
}

PJRT_Error* ClientTopologyDescription(PJRT_Client_TopologyDescription_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_TopologyDescription";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_TopologyDescription_Args, client), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    args->topology = args->client->topology();
    return Status::Ok();
  });
}

PJRT_Error* ClientDevices(PJRT_Client_Devices_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_Devices";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_Devices_Args, client), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    args->devices = args->client->device_list();
    args->num_devices = args->client->num_devices();
    return Status::Ok();
  });
}

PJRT_Error* ClientAddressableDevices(PJRT_Client_AddressableDevices_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_AddressableDevices";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_AddressableDevices_Args, client), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    args->addressable_devices = args->client->device_list();
    args->num_addressable_devices = args->client->num_devices();
    return Status::Ok();
  });
}

PJRT_Error* ClientLookupDevice(PJRT_Client_LookupDevice_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_LookupDevice";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_LookupDevice_Args, id), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    PJRT_Device* d = args->client->device(args->id);
    if (d == nullptr) {
      return InvalidArgument(std::string(kFn) + ": no chip device with id " + std::to_string(args->id) +
                             "; the client has devices 0.." + std::to_string(args->client->num_devices() - 1));
    }
    args->device = d;
    return Status::Ok();
  });
}

PJRT_Error* ClientLookupAddressableDevice(PJRT_Client_LookupAddressableDevice_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_LookupAddressableDevice";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_LookupAddressableDevice_Args, local_hardware_id), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    PJRT_Device* d = args->client->device(args->local_hardware_id);
    if (d == nullptr) {
      return InvalidArgument(std::string(kFn) + ": no chip device with local hardware id " +
                             std::to_string(args->local_hardware_id) + "; the client has devices 0.." +
                             std::to_string(args->client->num_devices() - 1));
    }
    args->addressable_device = d;
    return Status::Ok();
  });
}

PJRT_Error* ClientAddressableMemories(PJRT_Client_AddressableMemories_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_AddressableMemories";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_AddressableMemories_Args, client), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    args->addressable_memories = args->client->memory_list();
    args->num_addressable_memories = args->client->num_memories();
    return Status::Ok();
  });
}

PJRT_Error* ClientDefaultDeviceAssignment(PJRT_Client_DefaultDeviceAssignment_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_DefaultDeviceAssignment";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_DefaultDeviceAssignment_Args, default_assignment), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    if (args->num_replicas <= 0 || args->num_partitions <= 0) {
      return InvalidArgument(std::string(kFn) + ": num_replicas (" + std::to_string(args->num_replicas) +
                             ") and num_partitions (" + std::to_string(args->num_partitions) +
                             ") must be positive");
    }
    const int64_t n = static_cast<int64_t>(args->num_replicas) * args->num_partitions;
    if (n > args->client->num_devices()) {
      return InvalidArgument(std::string(kFn) + ": " + std::to_string(args->num_replicas) + " replica(s) x " +
                             std::to_string(args->num_partitions) + " partition(s) need " + std::to_string(n) +
                             " devices, but the client has " + std::to_string(args->client->num_devices()) +
                             " chip device(s); set num_devices");
    }
    if (args->default_assignment_size < static_cast<size_t>(n) || args->default_assignment == nullptr) {
      return InvalidArgument(std::string(kFn) + ": default_assignment has room for " +
                             std::to_string(args->default_assignment_size) + " entries, " +
                             std::to_string(n) + " needed");
    }
    // Replica-major, like XLA's computation placer: (replica r, partition p) -> r * P + p.
    for (int64_t i = 0; i < n; ++i) args->default_assignment[i] = static_cast<int>(i);
    return Status::Ok();
  });
}

PJRT_Error* ClientDmaMap(PJRT_Client_DmaMap_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_DmaMap";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_DmaMap_Args, size), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    return args->client->DmaMap(args->data, args->size, kFn);
  });
}

PJRT_Error* ClientDmaUnmap(PJRT_Client_DmaUnmap_Args* args) {
  static constexpr const char* kFn = "PJRT_Client_DmaUnmap";
  return RunApi(kFn, args, CHIP_MIN_ARGS_SIZE(PJRT_Client_DmaUnmap_Args, data), [&]() -> Status {
    CHIP_REQUIRE_NON_NULL(kFn, args->client, "client");
    return args->client->DmaUnmap(args->data, kFn);
  });
}

}  // namespace chip::api
