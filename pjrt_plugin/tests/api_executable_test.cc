// Executables through the C API: loading serialized chip executables (no Python needed),
// executable metadata, serialization, execution with argument checks, donation and devices.
#include <map>
#include <string>
#include <vector>

#include "api_test_util.h"

namespace chip::testing {
namespace {

class ExecutableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = CreateClient({{"num_devices", 3}});
    devices_ = Devices(client_.get());
    ASSERT_EQ(devices_.size(), 3u);
  }
  BufferPtr Floats(const std::vector<float>& v, const std::vector<int64_t>& dims, int device = 0) {
    return FromHost(client_.get(), devices_[device], PJRT_Buffer_Type_F32, dims, v.data());
  }
  ExecutablePtr GetExecutable(PJRT_LoadedExecutable* loaded) {
    auto a = CHIP_ARGS(PJRT_LoadedExecutable_GetExecutable_Args);
    a.loaded_executable = loaded;
    auto err = TakeError(Api()->PJRT_LoadedExecutable_GetExecutable(&a));
    EXPECT_FALSE(err.has_value()) << Describe(err);
    return ExecutablePtr(a.executable);
  }
  ClientPtr client_;
  std::vector<PJRT_Device*> devices_;
};

std::vector<float> Sum(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> s(a.size());
  for (size_t i = 0; i < a.size(); ++i) s[i] = a[i] + b[i];
  return s;
}

