// The host worker threads kernels split their work over. Process-wide; the calling thread takes
// part in every ParallelFor, so nested or concurrent calls (one per device queue) never deadlock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace chip {
namespace kernels {

class ThreadPool {
 public:
  // Threads = CHIP_HOST_THREADS if set, else the host's hardware concurrency.
  static ThreadPool& Global();
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads available, the caller included.
  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n), each (but the last) at least
  // `grain` long; returns when all have run. An exception thrown by fn is rethrown here.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kernels
}  // namespace chip
