// CompressedRingLinks over the PeerGroup's Transport and Mailbox (RingNeighbours
// does the waiting): the twin of PeerRingLinks for compressed pieces. Sends a
// piece (codec payload, exact tail in `extra`) to the right neighbour, and
// checks that a piece from the left one fits the round: same buffer length, cut
// and exact tail, a payload that can decode to its body, and finite tail
// values; otherwise the round ends with an error naming the peer and the piece.
#pragma once

#include "sync/compressed_ring_allreduce.h"
#include "sync/ring_neighbours.h"

namespace meshtrain {

class CompressedPeerLinks final : public CompressedRingLinks {
 public:
  CompressedPeerLinks(RingNeighbours::Setup setup, uint32_t exact_tail);

  Status SendRight(RingPhase phase, size_t piece, const OutgoingCompressedPiece& out) override;
  Result<ReceivedCompressedPiece> ReceiveLeft(RingPhase phase, size_t piece, size_t body_elems,
                                              size_t tail_elems) override;

  const RingNeighbours& neighbours() const { return net_; }

 private:
  Status CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, size_t body_elems, size_t tail_elems,
                    ReceivedCompressedPiece* out);

  RingNeighbours net_;
  uint32_t exact_tail_;
};

}  // namespace meshtrain
