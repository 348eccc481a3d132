// The PJRT C API driven with misuse: every entry point with null, empty, short and zero-filled
// argument structs; deleted and donated buffers; deleted and destroyed executables; objects of
// another client or device; events awaited and observed more than once; short option structs.
// Nothing may crash (this test runs under ASan/UBSan with --config=asan), and every failure is a
// PJRT error whose message names the entry point.
#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

#include "api_test_util.h"

namespace chip::testing {
namespace {

using Slot = PJRT_Error* (*)(void*);

// The entry points of the PJRT_Api table, in table order: every function-pointer slot after the
// header (struct_size, extension_start, pjrt_api_version).
constexpr size_t kFirstSlot = offsetof(PJRT_Api, PJRT_Error_Destroy);

std::vector<std::pair<size_t, Slot>> Slots() {
  std::vector<std::pair<size_t, Slot>> slots;
  const auto* base = reinterpret_cast<const unsigned char*>(Api());
  for (size_t off = kFirstSlot; off + sizeof(void*) <= Api()->struct_size; off += sizeof(void*)) {
    Slot fn;
    std::memcpy(&fn, base + off, sizeof(fn));
    slots.emplace_back(off, fn);
  }
  return slots;
}

// Entry points that return void (they take errors, not args to check).
bool ReturnsVoid(size_t off) {
  return off == offsetof(PJRT_Api, PJRT_Error_Destroy) || off == offsetof(PJRT_Api, PJRT_Error_Message);
}

TEST(MisuseTest, EveryEntryPointRejectsNullAndShortArgs) {
  const auto slots = Slots();
  ASSERT_GT(slots.size(), 100u);
  for (const auto& [off, fn] : slots) {
    SCOPED_TRACE("PJRT_Api slot at offset " + std::to_string(off));
    ASSERT_NE(fn, nullptr);
    if (ReturnsVoid(off)) {
      fn(nullptr);  // must simply return
      auto zero = MakeArgs<PJRT_Error_Destroy_Args>(0);
      fn(&zero);
      continue;
    }
    // Null args.
    std::optional<Error> e = TakeError(fn(nullptr));
    ASSERT_TRUE(e.has_value());
    EXPECT_NE(e->message.find("PJRT_"), std::string::npos) << e->message;
    // struct_size 0, 1 and 8 (a struct of another ABI, or an uninitialized field's low byte).
    for (size_t size : {size_t{0}, size_t{1}, size_t{8}}) {
      alignas(16) unsigned char args[64] = {};
      std::memcpy(args, &size, sizeof(size));
      std::optional<Error> s = TakeError(fn(args));
      ASSERT_TRUE(s.has_value()) << "struct_size " << size;
      EXPECT_NE(s->message.find("PJRT_"), std::string::npos) << s->message;
    }
    // An uninitialized struct_size.
    alignas(16) unsigned char garbage[64];
    std::memset(garbage, 0xA5, sizeof(garbage));
    std::optional<Error> g = TakeError(fn(garbage));
    ASSERT_TRUE(g.has_value());
  }
}

TEST(MisuseTest, EveryEntryPointSurvivesZeroFilledArgs) {
  // A zero-filled struct of a newer caller's (larger) size: every input pointer null, every
  // count 0. Entry points either fail naming the missing input or do something harmless; those
  // that create an object with no inputs hand it back, and it is destroyed here.
  for (const auto& [off, fn] : Slots()) {
    if (ReturnsVoid(off)) continue;
    SCOPED_TRACE("PJRT_Api slot at offset " + std::to_string(off));
    alignas(16) unsigned char args[1024] = {};
    const size_t size = sizeof(args);
    std::memcpy(args, &size, sizeof(size));
    std::optional<Error> e = TakeError(fn(args));
    if (e.has_value()) {
      EXPECT_NE(e->message.find("PJRT_"), std::string::npos) << e->message;
      continue;
    }
    if (off == offsetof(PJRT_Api, PJRT_Client_Create)) {
      ClientPtr owned(reinterpret_cast<PJRT_Client_Create_Args*>(args)->client);
      EXPECT_NE(owned, nullptr);
    } else if (off == offsetof(PJRT_Api, PJRT_TopologyDescription_Create)) {
      auto* a = reinterpret_cast<PJRT_TopologyDescription_Create_Args*>(args);
      auto d = CHIP_ARGS(PJRT_TopologyDescription_Destroy_Args);
      d.topology = a->topology;
      CHIP_EXPECT_OK(Api()->PJRT_TopologyDescription_Destroy(&d));
    } else if (off == offsetof(PJRT_Api, PJRT_ExecuteContext_Create)) {
      auto* a = reinterpret_cast<PJRT_ExecuteContext_Create_Args*>(args);
      auto d = CHIP_ARGS(PJRT_ExecuteContext_Destroy_Args);
      d.context = a->context;
      CHIP_EXPECT_OK(Api()->PJRT_ExecuteContext_Destroy(&d));
    }
  }
}

class ObjectMisuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = CreateClient({{"num_devices", 2}});
    other_ = CreateClient();
    devices_ = Devices(client_.get());
    ASSERT_EQ(devices_.size(), 2u);
  }
  BufferPtr Floats(const std::vector<float>& v, int device = 0) {
    return FromHost(client_.get(), devices_[device], PJRT_Buffer_Type_F32, {4, 8}, v.data());
  }
  ClientPtr client_, other_;
  std::vector<PJRT_Device*> devices_;
};

