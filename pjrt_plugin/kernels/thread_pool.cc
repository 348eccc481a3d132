#include "pjrt_plugin/kernels/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <memory>

namespace chip {
namespace kernels {
namespace {

int DefaultThreads() {
  if (const char* env = std::getenv("CHIP_HOST_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return std::min(n, 256);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
}

struct ForState {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0, chunk = 0, num_chunks = 0;
  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::condition_variable cv;
  int64_t done = 0;
  std::exception_ptr error;

  // Runs chunks until none is left. Touches `fn` only for a chunk it claimed, and the caller of
  // ParallelFor waits for every claimed chunk, so `fn` outlives every use.
  void Work() {
    for (;;) {
      const int64_t c = next.fetch_add(1);
      if (c >= num_chunks) return;
      const int64_t begin = c * chunk, end = std::min(n, begin + chunk);
      std::exception_ptr err;
      try {
        (*fn)(begin, end);
      } catch (...) {
        err = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu);
      if (err && !error) error = err;
      if (++done == num_chunks) cv.notify_all();
    }
  }
};

}  // namespace

ThreadPool& ThreadPool::Global() {
  static ThreadPool* pool = new ThreadPool(DefaultThreads());  // leaked: usable during exit
  return *pool;
}

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { Loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
    if (tasks_.empty()) return;
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;
    lock.lock();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = num_threads();
  // A few chunks per thread balance uneven progress; never smaller than `grain`.
  int64_t num_chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t{threads} * 4);
  if (threads == 1 || num_chunks <= 1) {
    fn(0, n);
    return;
  }
  auto state = std::make_shared<ForState>();
  state->fn = &fn;
  state->n = n;
  state->chunk = (n + num_chunks - 1) / num_chunks;
  state->num_chunks = (n + state->chunk - 1) / state->chunk;
  const int helpers = static_cast<int>(std::min<int64_t>(threads - 1, state->num_chunks - 1));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < helpers; ++i) tasks_.push_back([state] { state->Work(); });
  }
  if (helpers == 1) cv_.notify_one(); else cv_.notify_all();
  state->Work();
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [&] { return state->done == state->num_chunks; });
  if (state->error) std::rethrow_exception(state->error);
}

}  // namespace kernels
}  // namespace chip
