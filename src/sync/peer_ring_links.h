// RingLinks over the PeerGroup's Transport and Mailbox: sends a piece to the
// right neighbour's ROUTER, and waits (bounded) for a piece from the left
// neighbour, answering every other message in the meantime. It checks that a
// received piece fits this round (same buffer length and cut on both sides)
// and turns every failure into a Status that names the peer and the piece.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "meshtrain/ring_allreduce.h"
#include "meshtrain/transport.h"
#include "sync/mailbox.h"
#include "sync/peer_table.h"
#include "sync/round_tag.h"

namespace meshtrain {

class PeerRingLinks final : public RingLinks {
 public:
  struct Setup {
    Transport* transport = nullptr;
    Mailbox* mailbox = nullptr;
    const PeerTable* peers = nullptr;
    std::string self, left, right;
    RoundTag tag;
    const RingLayout* layout = nullptr;
    std::chrono::milliseconds timeout{0};  // for any single wait (send or receive)
    // With membership on: says why the round's view is no longer current
    // (empty while it is); the round then ends Aborted, to be redone in the new view.
    std::function<std::string()> superseded;
  };

  explicit PeerRingLinks(Setup setup);

  Status SendRight(RingPhase phase, size_t piece, const float* data, size_t size,
                   std::shared_ptr<const void> keepalive) override;
  Status SendNonFiniteRight(RingPhase phase, size_t piece) override;
  Result<ReceivedPiece> ReceiveLeft(RingPhase phase, size_t piece, size_t size) override;

  // Time spent blocked on each neighbour: waiting for the left one's pieces,
  // and handing pieces for the right one to the transport (which blocks when
  // its connection is down or its queue full).
  double left_wait_seconds() const { return left_wait_seconds_; }
  double right_wait_seconds() const { return right_wait_seconds_; }

 private:
  Status Send(RingPhase phase, size_t piece, const float* data, size_t size, std::shared_ptr<const void> keepalive,
              bool non_finite);
  Status CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, size_t size, bool* non_finite);
  Status Superseded() const;                            // Aborted once the view moved on
  std::string Context() const;                          // "ring all-reduce (view 0, round 7)"
  std::string PieceName(RingPhase phase, size_t piece) const;  // "reduce-scatter piece 3 of 12"
  std::string Named(const std::string& peer) const;     // "p2 (tcp://127.0.0.1:5557)"

  Setup s_;
  double left_wait_seconds_ = 0;
  double right_wait_seconds_ = 0;
};

}  // namespace meshtrain
