// PJRT_Client, devices, device descriptions, memories, topology, device assignment and the
// compile entry point as far as it goes without a Python host.
#include <map>
#include <string>
#include <vector>

#include "api_test_util.h"
#include "xla/pjrt/c/pjrt_c_api_memory_descriptions_extension.h"

namespace chip::testing {
namespace {

PJRT_DeviceDescription* Description(PJRT_Device* d) {
  auto a = CHIP_ARGS(PJRT_Device_GetDescription_Args);
  a.device = d;
  TakeError(Api()->PJRT_Device_GetDescription(&a));
  return a.device_description;
}

std::map<std::string, const PJRT_NamedValue*> Attributes(PJRT_DeviceDescription* d) {
  auto a = CHIP_ARGS(PJRT_DeviceDescription_Attributes_Args);
  a.device_description = d;
  TakeError(Api()->PJRT_DeviceDescription_Attributes(&a));
  std::map<std::string, const PJRT_NamedValue*> m;
  for (size_t i = 0; i < a.num_attributes; ++i) m[std::string(a.attributes[i].name, a.attributes[i].name_size)] = &a.attributes[i];
  return m;
}

TEST(ClientTest, DefaultClientHasOneChip) {
  ClientPtr client = CreateClient();
  ASSERT_NE(client, nullptr);
  auto name = CHIP_ARGS(PJRT_Client_PlatformName_Args);
  name.client = client.get();
  CHIP_ASSERT_OK(Api()->PJRT_Client_PlatformName(&name));
  EXPECT_EQ(std::string(name.platform_name, name.platform_name_size), "chip");
  auto version = CHIP_ARGS(PJRT_Client_PlatformVersion_Args);
  version.client = client.get();
  CHIP_ASSERT_OK(Api()->PJRT_Client_PlatformVersion(&version));
  EXPECT_NE(std::string(version.platform_version, version.platform_version_size).find("chip"), std::string::npos);
  auto index = CHIP_ARGS(PJRT_Client_ProcessIndex_Args);
  index.client = client.get();
  CHIP_ASSERT_OK(Api()->PJRT_Client_ProcessIndex(&index));
  EXPECT_EQ(index.process_index, 0);
  EXPECT_EQ(Devices(client.get()).size(), 1u);
}

TEST(ClientTest, NumDevicesOption) {
  ClientPtr client = CreateClient({{"num_devices", 3}, {"hbm_bytes", int64_t{1} << 30}});
  std::vector<PJRT_Device*> devices = Devices(client.get());
  ASSERT_EQ(devices.size(), 3u);
  auto addressable = CHIP_ARGS(PJRT_Client_AddressableDevices_Args);
  addressable.client = client.get();
  CHIP_ASSERT_OK(Api()->PJRT_Client_AddressableDevices(&addressable));
  ASSERT_EQ(addressable.num_addressable_devices, 3u);
  for (int i = 0; i < 3; ++i) {
    PJRT_Device* d = devices[i];
    EXPECT_EQ(addressable.addressable_devices[i], d);
    EXPECT_EQ(DeviceId(d), i);
    PJRT_DeviceDescription* desc = Description(d);
    auto kind = CHIP_ARGS(PJRT_DeviceDescription_Kind_Args);
    kind.device_description = desc;
    CHIP_ASSERT_OK(Api()->PJRT_DeviceDescription_Kind(&kind));
    EXPECT_EQ(std::string(kind.device_kind, kind.device_kind_size), "chip");
    auto str = CHIP_ARGS(PJRT_DeviceDescription_ToString_Args);
    str.device_description = desc;
    CHIP_ASSERT_OK(Api()->PJRT_DeviceDescription_ToString(&str));
    EXPECT_EQ(std::string(str.to_string, str.to_string_size), "ChipDevice(id=" + std::to_string(i) + ")");
    auto dbg = CHIP_ARGS(PJRT_DeviceDescription_DebugString_Args);
    dbg.device_description = desc;
    CHIP_ASSERT_OK(Api()->PJRT_DeviceDescription_DebugString(&dbg));
    EXPECT_NE(std::string(dbg.debug_string, dbg.debug_string_size).find("chip:" + std::to_string(i)), std::string::npos);
    auto pi = CHIP_ARGS(PJRT_DeviceDescription_ProcessIndex_Args);
    pi.device_description = desc;
    CHIP_ASSERT_OK(Api()->PJRT_DeviceDescription_ProcessIndex(&pi));
    EXPECT_EQ(pi.process_index, 0);
    auto attrs = Attributes(desc);
    ASSERT_TRUE(attrs.count("hbm_bytes"));
    EXPECT_EQ(attrs["hbm_bytes"]->type, PJRT_NamedValue_kInt64);
    EXPECT_EQ(attrs["hbm_bytes"]->int64_value, int64_t{1} << 30);
    ASSERT_TRUE(attrs.count("matrix_unit"));
    EXPECT_EQ(attrs["matrix_unit"]->type, PJRT_NamedValue_kInt64List);
    ASSERT_EQ(attrs["matrix_unit"]->value_size, 2u);
    EXPECT_EQ(attrs["matrix_unit"]->int64_array_value[0], 128);
    // jaxlib accepts only string, int64 and int64-list device attributes.
    for (const auto& [k, v] : attrs) {
      EXPECT_TRUE(v->type == PJRT_NamedValue_kInt64 || v->type == PJRT_NamedValue_kInt64List ||
                  v->type == PJRT_NamedValue_kString) << k;
    }
    auto hw = CHIP_ARGS(PJRT_Device_LocalHardwareId_Args);
    hw.device = d;
    CHIP_ASSERT_OK(Api()->PJRT_Device_LocalHardwareId(&hw));
    EXPECT_EQ(hw.local_hardware_id, i);
    auto addr = CHIP_ARGS(PJRT_Device_IsAddressable_Args);
    addr.device = d;
    CHIP_ASSERT_OK(Api()->PJRT_Device_IsAddressable(&addr));
    EXPECT_TRUE(addr.is_addressable);
  }
  auto lookup = CHIP_ARGS(PJRT_Client_LookupDevice_Args);
  lookup.client = client.get();
  lookup.id = 2;
  CHIP_ASSERT_OK(Api()->PJRT_Client_LookupDevice(&lookup));
  EXPECT_EQ(lookup.device, devices[2]);
  lookup.id = 3;
  EXPECT_TRUE(FailsWith(Api()->PJRT_Client_LookupDevice(&lookup), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Client_LookupDevice", "id 3"}));
  auto local = CHIP_ARGS(PJRT_Client_LookupAddressableDevice_Args);
  local.client = client.get();
  local.local_hardware_id = 1;
  CHIP_ASSERT_OK(Api()->PJRT_Client_LookupAddressableDevice(&local));
  EXPECT_EQ(local.addressable_device, devices[1]);
}

TEST(ClientTest, BadOptionsAreNamed) {
  PJRT_Client* client = nullptr;
  std::vector<PJRT_NamedValue> unknown = {Int64Value("num_chips", 2)};
  EXPECT_TRUE(FailsWith(CreateClientRaw(unknown, &client), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Client_Create", "num_chips"}));
  std::vector<PJRT_NamedValue> range = {Int64Value("num_devices", 9)};
  EXPECT_TRUE(FailsWith(CreateClientRaw(range, &client), PJRT_Error_Code_INVALID_ARGUMENT, {"num_devices"}));
  PJRT_NamedValue as_float = Int64Value("num_devices", 0);
  as_float.type = PJRT_NamedValue_kFloat;
  as_float.float_value = 2.0f;
  std::vector<PJRT_NamedValue> wrong_type = {as_float};
  EXPECT_TRUE(FailsWith(CreateClientRaw(wrong_type, &client), PJRT_Error_Code_INVALID_ARGUMENT, {"num_devices"}));
  EXPECT_EQ(client, nullptr);
  // A float option for a rate field is fine.
  PJRT_NamedValue bw = Int64Value("hbm_bandwidth", 0);
  bw.type = PJRT_NamedValue_kFloat;
  bw.float_value = 1e12f;
  std::vector<PJRT_NamedValue> ok = {bw};
  CHIP_EXPECT_OK(CreateClientRaw(ok, &client));
  ClientPtr owned(client);
}

TEST(ClientTest, MemoriesDeviceAndPinnedHostPerChip) {
  ClientPtr client = CreateClient({{"num_devices", 2}});
  std::vector<PJRT_Device*> devices = Devices(client.get());
  auto mems = CHIP_ARGS(PJRT_Client_AddressableMemories_Args);
  mems.client = client.get();
  CHIP_ASSERT_OK(Api()->PJRT_Client_AddressableMemories(&mems));
  // Every chip's device memory (id = device id), then every chip's pinned host memory.
  ASSERT_EQ(mems.num_addressable_memories, 4u);
  const char* kinds[] = {"device", "pinned_host"};
  for (int k = 0; k < 2; ++k) {
    for (int i = 0; i < 2; ++i) {
      PJRT_Memory* m = mems.addressable_memories[k * 2 + i];
      if (k == 0) {
        EXPECT_EQ(DefaultMemory(devices[i]), m);
      }
      auto dm = CHIP_ARGS(PJRT_Device_AddressableMemories_Args);
      dm.device = devices[i];
      CHIP_ASSERT_OK(Api()->PJRT_Device_AddressableMemories(&dm));
      ASSERT_EQ(dm.num_memories, 2u);
      EXPECT_EQ(dm.memories[k], m);
      auto kind = CHIP_ARGS(PJRT_Memory_Kind_Args);
      kind.memory = m;
      CHIP_ASSERT_OK(Api()->PJRT_Memory_Kind(&kind));
      EXPECT_EQ(std::string(kind.kind, kind.kind_size), kinds[k]);
      auto kid = CHIP_ARGS(PJRT_Memory_Kind_Id_Args);
      kid.memory = m;
      CHIP_ASSERT_OK(Api()->PJRT_Memory_Kind_Id(&kid));
      EXPECT_EQ(kid.kind_id, k);
      auto id = CHIP_ARGS(PJRT_Memory_Id_Args);
      id.memory = m;
      CHIP_ASSERT_OK(Api()->PJRT_Memory_Id(&id));
      EXPECT_EQ(id.id, k * 2 + i);
      auto by = CHIP_ARGS(PJRT_Memory_AddressableByDevices_Args);
      by.memory = m;
      CHIP_ASSERT_OK(Api()->PJRT_Memory_AddressableByDevices(&by));
      ASSERT_EQ(by.num_devices, 1u);
      EXPECT_EQ(by.devices[0], devices[i]);
      auto ts = CHIP_ARGS(PJRT_Memory_ToString_Args);
      ts.memory = m;
      CHIP_ASSERT_OK(Api()->PJRT_Memory_ToString(&ts));
      EXPECT_NE(std::string(ts.to_string, ts.to_string_size).find(kinds[k]), std::string::npos);
      auto ds = CHIP_ARGS(PJRT_Memory_DebugString_Args);
      ds.memory = m;
      CHIP_ASSERT_OK(Api()->PJRT_Memory_DebugString(&ds));
      EXPECT_GT(ds.debug_string_size, 0u);
    }
  }
}

TEST(ClientTest, MemoryStatsStartEmpty) {
  ClientPtr client = CreateClient({{"hbm_bytes", 64 << 20}});
  auto s = MemoryStats(Devices(client.get())[0]);
  EXPECT_EQ(s.bytes_in_use, 0);
  EXPECT_TRUE(s.bytes_limit_is_set);
  EXPECT_EQ(s.bytes_limit, 64 << 20);
  EXPECT_TRUE(s.peak_bytes_in_use_is_set);
}

TEST(ClientTest, TopologyOfClientAndStandalone) {
  ClientPtr client = CreateClient({{"num_devices", 2}});
  auto t = CHIP_ARGS(PJRT_Client_TopologyDescription_Args);
  t.client = client.get();
  CHIP_ASSERT_OK(Api()->PJRT_Client_TopologyDescription(&t));
  auto descs = CHIP_ARGS(PJRT_TopologyDescription_GetDeviceDescriptions_Args);
  descs.topology = t.topology;
  CHIP_ASSERT_OK(Api()->PJRT_TopologyDescription_GetDeviceDescriptions(&descs));
  ASSERT_EQ(descs.num_descriptions, 2u);
  EXPECT_EQ(descs.descriptions[1], Description(Devices(client.get())[1]));
  auto pn = CHIP_ARGS(PJRT_TopologyDescription_PlatformName_Args);
  pn.topology = t.topology;
  CHIP_ASSERT_OK(Api()->PJRT_TopologyDescription_PlatformName(&pn));
  EXPECT_EQ(std::string(pn.platform_name, pn.platform_name_size), "chip");
  auto pv = CHIP_ARGS(PJRT_TopologyDescription_PlatformVersion_Args);
  pv.topology = t.topology;
  CHIP_ASSERT_OK(Api()->PJRT_TopologyDescription_PlatformVersion(&pv));
  auto ser = CHIP_ARGS(PJRT_TopologyDescription_Serialize_Args);
  ser.topology = t.topology;
  CHIP_ASSERT_OK(Api()->PJRT_TopologyDescription_Serialize(&ser));
  EXPECT_GT(ser.serialized_bytes_size, 0u);
  ser.serialized_topology_deleter(ser.serialized_topology);
  auto attrs = CHIP_ARGS(PJRT_TopologyDescription_Attributes_Args);
  attrs.topology = t.topology;
  CHIP_ASSERT_OK(Api()->PJRT_TopologyDescription_Attributes(&attrs));
  // The client owns its topology.
  auto destroy = CHIP_ARGS(PJRT_TopologyDescription_Destroy_Args);
  destroy.topology = t.topology;
  EXPECT_TRUE(FailsWith(Api()->PJRT_TopologyDescription_Destroy(&destroy), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"belongs to a client"}));

  // A standalone topology for ahead-of-time compilation.
  std::vector<PJRT_NamedValue> options = {Int64Value("num_devices", 4)};
  auto create = CHIP_ARGS(PJRT_TopologyDescription_Create_Args);
  create.create_options = options.data();
  create.num_options = options.size();
  CHIP_ASSERT_OK(Api()->PJRT_TopologyDescription_Create(&create));
  auto d2 = CHIP_ARGS(PJRT_TopologyDescription_GetDeviceDescriptions_Args);
  d2.topology = create.topology;
  CHIP_ASSERT_OK(Api()->PJRT_TopologyDescription_GetDeviceDescriptions(&d2));
  ASSERT_EQ(d2.num_descriptions, 4u);
  // Memory descriptions extension.
  const PJRT_MemoryDescriptions_Extension* ext = nullptr;
  for (const PJRT_Extension_Base* e = Api()->extension_start; e != nullptr; e = e->next) {
    if (e->type == PJRT_Extension_Type_MemoryDescriptions) ext = reinterpret_cast<const PJRT_MemoryDescriptions_Extension*>(e);
  }
  ASSERT_NE(ext, nullptr);
  auto md = CHIP_ARGS(PJRT_DeviceDescription_MemoryDescriptions_Args);
  md.device_description = d2.descriptions[3];
  CHIP_ASSERT_OK(ext->PJRT_DeviceDescription_MemoryDescriptions(&md));
  ASSERT_EQ(md.num_memory_descriptions, 2u);
  EXPECT_EQ(md.default_memory_index, 0u);
  const char* kinds[] = {"device", "pinned_host"};
  for (int k = 0; k < 2; ++k) {
    auto mk = CHIP_ARGS(PJRT_MemoryDescription_Kind_Args);
    mk.memory_description = md.memory_descriptions[k];
    CHIP_ASSERT_OK(ext->PJRT_MemoryDescription_Kind(&mk));
    EXPECT_EQ(std::string(mk.kind, mk.kind_size), kinds[k]);
    EXPECT_EQ(mk.kind_id, k);
  }
  destroy.topology = create.topology;
  CHIP_EXPECT_OK(Api()->PJRT_TopologyDescription_Destroy(&destroy));
}

TEST(ClientTest, DefaultDeviceAssignment) {
  ClientPtr client = CreateClient({{"num_devices", 4}});
  std::vector<int> assignment(6, -1);
  auto a = CHIP_ARGS(PJRT_Client_DefaultDeviceAssignment_Args);
  a.client = client.get();
  a.num_replicas = 2;
  a.num_partitions = 2;
  a.default_assignment_size = assignment.size();
  a.default_assignment = assignment.data();
  CHIP_ASSERT_OK(Api()->PJRT_Client_DefaultDeviceAssignment(&a));
  EXPECT_EQ(assignment, (std::vector<int>{0, 1, 2, 3, -1, -1}));
  a.num_replicas = 5;
  a.num_partitions = 1;
  EXPECT_TRUE(FailsWith(Api()->PJRT_Client_DefaultDeviceAssignment(&a), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"5 replica(s)", "4 chip device(s)"}));
}

PJRT_Error* CompileRaw(PJRT_Client* client, const std::string& code, const std::string& format,
                       const std::string& options = "") {
  PJRT_Program program{};
  program.struct_size = PJRT_Program_STRUCT_SIZE;
  program.code = const_cast<char*>(code.data());
  program.code_size = code.size();
  program.format = format.c_str();
  program.format_size = format.size();
  auto a = CHIP_ARGS(PJRT_Client_Compile_Args);
  a.client = client;
  a.program = &program;
  a.compile_options = options.data();
  a.compile_options_size = options.size();
  PJRT_Error* e = Api()->PJRT_Client_Compile(&a);
  if (e == nullptr) LoadedExecutablePtr owned(a.executable);
  return e;
}

TEST(ClientTest, CompileNeedsPythonHost) {
  ClientPtr client = CreateClient();
  const std::string module = "module @m { func.func public @main() { return } }";
  EXPECT_TRUE(FailsWith(CompileRaw(client.get(), module, "mlir"), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"PJRT_Client_Compile", "Python", "PJRT_Executable_DeserializeAndLoad"}));
}

TEST(ClientTest, CompileRejectsOtherFormatsAndBadDevices) {
  ClientPtr client = CreateClient({{"num_devices", 3}});
  EXPECT_TRUE(FailsWith(CompileRaw(client.get(), "\x0a\x01x", "hlo"), PJRT_Error_Code_UNIMPLEMENTED,
                        {"PJRT_Client_Compile", "'hlo'", "mlir"}));
  EXPECT_TRUE(FailsWith(CompileRaw(client.get(), "x", "onnx"), PJRT_Error_Code_INVALID_ARGUMENT, {"'onnx'"}));
  const std::string module = "module @m { func.func public @main() { return } }";
  EXPECT_TRUE(FailsWith(CompileRaw(client.get(), module, "mlir", CompileOptionsForDevices({7})),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"device 7", "0..2"}));
  EXPECT_TRUE(FailsWith(CompileRaw(client.get(), module, "mlir", "\xff\xff"), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"CompileOptionsProto"}));
}

}  // namespace
}  // namespace chip::testing
