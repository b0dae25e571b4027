// PeerGroup::AllreduceSumCompressed: the same checks, tags, mailbox rounds and
// stats as PeerGroup::AllreduceSum (peer_group.cpp), with the compressed ring
// (compressed_ring_allreduce.h) over CompressedPeerLinks. Kept apart so the
// codec path does not thread through the f32 one.
#include <algorithm>
#include <limits>

#include "meshtrain/peer_group.h"
#include "meshtrain/ring_allreduce.h"
#include "sync/compressed_peer_links.h"
#include "sync/compressed_ring_allreduce.h"
#include "sync/mailbox.h"
#include "sync/peer_table.h"
#include "sync/round_tag.h"

namespace meshtrain {
namespace {

using Clock = std::chrono::steady_clock;

// Stochastic rounding must not repeat its draws from round to round.
uint64_t RoundSeed(uint64_t view_id, uint64_t round) {
  return view_id * 0xD1B54A32D192ED03ull ^ (round + 1) * 0x9E3779B97F4A7C15ull;
}

}  // namespace

Status PeerGroup::AllreduceSumCompressed(std::span<float> buf, const CompressedReduce& how,
                                         const std::vector<std::string>& ring, uint64_t view_id, uint64_t round) {
  if (shut_down_) return Status::Aborted("peer " + self_id_ + ": all-reduce after Shutdown");
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
  size_t rank = 0;
  MESHTRAIN_RETURN_IF_ERROR(CheckRing(ring, &rank));
  MESHTRAIN_RETURN_IF_ERROR(CheckTag(view_id, round));
  const Clock::time_point start = Clock::now();
  last_tag_ = std::make_pair(view_id, round);
  if (ring.size() == 1) {  // the sum of one buffer: nothing travels, nothing is lost
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.rounds;
    return Status::OK();
  }

  const size_t n = ring.size();
  const RingLayout layout = ring_->LayoutFor(buf.size(), n);
  if (layout.n_pieces() > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument(context + ": " + std::to_string(buf.size()) +
                                   " floats make more than 2^32 pieces; raise sync.chunk_bytes");
  }
  // A compressed piece is never larger than the f32 one (topk falls back to f32).
  const uint64_t piece_bytes = static_cast<uint64_t>(layout.segment_elems()) * sizeof(float);
  if (transport_cfg_.max_msg_bytes > 0 && piece_bytes > static_cast<uint64_t>(transport_cfg_.max_msg_bytes)) {
    return Status::InvalidArgument(context + ": pieces of " + std::to_string(piece_bytes) +
                                   " bytes exceed transport.max_msg_bytes = " +
                                   std::to_string(transport_cfg_.max_msg_bytes) +
                                   "; lower sync.chunk_bytes or raise transport.max_msg_bytes");
  }

  CompressedPeerLinks::Setup setup;
  setup.transport = transport_.get();
  setup.mailbox = mailbox_.get();
  setup.peers = peers_.get();
  setup.self = self_id_;
  setup.left = ring[(rank + n - 1) % n];
  setup.right = ring[(rank + 1) % n];
  setup.tag = tag;
  setup.layout = &layout;
  setup.exact_tail = static_cast<uint32_t>(how.exact_tail);
  setup.timeout = std::chrono::milliseconds(std::max<int64_t>(sync_.timeout_ms, 1));
  CompressedPeerLinks links(setup);

  mailbox_->BeginRound(tag, buf.size() * sizeof(float));
  // Answer what came in since the last collective first: a Bye among it ends
  // this round at once, before we block sending to a peer that is gone.
  mailbox_->PumpQueued();
  AnswerHellos();
  const Status st = CompressedRingAllreduce::Run(buf, layout, how, RoundSeed(view_id, round), rank, links);
  mailbox_->EndRound(st.ok());

  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.comm_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  stats_.wait_seconds_by_peer[setup.left] += links.left_wait_seconds();
  stats_.wait_seconds_by_peer[setup.right] += links.right_wait_seconds();
  if (st.ok()) ++stats_.rounds;
  return st;
}

}  // namespace meshtrain
