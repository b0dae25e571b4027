// RingLinks over the PeerGroup's Transport and Mailbox (RingNeighbours does the
// waiting): sends a float piece to the right neighbour, and checks that a piece
// from the left one fits this round (same buffer length and cut on both sides),
// turning every failure into a Status that names the peer and the piece.
#pragma once

#include "meshtrain/ring_allreduce.h"
#include "sync/ring_neighbours.h"

namespace meshtrain {

class PeerRingLinks final : public RingLinks {
 public:
  explicit PeerRingLinks(RingNeighbours::Setup setup, std::string context = "ring all-reduce");

  Status SendRight(RingPhase phase, size_t piece, const float* data, size_t size,
                   std::shared_ptr<const void> keepalive) override;
  Status SendNonFiniteRight(RingPhase phase, size_t piece) override;
  Result<ReceivedPiece> ReceiveLeft(RingPhase phase, size_t piece, size_t size) override;

  const RingNeighbours& neighbours() const { return net_; }

  // The message SendRight (or SendNonFiniteRight) would hand to the transport,
  // for a caller that sends to several peers at once (Transport::SendAll).
  OutgoingMessage PieceMessage(RingPhase phase, size_t piece, const float* data, size_t size,
                               std::shared_ptr<const void> keepalive, bool non_finite) const;

 private:
  Status Send(RingPhase phase, size_t piece, const float* data, size_t size, std::shared_ptr<const void> keepalive,
              bool non_finite);
  Status CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, size_t size, bool* non_finite);

  RingNeighbours net_;
};

}  // namespace meshtrain
