// The pinned_host memory space: buffers created in it, copies between it and device memory (each
// priced on the host link), device memory stats that never count it, its own capacity, and
// programs that refuse to read it.
#include <string>
#include <vector>

#include "api_test_util.h"

namespace chip::testing {
namespace {

PJRT_Memory* PinnedHost(PJRT_Device* device) { return MemoryOfKind(device, "pinned_host"); }

PJRT_Error* ToHostMemoryRaw(PJRT_Client* client, PJRT_Memory* memory, const std::vector<int64_t>& dims,
                            const void* data, PJRT_Buffer** out) {
  auto a = CHIP_ARGS(PJRT_Client_BufferFromHostBuffer_Args);
  a.client = client;
  a.data = data;
  a.type = PJRT_Buffer_Type_F32;
  a.dims = dims.data();
  a.num_dims = dims.size();
  a.host_buffer_semantics = PJRT_HostBufferSemantics_kImmutableOnlyDuringCall;
  a.memory = memory;
  PJRT_Error* e = Api()->PJRT_Client_BufferFromHostBuffer(&a);
  if (a.done_with_host_buffer != nullptr) EventPtr done(a.done_with_host_buffer);
  *out = a.buffer;
  return e;
}

BufferPtr CopyTo(PJRT_Buffer* b, PJRT_Memory* memory) {
  auto a = CHIP_ARGS(PJRT_Buffer_CopyToMemory_Args);
  a.buffer = b;
  a.dst_memory = memory;
  auto err = TakeError(Api()->PJRT_Buffer_CopyToMemory(&a));
  EXPECT_FALSE(err.has_value()) << Describe(err);
  return BufferPtr(a.dst_buffer);
}

PJRT_Memory* MemoryOf(PJRT_Buffer* b) {
  auto a = CHIP_ARGS(PJRT_Buffer_Memory_Args);
  a.buffer = b;
  TakeError(Api()->PJRT_Buffer_Memory(&a));
  return a.memory;
}

TEST(PinnedHostTest, RoundTripThroughDeviceMemoryChargesTheHostLinkOnly) {
  ClientPtr client = CreateClient();
  PJRT_Device* d = Devices(client.get())[0];
  PJRT_Memory* host = PinnedHost(d);
  ASSERT_NE(host, nullptr);
  const std::vector<int64_t> dims = {128, 256};
  const double bytes = 128.0 * 256 * 4;
  const double link = 32e9;  // the default host_link_bandwidth
  std::vector<float> x = RandomFloats(128 * 256, 21);

  const auto base = MemoryStats(d);
  const double t0 = ModeledSeconds(0);
  PJRT_Buffer* raw = nullptr;
  CHIP_ASSERT_OK(ToHostMemoryRaw(client.get(), host, dims, x.data(), &raw));
  BufferPtr h(raw);
  EXPECT_EQ(MemoryOf(h.get()), host);
  EXPECT_EQ(BufferDevice(h.get()), d);
  EXPECT_EQ(MemoryStats(d).bytes_in_use, base.bytes_in_use);  // host-resident
  EXPECT_EQ(ModeledSeconds(0), t0);                            // a host copy
  EXPECT_EQ(ToHostFloats(h.get()), x);
  EXPECT_EQ(ModeledSeconds(0), t0);  // reading pinned host memory does not use the link

  // pinned_host -> device: one host-to-device transfer.
  BufferPtr dev = CopyTo(h.get(), DefaultMemory(d));
  EXPECT_EQ(MemoryOf(dev.get()), DefaultMemory(d));
  EXPECT_EQ(ToHostFloats(dev.get()), x);
  EXPECT_EQ(MemoryStats(d).bytes_in_use, base.bytes_in_use + static_cast<int64_t>(bytes));
  // The copy and the read-back each cross the link once.
  EXPECT_NEAR(ModeledSeconds(0) - t0, 2 * bytes / link, 1e-12);

  // device -> pinned_host: one device-to-host transfer; the device buffer can then go.
  const double t1 = ModeledSeconds(0);
  BufferPtr back = CopyTo(dev.get(), host);
  EXPECT_EQ(ToHostFloats(back.get()), x);
  EXPECT_NEAR(ModeledSeconds(0) - t1, bytes / link, 1e-12);
  dev.reset();
  EXPECT_EQ(MemoryStats(d).bytes_in_use, base.bytes_in_use);
}

TEST(PinnedHostTest, ProgramsRefusePinnedHostArguments) {
  ClientPtr client = CreateClient();
  PJRT_Device* d = Devices(client.get())[0];
  AddProgram spec;
  LoadedExecutablePtr exe = Load(client.get(), BuildAddProgram(spec));
  std::vector<float> a = RandomFloats(32, 1);
  PJRT_Buffer* raw = nullptr;
  CHIP_ASSERT_OK(ToHostMemoryRaw(client.get(), PinnedHost(d), spec.dims, a.data(), &raw));
  BufferPtr h(raw);
  BufferPtr b = FromHost(client.get(), d, PJRT_Buffer_Type_F32, spec.dims, a.data());
  std::vector<BufferPtr> outs;
  EXPECT_TRUE(FailsWith(ExecuteRaw(exe.get(), {h.get(), b.get()}, 1, &outs), PJRT_Error_Code_INVALID_ARGUMENT,
                        {"argument 0 of 'add_program'", "pinned_host memory", "memory_kind='device'"}));
}

TEST(PinnedHostTest, PinnedHostHasItsOwnCapacity) {
  ClientPtr client = CreateClient({{"pinned_host_bytes", 4096}});
  PJRT_Device* d = Devices(client.get())[0];
  std::vector<float> x(2048, 1.0f);
  PJRT_Buffer* raw = nullptr;
  EXPECT_TRUE(FailsWith(ToHostMemoryRaw(client.get(), PinnedHost(d), {2048}, x.data(), &raw),
                        PJRT_Error_Code_RESOURCE_EXHAUSTED, {"out of pinned host memory on chip:0"}));
  // Device memory is another pool: the same array fits there.
  BufferPtr b = FromHost(client.get(), d, PJRT_Buffer_Type_F32, {2048}, x.data());
  EXPECT_NE(b, nullptr);
}

}  // namespace
}  // namespace chip::testing
