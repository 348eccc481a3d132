// PJRT_Buffer: host transfers for every chip dtype, strided host layouts, memory accounting,
// deletion, device-to-device copies, out-of-memory and the types the chip rejects.
#include <atomic>
#include <string>
#include <vector>

#include "api_test_util.h"

namespace chip::testing {
namespace {

class BufferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = CreateClient({{"num_devices", 3}});
    devices_ = Devices(client_.get());
    ASSERT_EQ(devices_.size(), 3u);
  }
  ClientPtr client_;
  std::vector<PJRT_Device*> devices_;
};

TEST_F(BufferTest, RoundTripEveryChipType) {
  const std::vector<PJRT_Buffer_Type> types = {
      PJRT_Buffer_Type_PRED, PJRT_Buffer_Type_S8,  PJRT_Buffer_Type_U8,  PJRT_Buffer_Type_S16,
      PJRT_Buffer_Type_U16,  PJRT_Buffer_Type_S32, PJRT_Buffer_Type_U32, PJRT_Buffer_Type_F16,
      PJRT_Buffer_Type_BF16, PJRT_Buffer_Type_F32};
  uint32_t seed = 10;
  for (PJRT_Buffer_Type t : types) {
    SCOPED_TRACE("type " + std::to_string(t));
    const std::vector<int64_t> dims = {3, 5, 7};
    std::vector<uint8_t> data = RandomBytes(t, NumElements(dims), seed++);
    BufferPtr b = FromHost(client_.get(), devices_[1], t, dims, data.data());
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(ToHost(b.get()), data);

    auto et = CHIP_ARGS(PJRT_Buffer_ElementType_Args);
    et.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_ElementType(&et));
    EXPECT_EQ(et.type, t);
    auto dm = CHIP_ARGS(PJRT_Buffer_Dimensions_Args);
    dm.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_Dimensions(&dm));
    EXPECT_EQ(std::vector<int64_t>(dm.dims, dm.dims + dm.num_dims), dims);
    auto ud = CHIP_ARGS(PJRT_Buffer_UnpaddedDimensions_Args);
    ud.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_UnpaddedDimensions(&ud));
    EXPECT_EQ(std::vector<int64_t>(ud.unpadded_dims, ud.unpadded_dims + ud.num_dims), dims);
    auto dd = CHIP_ARGS(PJRT_Buffer_DynamicDimensionIndices_Args);
    dd.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_DynamicDimensionIndices(&dd));
    EXPECT_EQ(dd.num_dynamic_dims, 0u);
    auto sz = CHIP_ARGS(PJRT_Buffer_OnDeviceSizeInBytes_Args);
    sz.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_OnDeviceSizeInBytes(&sz));
    EXPECT_EQ(sz.on_device_size_in_bytes, data.size());
    EXPECT_EQ(BufferDevice(b.get()), devices_[1]);
    auto mem = CHIP_ARGS(PJRT_Buffer_Memory_Args);
    mem.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_Memory(&mem));
    EXPECT_EQ(mem.memory, DefaultMemory(devices_[1]));
    auto cpu = CHIP_ARGS(PJRT_Buffer_IsOnCpu_Args);
    cpu.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_IsOnCpu(&cpu));
    EXPECT_FALSE(cpu.is_on_cpu);
  }
}

TEST_F(BufferTest, Fp8BitPatternsRoundTrip) {
  std::vector<uint8_t> data(256);
  for (int i = 0; i < 256; ++i) data[i] = static_cast<uint8_t>(i);
  for (PJRT_Buffer_Type t : {PJRT_Buffer_Type_F8E4M3FN, PJRT_Buffer_Type_F8E5M2, PJRT_Buffer_Type_F8E4M3FNUZ,
                             PJRT_Buffer_Type_F8E5M2FNUZ}) {
    SCOPED_TRACE("type " + std::to_string(t));
    BufferPtr b = FromHost(client_.get(), devices_[0], t, {16, 16}, data.data());
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(ToHost(b.get()), data);
  }
}

