// Shared by the API tests: loads the built plugin with dlopen (from the test's runfiles) and
// drives it only through the PJRT C API, with RAII handles and error helpers; builds small chip
// executables with the schema's FlatBuffers API and CompileOptionsProto bytes by hand.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pjrt_plugin/schema/chip_executable_generated.h"
#include "xla/pjrt/c/pjrt_c_api.h"

namespace chip::testing {

// The plugin, loaded once per test binary with RTLD_NOW: every symbol must resolve in this
// process, which has no Python interpreter.
class Plugin {
 public:
  static Plugin& Get() {
    static Plugin* p = new Plugin();
    return *p;
  }
  const PJRT_Api* api() const { return api_; }
  void* handle() const { return handle_; }
  const std::string& path() const { return path_; }
  template <typename Fn>
  Fn Symbol(const char* name) const {
    return reinterpret_cast<Fn>(dlsym(handle_, name));
  }

 private:
  Plugin() {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const char* workspace = std::getenv("TEST_WORKSPACE");
    const std::string rel = "pjrt_plugin/pjrt_plugin_chip.so";
    path_ = (srcdir && workspace) ? std::string(srcdir) + "/" + workspace + "/" + rel : rel;
    handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      std::fprintf(stderr, "dlopen(%s) failed: %s\n", path_.c_str(), dlerror());
      std::abort();
    }
    using GetApiFn = const PJRT_Api* (*)();
    auto get = reinterpret_cast<GetApiFn>(dlsym(handle_, "GetPjrtApi"));
    if (get == nullptr) {
      std::fprintf(stderr, "%s exports no GetPjrtApi\n", path_.c_str());
      std::abort();
    }
    api_ = get();
  }
  std::string path_;
  void* handle_ = nullptr;
  const PJRT_Api* api_ = nullptr;
};

inline const PJRT_Api* Api() { return Plugin::Get().api(); }

// A PJRT error, taken over (and destroyed) from the C API.
struct Error {
  PJRT_Error_Code code;
  std::string message;
};

inline std::optional<Error> TakeError(PJRT_Error* e) {
  if (e == nullptr) return std::nullopt;
  PJRT_Error_Message_Args m{};
  m.struct_size = PJRT_Error_Message_Args_STRUCT_SIZE;
  m.error = e;
  Api()->PJRT_Error_Message(&m);
  PJRT_Error_GetCode_Args c{};
  c.struct_size = PJRT_Error_GetCode_Args_STRUCT_SIZE;
  c.error = e;
  PJRT_Error* ce = Api()->PJRT_Error_GetCode(&c);
  Error out{ce == nullptr ? c.code : PJRT_Error_Code_UNKNOWN, std::string(m.message, m.message_size)};
  PJRT_Error_Destroy_Args d{};
  d.struct_size = PJRT_Error_Destroy_Args_STRUCT_SIZE;
  d.error = e;
  Api()->PJRT_Error_Destroy(&d);
  return out;
}

inline std::string Describe(const std::optional<Error>& e) {
  return e ? "code " + std::to_string(e->code) + ": " + e->message : "OK";
}

#define CHIP_ASSERT_OK(expr)                                        \
  do {                                                              \
    auto _err = ::chip::testing::TakeError(expr);                   \
    ASSERT_FALSE(_err.has_value()) << ::chip::testing::Describe(_err); \
  } while (0)

#define CHIP_EXPECT_OK(expr)                                        \
  do {                                                              \
    auto _err = ::chip::testing::TakeError(expr);                   \
    EXPECT_FALSE(_err.has_value()) << ::chip::testing::Describe(_err); \
  } while (0)

