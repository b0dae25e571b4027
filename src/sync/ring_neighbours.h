// The network side of one ring round (PeerRingLinks, and the direct exchange's
// links to every peer): hands an encoded piece to the right
// neighbour and waits for a piece from the left one, each wait bounded, answering
// every other message meanwhile, and ending the round early (Aborted) when a
// neighbour says Bye or membership moves the view on. What a piece looks like
// is the callers' business; this class knows only headers, payloads and peers.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "meshtrain/ring_allreduce.h"
#include "meshtrain/transport.h"
#include "sync/mailbox.h"
#include "sync/peer_table.h"
#include "sync/round_tag.h"

namespace meshtrain {

class RingNeighbours {
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
    // Pieces are read as f32 in place (the f32 ring): one of another dtype is
    // rejected (bad_dtype) and the wait goes on as if it had not come.
    bool f32_only = false;
  };

  // `context` names the collective in every message ("ring all-reduce").
  RingNeighbours(Setup setup, std::string context);

  // Sends `header` (+ payload, zero-copy, kept alive by `keepalive`) to the right neighbour.
  Status SendRight(RingPhase phase, size_t piece, const std::string& header, const void* payload,
                   size_t payload_bytes, std::shared_ptr<const void> keepalive);
  // The left neighbour's piece of this round, phase and index, once it is here.
  Result<StashedPiece> ReceiveLeft(RingPhase phase, size_t piece);

  // Counts the left neighbour's piece as rejected and returns the error to end the round with.
  Status Mismatch(RingPhase phase, size_t piece, const std::string& why);
  Status Malformed(RingPhase phase, size_t piece, const std::string& why);

  const Setup& setup() const { return s_; }
  std::string Context() const;                                 // "ring all-reduce (view 0, round 7)"
  std::string PieceName(RingPhase phase, size_t piece) const;  // "reduce-scatter piece 3 of 12"
  std::string Named(const std::string& peer) const;            // "peer p2 (tcp://127.0.0.1:5557)"

  // Time spent blocked on each neighbour: waiting for the left one's pieces,
  // and handing pieces for the right one to the transport (which blocks when
  // its connection is down or its queue full).
  double left_wait_seconds() const { return left_wait_seconds_; }
  double right_wait_seconds() const { return right_wait_seconds_; }

 private:
  Status Superseded() const;  // Aborted once the view moved on

  Setup s_;
  std::string context_;
  double left_wait_seconds_ = 0;
  double right_wait_seconds_ = 0;
};

}  // namespace meshtrain
