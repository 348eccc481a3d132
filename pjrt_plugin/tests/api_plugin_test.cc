// The plugin as a whole: loading without Python, the PJRT_Api table, struct-size handling,
// unimplemented entry points, plugin attributes, the extension chain and the chip_* exports.
#include <string>
#include <vector>

#include "api_test_util.h"
#include "xla/pjrt/c/pjrt_c_api_ffi_extension.h"
#include "xla/pjrt/c/pjrt_c_api_memory_descriptions_extension.h"

namespace chip::testing {
namespace {

TEST(PluginTest, LoadsWithoutPythonAndReportsItsVersion) {
  // This process has no Python: the plugin's Python symbols must be weak and unresolved.
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "Py_IsInitialized"), nullptr);
  const PJRT_Api* api = Api();
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->struct_size, static_cast<size_t>(PJRT_Api_STRUCT_SIZE));
  EXPECT_EQ(api->pjrt_api_version.major_version, PJRT_API_MAJOR);
  EXPECT_EQ(api->pjrt_api_version.minor_version, PJRT_API_MINOR);
  EXPECT_EQ(api->pjrt_api_version.struct_size, static_cast<size_t>(PJRT_Api_Version_STRUCT_SIZE));
}

TEST(PluginTest, EverySlotIsFilled) {
  const PJRT_Api* api = Api();
  // Every field after pjrt_api_version is a function pointer.
  const size_t first = offsetof(PJRT_Api, PJRT_Error_Destroy);
  const char* base = reinterpret_cast<const char*>(api);
  int count = 0;
  for (size_t off = first; off + sizeof(void*) <= api->struct_size; off += sizeof(void*), ++count) {
    void* fn = nullptr;
    std::memcpy(&fn, base + off, sizeof(fn));
    EXPECT_NE(fn, nullptr) << "PJRT_Api slot at offset " << off << " (index " << count << ") is null";
  }
  EXPECT_GT(count, 100);
}

TEST(PluginTest, UnimplementedEntryPointsNameThemselves) {
  auto chunk = CHIP_ARGS(PJRT_CopyToDeviceStream_AddChunk_Args);
  EXPECT_TRUE(FailsWith(Api()->PJRT_CopyToDeviceStream_AddChunk(&chunk), PJRT_Error_Code_UNIMPLEMENTED,
                        {"PJRT_CopyToDeviceStream_AddChunk"}));
  auto view = CHIP_ARGS(PJRT_Client_CreateViewOfDeviceBuffer_Args);
  EXPECT_TRUE(FailsWith(Api()->PJRT_Client_CreateViewOfDeviceBuffer(&view), PJRT_Error_Code_UNIMPLEMENTED,
                        {"PJRT_Client_CreateViewOfDeviceBuffer"}));
  // Even with null args.
  EXPECT_TRUE(FailsWith(Api()->PJRT_CopyToDeviceStream_TotalBytes(nullptr), PJRT_Error_Code_UNIMPLEMENTED,
                        {"PJRT_CopyToDeviceStream_TotalBytes"}));
}