TEST_F(BufferTest, Int4IsPackedOnTheDeviceAndOneValuePerHostByte) {
  // jaxlib's host arrays hold one 4-bit value per byte (the low nibble); the device packs two
  // per byte, element 2i in the low nibble, so 7 values take 4 bytes.
  const std::vector<uint8_t> data = {0x1, 0x2, 0xF, 0x8, 0x7, 0x0, 0x9};
  for (PJRT_Buffer_Type t : {PJRT_Buffer_Type_S4, PJRT_Buffer_Type_U4}) {
    BufferPtr b = FromHost(client_.get(), devices_[0], t, {7}, data.data());
    ASSERT_NE(b, nullptr);
    auto sz = CHIP_ARGS(PJRT_Buffer_OnDeviceSizeInBytes_Args);
    sz.buffer = b.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_OnDeviceSizeInBytes(&sz));
    EXPECT_EQ(sz.on_device_size_in_bytes, 4u);
    EXPECT_EQ(ToHost(b.get()), data);
    EXPECT_EQ(RawBytes(b.get(), 0, 4), (std::vector<uint8_t>{0x21, 0x8F, 0x07, 0x09}));
  }
}

TEST_F(BufferTest, ScalarAndEmptyArrays) {
  const float scalar = 3.25f;
  BufferPtr s = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {}, &scalar);
  std::vector<float> back = ToHostFloats(s.get());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], scalar);

  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{0}, std::vector<int64_t>{4, 0, 3}}) {
    BufferPtr e = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_BF16, dims, nullptr);
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(ToHost(e.get()).empty());
    auto dm = CHIP_ARGS(PJRT_Buffer_Dimensions_Args);
    dm.buffer = e.get();
    CHIP_ASSERT_OK(Api()->PJRT_Buffer_Dimensions(&dm));
    EXPECT_EQ(std::vector<int64_t>(dm.dims, dm.dims + dm.num_dims), dims);
  }
}

TEST_F(BufferTest, StridedHostInput) {
  // A column-major [5, 3] int32 host array (strides 4, 20 bytes) arrives row-major on the chip.
  const int rows = 5, cols = 3;
  std::vector<int32_t> col_major(rows * cols);
  std::mt19937 rng(7);
  for (auto& x : col_major) x = static_cast<int32_t>(rng());
  std::vector<int64_t> strides = {4, 4 * rows};
  BufferPtr b = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_S32, {rows, cols}, col_major.data(), &strides);
  std::vector<uint8_t> bytes = ToHost(b.get());
  ASSERT_EQ(bytes.size(), col_major.size() * 4);
  const int32_t* got = reinterpret_cast<const int32_t*>(bytes.data());
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) EXPECT_EQ(got[r * cols + c], col_major[c * rows + r]);
  }
  // Negative strides: a reversed vector, data pointing at its last element.
  std::vector<int32_t> v = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> neg = {-4};
  BufferPtr r = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_S32, {6}, v.data() + 5, &neg);
  std::vector<uint8_t> rb = ToHost(r.get());
  const int32_t* rev = reinterpret_cast<const int32_t*>(rb.data());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(rev[i], 6 - i);
  // A stride count that does not match the rank.
  std::vector<int64_t> bad = {4};
  PJRT_Buffer* out = nullptr;
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), devices_[0], PJRT_Buffer_Type_S32, {rows, cols}, col_major.data(),
                                    &out, &bad),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"byte strides"}));
}

