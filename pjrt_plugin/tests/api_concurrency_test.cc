// Concurrency through the PJRT C API: 8 host threads dispatch programs to one chip and to four
// chips at once, with donation, host-to-device and device-to-host transfers and chip-to-chip
// copies interleaved. Every result is checked, each thread's executions on a device complete in
// the order it enqueued them, and the whole run is bounded (a deadlock fails the test instead of
// hanging it). Run under ThreadSanitizer with `bazel test --config=tsan` (README, "Sanitizers").
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "api_test_util.h"

namespace chip::testing {
namespace {

constexpr int kThreads = 8;
constexpr int kIterations = 24;
constexpr auto kDeadline = std::chrono::seconds(240);

// Records, per device, the order in which executions complete (their OnReady callbacks).
struct CompletionLog {
  std::mutex mu;
  std::vector<std::vector<std::pair<int, int>>> per_device;  // (thread, sequence number)
};

struct Completion {
  CompletionLog* log;
  int device, thread, seq;
};

void RecordCompletion(PJRT_Error* error, void* arg) {
  std::unique_ptr<Completion> c(static_cast<Completion*>(arg));
  TakeError(error);
  std::lock_guard<std::mutex> lock(c->log->mu);
  c->log->per_device[c->device].emplace_back(c->thread, c->seq);
}

// One worker: on device `dev` (and `peer` for copies), a chain of executions whose results are
// checked against the host computation.
void Worker(PJRT_Client* client, const std::vector<PJRT_Device*>& devices, PJRT_LoadedExecutable* add,
            PJRT_LoadedExecutable* add_donating, int thread, bool single_chip, CompletionLog* log,
            std::atomic<int>* failures) {
  const int dev = single_chip ? 0 : thread % static_cast<int>(devices.size());
  const int peer = single_chip ? 0 : (dev + 1) % static_cast<int>(devices.size());
  auto fail = [&](const std::string& what) {
    ++*failures;
    ADD_FAILURE() << "thread " << thread << ": " << what;
  };
  std::vector<float> acc = RandomFloats(32, 1000 + thread);
  BufferPtr acc_buf = FromHost(client, devices[dev], PJRT_Buffer_Type_F32, {4, 8}, acc.data());
  for (int it = 0; it < kIterations; ++it) {
    std::vector<float> b = RandomFloats(32, thread * 1000 + it);
    BufferPtr bb = FromHost(client, devices[dev], PJRT_Buffer_Type_F32, {4, 8}, b.data());
    if (bb == nullptr || acc_buf == nullptr) return fail("host transfer failed");
    // acc = acc + b, donating acc on odd iterations (the output reuses its memory).
    const bool donate = it % 2 == 1;
    std::vector<BufferPtr> out;
    EventPtr done;
    std::optional<Error> e = TakeError(ExecuteRaw(donate ? add_donating : add, {acc_buf.get(), bb.get()}, 1, &out,
                                                  nullptr, devices[dev], &done));
    if (e) return fail("execute: " + e->message);
    if (donate && !IsDeleted(acc_buf.get())) return fail("donated argument not consumed");
    auto on = CHIP_ARGS(PJRT_Event_OnReady_Args);
    on.event = done.get();
    on.callback = RecordCompletion;
    on.user_arg = new Completion{log, dev, thread, it};
    if (std::optional<Error> oe = TakeError(Api()->PJRT_Event_OnReady(&on))) {
      delete static_cast<Completion*>(on.user_arg);
      return fail("OnReady: " + oe->message);
    }
    for (int i = 0; i < 32; ++i) acc[i] += b[i];
    acc_buf = std::move(out[0]);
    // Every third iteration: a round trip through the peer chip, checked on the host.
    if (it % 3 == 2) {
      auto copy = CHIP_ARGS(PJRT_Buffer_CopyToDevice_Args);
      copy.buffer = acc_buf.get();
      copy.dst_device = devices[peer];
      if (std::optional<Error> ce = TakeError(Api()->PJRT_Buffer_CopyToDevice(&copy))) return fail(ce->message);
      BufferPtr there(copy.dst_buffer);
      if (ToHostFloats(there.get()) != acc) return fail("copy to chip " + std::to_string(peer) + " differs");
    }
  }
  if (ToHostFloats(acc_buf.get()) != acc) fail("final result differs");
}

void RunWorkload(int num_devices, bool single_chip) {
  ClientPtr client = CreateClient({{"num_devices", num_devices}});
  std::vector<PJRT_Device*> devices = Devices(client.get());
  ASSERT_EQ(devices.size(), static_cast<size_t>(num_devices));
  LoadedExecutablePtr add = Load(client.get(), BuildAddProgram({}));
  LoadedExecutablePtr add_donating = Load(client.get(), BuildAddProgram({{4, 8}, /*donate_a=*/true}));
  CompletionLog log;
  log.per_device.resize(num_devices);
  std::atomic<int> failures{0};
  auto all = std::async(std::launch::async, [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back(Worker, client.get(), std::cref(devices), add.get(), add_donating.get(), t, single_chip,
                           &log, &failures);
    }
    for (std::thread& t : threads) t.join();
  });
  if (all.wait_for(kDeadline) != std::future_status::ready) {
    std::fprintf(stderr, "deadlock: %d threads did not finish within %lld s\n", kThreads,
                 static_cast<long long>(kDeadline.count()));
    std::abort();  // threads are stuck inside the plugin: nothing to join
  }
  EXPECT_EQ(failures.load(), 0);
  // Each thread's executions completed in the order it enqueued them, on its device.
  std::lock_guard<std::mutex> lock(log.mu);
  size_t total = 0;
  for (int d = 0; d < num_devices; ++d) {
    std::vector<int> last(kThreads, -1);
    for (const auto& [thread, seq] : log.per_device[d]) {
      EXPECT_GT(seq, last[thread]) << "chip " << d << ", thread " << thread << ": execution " << seq
                                   << " completed after " << last[thread];
      last[thread] = seq;
    }
    total += log.per_device[d].size();
  }
  EXPECT_EQ(total, static_cast<size_t>(kThreads * kIterations));
  // Every buffer is gone: device memory returns to empty (a device's worker may still be
  // releasing the last run's arguments for a moment after its events fired).
  for (PJRT_Device* d : devices) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (MemoryStats(d).bytes_in_use != 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(MemoryStats(d).bytes_in_use, 0);
  }
}

TEST(ConcurrencyTest, EightThreadsOnOneChip) { RunWorkload(1, /*single_chip=*/true); }

TEST(ConcurrencyTest, EightThreadsOnFourChips) { RunWorkload(4, /*single_chip=*/false); }

TEST(ConcurrencyTest, ClientsCreatedAndDestroyedConcurrently) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        ClientPtr c = CreateClient({{"num_devices", 2}});
        std::vector<PJRT_Device*> devices = Devices(c.get());
        LoadedExecutablePtr exe = Load(c.get(), BuildAddProgram({}));
        std::vector<float> a = RandomFloats(32, t * 10 + i);
        BufferPtr ba = FromHost(c.get(), devices[1], PJRT_Buffer_Type_F32, {4, 8}, a.data());
        std::vector<BufferPtr> out;
        if (TakeError(ExecuteRaw(exe.get(), {ba.get(), ba.get()}, 1, &out, nullptr, devices[1]))) {
          ++failures;
          continue;
        }
        std::vector<float> want(32);
        for (int k = 0; k < 32; ++k) want[k] = a[k] + a[k];
        if (ToHostFloats(out[0].get()) != want) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace chip::testing
