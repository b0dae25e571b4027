// Pieces in flight between the threads of one ring test, keyed by destination:
// the in-memory stand-in for the network under the ring algorithms
// (test_sync_ring_algorithm, test_sync_compressed_ring). `Body` is what one
// piece carries.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "meshtrain/ring_allreduce.h"

namespace meshtrain::testing {

template <typename Body>
class MemoryRingNetwork {
 public:
  struct Message {
    RingPhase phase;
    size_t piece;
    Body body;
  };

  void Send(size_t to, Message m) {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_[to].push_back(std::move(m));
    cv_.notify_all();
  }

  // The message for (phase, piece) addressed to `to`, waiting at most 20 s;
  // others stay queued.
  std::optional<Message> Receive(size_t to, RingPhase phase, size_t piece) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<Message> found;
    cv_.wait_for(lock, std::chrono::seconds(20), [&] {
      auto& q = inbox_[to];
      for (auto it = q.begin(); it != q.end(); ++it) {
        if (it->phase == phase && it->piece == piece) {
          found = std::move(*it);
          q.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<size_t, std::deque<Message>> inbox_;
};

}  // namespace meshtrain::testing