TEST_F(ObjectMisuseTest, DonatedBufferCannotBeUsedAgain) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({{4, 8}, /*donate_a=*/true}));
  std::vector<float> a = RandomFloats(32, 1), b = RandomFloats(32, 2);
  BufferPtr ba = Floats(a), bb = Floats(b);
  std::vector<BufferPtr> out;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &out));
  ASSERT_TRUE(IsDeleted(ba.get()));
  // Again as an argument, as a copy source, as a host transfer source: errors, nothing enqueued.
  std::vector<BufferPtr> out2;
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &out2), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"PJRT_LoadedExecutable_Execute", "argument 0", "donated"}));
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {bb.get(), ba.get()}, 1, &out2), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"argument 1", "donated"}));
  EXPECT_FALSE(IsDeleted(bb.get()));
  auto copy = CHIP_ARGS(PJRT_Buffer_CopyToDevice_Args);
  copy.buffer = ba.get();
  copy.dst_device = devices_[1];
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_CopyToDevice(&copy), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"PJRT_Buffer_CopyToDevice"}));
  std::vector<uint8_t> host;
  EXPECT_TRUE(FailsWith(ToHostRaw(ba.get(), &host), PJRT_Error_Code_FAILED_PRECONDITION, {"donated"}));
  // Deleting a donated buffer, twice, then destroying it: fine.
  auto del = CHIP_ARGS(PJRT_Buffer_Delete_Args);
  del.buffer = ba.get();
  CHIP_EXPECT_OK(Api()->PJRT_Buffer_Delete(&del));
  CHIP_EXPECT_OK(Api()->PJRT_Buffer_Delete(&del));
  ba.reset();
  // The output is right and the untouched argument still reads back.
  std::vector<float> sum(32);
  for (int i = 0; i < 32; ++i) sum[i] = a[i] + b[i];
  EXPECT_EQ(ToHostFloats(out[0].get()), sum);
  EXPECT_EQ(ToHostFloats(bb.get()), b);
}