TEST_F(ExecutableTest, GarbageIsAClearError) {
  PJRT_LoadedExecutable* exe = nullptr;
  EXPECT_TRUE(FailsWith(DeserializeAndLoadRaw(client_.get(), "definitely not an executable", &exe),
                        PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Executable_DeserializeAndLoad", "not a loadable chip executable", "CHPX"}));
  EXPECT_TRUE(FailsWith(DeserializeAndLoadRaw(client_.get(), "", &exe), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Executable_DeserializeAndLoad", "too short"}));
  std::string truncated = BuildAddProgram({});
  truncated.resize(truncated.size() / 2);
  EXPECT_TRUE(FailsWith(DeserializeAndLoadRaw(client_.get(), truncated, &exe), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Executable_DeserializeAndLoad"}));
  EXPECT_EQ(exe, nullptr);
}

TEST_F(ExecutableTest, MetadataAndSerialization) {
  const std::string bytes = BuildAddProgram({{2, 3, 4}, false, true, 1, 48});
  LoadedExecutablePtr loaded = Load(client_.get(), bytes);
  ASSERT_NE(loaded, nullptr);
  ExecutablePtr exe = GetExecutable(loaded.get());

  auto name = CHIP_ARGS(PJRT_Executable_Name_Args);
  name.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_Name(&name));
  EXPECT_EQ(std::string(name.executable_name, name.executable_name_size), "add_program");
  auto reps = CHIP_ARGS(PJRT_Executable_NumReplicas_Args);
  reps.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_NumReplicas(&reps));
  EXPECT_EQ(reps.num_replicas, 1u);
  auto parts = CHIP_ARGS(PJRT_Executable_NumPartitions_Args);
  parts.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_NumPartitions(&parts));
  EXPECT_EQ(parts.num_partitions, 1u);
  auto nout = CHIP_ARGS(PJRT_Executable_NumOutputs_Args);
  nout.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_NumOutputs(&nout));
  EXPECT_EQ(nout.num_outputs, 2u);
  auto types = CHIP_ARGS(PJRT_Executable_OutputElementTypes_Args);
  types.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_OutputElementTypes(&types));
  ASSERT_EQ(types.num_output_types, 2u);
  EXPECT_EQ(types.output_types[0], PJRT_Buffer_Type_F32);
  auto dims = CHIP_ARGS(PJRT_Executable_OutputDimensions_Args);
  dims.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_OutputDimensions(&dims));
  ASSERT_EQ(dims.num_outputs, 2u);
  EXPECT_EQ(dims.dim_sizes[0], 3u);
  EXPECT_EQ(std::vector<int64_t>(dims.dims, dims.dims + 6), (std::vector<int64_t>{2, 3, 4, 2, 3, 4}));
  auto kinds = CHIP_ARGS(PJRT_Executable_OutputMemoryKinds_Args);
  kinds.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_OutputMemoryKinds(&kinds));
  ASSERT_EQ(kinds.num_outputs, 2u);
  EXPECT_EQ(std::string(kinds.memory_kinds[1], kinds.memory_kind_sizes[1]), "device");
  auto fp = CHIP_ARGS(PJRT_Executable_Fingerprint_Args);
  fp.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_Fingerprint(&fp));
  EXPECT_EQ(std::string(fp.executable_fingerprint, fp.executable_fingerprint_size), "fp-add-program");
  auto lfp = CHIP_ARGS(PJRT_LoadedExecutable_Fingerprint_Args);
  lfp.executable = loaded.get();
  CHIP_ASSERT_OK(Api()->PJRT_LoadedExecutable_Fingerprint(&lfp));
  EXPECT_EQ(std::string(lfp.executable_fingerprint, lfp.executable_fingerprint_size), "fp-add-program");
  auto code = CHIP_ARGS(PJRT_Executable_SizeOfGeneratedCodeInBytes_Args);
  code.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_SizeOfGeneratedCodeInBytes(&code));
  EXPECT_EQ(code.size_in_bytes, static_cast<int64_t>(bytes.size()));

  auto cost = CHIP_ARGS(PJRT_Executable_GetCostAnalysis_Args);
  cost.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_GetCostAnalysis(&cost));
  std::map<std::string, float> props;
  for (size_t i = 0; i < cost.num_properties; ++i) {
    const PJRT_NamedValue& p = cost.properties[i];
    ASSERT_EQ(p.type, PJRT_NamedValue_kFloat);
    props[std::string(p.name, p.name_size)] = p.float_value;
  }
  EXPECT_EQ(props["flops"], 48.0f);
  EXPECT_EQ(props["bytes accessed"], 3 * 24 * 4.0f);
  EXPECT_EQ(props.count("transcendentals"), 1u);

  // Serialize returns the chip executable bytes and their 16-byte seal (FNV-1a 64, "CHIPSEAL").
  auto ser = CHIP_ARGS(PJRT_Executable_Serialize_Args);
  ser.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_Serialize(&ser));
  const std::string sealed(ser.serialized_bytes, ser.serialized_bytes_size);
  ser.serialized_executable_deleter(ser.serialized_executable);
  ASSERT_EQ(sealed.size(), bytes.size() + 16);
  EXPECT_EQ(sealed.substr(0, bytes.size()), bytes);
  EXPECT_EQ(sealed.substr(sealed.size() - 8), "CHIPSEAL");
  uint64_t fnv = 1469598103934665603ull;
  for (unsigned char c : bytes) fnv = (fnv ^ c) * 1099511628211ull;
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= uint64_t{static_cast<unsigned char>(sealed[bytes.size() + i])} << (8 * i);
  EXPECT_EQ(stored, fnv);
  // The sealed copy loads; one flipped bit anywhere in it is DATA_LOSS, even in a byte (the
  // program's name) that leaves a well-formed executable.
  LoadedExecutablePtr reloaded = Load(client_.get(), sealed);
  EXPECT_NE(reloaded, nullptr);
  std::string damaged = sealed;
  const size_t name_at = damaged.find("add_program");
  ASSERT_NE(name_at, std::string::npos);
  damaged[name_at] ^= 0x20;
  PJRT_LoadedExecutable* bad = nullptr;
  EXPECT_TRUE(FailsWith(DeserializeAndLoadRaw(client_.get(), damaged, &bad), PJRT_Error_Code_DATA_LOSS,
                        {"PJRT_Executable_DeserializeAndLoad", "damaged", "checksum"}));
  EXPECT_EQ(bad, nullptr);

  auto opt = CHIP_ARGS(PJRT_Executable_OptimizedProgram_Args);
  opt.executable = exe.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_Executable_OptimizedProgram(&opt), PJRT_Error_Code_UNIMPLEMENTED,
                        {"PJRT_Executable_OptimizedProgram"}));

  auto dev = CHIP_ARGS(PJRT_LoadedExecutable_AddressableDevices_Args);
  dev.executable = loaded.get();
  CHIP_ASSERT_OK(Api()->PJRT_LoadedExecutable_AddressableDevices(&dev));
  ASSERT_EQ(dev.num_addressable_devices, 1u);
  EXPECT_EQ(dev.addressable_devices[0], devices_[0]);
}