TEST(PluginTest, BadArgsAreInvalidArgumentNamingTheFunction) {
  EXPECT_TRUE(FailsWith(Api()->PJRT_Client_Create(nullptr), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Client_Create", "args is null"}));
  auto zero = MakeArgs<PJRT_Client_Create_Args>(0);
  EXPECT_TRUE(FailsWith(Api()->PJRT_Client_Create(&zero), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Client_Create", "struct_size is 0"}));
  auto garbage = MakeArgs<PJRT_Client_Devices_Args>(size_t{1} << 40);
  EXPECT_TRUE(FailsWith(Api()->PJRT_Client_Devices(&garbage), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Client_Devices", "struct_size"}));
  // A struct too small to hold the inputs the function reads (ToHostBuffer reads up to dst_size).
  auto short_args = MakeArgs<PJRT_Buffer_ToHostBuffer_Args>(PJRT_STRUCT_SIZE(PJRT_Buffer_ToHostBuffer_Args, dst));
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_ToHostBuffer(&short_args), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Buffer_ToHostBuffer"}));
  auto no_client = CHIP_ARGS(PJRT_Client_Devices_Args);
  EXPECT_TRUE(FailsWith(Api()->PJRT_Client_Devices(&no_client), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Client_Devices", "client is null"}));
}

TEST(PluginTest, UnderReportedStructSizesOfOlderHeadersAreAccepted) {
  // PJRT 0.70's header sizes PJRT_Plugin_Attributes_Args up to `attributes`, although the struct
  // has `num_attributes` after it (jaxlib 0.6.2 sends 24 bytes). The plugin must still fill both.
  auto attrs = MakeArgs<PJRT_Plugin_Attributes_Args>(PJRT_STRUCT_SIZE(PJRT_Plugin_Attributes_Args, attributes));
  attrs.num_attributes = 12345;
  CHIP_ASSERT_OK(Api()->PJRT_Plugin_Attributes(&attrs));
  EXPECT_NE(attrs.attributes, nullptr);
  EXPECT_GE(attrs.num_attributes, 1u);
  EXPECT_LT(attrs.num_attributes, 100u);
}

TEST(PluginTest, LargerStructsFromNewerCallersAreAccepted) {
  // A caller built against a newer header sends a bigger struct; the plugin ignores the tail.
  struct Bigger {
    PJRT_Client_ProcessIndex_Args args;
    char newer_fields[64];
  } big;
  std::memset(&big, 0, sizeof(big));
  ClientPtr client = CreateClient();
  big.args.struct_size = sizeof(big);
  big.args.client = client.get();
  big.args.process_index = 7;
  CHIP_EXPECT_OK(Api()->PJRT_Client_ProcessIndex(&big.args));
  EXPECT_EQ(big.args.process_index, 0);
}

TEST(PluginTest, ErrorAccessors) {
  PJRT_Error* e = Api()->PJRT_Client_Create(nullptr);
  ASSERT_NE(e, nullptr);
  auto code = CHIP_ARGS(PJRT_Error_GetCode_Args);
  code.error = e;
  CHIP_EXPECT_OK(Api()->PJRT_Error_GetCode(&code));
  EXPECT_EQ(code.code, PJRT_Error_Code_INVALID_ARGUMENT);
  TakeError(e);
  // Destroying null is fine.
  auto d = CHIP_ARGS(PJRT_Error_Destroy_Args);
  Api()->PJRT_Error_Destroy(&d);
}

TEST(PluginTest, PluginInitializeAndAttributes) {
  auto init = CHIP_ARGS(PJRT_Plugin_Initialize_Args);
  CHIP_EXPECT_OK(Api()->PJRT_Plugin_Initialize(&init));
  auto attrs = CHIP_ARGS(PJRT_Plugin_Attributes_Args);
  CHIP_ASSERT_OK(Api()->PJRT_Plugin_Attributes(&attrs));
  bool found = false;
  for (size_t i = 0; i < attrs.num_attributes; ++i) {
    const PJRT_NamedValue& v = attrs.attributes[i];
    if (std::string(v.name, v.name_size) == "chip_plugin_version") {
      found = true;
      EXPECT_EQ(v.type, PJRT_NamedValue_kString);
      EXPECT_EQ(std::string(v.string_value, v.value_size),
                Plugin::Get().Symbol<const char* (*)()>("chip_plugin_version")());
    }
  }
  EXPECT_TRUE(found);
}

TEST(PluginTest, ExtensionChainHasFfiAndMemoryDescriptions) {
  bool ffi = false, mem = false;
  for (const PJRT_Extension_Base* e = Api()->extension_start; e != nullptr; e = e->next) {
    if (e->type == PJRT_Extension_Type_FFI) {
      ffi = true;
      EXPECT_GE(e->struct_size, static_cast<size_t>(PJRT_FFI_Extension_STRUCT_SIZE));
    }
    if (e->type == PJRT_Extension_Type_MemoryDescriptions) mem = true;
  }
  EXPECT_TRUE(ffi);
  EXPECT_TRUE(mem);
}

TEST(PluginTest, ExportsOnlyTheEntryPoints) {
  for (const char* name : {"GetPjrtApi", "chip_profiler_start", "chip_profiler_stop", "chip_profiler_trace_json",
                           "chip_free", "chip_device_modeled_time_s", "chip_plugin_version",
                           "chip_ffi_register_handler", "chip_ffi_register_type_id"}) {
    EXPECT_NE(dlsym(Plugin::Get().handle(), name), nullptr) << name;
  }
  // Internal functions stay local.
  EXPECT_EQ(dlsym(Plugin::Get().handle(), "_ZN4chip11ChipRuntime6CreateERKNS_10ChipConfigE"), nullptr);
  EXPECT_EQ(dlsym(Plugin::Get().handle(), "_ZN4chip3api12ClientCreateEP23PJRT_Client_Create_Args"), nullptr);
  const char* version = Plugin::Get().Symbol<const char* (*)()>("chip_plugin_version")();
  ASSERT_NE(version, nullptr);
  EXPECT_GT(std::strlen(version), 0u);
}

TEST(PluginTest, ModeledTimeOfLiveClient) {
  auto modeled = Plugin::Get().Symbol<double (*)(int)>("chip_device_modeled_time_s");
  ASSERT_NE(modeled, nullptr);
  EXPECT_EQ(modeled(0), -1.0);  // no client yet in this test
  {
    ClientPtr client = CreateClient({{"num_devices", 2}});
    std::vector<PJRT_Device*> devices = Devices(client.get());
    const double before = modeled(1);
    EXPECT_GE(before, 0.0);
    std::vector<float> data = RandomFloats(1 << 16, 1);
    BufferPtr b = FromHost(client.get(), devices[1], PJRT_Buffer_Type_F32, {1 << 16}, data.data());
    EXPECT_GT(modeled(1), before);  // the host-to-device transfer took modeled time
    EXPECT_EQ(modeled(2), -1.0);    // no such device
  }
  EXPECT_EQ(modeled(0), -1.0);  // the client is gone
}

TEST(PluginTest, ProfilerRecordsTransfers) {
  auto start = Plugin::Get().Symbol<int (*)()>("chip_profiler_start");
  auto stop = Plugin::Get().Symbol<int (*)()>("chip_profiler_stop");
  auto json = Plugin::Get().Symbol<char* (*)()>("chip_profiler_trace_json");
  auto chip_free = Plugin::Get().Symbol<void (*)(void*)>("chip_free");
  ClientPtr client = CreateClient();
  PJRT_Device* device = Devices(client.get())[0];
  ASSERT_EQ(start(), 0);
  std::vector<float> data = RandomFloats(256, 2);
  BufferPtr b = FromHost(client.get(), device, PJRT_Buffer_Type_F32, {16, 16}, data.data());
  ASSERT_EQ(stop(), 0);
  char* text = json();
  ASSERT_NE(text, nullptr);
  std::string trace(text);
  chip_free(text);
  EXPECT_NE(trace.find("traceEvents"), std::string::npos) << trace;
  EXPECT_NE(trace.find("host_to_device"), std::string::npos) << trace;
}

}  // namespace
}  // namespace chip::testing