// Expects `expr` to fail with `code` and a message containing every one of `parts`.
inline ::testing::AssertionResult FailsWith(PJRT_Error* e, PJRT_Error_Code code,
                                            std::initializer_list<const char*> parts) {
  std::optional<Error> err = TakeError(e);
  if (!err) return ::testing::AssertionFailure() << "expected error code " << code << ", got OK";
  if (err->code != code) {
    return ::testing::AssertionFailure() << "expected code " << code << ", got " << Describe(err);
  }
  for (const char* p : parts) {
    if (err->message.find(p) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks '" << p << "': " << err->message;
    }
  }
  return ::testing::AssertionSuccess();
}

template <typename Args>
Args MakeArgs(size_t size) {
  Args a;
  std::memset(&a, 0, sizeof(a));
  a.struct_size = size;
  return a;
}
#define CHIP_ARGS(Type) ::chip::testing::MakeArgs<Type>(Type##_STRUCT_SIZE)

// ---- RAII handles ----------------------------------------------------------------------------

struct ClientDeleter {
  void operator()(PJRT_Client* c) const {
    auto a = CHIP_ARGS(PJRT_Client_Destroy_Args);
    a.client = c;
    TakeError(Api()->PJRT_Client_Destroy(&a));
  }
};
struct BufferDeleter {
  void operator()(PJRT_Buffer* b) const {
    auto a = CHIP_ARGS(PJRT_Buffer_Destroy_Args);
    a.buffer = b;
    TakeError(Api()->PJRT_Buffer_Destroy(&a));
  }
};
struct EventDeleter {
  void operator()(PJRT_Event* e) const {
    auto a = CHIP_ARGS(PJRT_Event_Destroy_Args);
    a.event = e;
    TakeError(Api()->PJRT_Event_Destroy(&a));
  }
};
struct LoadedExecutableDeleter {
  void operator()(PJRT_LoadedExecutable* e) const {
    auto a = CHIP_ARGS(PJRT_LoadedExecutable_Destroy_Args);
    a.executable = e;
    TakeError(Api()->PJRT_LoadedExecutable_Destroy(&a));
  }
};
struct ExecutableDeleter {
  void operator()(PJRT_Executable* e) const {
    auto a = CHIP_ARGS(PJRT_Executable_Destroy_Args);
    a.executable = e;
    TakeError(Api()->PJRT_Executable_Destroy(&a));
  }
};
using ClientPtr = std::unique_ptr<PJRT_Client, ClientDeleter>;
using BufferPtr = std::unique_ptr<PJRT_Buffer, BufferDeleter>;
using EventPtr = std::unique_ptr<PJRT_Event, EventDeleter>;
using LoadedExecutablePtr = std::unique_ptr<PJRT_LoadedExecutable, LoadedExecutableDeleter>;
using ExecutablePtr = std::unique_ptr<PJRT_Executable, ExecutableDeleter>;

// ---- client ----------------------------------------------------------------------------------

struct IntOption {
  std::string name;
  int64_t value;
};

// `name` must outlive the PJRT_NamedValue (a literal, or a string kept alive by the caller).
inline PJRT_NamedValue Int64Value(const char* name, int64_t v) {
  PJRT_NamedValue nv{};
  nv.struct_size = PJRT_NamedValue_STRUCT_SIZE;
  nv.name = name;
  nv.name_size = std::strlen(name);
  nv.type = PJRT_NamedValue_kInt64;
  nv.int64_value = v;
  nv.value_size = 1;
  return nv;
}

inline PJRT_Error* CreateClientRaw(const std::vector<PJRT_NamedValue>& options, PJRT_Client** out) {
  auto a = CHIP_ARGS(PJRT_Client_Create_Args);
  a.create_options = options.data();
  a.num_options = options.size();
  PJRT_Error* e = Api()->PJRT_Client_Create(&a);
  *out = a.client;
  return e;
}

inline ClientPtr CreateClient(const std::vector<IntOption>& options = {}) {
  std::vector<PJRT_NamedValue> values;
  for (const IntOption& o : options) values.push_back(Int64Value(o.name.c_str(), o.value));
  PJRT_Client* client = nullptr;
  auto err = TakeError(CreateClientRaw(values, &client));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return ClientPtr(client);
}