TEST_F(ExecutableTest, CompiledMemoryStatsWithOldAndNewStructs) {
  LoadedExecutablePtr loaded = Load(client_.get(), BuildAddProgram({{4, 8}, true, false, 1, 32}));
  ExecutablePtr exe = GetExecutable(loaded.get());
  auto stats = CHIP_ARGS(PJRT_Executable_GetCompiledMemoryStats_Args);
  stats.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_Executable_GetCompiledMemoryStats(&stats));
  EXPECT_EQ(stats.argument_size_in_bytes, 2 * 128);
  EXPECT_EQ(stats.output_size_in_bytes, 128);
  EXPECT_EQ(stats.alias_size_in_bytes, 128);
  EXPECT_EQ(stats.temp_size_in_bytes, 0);
  EXPECT_EQ(stats.peak_memory_in_bytes, 2 * 128);

  // A PJRT 0.70 caller's struct ends before peak_memory_in_bytes: it must work and the plugin must
  // not write past it.
  auto old = MakeArgs<PJRT_Executable_GetCompiledMemoryStats_Args>(
      PJRT_STRUCT_SIZE(PJRT_Executable_GetCompiledMemoryStats_Args, host_temp_size_in_bytes));
  old.executable = exe.get();
  old.peak_memory_in_bytes = -12345;
  CHIP_ASSERT_OK(Api()->PJRT_Executable_GetCompiledMemoryStats(&old));
  EXPECT_EQ(old.argument_size_in_bytes, 2 * 128);
  EXPECT_EQ(old.peak_memory_in_bytes, -12345);
  auto too_old = MakeArgs<PJRT_Executable_GetCompiledMemoryStats_Args>(
      PJRT_STRUCT_SIZE(PJRT_Executable_GetCompiledMemoryStats_Args, extension_start));
  too_old.executable = exe.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_Executable_GetCompiledMemoryStats(&too_old), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Executable_GetCompiledMemoryStats", "struct_size"}));
}

TEST_F(ExecutableTest, DeserializeWithA070SizedStruct) {
  // PJRT 0.70's DeserializeAndLoad args end at loaded_executable (no overridden options).
  const std::string bytes = BuildAddProgram({});
  PJRT_LoadedExecutable* exe = nullptr;
  CHIP_ASSERT_OK(DeserializeAndLoadRaw(client_.get(), bytes, &exe, nullptr,
                                       PJRT_STRUCT_SIZE(PJRT_Executable_DeserializeAndLoad_Args, loaded_executable)));
  LoadedExecutablePtr owned(exe);
  ASSERT_NE(exe, nullptr);
}

TEST_F(ExecutableTest, ExecuteAddsRandomInputs) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({{4, 8}, false, true, 1, 32}));
  std::vector<float> a = RandomFloats(32, 21), b = RandomFloats(32, 22);
  BufferPtr ba = Floats(a, {4, 8}), bb = Floats(b, {4, 8});
  std::vector<BufferPtr> out;
  EventPtr done;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 2, &out, nullptr, nullptr, &done));
  ASSERT_NE(done, nullptr);
  EXPECT_FALSE(AwaitEvent(done.get()).has_value());
  EXPECT_EQ(ToHostFloats(out[0].get()), Sum(a, b));
  std::vector<float> prod = ToHostFloats(out[1].get());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(prod[i], a[i] * b[i]);
  EXPECT_EQ(BufferDevice(out[0].get()), devices_[0]);
  EXPECT_FALSE(IsDeleted(ba.get()));  // not donated: the program does not alias it
  EXPECT_EQ(ToHostFloats(ba.get()), a);
}

TEST_F(ExecutableTest, ArgumentChecksNameTheArgument) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({}));
  std::vector<float> a = RandomFloats(32, 23);
  BufferPtr ba = Floats(a, {4, 8});
  std::vector<uint8_t> half_bytes = RandomBytes(PJRT_Buffer_Type_BF16, 32, 24);
  BufferPtr bf16 = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_BF16, {4, 8}, half_bytes.data());
  BufferPtr wrong_shape = Floats(a, {8, 4});
  BufferPtr other_device = Floats(a, {4, 8}, 2);
  std::vector<BufferPtr> out;
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), bf16.get()}, 1, &out), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_LoadedExecutable_Execute", "argument 1", "expected f32[4,8]", "got bf16[4,8]"}));
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {wrong_shape.get(), ba.get()}, 1, &out),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"argument 0", "expected f32[4,8]", "got f32[8,4]"}));
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), other_device.get()}, 1, &out),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"argument 1", "chip:2", "chip:0"}));
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get()}, 1, &out), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"takes 2 argument(s), got 1"}));
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), nullptr}, 1, &out), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"argument 1", "null"}));
  BufferPtr gone = Floats(a, {4, 8});
  auto del = CHIP_ARGS(PJRT_Buffer_Delete_Args);
  del.buffer = gone.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_Delete(&del));
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), gone.get()}, 1, &out), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"argument 1", "deleted or donated"}));
  // Nothing was enqueued or consumed by the failed calls.
  EXPECT_FALSE(IsDeleted(ba.get()));
}

