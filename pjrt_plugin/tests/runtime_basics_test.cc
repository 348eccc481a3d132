// Status, dtypes and conversions, chip config, events, HBM allocator, exec queue, cost model.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include "pjrt_plugin/runtime/async_event.h"
#include "pjrt_plugin/runtime/chip_config.h"
#include "pjrt_plugin/runtime/cost_model.h"
#include "pjrt_plugin/runtime/device_memory.h"
#include "pjrt_plugin/core/dtype.h"
#include "pjrt_plugin/runtime/exec_queue.h"
#include "pjrt_plugin/core/status.h"

namespace chip {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Status, CodesAndMessages) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  Status e = ResourceExhausted("out of HBM");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(static_cast<int>(e.code()), 8);
  EXPECT_EQ(e.ToString(), "RESOURCE_EXHAUSTED: out of HBM");
  EXPECT_STREQ(StatusCodeName(StatusCode::kInvalidArgument), "INVALID_ARGUMENT");
  EXPECT_STREQ(StatusCodeName(StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  StatusOr<int> v = 7;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  StatusOr<int> err = InvalidArgument("bad");
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.status().message(), "bad");
}

TEST(DType, SizesNamesKinds) {
  EXPECT_EQ(DTypeByteSize(DType::kPred), 1);
  EXPECT_EQ(DTypeByteSize(DType::kS8), 1);
  EXPECT_EQ(DTypeByteSize(DType::kU16), 2);
  EXPECT_EQ(DTypeByteSize(DType::kBF16), 2);
  EXPECT_EQ(DTypeByteSize(DType::kF32), 4);
  EXPECT_EQ(DTypeByteSize(DType::kInvalid), 0);
  EXPECT_STREQ(DTypeName(DType::kBF16), "bf16");
  EXPECT_STREQ(DTypeName(DType::kU32), "u32");
  EXPECT_TRUE(IsFloat(DType::kF16));
  EXPECT_FALSE(IsFloat(DType::kS32));
  EXPECT_TRUE(IsSignedInt(DType::kS16));
  EXPECT_TRUE(IsUnsignedInt(DType::kPred));
  EXPECT_FALSE(IsUnsignedInt(DType::kS8));
}

// Independent bf16 reference: the nearer of the two neighbouring bf16 values, ties to even.
uint16_t RefBF16(float f) {
  const uint32_t u = Bits(f);
  const uint32_t lo = u & 0xFFFF0000u;
  const uint32_t hi = lo + 0x10000u;
  const double dl = std::fabs(static_cast<double>(FromBits(lo)) - f);
  const double dh = std::fabs(static_cast<double>(FromBits(hi)) - f);
  if (dl < dh) return static_cast<uint16_t>(lo >> 16);
  if (dh < dl) return static_cast<uint16_t>(hi >> 16);
  return static_cast<uint16_t>(((lo >> 16) & 1) ? hi >> 16 : lo >> 16);
}

TEST(DType, BF16RoundsToNearestEven) {
  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = rng();
    float f = FromBits(u);
    if (std::isnan(f) || std::isinf(f)) continue;
    if ((u & 0x7F800000u) == 0x7F000000u) continue;  // may round to infinity: checked below
    ASSERT_EQ(F32ToBF16Bits(f), RefBF16(f)) << f;
  }
  // Exact ties go to even.
  EXPECT_EQ(F32ToBF16Bits(FromBits(0x3F808000u)), 0x3F80);
  EXPECT_EQ(F32ToBF16Bits(FromBits(0x3F818000u)), 0x3F82);
  EXPECT_EQ(F32ToBF16Bits(FromBits(0x3F808001u)), 0x3F81);
  // Overflow rounds to infinity; NaN stays NaN; round trips are exact.
  EXPECT_EQ(F32ToBF16Bits(FromBits(0x7F7FFFFFu)), 0x7F80);
  EXPECT_TRUE(std::isnan(BF16BitsToF32(F32ToBF16Bits(std::nanf("")))));
  EXPECT_TRUE(std::isnan(BF16BitsToF32(F32ToBF16Bits(FromBits(0x7F800001u)))));
  for (uint32_t b = 0; b < 0x10000; ++b) {
    ASSERT_EQ(F32ToBF16Bits(BF16BitsToF32(static_cast<uint16_t>(b))), b);  // NaNs included
  }
}

