// Received messages on their way from the communication thread to Receive().
// Bounded: when full, the comm thread stops reading the ROUTER, so ZeroMQ's
// RCVHWM and then TCP flow control push back on senders instead of our memory
// growing without limit. Control-lane messages are handed out first: a
// heartbeat read behind a burst of gradient pieces is not made to wait for them.
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
    return size() >= capacity_;
  }

  void Push(IncomingMessage msg) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      (msg.lane == Lane::kControl ? control_ : data_).push_back(std::move(msg));
    }
    cv_.notify_one();
  }

  // The oldest control message, else the oldest data message, or nullopt at
  // `deadline`. *made_room is true if this pop took the queue from full to not
  // full (the comm thread should resume reading).
  std::optional<IncomingMessage> Pop(std::chrono::steady_clock::time_point deadline, bool* made_room) {
    std::unique_lock<std::mutex> lock(mu_);
    *made_room = false;
    if (!cv_.wait_until(lock, deadline, [this] { return size() > 0; })) return std::nullopt;
    *made_room = size() >= capacity_;
    std::deque<IncomingMessage>& from = control_.empty() ? data_ : control_;
    IncomingMessage msg = std::move(from.front());
    from.pop_front();
    return msg;
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t size() const { return control_.size() + data_.size(); }  // under mu_

  std::deque<IncomingMessage> control_, data_;
};

}  // namespace meshtrain::transport_internal
