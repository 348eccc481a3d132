// A device's execution queue: one worker thread running tasks in FIFO order. Execution is
// asynchronous: PJRT calls enqueue and return; events complete when the worker has run the task.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace chip {

class ExecQueue {
 public:
  explicit ExecQueue(std::string name);
  ~ExecQueue();  // runs the tasks already queued, then joins the worker
  ExecQueue(const ExecQueue&) = delete;
  ExecQueue& operator=(const ExecQueue&) = delete;

  void Enqueue(std::function<void()> task);
  // Blocks until every task enqueued before this call has run.
  void Drain();

 private:
  void Loop();
  // After finishing its tasks the worker polls for new ones this long before it sleeps on the
  // condition variable: a dispatch that arrives meanwhile starts without a thread wake-up
  // (tens of microseconds on an idle host, the bulk of a small op's dispatch latency).
  static constexpr int64_t kSpinNanos = 50'000;
  bool SpinForWork();
  std::string name_;
  std::atomic<uint64_t> pending_{0};  // tasks enqueued and not yet taken (read while spinning)
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  int running_ = 0;
  uint64_t enqueued_ = 0;   // tasks enqueued so far
  uint64_t completed_ = 0;  // tasks finished so far (FIFO: the first completed_ ones)
  std::condition_variable idle_cv_;
  std::thread worker_;
};

}  // namespace chip