TEST_F(ExecutableTest, DonationReusesTheArgumentMemory) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({{64, 64}, true, false, 1, 4096}));
  PJRT_Device* d = devices_[0];
  std::vector<float> a = RandomFloats(4096, 25), b = RandomFloats(4096, 26);
  BufferPtr ba = Floats(a, {64, 64}), bb = Floats(b, {64, 64});
  const int64_t before = MemoryStats(d).bytes_in_use;
  std::vector<BufferPtr> out;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &out));
  EXPECT_EQ(ToHostFloats(out[0].get()), Sum(a, b));
  EXPECT_TRUE(IsDeleted(ba.get()));  // donated at once
  EXPECT_FALSE(IsDeleted(bb.get()));
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(FailsWith(ToHostRaw(ba.get(), &bytes), PJRT_Error_Code_FAILED_PRECONDITION, {"donated"}));
  EXPECT_EQ(MemoryStats(d).bytes_in_use, before);  // the output lives in a's memory

  // The caller can forbid it.
  BufferPtr ca = Floats(a, {64, 64});
  int64_t keep[1] = {0};
  PJRT_ExecuteOptions options{};
  options.struct_size = PJRT_ExecuteOptions_STRUCT_SIZE;
  options.non_donatable_input_indices = keep;
  options.num_non_donatable_input_indices = 1;
  std::vector<BufferPtr> out2;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ca.get(), bb.get()}, 1, &out2, &options));
  EXPECT_EQ(ToHostFloats(out2[0].get()), Sum(a, b));
  EXPECT_FALSE(IsDeleted(ca.get()));
  EXPECT_EQ(ToHostFloats(ca.get()), a);

  // A buffer passed twice is not donated.
  std::vector<BufferPtr> out3;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ca.get(), ca.get()}, 1, &out3));
  EXPECT_EQ(ToHostFloats(out3[0].get()), Sum(a, a));
  EXPECT_FALSE(IsDeleted(ca.get()));
}

TEST_F(ExecutableTest, DevicesFromCompileOptionsAndExecuteDevice) {
  const std::string bytes = BuildAddProgram({});
  const std::string on_two = CompileOptionsForDevices({2});
  LoadedExecutablePtr exe = Load(client_.get(), bytes, &on_two);
  auto dev = CHIP_ARGS(PJRT_LoadedExecutable_AddressableDevices_Args);
  dev.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_LoadedExecutable_AddressableDevices(&dev));
  ASSERT_EQ(dev.num_addressable_devices, 1u);
  EXPECT_EQ(dev.addressable_devices[0], devices_[2]);
  std::vector<float> a = RandomFloats(32, 27), b = RandomFloats(32, 28);
  BufferPtr ba = Floats(a, {4, 8}, 2), bb = Floats(b, {4, 8}, 2);
  std::vector<BufferPtr> out;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &out));
  EXPECT_EQ(BufferDevice(out[0].get()), devices_[2]);
  EXPECT_EQ(ToHostFloats(out[0].get()), Sum(a, b));

  // execute_device runs a single-device program on another chip.
  BufferPtr ca = Floats(a, {4, 8}, 1), cb = Floats(b, {4, 8}, 1);
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ca.get(), cb.get()}, 1, &out, nullptr, devices_[1]));
  EXPECT_EQ(BufferDevice(out[0].get()), devices_[1]);
  EXPECT_EQ(ToHostFloats(out[0].get()), Sum(a, b));

  // Bound by compile options: arguments on another chip are an error naming both.
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ca.get(), cb.get()}, 1, &out), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"argument 0", "chip:1", "chip:2"}));

  const std::string bad = CompileOptionsForDevices({5});
  PJRT_LoadedExecutable* raw = nullptr;
  EXPECT_TRUE(FailsWith(DeserializeAndLoadRaw(client_.get(), bytes, &raw, &bad), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"device 5"}));
}