TEST_F(ObjectMisuseTest, DeletedAndDestroyedObjects) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({}));
  std::vector<float> a = RandomFloats(32, 3);
  BufferPtr ba = Floats(a);
  // Delete the executable twice, then run it, query it, and destroy it.
  auto del = CHIP_ARGS(PJRT_LoadedExecutable_Delete_Args);
  del.executable = exe.get();
  CHIP_EXPECT_OK(Api()->PJRT_LoadedExecutable_Delete(&del));
  CHIP_EXPECT_OK(Api()->PJRT_LoadedExecutable_Delete(&del));
  std::vector<BufferPtr> out;
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), ba.get()}, 1, &out), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"PJRT_LoadedExecutable_Execute", "deleted"}));
  auto get = CHIP_ARGS(PJRT_LoadedExecutable_GetExecutable_Args);
  get.loaded_executable = exe.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_LoadedExecutable_GetExecutable(&get), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"deleted"}));
  exe.reset();
  // Destroying null handles is harmless (an error or OK, never a crash).
  for (PJRT_Error* e : {[] {
                          auto d = CHIP_ARGS(PJRT_Buffer_Destroy_Args);
                          return Api()->PJRT_Buffer_Destroy(&d);
                        }(),
                        [] {
                          auto d = CHIP_ARGS(PJRT_Event_Destroy_Args);
                          return Api()->PJRT_Event_Destroy(&d);
                        }(),
                        [] {
                          auto d = CHIP_ARGS(PJRT_LoadedExecutable_Destroy_Args);
                          return Api()->PJRT_LoadedExecutable_Destroy(&d);
                        }(),
                        [] {
                          auto d = CHIP_ARGS(PJRT_Executable_Destroy_Args);
                          return Api()->PJRT_Executable_Destroy(&d);
                        }(),
                        [] {
                          auto d = CHIP_ARGS(PJRT_Client_Destroy_Args);
                          return Api()->PJRT_Client_Destroy(&d);
                        }()}) {
    TakeError(e);
  }
  // A buffer deleted while a copy of it is in flight: the copy either completes or fails cleanly.
  BufferPtr src = Floats(a);
  auto copy = CHIP_ARGS(PJRT_Buffer_CopyToDevice_Args);
  copy.buffer = src.get();
  copy.dst_device = devices_[1];
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_CopyToDevice(&copy));
  BufferPtr dst(copy.dst_buffer);
  auto bdel = CHIP_ARGS(PJRT_Buffer_Delete_Args);
  bdel.buffer = src.get();
  CHIP_EXPECT_OK(Api()->PJRT_Buffer_Delete(&bdel));
  std::vector<uint8_t> host;
  std::optional<Error> err = TakeError(ToHostRaw(dst.get(), &host));
  if (!err) {
    std::vector<float> got(32);
    std::memcpy(got.data(), host.data(), 128);
    EXPECT_EQ(got, a);
  }
}

TEST_F(ObjectMisuseTest, ObjectsOfAnotherClientOrDevice) {
  PJRT_Device* foreign = Devices(other_.get())[0];
  std::vector<float> a = RandomFloats(32, 4);
  // A transfer to another client's device.
  PJRT_Buffer* raw = nullptr;
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), foreign, PJRT_Buffer_Type_F32, {4, 8}, a.data(), &raw),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"PJRT_Client_BufferFromHostBuffer"}));
  EXPECT_EQ(raw, nullptr);
  // Running on another client's device, or with arguments on a device the run is not on.
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({}));
  BufferPtr on0 = Floats(a, 0), on1 = Floats(a, 1);
  std::vector<BufferPtr> out;
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {on0.get(), on0.get()}, 1, &out, nullptr, foreign),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"execute_device", "different client"}));
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {on0.get(), on1.get()}, 1, &out, nullptr, devices_[0]),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"argument 1", "chip:1"}));
  BufferPtr theirs = FromHost(other_.get(), foreign, PJRT_Buffer_Type_F32, {4, 8}, a.data());
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {on0.get(), theirs.get()}, 1, &out, nullptr, devices_[0]),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"argument 1"}));
  // A copy to another client's device, to a memory of another client.
  auto copy = CHIP_ARGS(PJRT_Buffer_CopyToDevice_Args);
  copy.buffer = on0.get();
  copy.dst_device = foreign;
  std::optional<Error> e = TakeError(Api()->PJRT_Buffer_CopyToDevice(&copy));
  ASSERT_TRUE(e.has_value()) << "a copy across clients must be refused";
  EXPECT_NE(e->message.find("PJRT_Buffer_CopyToDevice"), std::string::npos) << e->message;
  auto mcopy = CHIP_ARGS(PJRT_Buffer_CopyToMemory_Args);
  mcopy.buffer = on0.get();
  mcopy.dst_memory = DefaultMemory(foreign);
  e = TakeError(Api()->PJRT_Buffer_CopyToMemory(&mcopy));
  ASSERT_TRUE(e.has_value()) << "a copy to another client's memory must be refused";
  // Loading into a null client.
  PJRT_LoadedExecutable* loaded = nullptr;
  EXPECT_TRUE(FailsWith(DeserializeAndLoadRaw(nullptr, BuildAddProgram({}), &loaded),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"client is null"}));
}

