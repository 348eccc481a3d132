// PJRT_Client_CreateBuffersForAsyncHostToDevice and the async host-to-device transfer manager:
// chunked transfers, buffers consumed before their data arrives, errors, destruction with
// transfers outstanding, pinned host targets, the host-link cost, and bad arguments.
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api_test_util.h"

namespace chip::testing {
namespace {

struct ManagerDeleter {
  void operator()(PJRT_AsyncHostToDeviceTransferManager* m) const {
    auto a = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_Destroy_Args);
    a.transfer_manager = m;
    TakeError(Api()->PJRT_AsyncHostToDeviceTransferManager_Destroy(&a));
  }
};
using ManagerPtr = std::unique_ptr<PJRT_AsyncHostToDeviceTransferManager, ManagerDeleter>;

struct Shape {
  PJRT_Buffer_Type type;
  std::vector<int64_t> dims;
};

PJRT_Error* CreateManagerRaw(PJRT_Client* client, PJRT_Memory* memory, const std::vector<Shape>& shapes,
                             PJRT_AsyncHostToDeviceTransferManager** out,
                             std::vector<PJRT_Buffer_MemoryLayout*>* layouts = nullptr) {
  std::vector<PJRT_ShapeSpec> specs(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    specs[i] = PJRT_ShapeSpec{};
    specs[i].struct_size = PJRT_ShapeSpec_STRUCT_SIZE;
    specs[i].dims = shapes[i].dims.data();
    specs[i].num_dims = shapes[i].dims.size();
    specs[i].element_type = shapes[i].type;
  }
  auto a = CHIP_ARGS(PJRT_Client_CreateBuffersForAsyncHostToDevice_Args);
  a.client = client;
  a.shape_specs = specs.data();
  a.num_shape_specs = specs.size();
  a.memory = memory;
  if (layouts != nullptr) {
    a.device_layouts = layouts->data();
    a.num_device_layouts = layouts->size();
  }
  PJRT_Error* e = Api()->PJRT_Client_CreateBuffersForAsyncHostToDevice(&a);
  *out = a.transfer_manager;
  return e;
}

ManagerPtr CreateManager(PJRT_Client* client, PJRT_Memory* memory, const std::vector<Shape>& shapes) {
  PJRT_AsyncHostToDeviceTransferManager* m = nullptr;
  auto err = TakeError(CreateManagerRaw(client, memory, shapes, &m));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return ManagerPtr(m);
}

PJRT_Error* Transfer(PJRT_AsyncHostToDeviceTransferManager* m, int index, const void* data, int64_t offset,
                     int64_t size, bool last) {
  auto a = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_TransferData_Args);
  a.transfer_manager = m;
  a.buffer_index = index;
  a.data = data;
  a.offset = offset;
  a.transfer_size = size;
  a.is_last_transfer = last;
  PJRT_Error* e = Api()->PJRT_AsyncHostToDeviceTransferManager_TransferData(&a);
  if (e == nullptr) {
    EventPtr done(a.done_with_h2d_transfer);
    EXPECT_FALSE(AwaitEvent(done.get()).has_value());
  }
  return e;
}

BufferPtr Retrieve(PJRT_AsyncHostToDeviceTransferManager* m, int index) {
  auto a = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer_Args);
  a.transfer_manager = m;
  a.buffer_index = index;
  auto err = TakeError(Api()->PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer(&a));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return BufferPtr(a.buffer_out);
}

bool IsReady(PJRT_Buffer* b) {
  auto r = CHIP_ARGS(PJRT_Buffer_ReadyEvent_Args);
  r.buffer = b;
  TakeError(Api()->PJRT_Buffer_ReadyEvent(&r));
  EventPtr event(r.event);
  auto q = CHIP_ARGS(PJRT_Event_IsReady_Args);
  q.event = event.get();
  TakeError(Api()->PJRT_Event_IsReady(&q));
  return q.is_ready;
}

std::optional<Error> ReadyError(PJRT_Buffer* b) {
  auto r = CHIP_ARGS(PJRT_Buffer_ReadyEvent_Args);
  r.buffer = b;
  TakeError(Api()->PJRT_Buffer_ReadyEvent(&r));
  EventPtr event(r.event);
  return AwaitEvent(event.get());
}

class TransferManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = CreateClient({{"num_devices", 2}});
    devices_ = Devices(client_.get());
    ASSERT_EQ(devices_.size(), 2u);
  }
  ClientPtr client_;
  std::vector<PJRT_Device*> devices_;
};