inline std::vector<PJRT_Device*> Devices(PJRT_Client* client) {
  auto a = CHIP_ARGS(PJRT_Client_Devices_Args);
  a.client = client;
  auto err = TakeError(Api()->PJRT_Client_Devices(&a));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return std::vector<PJRT_Device*>(a.devices, a.devices + a.num_devices);
}

inline PJRT_Memory* DefaultMemory(PJRT_Device* device) {
  auto a = CHIP_ARGS(PJRT_Device_DefaultMemory_Args);
  a.device = device;
  auto err = TakeError(Api()->PJRT_Device_DefaultMemory(&a));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return a.memory;
}

// The device's memory of `kind` ("device", "pinned_host"), or nullptr.
inline PJRT_Memory* MemoryOfKind(PJRT_Device* device, const std::string& kind) {
  auto a = CHIP_ARGS(PJRT_Device_AddressableMemories_Args);
  a.device = device;
  TakeError(Api()->PJRT_Device_AddressableMemories(&a));
  for (size_t i = 0; i < a.num_memories; ++i) {
    auto k = CHIP_ARGS(PJRT_Memory_Kind_Args);
    k.memory = a.memories[i];
    TakeError(Api()->PJRT_Memory_Kind(&k));
    if (std::string(k.kind, k.kind_size) == kind) return a.memories[i];
  }
  return nullptr;
}

// Modeled chip time of device `id` of the most recently created live client (seconds).
inline double ModeledSeconds(int id) {
  return Plugin::Get().Symbol<double (*)(int)>("chip_device_modeled_time_s")(id);
}

inline int DeviceId(PJRT_Device* device) {
  auto g = CHIP_ARGS(PJRT_Device_GetDescription_Args);
  g.device = device;
  TakeError(Api()->PJRT_Device_GetDescription(&g));
  auto a = CHIP_ARGS(PJRT_DeviceDescription_Id_Args);
  a.device_description = g.device_description;
  TakeError(Api()->PJRT_DeviceDescription_Id(&a));
  return a.id;
}

inline PJRT_Device_MemoryStats_Args MemoryStats(PJRT_Device* device) {
  auto a = CHIP_ARGS(PJRT_Device_MemoryStats_Args);
  a.device = device;
  auto err = TakeError(Api()->PJRT_Device_MemoryStats(&a));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return a;
}

// ---- buffers and events ----------------------------------------------------------------------

inline int ByteSize(PJRT_Buffer_Type t) {
  switch (t) {
    case PJRT_Buffer_Type_PRED:
    case PJRT_Buffer_Type_S8:
    case PJRT_Buffer_Type_U8: return 1;
    case PJRT_Buffer_Type_S16:
    case PJRT_Buffer_Type_U16:
    case PJRT_Buffer_Type_F16:
    case PJRT_Buffer_Type_BF16: return 2;
    default: return 4;
  }
}

inline int64_t NumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Random bytes valid for `type` (PRED: 0 or 1), never all zero.
inline std::vector<uint8_t> RandomBytes(PJRT_Buffer_Type type, int64_t elements, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(elements * ByteSize(type)));
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  if (type == PJRT_Buffer_Type_PRED) {
    for (auto& b : v) b &= 1;
    if (!v.empty()) v[0] = 1;
  }
  return v;
}

inline std::vector<float> RandomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

inline PJRT_Error* FromHostRaw(PJRT_Client* client, PJRT_Device* device, PJRT_Buffer_Type type,
                               const std::vector<int64_t>& dims, const void* data, PJRT_Buffer** out,
                               const std::vector<int64_t>* byte_strides = nullptr) {
  auto a = CHIP_ARGS(PJRT_Client_BufferFromHostBuffer_Args);
  a.client = client;
  a.data = data;
  a.type = type;
  a.dims = dims.data();
  a.num_dims = dims.size();
  if (byte_strides != nullptr) {
    a.byte_strides = byte_strides->data();
    a.num_byte_strides = byte_strides->size();
  }
  a.host_buffer_semantics = PJRT_HostBufferSemantics_kImmutableOnlyDuringCall;
  a.device = device;
  PJRT_Error* e = Api()->PJRT_Client_BufferFromHostBuffer(&a);
  if (a.done_with_host_buffer != nullptr) EventPtr done(a.done_with_host_buffer);
  *out = a.buffer;
  return e;
}