TEST(DType, F16MatchesCompilerFloat16) {
  // Every f16 bit pattern decodes like the compiler's _Float16 and round-trips.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    _Float16 x;
    const uint16_t hb = static_cast<uint16_t>(h);
    std::memcpy(&x, &hb, 2);
    const float ref = static_cast<float>(x);
    const float got = F16BitsToF32(hb);
    if (std::isnan(ref)) {
      ASSERT_TRUE(std::isnan(got));
      ASSERT_EQ(F32ToF16Bits(got), hb);  // NaN payloads round-trip
      continue;
    }
    ASSERT_EQ(Bits(got), Bits(ref)) << h;
    ASSERT_EQ(F32ToF16Bits(got), hb);
  }
  // Random f32 values of every magnitude (normal, subnormal, overflow) round like _Float16.
  std::mt19937 rng(2);
  for (int i = 0; i < 500000; ++i) {
    uint32_t u = rng();
    if (i % 2) u = (u & 0x80FFFFFFu) | ((100u + rng() % 60u) << 23);  // near the f16 range
    const float f = FromBits(u);
    if (std::isnan(f)) continue;
    const _Float16 r = static_cast<_Float16>(f);
    uint16_t rb;
    std::memcpy(&rb, &r, 2);
    ASSERT_EQ(F32ToF16Bits(f), rb) << f;
  }
}

TEST(ChipConfig, DefaultsAndOptions) {
  ChipConfig d;
  EXPECT_EQ(d.num_devices, 1);
  EXPECT_EQ(d.hbm_bytes, int64_t{16} << 30);
  EXPECT_DOUBLE_EQ(d.matrix_f32_flops, 197e12 / 4);
  auto c = ChipConfig::FromNamedOptions({{"num_devices", int64_t{4}},
                                         {"hbm_bytes", int64_t{1} << 20},
                                         {"hbm_bandwidth", 1e9},
                                         {"vector_flops", int64_t{1000000}}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->num_devices, 4);
  EXPECT_EQ(c->hbm_bytes, 1 << 20);
  EXPECT_DOUBLE_EQ(c->hbm_bandwidth, 1e9);
  EXPECT_DOUBLE_EQ(c->vector_flops, 1e6);
  EXPECT_NE(c->ToString().find("num_devices=4"), std::string::npos);
}

TEST(ChipConfig, RejectsBadOptions) {
  auto expect_error = [](std::map<std::string, ChipConfig::OptionValue> o, const std::string& needle) {
    auto c = ChipConfig::FromNamedOptions(o);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(needle), std::string::npos) << c.status().message();
  };
  expect_error({{"num_devices", int64_t{0}}}, "num_devices");
  expect_error({{"num_devices", int64_t{9}}}, "num_devices");
  expect_error({{"num_devices", 2.0}}, "int64");
  expect_error({{"hbm_bytes", int64_t{-5}}}, "hbm_bytes");
  expect_error({{"hbm_bandwidth", 0.0}}, "hbm_bandwidth");
  expect_error({{"vector_flops", std::string("fast")}}, "vector_flops");
  expect_error({{"transcendental_ratio", 2.0}}, "transcendental_ratio");
  expect_error({{"warp_drive", int64_t{1}}}, "warp_drive");
  expect_error({{"matrix_bf16_flops", std::nan("")}}, "matrix_bf16_flops");
}

TEST(AsyncEvent, CompletesOnceAndRunsCallbacks) {
  auto e = AsyncEvent::Create();
  EXPECT_FALSE(e->IsReady());
  int calls = 0;
  Status seen;
  e->OnReady([&](const Status& s) { ++calls; seen = s; });
  std::thread t([&] { e->SetReady(Internal("boom")); });
  Status s = e->Await();
  t.join();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen.message(), "boom");
  e->SetReady();  // ignored
  EXPECT_EQ(e->status().code(), StatusCode::kInternal);
  int late = 0;
  e->OnReady([&](const Status& st) { late += st.ok() ? 10 : 1; });
  EXPECT_EQ(late, 1);
  auto r = AsyncEvent::CreateReady();
  EXPECT_TRUE(r->IsReady());
  EXPECT_TRUE(r->Await().ok());
}

TEST(AsyncEvent, ManyWaiters) {
  auto e = AsyncEvent::Create();
  std::atomic<int> woke{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) ts.emplace_back([&] { if (e->Await().ok()) ++woke; });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  e->SetReady();
  for (auto& t : ts) t.join();
  EXPECT_EQ(woke.load(), 8);
}