TEST_F(TransferManagerTest, ChunkedTransfersFillEachBuffer) {
  const std::vector<Shape> shapes = {{PJRT_Buffer_Type_F32, {16, 32}}, {PJRT_Buffer_Type_S8, {7}},
                                     {PJRT_Buffer_Type_BF16, {}}};
  ManagerPtr m = CreateManager(client_.get(), DefaultMemory(devices_[1]), shapes);
  ASSERT_NE(m, nullptr);

  auto count = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_BufferCount_Args);
  count.transfer_manager = m.get();
  CHIP_ASSERT_OK(Api()->PJRT_AsyncHostToDeviceTransferManager_BufferCount(&count));
  EXPECT_EQ(count.buffer_count, 3u);
  auto dev = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_Device_Args);
  dev.transfer_manager = m.get();
  CHIP_ASSERT_OK(Api()->PJRT_AsyncHostToDeviceTransferManager_Device(&dev));
  EXPECT_EQ(dev.device_out, devices_[1]);

  std::vector<std::vector<uint8_t>> data;
  uint32_t seed = 3;
  for (size_t i = 0; i < shapes.size(); ++i) {
    data.push_back(RandomBytes(shapes[i].type, NumElements(shapes[i].dims), seed++));
    auto size = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_BufferSize_Args);
    size.transfer_manager = m.get();
    size.buffer_index = static_cast<int>(i);
    CHIP_ASSERT_OK(Api()->PJRT_AsyncHostToDeviceTransferManager_BufferSize(&size));
    EXPECT_EQ(size.buffer_size, data[i].size());
  }
  // Take the buffers first: they are pending until their last chunk arrives.
  std::vector<BufferPtr> buffers;
  for (int i = 0; i < 3; ++i) buffers.push_back(Retrieve(m.get(), i));
  for (auto& b : buffers) EXPECT_FALSE(IsReady(b.get()));
  EXPECT_EQ(BufferDevice(buffers[0].get()), devices_[1]);

  // Buffer 0 in three uneven chunks, out of order; the others whole.
  const int64_t n0 = static_cast<int64_t>(data[0].size());
  CHIP_ASSERT_OK(Transfer(m.get(), 0, data[0].data() + 100, 100, 1000, false));
  CHIP_ASSERT_OK(Transfer(m.get(), 0, data[0].data(), 0, 100, false));
  EXPECT_FALSE(IsReady(buffers[0].get()));
  CHIP_ASSERT_OK(Transfer(m.get(), 0, data[0].data() + 1100, 1100, n0 - 1100, true));
  CHIP_ASSERT_OK(Transfer(m.get(), 1, data[1].data(), 0, static_cast<int64_t>(data[1].size()), true));
  CHIP_ASSERT_OK(Transfer(m.get(), 2, data[2].data(), 0, static_cast<int64_t>(data[2].size()), true));
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(ReadyError(buffers[i].get()).has_value());
    EXPECT_EQ(ToHost(buffers[i].get()), data[i]) << "buffer " << i;
  }
}