inline BufferPtr FromHost(PJRT_Client* client, PJRT_Device* device, PJRT_Buffer_Type type,
                          const std::vector<int64_t>& dims, const void* data,
                          const std::vector<int64_t>* byte_strides = nullptr) {
  PJRT_Buffer* b = nullptr;
  auto err = TakeError(FromHostRaw(client, device, type, dims, data, &b, byte_strides));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return BufferPtr(b);
}

inline std::optional<Error> AwaitEvent(PJRT_Event* event) {
  auto a = CHIP_ARGS(PJRT_Event_Await_Args);
  a.event = event;
  return TakeError(Api()->PJRT_Event_Await(&a));
}

// The buffer's contents (dense row-major), or the error.
inline PJRT_Error* ToHostRaw(PJRT_Buffer* buffer, std::vector<uint8_t>* out,
                             PJRT_Buffer_MemoryLayout* layout = nullptr) {
  auto q = CHIP_ARGS(PJRT_Buffer_ToHostBuffer_Args);
  q.src = buffer;
  q.host_layout = layout;
  if (PJRT_Error* e = Api()->PJRT_Buffer_ToHostBuffer(&q)) return e;
  out->assign(q.dst_size, 0xEE);
  if (q.dst_size == 0) {  // an empty array: the query was the copy
    EventPtr event(q.event);
    if (event == nullptr) return nullptr;
    auto await_args = CHIP_ARGS(PJRT_Event_Await_Args);
    await_args.event = event.get();
    return Api()->PJRT_Event_Await(&await_args);
  }
  EventPtr query_event(q.event);
  auto a = CHIP_ARGS(PJRT_Buffer_ToHostBuffer_Args);
  a.src = buffer;
  a.host_layout = layout;
  a.dst = out->data();
  a.dst_size = out->size();
  if (PJRT_Error* e = Api()->PJRT_Buffer_ToHostBuffer(&a)) return e;
  EventPtr event(a.event);
  auto await_args = CHIP_ARGS(PJRT_Event_Await_Args);
  await_args.event = event.get();
  return Api()->PJRT_Event_Await(&await_args);
}

inline std::vector<uint8_t> ToHost(PJRT_Buffer* buffer) {
  std::vector<uint8_t> out;
  auto err = TakeError(ToHostRaw(buffer, &out));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return out;
}

inline std::vector<float> ToHostFloats(PJRT_Buffer* buffer) {
  std::vector<uint8_t> bytes = ToHost(buffer);
  std::vector<float> f(bytes.size() / sizeof(float));
  std::memcpy(f.data(), bytes.data(), f.size() * sizeof(float));
  return f;
}

inline bool IsDeleted(PJRT_Buffer* buffer) {
  auto a = CHIP_ARGS(PJRT_Buffer_IsDeleted_Args);
  a.buffer = buffer;
  TakeError(Api()->PJRT_Buffer_IsDeleted(&a));
  return a.is_deleted;
}

inline PJRT_Device* BufferDevice(PJRT_Buffer* buffer) {
  auto a = CHIP_ARGS(PJRT_Buffer_Device_Args);
  a.buffer = buffer;
  TakeError(Api()->PJRT_Buffer_Device(&a));
  return a.device;
}

// ---- programs --------------------------------------------------------------------------------

