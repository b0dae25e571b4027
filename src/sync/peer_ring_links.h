// RingLinks over the PeerGroup's Transport and Mailbox (RingNeighbours does the
// waiting), for every codec: sends a piece (payload, plus the exact tail in
// `extra`) to the right neighbour, and checks that a piece from the left one
// fits this round and this codec (same buffer length, cut, codec and exact
// tail; a payload that can be read as the piece; finite tail values), turning
// every failure into a Status that names the peer and the piece.
#pragma once

#include "meshtrain/ring_allreduce.h"
#include "sync/ring_messages.h"
#include "sync/ring_neighbours.h"

namespace meshtrain {

class PeerRingLinks final : public RingLinks {
 public:
  PeerRingLinks(RingNeighbours::Setup setup, std::string context, RingWire wire);

  Status SendRight(RingPhase phase, size_t piece, RingPiece out) override;
  Result<RingPiece> ReceiveLeft(RingPhase phase, size_t piece, const PieceShape& shape) override;

  const RingNeighbours& neighbours() const { return net_; }

  // The message SendRight would hand to the transport, for a caller that
  // sends to several peers at once (Transport::SendAll).
  OutgoingMessage PieceMessage(RingPhase phase, size_t piece, const RingPiece& out) const;

 private:
  Status CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, const PieceShape& shape,
                    RingPiece* out);
  Status CheckPayload(const Header& h, const StashedPiece& got, RingPhase phase, size_t piece,
                      const PieceShape& shape, const PieceExtra& extra);
  std::string DescribeCut(uint64_t total, uint32_t exact, uint64_t segment, uint64_t pieces, uint64_t here) const;

  RingNeighbours net_;
  RingWire wire_;
};

}  // namespace meshtrain