TEST_F(TransferManagerTest, AnExecutionWaitsForTheTransfer) {
  AddProgram spec;
  LoadedExecutablePtr exe = Load(client_.get(), BuildAddProgram(spec));
  ASSERT_NE(exe, nullptr);
  const std::vector<float> a = RandomFloats(32, 1), b = RandomFloats(32, 2);
  ManagerPtr m = CreateManager(client_.get(), DefaultMemory(devices_[0]),
                               {{PJRT_Buffer_Type_F32, spec.dims}, {PJRT_Buffer_Type_F32, spec.dims}});
  BufferPtr ba = Retrieve(m.get(), 0), bb = Retrieve(m.get(), 1);
  std::vector<BufferPtr> outs;
  CHIP_ASSERT_OK(ExecuteRaw(exe.get(), {ba.get(), bb.get()}, 1, &outs));
  // The execution is queued behind the pending arguments; deliver them from another thread.
  std::thread producer([&] {
    TakeError(Transfer(m.get(), 0, a.data(), 0, 128, true));
    TakeError(Transfer(m.get(), 1, b.data(), 0, 128, true));
  });
  std::vector<float> sum = ToHostFloats(outs[0].get());
  producer.join();
  ASSERT_EQ(sum.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(sum[i], a[i] + b[i]) << i;
}

TEST_F(TransferManagerTest, DeviceChunksCrossTheHostLinkAndAreCharged) {
  const std::vector<int64_t> dims = {1024, 256};
  const double before = ModeledSeconds(0);
  const auto base = MemoryStats(devices_[0]);
  ManagerPtr m = CreateManager(client_.get(), DefaultMemory(devices_[0]), {{PJRT_Buffer_Type_F32, dims}});
  EXPECT_EQ(MemoryStats(devices_[0]).bytes_in_use, base.bytes_in_use + 1024 * 256 * 4);
  std::vector<uint8_t> data = RandomBytes(PJRT_Buffer_Type_F32, 1024 * 256, 5);
  CHIP_ASSERT_OK(Transfer(m.get(), 0, data.data(), 0, static_cast<int64_t>(data.size()), true));
  // Default chip: host_link_bandwidth 32e9 bytes/s.
  EXPECT_NEAR(ModeledSeconds(0) - before, static_cast<double>(data.size()) / 32e9, 1e-12);
}

TEST_F(TransferManagerTest, PinnedHostTargetLeavesDeviceMemoryAlone) {
  PJRT_Memory* host = MemoryOfKind(devices_[1], "pinned_host");
  ASSERT_NE(host, nullptr);
  const auto base = MemoryStats(devices_[1]);
  const double before = ModeledSeconds(1);
  ManagerPtr m = CreateManager(client_.get(), host, {{PJRT_Buffer_Type_F32, {64, 64}}});
  std::vector<uint8_t> data = RandomBytes(PJRT_Buffer_Type_F32, 64 * 64, 9);
  CHIP_ASSERT_OK(Transfer(m.get(), 0, data.data(), 0, static_cast<int64_t>(data.size()), true));
  BufferPtr b = Retrieve(m.get(), 0);
  auto mem = CHIP_ARGS(PJRT_Buffer_Memory_Args);
  mem.buffer = b.get();
  CHIP_ASSERT_OK(Api()->PJRT_Buffer_Memory(&mem));
  EXPECT_EQ(mem.memory, host);
  EXPECT_EQ(ToHost(b.get()), data);
  EXPECT_EQ(MemoryStats(devices_[1]).bytes_in_use, base.bytes_in_use);
  EXPECT_EQ(ModeledSeconds(1), before);  // host to host: no chip time
}

TEST_F(TransferManagerTest, SetBufferErrorFailsTheBufferWithTheCallersError) {
  ManagerPtr m = CreateManager(client_.get(), DefaultMemory(devices_[0]),
                               {{PJRT_Buffer_Type_F32, {8}}, {PJRT_Buffer_Type_F32, {8}}});
  BufferPtr b0 = Retrieve(m.get(), 0);
  const std::string msg = "the producer gave up";
  auto se = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_SetBufferError_Args);
  se.transfer_manager = m.get();
  se.buffer_index = 0;
  se.error_code = PJRT_Error_Code_ABORTED;
  se.error_message = msg.data();
  se.error_message_size = msg.size();
  CHIP_ASSERT_OK(Api()->PJRT_AsyncHostToDeviceTransferManager_SetBufferError(&se));
  auto err = ReadyError(b0.get());
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, PJRT_Error_Code_ABORTED);
  EXPECT_EQ(err->message, msg);
  // Twice, or a transfer after it: FAILED_PRECONDITION.
  EXPECT_TRUE(FailsWith(Api()->PJRT_AsyncHostToDeviceTransferManager_SetBufferError(&se),
                        PJRT_Error_Code_FAILED_PRECONDITION, {"buffer 0", "already complete"}));
  float x[8] = {};
  EXPECT_TRUE(FailsWith(Transfer(m.get(), 0, x, 0, 32, true), PJRT_Error_Code_FAILED_PRECONDITION,
                        {"TransferData", "buffer 0 (f32[8]", "already complete"}));
  // The other buffer is unaffected.
  CHIP_ASSERT_OK(Transfer(m.get(), 1, x, 0, 32, true));
  BufferPtr b1 = Retrieve(m.get(), 1);
  EXPECT_FALSE(ReadyError(b1.get()).has_value());
}

TEST_F(TransferManagerTest, DestroyingWithTransfersOutstandingFailsThoseBuffers) {
  const auto base = MemoryStats(devices_[0]);
  BufferPtr done, pending;
  {
    ManagerPtr m = CreateManager(client_.get(), DefaultMemory(devices_[0]),
                                 {{PJRT_Buffer_Type_F32, {8}}, {PJRT_Buffer_Type_F32, {1000}}});
    done = Retrieve(m.get(), 0);
    pending = Retrieve(m.get(), 1);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHIP_ASSERT_OK(Transfer(m.get(), 0, x, 0, 32, true));
    CHIP_ASSERT_OK(Transfer(m.get(), 1, x, 0, 32, false));  // 32 of 4000 bytes
  }
  EXPECT_FALSE(ReadyError(done.get()).has_value());
  auto err = ReadyError(pending.get());
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, PJRT_Error_Code_FAILED_PRECONDITION);
  EXPECT_NE(err->message.find("destroyed before buffer 1 (f32[1000]"), std::string::npos) << err->message;
  EXPECT_NE(err->message.find("32 of 4000 bytes"), std::string::npos) << err->message;
  // The failed buffer's memory is returned; the finished one keeps its 32 bytes.
  EXPECT_EQ(MemoryStats(devices_[0]).bytes_in_use, base.bytes_in_use + 32);
}

