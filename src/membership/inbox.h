// The messages the membership thread passes up (ring pieces, Hello, Bye,
// gossip): a queue between it, which owns Transport::Receive, and the layer
// above, which pumps it from its own thread. Bounded: beyond `capacity` a
// message is dropped (and counted) rather than stalling heartbeats; in ring
// mode a neighbour is at most one round ahead, far below the bound.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

#include "meshtrain/status.h"
#include "meshtrain/transport.h"

namespace meshtrain::membership_internal {

class Inbox {
 public:
  explicit Inbox(size_t capacity) : capacity_(capacity) {}

  size_t capacity() const { return capacity_; }

  // False (dropped) if the queue holds `limit` messages or more (at most the capacity).
  bool Push(IncomingMessage msg, size_t limit = SIZE_MAX) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() >= std::min(limit, capacity_)) return false;
      queue_.push_back(std::move(msg));
    }
    cv_.notify_one();
    return true;
  }

  // The oldest message, waiting at most `timeout`; Timeout if none came, or
  // if Interrupt() was called meanwhile (so the caller looks at the view).
  Result<IncomingMessage> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t generation = interrupts_;
    cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || interrupts_ != generation; });
    if (queue_.empty()) return Status::Timeout("no message within " + std::to_string(timeout.count()) + " ms");
    IncomingMessage msg = std::move(queue_.front());
    queue_.pop_front();
    return msg;
  }

  void Interrupt() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++interrupts_;
    }
    cv_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<IncomingMessage> queue_;
  uint64_t interrupts_ = 0;
};

}  // namespace meshtrain::membership_internal