TEST_F(BufferTest, HostLayoutsOnTheWayOut) {
  const int rows = 4, cols = 6;
  std::vector<float> data = RandomFloats(rows * cols, 3);
  BufferPtr b = FromHost(client_.get(), devices_[2], PJRT_Buffer_Type_F32, {rows, cols}, data.data());

  // Column-major through a tiled layout without tiles (minor_to_major = {0, 1}).
  int64_t m2m[2] = {0, 1};
  PJRT_Buffer_MemoryLayout tiled{};
  tiled.struct_size = PJRT_Buffer_MemoryLayout_STRUCT_SIZE;
  tiled.type = PJRT_Buffer_MemoryLayout_Type_Tiled;
  tiled.tiled.struct_size = PJRT_Buffer_MemoryLayout_Tiled_STRUCT_SIZE;
  tiled.tiled.minor_to_major = m2m;
  tiled.tiled.minor_to_major_size = 2;
  std::vector<uint8_t> out;
  CHIP_ASSERT_OK(ToHostRaw(b.get(), &out, &tiled));
  ASSERT_EQ(out.size(), data.size() * 4);
  const float* cm = reinterpret_cast<const float*>(out.data());
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) EXPECT_EQ(cm[c * rows + r], data[r * cols + c]);
  }

  // Explicit byte strides with padding between rows (row pitch 32 bytes for 6 floats).
  int64_t strides[2] = {32, 4};
  PJRT_Buffer_MemoryLayout strided{};
  strided.struct_size = PJRT_Buffer_MemoryLayout_STRUCT_SIZE;
  strided.type = PJRT_Buffer_MemoryLayout_Type_Strides;
  strided.strides.struct_size = PJRT_Buffer_MemoryLayout_Strides_STRUCT_SIZE;
  strided.strides.byte_strides = strides;
  strided.strides.num_byte_strides = 2;
  CHIP_ASSERT_OK(ToHostRaw(b.get(), &out, &strided));
  EXPECT_EQ(out.size(), static_cast<size_t>(3 * 32 + 6 * 4));
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      float x;
      std::memcpy(&x, out.data() + r * 32 + c * 4, 4);
      EXPECT_EQ(x, data[r * cols + c]);
    }
  }

  // Tiled layouts with tiles are not something the chip stores.
  int64_t tile_dims[2] = {8, 128};
  size_t tile_sizes[1] = {2};
  tiled.tiled.tile_dims = tile_dims;
  tiled.tiled.tile_dim_sizes = tile_sizes;
  tiled.tiled.num_tiles = 1;
  EXPECT_TRUE(FailsWith(ToHostRaw(b.get(), &out, &tiled), PJRT_Error_Code_UNIMPLEMENTED,
                        {"PJRT_Buffer_ToHostBuffer", "tiled"}));
}

TEST_F(BufferTest, ToHostSizeChecks) {
  std::vector<float> data = RandomFloats(10, 4);
  BufferPtr b = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {10}, data.data());
  auto q = CHIP_ARGS(PJRT_Buffer_ToHostBuffer_Args);
  q.src = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_ToHostBuffer(&q));
  EXPECT_EQ(q.dst_size, 40u);
  std::vector<uint8_t> small(39);
  auto a = CHIP_ARGS(PJRT_Buffer_ToHostBuffer_Args);
  a.src = b.get();
  a.dst = small.data();
  a.dst_size = small.size();
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_ToHostBuffer(&a), PJRT_Error_Code_INVALID_ARGUMENT, {"dst_size is 39", "40"}));

  // Raw byte ranges.
  std::vector<uint8_t> raw(12);
  auto r = CHIP_ARGS(PJRT_Buffer_CopyRawToHost_Args);
  r.buffer = b.get();
  r.dst = raw.data();
  r.offset = 8;
  r.transfer_size = 12;
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_CopyRawToHost(&r));
  EventPtr ev(r.event);
  EXPECT_FALSE(AwaitEvent(ev.get()).has_value());
  EXPECT_EQ(std::memcmp(raw.data(), reinterpret_cast<const uint8_t*>(data.data()) + 8, 12), 0);
  r.offset = 36;
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_CopyRawToHost(&r), PJRT_Error_Code_INVALID_ARGUMENT, {"outside"}));
}

TEST_F(BufferTest, UnsupportedTypesNameTheTypeAndTheAlternative) {
  struct Case {
    PJRT_Buffer_Type type;
    const char* name;
    const char* use;
  };
  const std::vector<Case> cases = {
      {PJRT_Buffer_Type_F64, "float64", "use float32 (jax_enable_x64 off)"},
      {PJRT_Buffer_Type_S64, "int64", "use int32"},
      {PJRT_Buffer_Type_U64, "uint64", "use uint32"},
      {PJRT_Buffer_Type_C128, "complex128", "use complex64"},
      {PJRT_Buffer_Type_F8E4M3B11FNUZ, "float8_e4m3b11fnuz", "bfloat16"},
      {PJRT_Buffer_Type_S2, "int2", "int8"},
      {PJRT_Buffer_Type_TOKEN, "token", "supported types"},
  };
  std::vector<uint8_t> data(64, 1);
  for (const Case& c : cases) {
    PJRT_Buffer* out = nullptr;
    EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), devices_[0], c.type, {2, 2}, data.data(), &out),
                          PJRT_Error_Code_INVALID_ARGUMENT,
                          {"PJRT_Client_BufferFromHostBuffer", c.name, "is not supported on the chip", c.use}));
    EXPECT_EQ(out, nullptr);
  }
}

