// PeerGroup::AllreduceSumDirect: the all-reduce for small buffers. A ring
// takes 2(N-1) steps one after the other, and below a few hundred KB those
// hops' latency costs more than bandwidth; here every peer sends its whole
// buffer to every other peer at once and sums what it gets: one step, (N-1)·S bytes
// sent per peer instead of 2(N-1)/N·S (the same at N = 2, which is why two
// peers use it up to sync.pair_direct_max_bytes). docs/ring.md, "Small buffers".
//
// Every peer adds the N buffers in the same order (by rank in the ring), so
// the sums are bit-identical everywhere, as the ring's are. A non-finite
// buffer travels as the ring's marker and makes the sum NaN on every peer.
#include <memory>

#include "meshtrain/aligned_buffer.h"
#include "meshtrain/peer_group.h"
#include "sync/float_kernels.h"
#include "sync/mailbox.h"
#include "sync/peer_ring_links.h"
#include "sync/ring_round.h"

namespace meshtrain {

using sync_internal::AddInPlace;
using sync_internal::Copy;
using sync_internal::CopyChecked;
using sync_internal::FillNaN;

namespace {
// How long the one-hand-off send of all copies may wait before the copies it
// could not hand over are retried one by one (the same slice RingNeighbours uses).
constexpr std::chrono::milliseconds kFirstTry{100};
}  // namespace

Status PeerGroup::AllreduceSumDirect(std::span<float> buf, const std::vector<std::string>& ring, uint64_t view_id,
                                     uint64_t round) {
  RingRound r;
  Result<bool> begun = BeginRingRound(buf.size(), ring, view_id, round, "direct all-reduce", &r);
  if (!begun.ok()) return begun.status();
  if (!*begun) return Status::OK();
  const size_t n = ring.size();
  const uint64_t bytes = buf.size() * sizeof(float);
  if (transport_cfg_.max_msg_bytes > 0 && bytes > static_cast<uint64_t>(transport_cfg_.max_msg_bytes)) {
    return Status::InvalidArgument("direct all-reduce (" + r.setup.tag.ToString() + "): a buffer of " +
                                   std::to_string(bytes) + " bytes exceeds transport.max_msg_bytes = " +
                                   std::to_string(transport_cfg_.max_msg_bytes) +
                                   "; lower sync.direct_max_bytes (sync.pair_direct_max_bytes for two peers)");
  }
  // The whole buffer is one piece: a peer that would cut it into ring pieces
  // (another sync.direct_max_bytes) is told "cuts the buffer differently".
  const RingLayout whole(buf.size(), 1, std::max<size_t>(buf.size(), 1));
  std::vector<std::unique_ptr<PeerRingLinks>> links(n);
  for (size_t i = 0; i < n; ++i) {
    if (i == r.rank) continue;
    RingNeighbours::Setup setup = r.setup;
    setup.left = setup.right = ring[i];
    setup.layout = &whole;
    links[i] = std::make_unique<PeerRingLinks>(std::move(setup), "direct all-reduce", RingWire{});
  }

  const auto exchange = [&]() -> Status {
    // What we send leaves from a copy: `buf` turns into the sum while ZeroMQ may still be reading.
    auto own = std::make_shared<AlignedFloats>(buf.size());
    const bool own_finite = CopyChecked(own->data(), buf.data(), buf.size());
    const RingPiece out = own_finite ? RingPiece::Floats(own->data(), buf.size(), own) : RingPiece::NonFinite();
    // The N-1 copies reach the transport in one hand-off (Transport::SendAll).
    // One it could not take at once (no connection yet, a full queue) is sent
    // again through its link, which waits in slices and watches for a Bye or a
    // new view; a send that failed never reached the wire, so none goes twice.
    // Start with the next peer so that not everyone sends to rank 0 first.
    std::vector<Transport::Addressed> batch;
    std::vector<size_t> destinations;
    for (size_t k = 1; k < n; ++k) {
      const size_t i = (r.rank + k) % n;
      batch.push_back({ring[i], links[i]->PieceMessage(RingPhase::kReduceScatter, 0, out)});
      destinations.push_back(i);
    }
    const std::vector<Status> sent = r.setup.transport->SendAll(std::move(batch), std::min(kFirstTry, r.setup.timeout));
    for (size_t j = 0; j < sent.size(); ++j) {
      if (sent[j].ok()) continue;
      PeerRingLinks& to = *links[destinations[j]];
      MESHTRAIN_RETURN_IF_ERROR(to.SendRight(RingPhase::kReduceScatter, 0, out));
    }
    bool finite = own_finite;
    for (size_t i = 0; i < n; ++i) {
      const float* contribution = own->data();
      RingPiece piece;  // holds the received message until it is added
      if (i != r.rank) {
        Result<RingPiece> got = links[i]->ReceiveLeft(RingPhase::kReduceScatter, 0, PieceShape{buf.size(), 0});
        if (!got.ok()) return got.status();
        piece = std::move(got).value();
        finite = finite && !piece.non_finite;
        contribution = piece.floats();
      }
      if (!finite) continue;  // the sum is NaN anyway; every piece is still taken
      if (i == 0) {
        Copy(buf.data(), contribution, buf.size());
      } else {
        finite = AddInPlace(buf.data(), contribution, buf.size());
      }
    }
    if (!finite) FillNaN(buf.data(), buf.size());
    return Status::OK();
  };
  const auto waits = [&] {
    PeerWaits out;
    for (size_t i = 0; i < n; ++i) {
      if (links[i]) out.emplace_back(ring[i], links[i]->neighbours().left_wait_seconds() +
                                                  links[i]->neighbours().right_wait_seconds());
    }
    return out;
  };
  // Up to N-1 whole buffers may be here before we take them: the stash must hold them.
  return RunRingRound(r, (n - 1) * bytes, exchange, waits);
}

}  // namespace meshtrain