TEST(HbmAllocator, ByteExactAccountingAndAlignment) {
  auto a = HbmAllocator::Create(3, 1000);
  EXPECT_EQ(a->device_id(), 3);
  auto x = a->Allocate(100, "x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.value()->data()) % 64, 0u);
  EXPECT_EQ(x.value()->size(), 100u);
  EXPECT_EQ(x.value()->device_id(), 3);
  EXPECT_EQ(a->stats().bytes_in_use, 100);
  auto z = a->Allocate(0, "empty");
  ASSERT_TRUE(z.ok());
  EXPECT_NE(z.value()->data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(z.value()->data()) % 64, 0u);
  auto y = a->Allocate(900, "y");
  ASSERT_TRUE(y.ok());
  std::memset(y.value()->data(), 0xAB, 900);  // the whole request is usable
  EXPECT_EQ(a->stats().bytes_in_use, 1000);
  auto no = a->Allocate(1, "output 0 of jit(f) (f32[])");
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(no.status().message().find("output 0 of jit(f) (f32[])"), std::string::npos);
  EXPECT_NE(no.status().message().find("1000 bytes in use"), std::string::npos) << no.status().message();
  EXPECT_NE(no.status().message().find("chip:3"), std::string::npos);
  MemoryStats st = a->stats();
  EXPECT_EQ(st.bytes_limit, 1000);
  EXPECT_EQ(st.peak_bytes_in_use, 1000);
  EXPECT_EQ(st.num_allocs, 3);
  EXPECT_EQ(st.largest_alloc_size, 900);
  y = StatusOr<std::shared_ptr<DeviceAllocation>>(Internal("dropped"));  // frees 900
  EXPECT_EQ(a->stats().bytes_in_use, 100);
  EXPECT_EQ(a->stats().peak_bytes_in_use, 1000);
  a->ResetPeak();
  EXPECT_EQ(a->stats().peak_bytes_in_use, 100);
  x = StatusOr<std::shared_ptr<DeviceAllocation>>(Internal("dropped"));
  z = StatusOr<std::shared_ptr<DeviceAllocation>>(Internal("dropped"));
  EXPECT_EQ(a->stats().bytes_in_use, 0);
}

TEST(HbmAllocator, PoisonsFreshMemoryWhenAsked) {
  ASSERT_EQ(setenv("CHIP_POISON_MEMORY", "1", 1), 0);
  auto a = HbmAllocator::Create(0, 1 << 20);
  ASSERT_EQ(unsetenv("CHIP_POISON_MEMORY"), 0);
  auto x = a->Allocate(1000, "x").value();
  const uint8_t* p = static_cast<const uint8_t*>(x->data());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p[i], 0xFF);
  float f;
  std::memcpy(&f, p, 4);
  EXPECT_TRUE(std::isnan(f));
}

TEST(HbmAllocator, FreedBlocksAreReusedWithoutChangingTheAccounting) {
  auto a = HbmAllocator::Create(0, int64_t{1} << 30);
  void* first = nullptr;
  {
    auto x = a->Allocate(3 << 20, "x").value();
    first = x->data();
    std::memset(x->data(), 7, 3 << 20);
  }
  EXPECT_EQ(a->stats().bytes_in_use, 0);
  auto y = a->Allocate((3 << 20) - 100, "y").value();  // same size class
  EXPECT_EQ(a->stats().bytes_in_use, (3 << 20) - 100);
  EXPECT_EQ(y->size(), static_cast<size_t>((3 << 20) - 100));
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(y->data(), first);
#else
  static_cast<void>(first);  // ASan's allocator does not reuse the block
#endif
  std::memset(y->data(), 1, y->size());
  EXPECT_EQ(a->stats().num_allocs, 2);
}

TEST(HbmAllocator, AllocationOutlivesAllocatorHandle) {
  std::shared_ptr<DeviceAllocation> keep;
  {
    auto a = HbmAllocator::Create(0, 1 << 20);
    keep = a->Allocate(4096, "k").value();
  }
  std::memset(keep->data(), 1, 4096);
  EXPECT_EQ(keep->device_id(), 0);
}

TEST(HbmAllocator, HugeRequestIsAnErrorNotACrash) {
  auto a = HbmAllocator::Create(0, int64_t{1} << 40);
  auto r = a->Allocate(size_t{1} << 62, "huge");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(a->stats().bytes_in_use, 0);
}