TEST_F(BufferTest, BadInputs) {
  PJRT_Buffer* out = nullptr;
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {4}, nullptr, &out),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"data is null"}));
  float x[4] = {1, 2, 3, 4};
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {-4}, x, &out),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"dimension 0 is -4"}));
  EXPECT_TRUE(FailsWith(FromHostRaw(client_.get(), nullptr, PJRT_Buffer_Type_F32, {4}, x, &out),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"neither device nor memory"}));
  ClientPtr other = CreateClient();
  EXPECT_TRUE(FailsWith(FromHostRaw(other.get(), devices_[0], PJRT_Buffer_Type_F32, {4}, x, &out),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"different client"}));
}

TEST_F(BufferTest, MemoryStatsReturnToBaselineAfterDelete) {
  PJRT_Device* d = devices_[1];
  const auto base = MemoryStats(d);
  const int64_t n = 1 << 18;  // 1 MiB of f32
  std::vector<float> data = RandomFloats(n, 5);
  BufferPtr b = FromHost(client_.get(), d, PJRT_Buffer_Type_F32, {n}, data.data());
  auto with = MemoryStats(d);
  EXPECT_EQ(with.bytes_in_use, base.bytes_in_use + n * 4);
  EXPECT_GE(with.peak_bytes_in_use, with.bytes_in_use);
  EXPECT_GE(with.largest_alloc_size, n * 4);
  EXPECT_EQ(with.num_allocs, base.num_allocs + 1);
  EXPECT_EQ(MemoryStats(devices_[0]).bytes_in_use, 0);  // other chips untouched

  auto del = CHIP_ARGS(PJRT_Buffer_Delete_Args);
  del.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_Delete(&del));
  auto after = MemoryStats(d);
  EXPECT_EQ(after.bytes_in_use, base.bytes_in_use);
  EXPECT_EQ(after.peak_bytes_in_use, with.peak_bytes_in_use);

  // Destroy without Delete frees too.
  BufferPtr c = FromHost(client_.get(), d, PJRT_Buffer_Type_F32, {n}, data.data());
  EXPECT_EQ(MemoryStats(d).bytes_in_use, base.bytes_in_use + n * 4);
  c.reset();
  EXPECT_EQ(MemoryStats(d).bytes_in_use, base.bytes_in_use);
}

TEST_F(BufferTest, UseAfterDeleteFails) {
  std::vector<float> data = RandomFloats(8, 6);
  BufferPtr b = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {2, 4}, data.data());
  auto del = CHIP_ARGS(PJRT_Buffer_Delete_Args);
  del.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_Delete(&del));
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_Delete(&del));  // twice is fine
  EXPECT_TRUE(IsDeleted(b.get()));

  std::vector<uint8_t> out;
  EXPECT_TRUE(FailsWith(ToHostRaw(b.get(), &out), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"PJRT_Buffer_ToHostBuffer", "deleted or donated", "f32[2,4]"}));
  auto copy = CHIP_ARGS(PJRT_Buffer_CopyToDevice_Args);
  copy.buffer = b.get();
  copy.dst_device = devices_[1];
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_CopyToDevice(&copy), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"PJRT_Buffer_CopyToDevice", "deleted or donated"}));
  auto ptr = CHIP_ARGS(PJRT_Buffer_UnsafePointer_Args);
  ptr.buffer = b.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_UnsafePointer(&ptr), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"deleted or donated"}));
  auto size = CHIP_ARGS(PJRT_Buffer_OnDeviceSizeInBytes_Args);
  size.buffer = b.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_OnDeviceSizeInBytes(&size), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"deleted or donated"}));
  // The ready event of a deleted buffer has already failed.
  auto ready = CHIP_ARGS(PJRT_Buffer_ReadyEvent_Args);
  ready.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_ReadyEvent(&ready));
  EventPtr ev(ready.event);
  auto is_ready = CHIP_ARGS(PJRT_Event_IsReady_Args);
  is_ready.event = ev.get();
  CHIP_ASSERT_OK(Api()->PJRT_Event_IsReady(&is_ready));
  EXPECT_TRUE(is_ready.is_ready);
  auto err = AwaitEvent(ev.get());
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, PJRT_Error_Code_FAILED_PRECONDITION);
  // Metadata stays readable.
  auto dm = CHIP_ARGS(PJRT_Buffer_Dimensions_Args);
  dm.buffer = b.get();
  CHIP_EXPECT_OK(Api()->PJRT_Buffer_Dimensions(&dm));
  EXPECT_EQ(dm.num_dims, 2u);
}

