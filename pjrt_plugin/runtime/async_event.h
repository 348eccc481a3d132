// A one-shot completion event with an error status, shared between the producer (the device's
// execution queue) and any number of waiters (PJRT events, buffers' ready events).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "pjrt_plugin/core/status.h"

namespace chip {

class AsyncEvent {
 public:
  static std::shared_ptr<AsyncEvent> Create();
  static std::shared_ptr<AsyncEvent> CreateReady(Status status = Status::Ok());

  // Completes the event exactly once; later calls are ignored. Runs callbacks outside the lock.
  void SetReady(Status status = Status::Ok());
  bool IsReady() const;
  // Blocks until ready; returns the status it completed with.
  Status Await() const;
  // The status; only meaningful once ready.
  Status status() const;
  // Runs `callback(status)` once ready: immediately (on this thread) if already ready.
  void OnReady(std::function<void(const Status&)> callback);

 private:
  AsyncEvent() = default;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool ready_ = false;
  Status status_;
  std::vector<std::function<void(const Status&)>> callbacks_;
};

}  // namespace chip
