#include "pjrt_plugin/runtime/async_event.h"

namespace chip {

std::shared_ptr<AsyncEvent> AsyncEvent::Create() {
  return std::shared_ptr<AsyncEvent>(new AsyncEvent());
}

std::shared_ptr<AsyncEvent> AsyncEvent::CreateReady(Status status) {
  std::shared_ptr<AsyncEvent> e = Create();
  e->SetReady(std::move(status));
  return e;
}

void AsyncEvent::SetReady(Status status) {
  std::vector<std::function<void(const Status&)>> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ready_) return;
    ready_ = true;
    status_ = status;
    callbacks.swap(callbacks_);
    cv_.notify_all();
  }
  // A callback may drop the last reference to this event: use only locals from here on.
  for (auto& cb : callbacks) cb(status);
}

bool AsyncEvent::IsReady() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_;
}

Status AsyncEvent::Await() const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return ready_; });
  return status_;
}

Status AsyncEvent::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void AsyncEvent::OnReady(std::function<void(const Status&)> callback) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ready_) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  callback(status_);
}

}  // namespace chip