TEST_F(BufferTest, OutOfDeviceMemoryIsResourceExhausted) {
  ClientPtr small = CreateClient({{"hbm_bytes", 1 << 20}});
  PJRT_Device* d = Devices(small.get())[0];
  std::vector<float> big = RandomFloats(3 << 17, 8);  // 1.5 MiB
  PJRT_Buffer* out = nullptr;
  EXPECT_TRUE(FailsWith(FromHostRaw(small.get(), d, PJRT_Buffer_Type_F32, {3 << 17}, big.data(), &out),
                        PJRT_Error_Code_RESOURCE_EXHAUSTED, {"PJRT_Client_BufferFromHostBuffer", "1572864"}));
  EXPECT_EQ(out, nullptr);
  // Fill it with half-MiB buffers until it refuses, then free one and allocate again.
  std::vector<BufferPtr> held;
  std::vector<float> half = RandomFloats(1 << 17, 9);
  std::optional<Error> err;
  for (int i = 0; i < 4 && !err; ++i) {
    PJRT_Buffer* b = nullptr;
    err = TakeError(FromHostRaw(small.get(), d, PJRT_Buffer_Type_F32, {1 << 17}, half.data(), &b));
    if (!err) held.emplace_back(b);
  }
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, PJRT_Error_Code_RESOURCE_EXHAUSTED);
  EXPECT_EQ(held.size(), 2u);
  held.pop_back();
  BufferPtr again = FromHost(small.get(), d, PJRT_Buffer_Type_F32, {1 << 17}, half.data());
  EXPECT_EQ(ToHostFloats(again.get()), half);
}

TEST_F(BufferTest, CopyBetweenChips) {
  std::vector<float> data = RandomFloats(64, 11);
  BufferPtr src = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {8, 8}, data.data());
  auto copy = CHIP_ARGS(PJRT_Buffer_CopyToDevice_Args);
  copy.buffer = src.get();
  copy.dst_device = devices_[2];
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_CopyToDevice(&copy));
  BufferPtr dst(copy.dst_buffer);
  EXPECT_EQ(BufferDevice(dst.get()), devices_[2]);
  EXPECT_EQ(ToHostFloats(dst.get()), data);
  EXPECT_EQ(MemoryStats(devices_[2]).bytes_in_use, 256);

  auto to_mem = CHIP_ARGS(PJRT_Buffer_CopyToMemory_Args);
  to_mem.buffer = dst.get();
  to_mem.dst_memory = DefaultMemory(devices_[1]);
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_CopyToMemory(&to_mem));
  BufferPtr dst2(to_mem.dst_buffer);
  EXPECT_EQ(BufferDevice(dst2.get()), devices_[1]);
  EXPECT_EQ(ToHostFloats(dst2.get()), data);

  ClientPtr other = CreateClient();
  copy.dst_device = Devices(other.get())[0];
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_CopyToDevice(&copy), PJRT_Error_Code_INVALID_ARGUMENT, {"different client"}));
}