TEST_F(ObjectMisuseTest, EventsAwaitedAndObservedTwice) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({}));
  std::vector<float> a = RandomFloats(32, 5);
  BufferPtr ba = Floats(a);
  std::vector<BufferPtr> out;
  EventPtr done;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), ba.get()}, 1, &out, nullptr, nullptr, &done));
  ASSERT_NE(done, nullptr);
  EXPECT_FALSE(AwaitEvent(done.get()).has_value());
  EXPECT_FALSE(AwaitEvent(done.get()).has_value());
  static std::atomic<int> calls{0};
  for (int i = 0; i < 2; ++i) {
    auto on = CHIP_ARGS(PJRT_Event_OnReady_Args);
    on.event = done.get();
    on.user_arg = &calls;
    on.callback = [](PJRT_Error* error, void* arg) {
      ++*static_cast<std::atomic<int>*>(arg);
      TakeError(error);
    };
    CHIP_ASSERT_OK(Api()->PJRT_Event_OnReady(&on));
  }
  EXPECT_EQ(calls.load(), 2);
  // OnReady with no callback is an error, not a call through null.
  auto on = CHIP_ARGS(PJRT_Event_OnReady_Args);
  on.event = done.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_Event_OnReady(&on), PJRT_Error_Code_INVALID_ARGUMENT, {"PJRT_Event_OnReady"}));
  // A failed event (a deleted buffer's ready event) fails the same way every time.
  BufferPtr gone = Floats(a);
  auto del = CHIP_ARGS(PJRT_Buffer_Delete_Args);
  del.buffer = gone.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_Delete(&del));
  auto ready = CHIP_ARGS(PJRT_Buffer_ReadyEvent_Args);
  ready.buffer = gone.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_ReadyEvent(&ready));
  EventPtr failed(ready.event);
  for (int i = 0; i < 2; ++i) {
    std::optional<Error> e = AwaitEvent(failed.get());
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, PJRT_Error_Code_FAILED_PRECONDITION);
    auto err = CHIP_ARGS(PJRT_Event_Error_Args);
    err.event = failed.get();
    std::optional<Error> e2 = TakeError(Api()->PJRT_Event_Error(&err));
    ASSERT_TRUE(e2.has_value());
    EXPECT_EQ(e2->code, PJRT_Error_Code_FAILED_PRECONDITION);
  }
}

