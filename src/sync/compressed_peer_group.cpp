// PeerGroup::AllreduceSumCompressed: the compressed ring
// (compressed_ring_allreduce.h) over CompressedPeerLinks, in the same ring
// rounds as PeerGroup::AllreduceSum (checks, tags, views, mailbox, stats: see
// BeginRingRound/RunRingRound in peer_group.cpp). Kept apart so the codec path
// does not thread through the f32 one.
#include <limits>

#include "meshtrain/peer_group.h"
#include "sync/compressed_peer_links.h"
#include "sync/compressed_ring_allreduce.h"
#include "sync/ring_round.h"

namespace meshtrain {
namespace {

// Stochastic rounding must not repeat its draws from round to round.
uint64_t RoundSeed(uint64_t view_id, uint64_t round) {
  return view_id * 0xD1B54A32D192ED03ull ^ (round + 1) * 0x9E3779B97F4A7C15ull;
}

}  // namespace

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
  RingRound r;
  Result<bool> begun = BeginRingRound(buf.size(), ring, view_id, round, "compressed ring all-reduce", &r);
  if (!begun.ok()) return begun.status();
  if (!*begun) return Status::OK();
  CompressedPeerLinks links(r.setup, static_cast<uint32_t>(how.exact_tail));
  return RunRingRound(
      r, buf.size() * sizeof(float),
      [&] { return CompressedRingAllreduce::Run(buf, *r.layout, how, RoundSeed(view_id, round), r.rank, links); },
      [&] { return WaitsOf(links.neighbours()); });
}

}  // namespace meshtrain
