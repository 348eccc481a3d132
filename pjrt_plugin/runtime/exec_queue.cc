#include "pjrt_plugin/runtime/exec_queue.h"

#include <chrono>
#include <cstdio>
#include <exception>

namespace chip {

ExecQueue::ExecQueue(std::string name) : name_(std::move(name)) {
  worker_ = std::thread([this] { Loop(); });
}

ExecQueue::~ExecQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void ExecQueue::Enqueue(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
    ++enqueued_;
    pending_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_one();
}

bool ExecQueue::SpinForWork() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(kSpinNanos);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pending_.load(std::memory_order_acquire) > 0) return true;
    std::this_thread::yield();
  }
  return false;
}

void ExecQueue::Drain() {
  // The worker draining its own queue would wait for itself.
  if (std::this_thread::get_id() == worker_.get_id()) return;
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = enqueued_;
  idle_cv_.wait(lock, [&] { return completed_ >= target; });
}

void ExecQueue::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (tasks_.empty() && !stop_) {
      lock.unlock();
      SpinForWork();
      lock.lock();
    }
    cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stop_ and nothing left to run
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    pending_.fetch_sub(1, std::memory_order_relaxed);
    ++running_;
    lock.unlock();
    try {
      task();
    } catch (const std::exception& e) {
      // Tasks report their errors through events; an escaped exception must not kill the worker.
      std::fprintf(stderr, "chip: task on queue %s threw: %s\n", name_.c_str(), e.what());
    } catch (...) {
      std::fprintf(stderr, "chip: task on queue %s threw an unknown exception\n", name_.c_str());
    }
    task = nullptr;  // destroy captured state before reporting completion
    lock.lock();
    --running_;
    ++completed_;
    idle_cv_.notify_all();
  }
}

}  // namespace chip