TEST_F(ObjectMisuseTest, ShortNestedStructsAndBadValues) {
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram({}));
  std::vector<float> a = RandomFloats(32, 6);
  BufferPtr ba = Floats(a);
  std::vector<BufferPtr> out;
  // Execute options too short to hold the fields read.
  PJRT_ExecuteOptions options{};
  options.struct_size = 8;
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {ba.get(), ba.get()}, 1, &out, &options),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"PJRT_LoadedExecutable_Execute", "options"}));
  // Create options: a named value with a null name, or an unknown type.
  PJRT_NamedValue nv = Int64Value("num_devices", 2);
  nv.name = nullptr;
  PJRT_Client* c = nullptr;
  std::optional<Error> e = TakeError(CreateClientRaw({nv}, &c));
  ClientPtr leaked_if_ok(c);
  EXPECT_TRUE(e.has_value());
  nv = Int64Value("num_devices", 2);
  nv.type = static_cast<PJRT_NamedValue_Type>(77);
  c = nullptr;
  e = TakeError(CreateClientRaw({nv}, &c));
  ClientPtr leaked_if_ok2(c);
  EXPECT_TRUE(e.has_value());
  nv = Int64Value("num_devices", -3);
  c = nullptr;
  e = TakeError(CreateClientRaw({nv}, &c));
  ClientPtr leaked_if_ok3(c);
  EXPECT_TRUE(e.has_value());
  // Host transfers: an unknown element type, negative dims, null data, short byte strides.
  PJRT_Buffer* raw = nullptr;
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), devices_[0], static_cast<PJRT_Buffer_Type>(999), {4}, a.data(),
                                    &raw),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"PJRT_Client_BufferFromHostBuffer"}));
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {-4, 8}, a.data(), &raw),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"PJRT_Client_BufferFromHostBuffer"}));
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {4, 8}, nullptr, &raw),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"PJRT_Client_BufferFromHostBuffer"}));
  std::vector<int64_t> one_stride = {4};
  std::optional<Error> s =
      TakeError(FromHostRaw(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {4, 8}, a.data(), &raw, &one_stride));
  EXPECT_TRUE(s.has_value());
  // A host layout struct too short to read.
  PJRT_Buffer_MemoryLayout layout{};
  layout.struct_size = 4;
  std::vector<uint8_t> host;
  std::optional<Error> l = TakeError(ToHostRaw(ba.get(), &host, &layout));
  EXPECT_TRUE(l.has_value());
  // Truncated and bit-flipped executables never load into something that crashes.
  const std::string good = BuildAddProgram({});
  for (size_t n = 0; n < good.size(); n += 7) {
    PJRT_LoadedExecutable* loaded = nullptr;
    std::optional<Error> le = TakeError(DeserializeAndLoadRaw(client_.get(), good.substr(0, n), &loaded));
    EXPECT_TRUE(le.has_value()) << n << " bytes";
    LoadedExecutablePtr owned(loaded);
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = good;
    for (int flips = 1 + trial % 4; flips > 0; --flips) bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
    PJRT_LoadedExecutable* loaded = nullptr;
    std::optional<Error> le = TakeError(DeserializeAndLoadRaw(client_.get(), bad, &loaded));
    LoadedExecutablePtr owned(loaded);
    if (le.has_value()) {
      EXPECT_NE(le->message.find("PJRT_Executable_DeserializeAndLoad"), std::string::npos) << le->message;
      continue;
    }
    // It loaded (the flip hit a name, a cost or a size the loader accepts): running it must not
    // crash either, unless it asks for more memory than a test should touch (a flipped arena
    // size can ask for gigabytes, which the device model grants up to the chip's HBM).
    auto get = CHIP_ARGS(PJRT_LoadedExecutable_GetExecutable_Args);
    get.loaded_executable = owned.get();
    if (TakeError(Api()->PJRT_LoadedExecutable_GetExecutable(&get))) continue;
    ExecutablePtr executable(get.executable);
    auto stats = CHIP_ARGS(PJRT_Executable_GetCompiledMemoryStats_Args);
    stats.executable = executable.get();
    if (TakeError(Api()->PJRT_Executable_GetCompiledMemoryStats(&stats)) ||
        stats.temp_size_in_bytes + stats.output_size_in_bytes > (int64_t{64} << 20)) {
      continue;
    }
    std::vector<BufferPtr> o;
    TakeError(ExecuteRaw(owned.get(), {ba.get(), ba.get()}, 8, &o));  // room for any output count
    for (BufferPtr& b : o) {
      std::vector<uint8_t> bytes;
      TakeError(ToHostRaw(b.get(), &bytes));
    }
  }
}

}  // namespace
}  // namespace chip::testing