TEST(HbmAllocator, ConcurrentAllocationsNeverExceedCapacity) {
  auto a = HbmAllocator::Create(0, 64 * 1000);
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      std::vector<std::shared_ptr<DeviceAllocation>> held;
      for (int i = 0; i < 500; ++i) {
        auto r = a->Allocate(64, "c");
        if (r.ok()) held.push_back(r.value()); else ++failures;
        if (held.size() > 200) held.clear();
        EXPECT_LE(a->stats().bytes_in_use, 64 * 1000);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(a->stats().bytes_in_use, 0);
  EXPECT_LE(a->stats().peak_bytes_in_use, 64 * 1000);
}

TEST(ExecQueue, RunsInFifoOrderAndDrains) {
  ExecQueue q("test");
  std::vector<int> order;
  std::mutex mu;
  for (int i = 0; i < 100; ++i) {
    q.Enqueue([&, i] {
      if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> l(mu);
      order.push_back(i);
    });
  }
  q.Drain();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(ExecQueue, ThrowingTaskDoesNotKillTheWorker) {
  ExecQueue q("test");
  std::atomic<int> ran{0};
  q.Enqueue([] { throw std::runtime_error("task failure"); });
  q.Enqueue([&] { ++ran; });
  q.Drain();
  EXPECT_EQ(ran.load(), 1);
}

TEST(ExecQueue, DestructorRunsQueuedTasks) {
  std::atomic<int> ran{0};
  {
    ExecQueue q("test");
    for (int i = 0; i < 50; ++i) q.Enqueue([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(ExecQueue, DrainFromInsideATaskDoesNotDeadlock) {
  ExecQueue q("test");
  std::atomic<bool> done{false};
  q.Enqueue([&] { q.Drain(); done = true; });
  q.Drain();
  EXPECT_TRUE(done.load());
}

TEST(CostModel, BoundsAndRates) {
  ChipConfig c;
  KernelWork w;
  ModeledTime t = ModelKernel(w, c);
  EXPECT_STREQ(t.bound, "launch");
  EXPECT_DOUBLE_EQ(t.total_s, c.kernel_launch_s);

  w.matrix_flops = 197e12;  // one second of bf16
  w.matrix_dtype = DType::kBF16;
  t = ModelKernel(w, c);
  EXPECT_STREQ(t.bound, "matrix");
  EXPECT_DOUBLE_EQ(t.matrix_s, 1.0);
  EXPECT_DOUBLE_EQ(t.total_s, 1.0 + c.kernel_launch_s);
  w.matrix_dtype = DType::kF32;
  EXPECT_DOUBLE_EQ(ModelKernel(w, c).matrix_s, 4.0);
  w.matrix_dtype = DType::kS8;
  EXPECT_DOUBLE_EQ(ModelKernel(w, c).matrix_s, 0.5);
  w.matrix_dtype = DType::kF16;
  EXPECT_DOUBLE_EQ(ModelKernel(w, c).matrix_s, 1.0);

  KernelWork v;
  v.vector_flops = 12e12;
  v.transcendentals = 3e12;  // at a quarter rate: 1 s more
  t = ModelKernel(v, c);
  EXPECT_STREQ(t.bound, "vector");
  EXPECT_DOUBLE_EQ(t.vector_s, 2.0);

  KernelWork m;
  m.bytes_read = 819e9;
  m.bytes_written = 819e9;
  m.vector_flops = 1e9;
  t = ModelKernel(m, c);
  EXPECT_STREQ(t.bound, "memory");
  EXPECT_DOUBLE_EQ(t.memory_s, 2.0);
  EXPECT_DOUBLE_EQ(t.total_s, 2.0 + c.kernel_launch_s);

  // SRAM bytes move at the SRAM's bandwidth, concurrently with HBM traffic
  KernelWork s;
  s.sram_bytes_read = 6e12;
  s.sram_bytes_written = 2e12;  // 8e12 bytes: one second at the default 8 TB/s
  s.bytes_read = 819e9 / 2;     // half a second of HBM
  t = ModelKernel(s, c);
  EXPECT_STREQ(t.bound, "sram");
  EXPECT_DOUBLE_EQ(t.sram_s, 8e12 / c.sram_bandwidth);
  EXPECT_DOUBLE_EQ(t.memory_s, 0.5);
  EXPECT_DOUBLE_EQ(t.total_s, t.sram_s + c.kernel_launch_s);

  EXPECT_DOUBLE_EQ(ModelHostTransferSeconds(32e9, c), 1.0);
  EXPECT_DOUBLE_EQ(ModelChipTransferSeconds(100e9, c), 1.0);
  EXPECT_DOUBLE_EQ(ModelDeviceCopySeconds(819e9 / 2, c), 1.0);  // read + write over HBM

  // transfers by the trace's name (re-timing, api/chip_extension.h's chip_model_work)
  EXPECT_DOUBLE_EQ(ModelTransferSeconds(kHostToDevice, 32e9, c).value(), 1.0);
  EXPECT_DOUBLE_EQ(ModelTransferSeconds(kDeviceToHost, 16e9, c).value(), 0.5);
  EXPECT_DOUBLE_EQ(ModelTransferSeconds(kDeviceCopy, 819e9, c).value(), 2.0);
  EXPECT_DOUBLE_EQ(ModelTransferSeconds(kChipToChip, 100e9, c).value(), 1.0);
  const auto bad = ModelTransferSeconds("teleport", 1.0, c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown transfer 'teleport'"), std::string::npos);
}

}  // namespace
}  // namespace chip
