// CompressedRingLinks over the PeerGroup's Transport and Mailbox: the twin of
// PeerRingLinks for compressed pieces. Sends a piece (codec payload, exact
// tail in `extra`) to the right neighbour's ROUTER, and waits (bounded) for a
// piece from the left one, answering every other message meanwhile. A
// received piece must fit the round: same buffer length, cut and exact tail,
// a payload that can decode to its body, and finite tail values; otherwise
// the round ends with an error naming the peer and the piece.
#pragma once

#include <chrono>
#include <string>

#include "meshtrain/transport.h"
#include "sync/compressed_ring_allreduce.h"
#include "sync/mailbox.h"
#include "sync/peer_table.h"
#include "sync/round_tag.h"

namespace meshtrain {

class CompressedPeerLinks final : public CompressedRingLinks {
 public:
  struct Setup {
    Transport* transport = nullptr;
    Mailbox* mailbox = nullptr;
    const PeerTable* peers = nullptr;
    std::string self, left, right;
    RoundTag tag;
    const RingLayout* layout = nullptr;
    uint32_t exact_tail = 0;
    std::chrono::milliseconds timeout{0};  // for any single wait (send or receive)
  };

  explicit CompressedPeerLinks(Setup setup);

  Status SendRight(RingPhase phase, size_t piece, const OutgoingCompressedPiece& out) override;
  Result<ReceivedCompressedPiece> ReceiveLeft(RingPhase phase, size_t piece, size_t body_elems,
                                              size_t tail_elems) override;

  double left_wait_seconds() const { return left_wait_seconds_; }
  double right_wait_seconds() const { return right_wait_seconds_; }

 private:
  Status CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, size_t body_elems, size_t tail_elems,
                    ReceivedCompressedPiece* out);
  Status Mismatch(RingPhase phase, size_t piece, const std::string& why);
  std::string Context() const;                                 // "compressed ring all-reduce (view 0, round 7)"
  std::string PieceName(RingPhase phase, size_t piece) const;  // "reduce-scatter piece 3 of 12"
  std::string Named(const std::string& peer) const;            // "peer p2 (tcp://127.0.0.1:5557)"

  Setup s_;
  double left_wait_seconds_ = 0;
  double right_wait_seconds_ = 0;
};

}  // namespace meshtrain