TEST_F(BufferTest, EventsAndCallbacks) {
  std::vector<float> data = RandomFloats(16, 12);
  BufferPtr b = FromHost(client_.get(), devices_[0], PJRT_Buffer_Type_F32, {16}, data.data());
  auto ready = CHIP_ARGS(PJRT_Buffer_ReadyEvent_Args);
  ready.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_ReadyEvent(&ready));
  EventPtr ev(ready.event);
  EXPECT_FALSE(AwaitEvent(ev.get()).has_value());
  auto e = CHIP_ARGS(PJRT_Event_Error_Args);
  e.event = ev.get();
  CHIP_EXPECT_OK(Api()->PJRT_Event_Error(&e));
  static std::atomic<int> calls{0};
  auto on = CHIP_ARGS(PJRT_Event_OnReady_Args);
  on.event = ev.get();
  on.user_arg = &calls;
  on.callback = [](PJRT_Error* error, void* arg) {
    if (error == nullptr) ++*static_cast<std::atomic<int>*>(arg);
    TakeError(error);
  };
  CHIP_ASSERT_OK(Api()->PJRT_Event_OnReady(&on));
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(BufferTest, ExternalReferencesKeepMemoryAlive) {
  PJRT_Device* d = devices_[0];
  std::vector<float> data = RandomFloats(1024, 13);
  BufferPtr b = FromHost(client_.get(), d, PJRT_Buffer_Type_F32, {1024}, data.data());
  auto dec = CHIP_ARGS(PJRT_Buffer_DecreaseExternalReferenceCount_Args);
  dec.buffer = b.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_Buffer_DecreaseExternalReferenceCount(&dec), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"already zero"}));
  auto inc = CHIP_ARGS(PJRT_Buffer_IncreaseExternalReferenceCount_Args);
  inc.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_IncreaseExternalReferenceCount(&inc));
  auto ptr = CHIP_ARGS(PJRT_Buffer_OpaqueDeviceMemoryDataPointer_Args);
  ptr.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_OpaqueDeviceMemoryDataPointer(&ptr));
  ASSERT_NE(ptr.device_memory_ptr, nullptr);
  EXPECT_EQ(std::memcmp(ptr.device_memory_ptr, data.data(), 4096), 0);
  auto unsafe = CHIP_ARGS(PJRT_Buffer_UnsafePointer_Args);
  unsafe.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_UnsafePointer(&unsafe));
  EXPECT_EQ(reinterpret_cast<void*>(unsafe.buffer_pointer), ptr.device_memory_ptr);

  auto del = CHIP_ARGS(PJRT_Buffer_Delete_Args);
  del.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_Delete(&del));
  EXPECT_EQ(MemoryStats(d).bytes_in_use, 4096);  // still held by the external reference
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_DecreaseExternalReferenceCount(&dec));
  EXPECT_EQ(MemoryStats(d).bytes_in_use, 0);
}

TEST_F(BufferTest, UninitializedBufferAndMemoryLayout) {
  const std::vector<int64_t> dims = {3, 4};
  auto a = CHIP_ARGS(PJRT_Client_CreateUninitializedBuffer_Args);
  a.client = client_.get();
  a.shape_dims = dims.data();
  a.shape_num_dims = dims.size();
  a.shape_element_type = PJRT_Buffer_Type_S16;
  a.memory = DefaultMemory(devices_[2]);
  CHIP_ASSERT_OK(Api()->PJRT_Client_CreateUninitializedBuffer(&a));
  BufferPtr b(a.buffer);
  EXPECT_EQ(BufferDevice(b.get()), devices_[2]);
  EXPECT_EQ(ToHost(b.get()), std::vector<uint8_t>(24, 0));
  auto l = CHIP_ARGS(PJRT_Buffer_GetMemoryLayout_Args);
  l.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_GetMemoryLayout(&l));
  EXPECT_EQ(l.layout.type, PJRT_Buffer_MemoryLayout_Type_Tiled);
  ASSERT_EQ(l.layout.tiled.minor_to_major_size, 2u);
  EXPECT_EQ(l.layout.tiled.minor_to_major[0], 1);
  EXPECT_EQ(l.layout.tiled.minor_to_major[1], 0);
  EXPECT_EQ(l.layout.tiled.num_tiles, 0u);
}

}  // namespace
}  // namespace chip::testing