// A chip executable computing out0 = a + b (f32 `dims`), optionally donating a to out0, and
// optionally also out1 = a * b.
struct AddProgram {
  std::vector<int64_t> dims = {4, 8};
  bool donate_a = false;
  bool with_product = false;
  int num_replicas = 1;
  double flops = 32;
};

inline std::string BuildAddProgram(const AddProgram& spec) {
  namespace exe = ::chip::exe;
  flatbuffers::FlatBufferBuilder fbb;
  auto type = [&]() { return exe::CreateTensorTypeDirect(fbb, exe::DType::F32, &spec.dims); };
  std::vector<flatbuffers::Offset<exe::Value>> values = {
      exe::CreateValueDirect(fbb, type(), exe::StorageKind::PARAMETER, 0, "%a"),
      exe::CreateValueDirect(fbb, type(), exe::StorageKind::PARAMETER, 1, "%b"),
      exe::CreateValueDirect(fbb, type(), exe::StorageKind::OUTPUT, 0, "%sum"),
  };
  if (spec.with_product) values.push_back(exe::CreateValueDirect(fbb, type(), exe::StorageKind::OUTPUT, 1, "%prod"));
  std::vector<flatbuffers::Offset<exe::Parameter>> params = {
      exe::CreateParameter(fbb, 0, type(), spec.donate_a ? 0 : -1),
      exe::CreateParameter(fbb, 1, type(), -1),
  };
  std::vector<flatbuffers::Offset<exe::Output>> outputs = {exe::CreateOutput(fbb, 2, type(), spec.donate_a ? 0 : -1)};
  if (spec.with_product) outputs.push_back(exe::CreateOutput(fbb, 3, type(), -1));

  std::vector<int64_t> strides(spec.dims.size());
  int64_t s = 1;
  for (size_t i = spec.dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= spec.dims[i];
  }
  std::vector<flatbuffers::Offset<exe::View>> views = {exe::CreateViewDirect(fbb, 0, 0, &strides),
                                                       exe::CreateViewDirect(fbb, 1, 0, &strides)};
  std::vector<exe::Instr> instrs = {
      exe::Instr(exe::EwOp::LOAD, exe::DType::F32, 0, 0, 0, 0, 0),
      exe::Instr(exe::EwOp::LOAD, exe::DType::F32, 1, 0, 0, 0, 0),
      exe::Instr(exe::EwOp::ADD, exe::DType::F32, 0, 1, 0, 0, 0),
      exe::Instr(exe::EwOp::MUL, exe::DType::F32, 0, 1, 0, 0, 0),
  };
  std::vector<flatbuffers::Offset<exe::ElementwiseResult>> results = {exe::CreateElementwiseResult(fbb, 2, 0)};
  if (spec.with_product) results.push_back(exe::CreateElementwiseResult(fbb, 3, 1));
  auto ew = exe::CreateElementwiseDirect(fbb, &spec.dims, &views, &instrs, &results);
  const double bytes = static_cast<double>(NumElements(spec.dims)) * 4;
  auto cost = exe::CreateKernelCost(fbb, 0, exe::DType::F32, spec.flops, 0, 2 * bytes, bytes);
  std::vector<int32_t> kin = {0, 1};
  std::vector<int32_t> kout = {2};
  if (spec.with_product) kout.push_back(3);
  std::vector<flatbuffers::Offset<exe::Kernel>> kernels = {
      exe::CreateKernelDirect(fbb, "fusion.0", "test.cc:1", &kin, &kout, cost, exe::KernelOp::Elementwise, ew.Union())};
  auto root = exe::CreateExecutableDirect(fbb, 1, "add_program", "fp-add-program", "test", spec.num_replicas, 1,
                                          &values, nullptr, &params, &outputs, &kernels, 0, nullptr);
  exe::FinishExecutableBuffer(fbb, root);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// ---- CompileOptionsProto bytes ---------------------------------------------------------------

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void PutVarintField(std::string* out, uint32_t field, uint64_t v) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | 0);
  PutVarint(out, v);
}
inline void PutBytesField(std::string* out, uint32_t field, const std::string& bytes) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  PutVarint(out, bytes.size());
  out->append(bytes);
}