TEST_F(TransferManagerTest, BadArgumentsAreClearErrors) {
  PJRT_AsyncHostToDeviceTransferManager* raw = nullptr;
  EXPECT_TRUE(FailsWith(CreateManagerRaw(client_.get(), nullptr, {{PJRT_Buffer_Type_F32, {4}}}, &raw),
                        PJRT_Error_Code_INVALID_ARGUMENT,
                        {"PJRT_Client_CreateBuffersForAsyncHostToDevice", "memory is null"}));
  EXPECT_TRUE(FailsWith(CreateManagerRaw(client_.get(), DefaultMemory(devices_[0]), {{PJRT_Buffer_Type_F32, {-2}}},
                                         &raw),
                        PJRT_Error_Code_INVALID_ARGUMENT, {"shape_specs[0]", "dimension 0 is -2"}));
  // Device layouts other than dense row-major.
  std::vector<int64_t> column_major = {0, 1};
  PJRT_Buffer_MemoryLayout tiled{};
  tiled.struct_size = PJRT_Buffer_MemoryLayout_STRUCT_SIZE;
  tiled.type = PJRT_Buffer_MemoryLayout_Type_Tiled;
  tiled.tiled.struct_size = PJRT_Buffer_MemoryLayout_Tiled_STRUCT_SIZE;
  tiled.tiled.minor_to_major = column_major.data();
  tiled.tiled.minor_to_major_size = 2;
  std::vector<PJRT_Buffer_MemoryLayout*> layouts = {&tiled};
  EXPECT_TRUE(FailsWith(CreateManagerRaw(client_.get(), DefaultMemory(devices_[0]),
                                         {{PJRT_Buffer_Type_F32, {4, 3}}}, &raw, &layouts),
                        PJRT_Error_Code_UNIMPLEMENTED, {"device_layouts[0]", "row-major"}));
  // More than the chip holds: RESOURCE_EXHAUSTED, and nothing stays allocated.
  ClientPtr small = CreateClient({{"hbm_bytes", 1 << 20}});
  PJRT_Device* d = Devices(small.get())[0];
  EXPECT_TRUE(FailsWith(CreateManagerRaw(small.get(), DefaultMemory(d),
                                         {{PJRT_Buffer_Type_F32, {1024}}, {PJRT_Buffer_Type_F32, {1 << 20}}}, &raw),
                        PJRT_Error_Code_RESOURCE_EXHAUSTED, {"async host-to-device buffer 1"}));
  EXPECT_EQ(MemoryStats(d).bytes_in_use, 0);

  ManagerPtr m = CreateManager(client_.get(), DefaultMemory(devices_[0]), {{PJRT_Buffer_Type_F32, {4}}});
  float x[8] = {};
  EXPECT_TRUE(FailsWith(Transfer(m.get(), 1, x, 0, 4, true), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"buffer_index 1 is out of range", "1 buffer(s)"}));
  EXPECT_TRUE(FailsWith(Transfer(m.get(), 0, x, 8, 16, true), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"bytes [8, 8+16) are outside buffer 0 (f32[4]"}));
  EXPECT_TRUE(FailsWith(Transfer(m.get(), 0, nullptr, 0, 16, true), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"data is null"}));
  BufferPtr once = Retrieve(m.get(), 0);
  auto again = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer_Args);
  again.transfer_manager = m.get();
  EXPECT_TRUE(FailsWith(Api()->PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer(&again),
                        PJRT_Error_Code_FAILED_PRECONDITION, {"already retrieved"}));
  // Metadata are accepted (hints the emulated host link does not need).
  PJRT_NamedValue hint = Int64Value("priority", 1);
  auto md = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_AddMetadata_Args);
  md.transfer_manager = m.get();
  md.transfer_metadata = &hint;
  md.num_metadata = 1;
  CHIP_EXPECT_OK(Api()->PJRT_AsyncHostToDeviceTransferManager_AddMetadata(&md));
  // Destroying null is fine.
  auto destroy = CHIP_ARGS(PJRT_AsyncHostToDeviceTransferManager_Destroy_Args);
  CHIP_EXPECT_OK(Api()->PJRT_AsyncHostToDeviceTransferManager_Destroy(&destroy));
}

}  // namespace
}  // namespace chip::testing
