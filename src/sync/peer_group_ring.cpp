// PeerGroup's ring collectives: one driver (RingAllreduce) over one kind of
// links (PeerRingLinks), with the codec as the parameter: f32 for
// AllreduceSum, a compression codec for AllreduceSumCompressed
// (docs/ring.md, docs/compression.md). Checks, tags, views, mailbox and stats
// are BeginRingRound/RunRingRound's (peer_group.cpp).
#include <limits>

#include "meshtrain/peer_group.h"
#include "meshtrain/ring_allreduce.h"
#include "sync/peer_ring_links.h"
#include "sync/ring_codecs.h"
#include "sync/ring_round.h"

namespace meshtrain {
namespace {

// Stochastic rounding must not repeat its draws from round to round.
uint64_t RoundSeed(uint64_t view_id, uint64_t round) {
  return view_id * 0xD1B54A32D192ED03ull ^ (round + 1) * 0x9E3779B97F4A7C15ull;
}

}  // namespace

Status PeerGroup::AllreduceRing(std::span<float> buf, const std::vector<std::string>& ring, uint64_t view_id,
                                uint64_t round, const std::string& what, RingCodec& codec) {
  RingRound r;
  Result<bool> begun = BeginRingRound(buf.size(), ring, view_id, round, what, &r);
  if (!begun.ok()) return begun.status();
  if (!*begun) return Status::OK();
  PeerRingLinks links(r.setup, what, codec.wire());
  return RunRingRound(
      r, buf.size() * sizeof(float), [&] { return ring_->Run(buf, r.rank, ring.size(), links, codec); },
      [&] { return WaitsOf(links.neighbours()); });
}

Status PeerGroup::AllreduceSum(std::span<float> buf, const std::vector<std::string>& ring, uint64_t view_id,
                               uint64_t round) {
  if (ring.size() > 1 && buf.size() * sizeof(float) <= DirectMaxBytes(ring.size())) {
    return AllreduceSumDirect(buf, ring, view_id, round);
  }
  return AllreduceRing(buf, ring, view_id, round, "ring all-reduce", *f32_);
}

Status PeerGroup::AllreduceSumCompressed(std::span<float> buf, const CompressedReduce& how,
                                         const std::vector<std::string>& ring, uint64_t view_id, uint64_t round) {
  const RoundTag tag{view_id, round};
  const std::string context = "compressed ring all-reduce (" + tag.ToString() + ")";
  if (how.exact_tail > buf.size() || how.exact_tail > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument(context + ": exact_tail " + std::to_string(how.exact_tail) +
                                   " is longer than the buffer (" + std::to_string(buf.size()) + " floats)");
  }
  if (!how.residual.empty() && how.residual.size() != buf.size() - how.exact_tail) {
    return Status::InvalidArgument(context + ": the residual holds " + std::to_string(how.residual.size()) +
                                   " floats, the compressed part of the buffer " +
                                   std::to_string(buf.size() - how.exact_tail));
  }
  EncodedRingCodec codec(how, RoundSeed(view_id, round));
  return AllreduceRing(buf, ring, view_id, round, "compressed ring all-reduce", codec);
}

}  // namespace meshtrain