// CompileOptionsProto{executable_build_options{num_replicas, num_partitions=1,
// device_assignment{replica_count, computation_count=1, computation_devices[0]=device_ids}}}.
inline std::string CompileOptionsForDevices(const std::vector<int64_t>& device_ids) {
  std::string ids;
  for (int64_t id : device_ids) PutVarint(&ids, static_cast<uint64_t>(id));
  std::string computation;
  PutBytesField(&computation, 1, ids);  // packed replica_device_ids
  std::string assignment;
  PutVarintField(&assignment, 1, device_ids.size());
  PutVarintField(&assignment, 2, 1);
  PutBytesField(&assignment, 3, computation);
  std::string build;
  PutVarintField(&build, 1, static_cast<uint64_t>(int64_t{-1}));  // device_ordinal
  PutVarintField(&build, 4, device_ids.size());
  PutVarintField(&build, 5, 1);
  PutBytesField(&build, 9, assignment);
  std::string options;
  PutBytesField(&options, 3, build);
  return options;
}

inline PJRT_Error* DeserializeAndLoadRaw(PJRT_Client* client, const std::string& bytes, PJRT_LoadedExecutable** out,
                                         const std::string* options = nullptr,
                                         size_t struct_size = PJRT_Executable_DeserializeAndLoad_Args_STRUCT_SIZE) {
  auto a = MakeArgs<PJRT_Executable_DeserializeAndLoad_Args>(struct_size);
  a.client = client;
  a.serialized_executable = bytes.data();
  a.serialized_executable_size = bytes.size();
  if (options != nullptr) {
    a.overridden_serialized_compile_options = options->data();
    a.overridden_serialized_compile_options_size = options->size();
  }
  PJRT_Error* e = Api()->PJRT_Executable_DeserializeAndLoad(&a);
  *out = a.loaded_executable;
  return e;
}

inline LoadedExecutablePtr Load(PJRT_Client* client, const std::string& bytes, const std::string* options = nullptr) {
  PJRT_LoadedExecutable* exe = nullptr;
  auto err = TakeError(DeserializeAndLoadRaw(client, bytes, &exe, options));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return LoadedExecutablePtr(exe);
}

// Runs `exe` once on one device with `args`; returns the outputs (or the error).
inline PJRT_Error* ExecuteRaw(PJRT_LoadedExecutable* exe, const std::vector<PJRT_Buffer*>& args, size_t num_outputs,
                              std::vector<BufferPtr>* outputs, PJRT_ExecuteOptions* options = nullptr,
                              PJRT_Device* execute_device = nullptr, EventPtr* complete = nullptr) {
  PJRT_ExecuteOptions default_options{};
  default_options.struct_size = PJRT_ExecuteOptions_STRUCT_SIZE;
  std::vector<PJRT_Buffer*> out(num_outputs + 1, nullptr);  // +1: never a zero-size array
  PJRT_Buffer* const* arg_list = args.data();
  PJRT_Buffer** out_list = out.data();
  PJRT_Event* event = nullptr;
  auto a = CHIP_ARGS(PJRT_LoadedExecutable_Execute_Args);
  a.executable = exe;
  a.options = options != nullptr ? options : &default_options;
  a.argument_lists = &arg_list;
  a.num_devices = 1;
  a.num_args = args.size();
  a.output_lists = &out_list;
  a.device_complete_events = complete != nullptr ? &event : nullptr;
  a.execute_device = execute_device;
  PJRT_Error* e = Api()->PJRT_LoadedExecutable_Execute(&a);
  if (e == nullptr) {
    outputs->clear();
    for (size_t i = 0; i < num_outputs; ++i) outputs->emplace_back(out[i]);
    if (complete != nullptr) complete->reset(event);
  }
  return e;
}

}  // namespace chip::testing
