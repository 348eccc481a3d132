// The optional parts of PJRT 0.72 and what the plugin answers for each: probes every optional
// entry point, extension, plugin attribute and memory kind, prints the table (run with
// --test_output=all; pjrt_plugin/api/README.md shows it) and checks that exactly the documented
// features are unsupported. Each unsupported one is explained in pjrt_plugin/api/README.md.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "api_test_util.h"
#include "xla/pjrt/c/pjrt_c_api_layouts_extension.h"

namespace chip::testing {
namespace {

struct Row {
  std::string feature;
  bool supported;
  std::string answer;
};

// OK -> "supported", else the error code.
Row Probe(const std::string& feature, PJRT_Error* e, const std::string& detail = "") {
  std::optional<Error> err = TakeError(e);
  if (!err) return {feature, true, detail.empty() ? "OK" : detail};
  const bool unsupported = err->code == PJRT_Error_Code_UNIMPLEMENTED;
  return {feature, !unsupported, (unsupported ? "UNIMPLEMENTED: " : "error: ") + err->message};
}

const PJRT_Extension_Base* FindExtension(PJRT_Extension_Type type) {
  for (const PJRT_Extension_Base* e = Api()->extension_start; e != nullptr; e = e->next) {
    if (e->type == type) return e;
  }
  return nullptr;
}

std::vector<Row> ProbeEverything() {
  std::vector<Row> rows;
  ClientPtr client = CreateClient();
  PJRT_Device* device = Devices(client.get())[0];
  float data[6] = {1, 2, 3, 4, 5, 6};
  BufferPtr buffer = FromHost(client.get(), device, PJRT_Buffer_Type_F32, {2, 3}, data);

  // Plugin attributes.
  auto attrs = CHIP_ARGS(PJRT_Plugin_Attributes_Args);
  TakeError(Api()->PJRT_Plugin_Attributes(&attrs));
  for (const char* name : {"xla_version", "stablehlo_current_version", "stablehlo_minimum_version"}) {
    std::string value;
    for (size_t i = 0; i < attrs.num_attributes; ++i) {
      const PJRT_NamedValue& v = attrs.attributes[i];
      if (std::string(v.name, v.name_size) != name) continue;
      if (v.type == PJRT_NamedValue_kInt64) value = std::to_string(v.int64_value);
      if (v.type == PJRT_NamedValue_kInt64List) {
        for (size_t k = 0; k < v.value_size; ++k) value += (k ? "." : "") + std::to_string(v.int64_array_value[k]);
      }
    }
    rows.push_back({std::string("attribute ") + name, !value.empty(), value.empty() ? "absent" : value});
  }

  // Memory kinds.
  auto mems = CHIP_ARGS(PJRT_Device_AddressableMemories_Args);
  mems.device = device;
  TakeError(Api()->PJRT_Device_AddressableMemories(&mems));
  std::set<std::string> kinds;
  for (size_t i = 0; i < mems.num_memories; ++i) {
    auto k = CHIP_ARGS(PJRT_Memory_Kind_Args);
    k.memory = mems.memories[i];
    TakeError(Api()->PJRT_Memory_Kind(&k));
    kinds.insert(std::string(k.kind, k.kind_size));
  }
  for (const char* kind : {"device", "pinned_host", "unpinned_host"}) {
    rows.push_back({std::string("memory kind ") + kind, kinds.count(kind) > 0, kinds.count(kind) ? "yes" : "absent"});
  }

  // Extensions.
  const std::vector<std::pair<PJRT_Extension_Type, const char*>> extensions = {
      {PJRT_Extension_Type_Gpu_Custom_Call, "Gpu_Custom_Call"}, {PJRT_Extension_Type_Profiler, "Profiler"},
      {PJRT_Extension_Type_Custom_Partitioner, "Custom_Partitioner"}, {PJRT_Extension_Type_Stream, "Stream"},
      {PJRT_Extension_Type_Layouts, "Layouts"}, {PJRT_Extension_Type_FFI, "FFI"},
      {PJRT_Extension_Type_MemoryDescriptions, "MemoryDescriptions"}, {PJRT_Extension_Type_Triton, "Triton"},
      {PJRT_Extension_Type_RawBuffer, "RawBuffer"}, {PJRT_Extension_Type_PhaseCompile, "PhaseCompile"}};
  for (const auto& [type, name] : extensions) {
    const bool present = FindExtension(type) != nullptr;
    rows.push_back({std::string("extension ") + name, present, present ? "present" : "absent"});
  }
  // The Layouts extension answers.
  if (auto* layouts = reinterpret_cast<const PJRT_Layouts_Extension*>(FindExtension(PJRT_Extension_Type_Layouts))) {
    auto l = CHIP_ARGS(PJRT_Layouts_PJRT_Buffer_MemoryLayout_Args);
    l.buffer = buffer.get();
    PJRT_Error* e = layouts->PJRT_Layouts_PJRT_Buffer_MemoryLayout(&l);
    std::string text;
    if (e == nullptr) {
      auto s = CHIP_ARGS(PJRT_Layouts_MemoryLayout_Serialize_Args);
      s.layout = l.layout;
      e = layouts->PJRT_Layouts_MemoryLayout_Serialize(&s);
      if (e == nullptr) {
        text = std::string(s.serialized_bytes, s.serialized_bytes_size);
        s.serialized_layout_deleter(s.serialized_layout);
      }
      auto d = CHIP_ARGS(PJRT_Layouts_MemoryLayout_Destroy_Args);
      d.layout = l.layout;
      TakeError(layouts->PJRT_Layouts_MemoryLayout_Destroy(&d));
    }
    rows.push_back(Probe("Layouts: layout of an f32[2,3] buffer", e, text));
  }

  // Optional entry points.
  {
    PJRT_ShapeSpec spec{};
    spec.struct_size = PJRT_ShapeSpec_STRUCT_SIZE;
    int64_t dims[1] = {4};
    spec.dims = dims;
    spec.num_dims = 1;
    spec.element_type = PJRT_Buffer_Type_F32;
    auto a = CHIP_ARGS(PJRT_Client_CreateBuffersForAsyncHostToDevice_Args);
    a.client = client.get();
    a.shape_specs = &spec;
    a.num_shape_specs = 1;
    a.memory = DefaultMemory(device);
    PJRT_Error* e = Api()->PJRT_Client_CreateBuffersForAsyncHostToDevice(&a);
    if (e == nullptr) {
      auto d = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_Destroy_Args);
      d.transfer_manager = a.transfer_manager;
      TakeError(Api()->PJRT_AsyncHostToDeviceTransferManager_Destroy(&d));
    }
    rows.push_back(Probe("PJRT_Client_CreateBuffersForAsyncHostToDevice", e));
  }
  {
    std::vector<char> host(4096);
    auto m = CHIP_ARGS(PJRT_Client_DmaMap_Args);
    m.client = client.get();
    m.data = host.data();
    m.size = host.size();
    PJRT_Error* e = Api()->PJRT_Client_DmaMap(&m);
    if (e == nullptr) {
      auto u = CHIP_ARGS(PJRT_Client_DmaUnmap_Args);
      u.client = client.get();
      u.data = host.data();
      e = Api()->PJRT_Client_DmaUnmap(&u);
    }
    rows.push_back(Probe("PJRT_Client_DmaMap / DmaUnmap", e));
  }
  {
    auto v = CHIP_ARGS(PJRT_Client_CreateViewOfDeviceBuffer_Args);
    v.client = client.get();
    rows.push_back(Probe("PJRT_Client_CreateViewOfDeviceBuffer", Api()->PJRT_Client_CreateViewOfDeviceBuffer(&v)));
  }
  {
    auto c = CHIP_ARGS(PJRT_CopyToDeviceStream_TotalBytes_Args);
    rows.push_back(Probe("PJRT_CopyToDeviceStream_*", Api()->PJRT_CopyToDeviceStream_TotalBytes(&c)));
  }
  {
    LoadedExecutablePtr exe = Load(client.get(), BuildAddProgram(AddProgram{}));
    auto g = CHIP_ARGS(PJRT_LoadedExecutable_GetExecutable_Args);
    g.loaded_executable = exe.get();
    TakeError(Api()->PJRT_LoadedExecutable_GetExecutable(&g));
    ExecutablePtr executable(g.executable);
    PJRT_Program program{};
    program.struct_size = PJRT_Program_STRUCT_SIZE;
    auto o = CHIP_ARGS(PJRT_Executable_OptimizedProgram_Args);
    o.executable = executable.get();
    o.program = &program;
    rows.push_back(Probe("PJRT_Executable_OptimizedProgram", Api()->PJRT_Executable_OptimizedProgram(&o)));
  }
  {
    auto r = CHIP_ARGS(PJRT_Buffer_CopyRawToHost_Args);
    float out[2] = {};
    r.buffer = buffer.get();
    r.dst = out;
    r.offset = 4;
    r.transfer_size = 8;
    PJRT_Error* e = Api()->PJRT_Buffer_CopyRawToHost(&r);
    if (e == nullptr) {
      EventPtr event(r.event);
      EXPECT_FALSE(AwaitEvent(event.get()).has_value());
      EXPECT_EQ(out[0], 2.0f);
      EXPECT_EQ(out[1], 3.0f);
    }
    rows.push_back(Probe("PJRT_Buffer_CopyRawToHost", e));
  }
  {
    auto p = CHIP_ARGS(PJRT_Buffer_OpaqueDeviceMemoryDataPointer_Args);
    p.buffer = buffer.get();
    rows.push_back(Probe("PJRT_Buffer_OpaqueDeviceMemoryDataPointer",
                         Api()->PJRT_Buffer_OpaqueDeviceMemoryDataPointer(&p)));
  }
  {
    auto u = CHIP_ARGS(PJRT_Client_CreateUninitializedBuffer_Args);
    int64_t dims[1] = {3};
    u.client = client.get();
    u.shape_dims = dims;
    u.shape_num_dims = 1;
    u.shape_element_type = PJRT_Buffer_Type_F32;
    u.device = device;
    PJRT_Error* e = Api()->PJRT_Client_CreateUninitializedBuffer(&u);
    BufferPtr owned(u.buffer);
    rows.push_back(Probe("PJRT_Client_CreateUninitializedBuffer", e));
  }
  return rows;
}

TEST(ConformanceTest, UnsupportedIsExactlyWhatPjrt072CannotExpressForTheChip) {
  std::vector<Row> rows = ProbeEverything();
  std::printf("| feature | plugin answers |\n| --- | --- |\n");
  std::set<std::string> unsupported;
  for (const Row& r : rows) {
    std::printf("| %s | %s%s |\n", r.feature.c_str(), r.supported ? "" : "UNSUPPORTED: ", r.answer.c_str());
    if (!r.supported) unsupported.insert(r.feature);
  }
  // Why each is unsupported: pjrt_plugin/api/README.md, "What PJRT 0.72 cannot express".
  const std::set<std::string> expected = {
      "memory kind unpinned_host",
      "extension Gpu_Custom_Call",
      "extension Custom_Partitioner",
      "extension Stream",
      "extension Triton",
      "extension RawBuffer",
      "extension PhaseCompile",
      "PJRT_Client_CreateViewOfDeviceBuffer",
      "PJRT_CopyToDeviceStream_*",
      "PJRT_Executable_OptimizedProgram",
  };
  EXPECT_EQ(unsupported, expected);
  for (const Row& r : rows) {
    if (r.feature == "Layouts: layout of an f32[2,3] buffer") {
      EXPECT_EQ(r.answer, "{1,0}");
    }
    if (r.feature == "attribute xla_version") {
      EXPECT_EQ(r.answer, "2");
    }
  }
}

}  // namespace
}  // namespace chip::testing
