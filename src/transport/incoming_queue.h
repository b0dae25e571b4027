// Received messages on their way from the communication thread to Receive().
// Bounded: when full, the comm thread stops reading the ROUTER, so ZeroMQ's
// RCVHWM and then TCP flow control push back on senders instead of our memory
// growing without limit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "meshtrain/transport.h"

namespace meshtrain::transport_internal {

class IncomingQueue {
 public:
  explicit IncomingQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}  // SIZE_MAX: unbounded

  bool full() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size() >= capacity_;
  }

  void Push(IncomingMessage msg) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(msg));
    }
    cv_.notify_one();
  }

  // The oldest message, or nullopt at `deadline`. *made_room is true if this
  // pop took the queue from full to not full (the comm thread should resume reading).
  std::optional<IncomingMessage> Pop(std::chrono::steady_clock::time_point deadline, bool* made_room) {
    std::unique_lock<std::mutex> lock(mu_);
    *made_room = false;
    if (!cv_.wait_until(lock, deadline, [this] { return !queue_.empty(); })) return std::nullopt;
    *made_room = queue_.size() >= capacity_;
    IncomingMessage msg = std::move(queue_.front());
    queue_.pop_front();
    return msg;
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<IncomingMessage> queue_;
};

}  // namespace meshtrain::transport_internal
