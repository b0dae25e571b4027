// Pieces in flight between the threads of one ring test, keyed by destination,
// and the RingLinks over them: the in-memory stand-in for the network under
// the ring algorithm (test_sync_ring_algorithm, test_sync_compressed_ring).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "meshtrain/codec.h"
#include "meshtrain/ring_allreduce.h"

namespace meshtrain::testing {

class MemoryRingNetwork {
 public:
  struct Message {
    RingPhase phase;
    size_t piece;
    RingPiece body;
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

// Peer `rank`'s links in a ring of `n` over a MemoryRingNetwork. Every piece
// travels as a copy of its bytes: f32 ones float-aligned, as the mailbox
// delivers them (the f32 codec reduces in place), the others at an odd
// address, since the codecs must not assume alignment.
class MemoryLinks final : public RingLinks {
 public:
  MemoryLinks(MemoryRingNetwork* net, size_t rank, size_t n) : net_(net), rank_(rank), n_(n) {}

  Status SendRight(RingPhase phase, size_t piece, RingPiece out) override {
    RingPiece copy;
    copy.non_finite = out.non_finite;
    if (!out.non_finite) {
      // The algorithm must never send from memory it does not own.
      CHECK((out.payload_bytes == 0 || out.owner != nullptr));
      CHECK(out.payload_bytes == PayloadBytes(out.dtype, out.n_elems));
      copy.dtype = out.dtype;
      copy.n_elems = out.n_elems;
      const size_t at = out.dtype == DType::kF32 ? 0 : 1;
      auto bytes = std::make_shared<std::vector<std::byte>>(out.payload_bytes + at);
      if (out.payload_bytes > 0) std::memcpy(bytes->data() + at, out.payload, out.payload_bytes);
      copy.payload = bytes->data() + at;
      copy.payload_bytes = out.payload_bytes;
      copy.owner = bytes;
      copy.tail = out.tail;
    }
    payload_bytes_sent += copy.payload_bytes;
    ++pieces_sent;
    net_->Send((rank_ + 1) % n_, {phase, piece, std::move(copy)});
    return Status::OK();
  }

  Result<RingPiece> ReceiveLeft(RingPhase phase, size_t piece, const PieceShape& shape) override {
    auto m = net_->Receive(rank_, phase, piece);
    if (!m) return Status::Timeout("no piece " + std::to_string(piece));
    if (!m->body.non_finite) {
      REQUIRE(m->body.tail.size() == shape.tail);
      REQUIRE((m->body.dtype == DType::kTopK ? m->body.n_elems <= shape.body : m->body.n_elems == shape.body));
    }
    return std::move(m->body);
  }

  size_t payload_bytes_sent = 0;
  size_t pieces_sent = 0;

 private:
  MemoryRingNetwork* net_;
  size_t rank_, n_;
};

}  // namespace meshtrain::testing