TEST_F(ExecutableTest, UnboundExecutableFollowsItsArguments) {
  // Deserialized without compile options (a PJRT 0.70 caller loading from a compilation cache):
  // a single-device program runs on the chip its arguments are on.
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({}));
  std::vector<float> a = RandomFloats(32, 29), b = RandomFloats(32, 30);
  BufferPtr ba = Floats(a, {4, 8}, 2), bb = Floats(b, {4, 8}, 2);
  std::vector<BufferPtr> out;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &out));
  EXPECT_EQ(BufferDevice(out[0].get()), devices_[2]);
  EXPECT_EQ(ToHostFloats(out[0].get()), Sum(a, b));
}

TEST_F(ExecutableTest, TwoReplicasRunOnTwoChips) {
  const std::string options = CompileOptionsForDevices({1, 0});
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({{4, 8}, false, false, 2, 32}), &options);
  std::vector<float> a0 = RandomFloats(32, 31), b0 = RandomFloats(32, 32);
  std::vector<float> a1 = RandomFloats(32, 33), b1 = RandomFloats(32, 34);
  BufferPtr x0 = Floats(a0, {4, 8}, 1), y0 = Floats(b0, {4, 8}, 1);  // replica 0 on chip 1
  BufferPtr x1 = Floats(a1, {4, 8}, 0), y1 = Floats(b1, {4, 8}, 0);  // replica 1 on chip 0
  PJRT_Buffer* list0[2] = {x0.get(), y0.get()};
  PJRT_Buffer* list1[2] = {x1.get(), y1.get()};
  PJRT_Buffer* const* lists[2] = {list0, list1};
  PJRT_Buffer* out0[1] = {nullptr};
  PJRT_Buffer* out1[1] = {nullptr};
  PJRT_Buffer** outs[2] = {out0, out1};
  PJRT_Event* events[2] = {nullptr, nullptr};
  PJRT_ExecuteOptions opts{};
  opts.struct_size = PJRT_ExecuteOptions_STRUCT_SIZE;
  auto a = CHIP_ARGS(PJRT_LoadedExecutable_Execute_Args);
  a.executable = exe.get();
  a.options = &opts;
  a.argument_lists = lists;
  a.num_devices = 2;
  a.num_args = 2;
  a.output_lists = outs;
  a.device_complete_events = events;
  CHIP_ASSERT_OK(Api()->PJRT_LoadedExecutable_Execute(&a));
  BufferPtr r0(out0[0]), r1(out1[0]);
  EventPtr e0(events[0]), e1(events[1]);
  EXPECT_FALSE(AwaitEvent(e0.get()).has_value());
  EXPECT_FALSE(AwaitEvent(e1.get()).has_value());
  EXPECT_EQ(BufferDevice(r0.get()), devices_[1]);
  EXPECT_EQ(BufferDevice(r1.get()), devices_[0]);
  EXPECT_EQ(ToHostFloats(r0.get()), Sum(a0, b0));
  EXPECT_EQ(ToHostFloats(r1.get()), Sum(a1, b1));
  a.num_devices = 1;
  EXPECT_TRUE(FailsWith(Api()->PJRT_LoadedExecutable_Execute(&a), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"runs on 2 device(s)", "1 argument list(s)"}));
}

TEST_F(ExecutableTest, DeletedExecutable) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({}));
  auto del = CHIP_ARGS(PJRT_LoadedExecutable_Delete_Args);
  del.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_LoadedExecutable_Delete(&del));
  auto is = CHIP_ARGS(PJRT_LoadedExecutable_IsDeleted_Args);
  is.executable = exe.get();
  CHIP_ASSERT_OK(Api()->PJRT_LoadedExecutable_IsDeleted(&is));
  EXPECT_TRUE(is.is_deleted);
  std::vector<float> a = RandomFloats(32, 35);
  BufferPtr ba = Floats(a, {4, 8}), bb = Floats(a, {4, 8});
  std::vector<BufferPtr> out;
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &out), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"add_program", "deleted"}));
}

}  // namespace
}  // namespace chip::testing
