#include "meshtrain/gossip.h"

#include <algorithm>

#include "sync/gossip_links.h"
#include "sync/gossip_round.h"
#include "sync/push_sum.h"

namespace meshtrain {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

Gossip::Gossip(Topology topology) : topology_(std::move(topology)) {}

Gossip::~Gossip() = default;

Result<std::unique_ptr<Gossip>> Gossip::Create(const Config& cfg, GossipLinks* links, size_t num_params) {
  std::vector<std::string> ids;
  for (const PeerEntry& p : cfg.cluster.peers) {
    if (cfg.cluster.size > 0 && ids.size() == static_cast<size_t>(cfg.cluster.size)) break;
    ids.push_back(p.id);
  }
  std::sort(ids.begin(), ids.end());
  const auto self = static_cast<size_t>(std::find(ids.begin(), ids.end(), cfg.self_id) - ids.begin());
  if (self == ids.size()) return Status::InvalidArgument("gossip: peer id \"" + cfg.self_id + "\" is not in the cluster");
  if (links == nullptr) return Status::InvalidArgument("gossip: no network links (a cluster of one does not gossip)");
  if (num_params == 0) return Status::InvalidArgument("gossip: the model has no parameters to mix");
  const uint64_t bytes = static_cast<uint64_t>(num_params) * sizeof(float);
  if (cfg.transport.max_msg_bytes > 0 && bytes > static_cast<uint64_t>(cfg.transport.max_msg_bytes)) {
    return Status::InvalidArgument("gossip sends the whole model in one message: " + std::to_string(bytes) +
                                   " bytes exceed transport.max_msg_bytes = " +
                                   std::to_string(cfg.transport.max_msg_bytes) + "; raise it");
  }
  auto topology = Topology::FromConfig(cfg, ids);
  if (!topology.ok()) return topology.status();

  GossipRound::Setup round;
  // Compression and robust aggregation act on synchronous rounds (docs/gossip.md).
  if (cfg.sync.compression != Compression::kNone) {
    if (cfg.sync.async) {
      return Status::InvalidArgument("sync.compression = \"" + std::string(ToString(cfg.sync.compression)) +
                                     "\" applies to synchronous gossip only; push-sum shares travel in f32 "
                                     "(set sync.async = false, or sync.compression = \"none\")");
    }
    if (topology->kind() == TopologyKind::kRandom) {
      return Status::InvalidArgument("sync.compression = \"" + std::string(ToString(cfg.sync.compression)) +
                                     "\" needs a fixed neighbour graph (every neighbour keeps a copy of what we "
                                     "sent); sync.topology = \"random\" changes partners every round: use ring, "
                                     "torus, exponential or explicit");
    }
    round.codec.compression = cfg.sync.compression;
    round.codec.rounding = cfg.sync.int8_rounding;
    round.codec.topk_ratio = cfg.sync.topk_ratio;
    // CHOCO-SGD diverges when gamma outruns what the codec delivers per round:
    // dense codecs carry nearly all of the change (gamma = 1); topk a fraction
    // of it (measured on the Fashion MLP: 3 x ratio, docs/gossip.md).
    round.consensus_step = cfg.sync.consensus_step > 0 ? cfg.sync.consensus_step
                           : round.codec.compression == Compression::kTopK
                               ? std::min(1.0, 3.0 * cfg.sync.topk_ratio)
                               : 1.0;
  }
  if (cfg.sync.robust != RobustKind::kNone && cfg.sync.async) {
    return Status::InvalidArgument("sync.robust = \"" + std::string(ToString(cfg.sync.robust)) +
                                   "\" applies to synchronous gossip only (push-sum sums shares as they arrive); "
                                   "set sync.async = false, or sync.robust = \"none\"");
  }
  round.robust.kind = cfg.sync.robust;
  round.robust.clip = cfg.sync.robust_clip;
  round.robust.trim = static_cast<size_t>(std::max<int64_t>(cfg.sync.trim, 1));
  round.byzantine = cfg.debug.byzantine;

  std::unique_ptr<Gossip> g(new Gossip(std::move(topology).value()));
  g->cfg_ = cfg;
  g->ids_ = std::move(ids);
  g->self_ = self;
  g->every_ = std::max<int64_t>(cfg.sync.every, 1);
  g->async_ = cfg.sync.async;
  g->final_rounds_ = cfg.sync.final_rounds;
  g->links_ = links;
  links->set_num_params(num_params);
  const auto timeout = std::chrono::milliseconds(std::max<int64_t>(cfg.sync.timeout_ms, 1));

  const GossipPeers peers{links, &g->topology_, &g->ids_, g->self_, timeout};
  static_cast<GossipPeers&>(round) = peers;
  g->round_ = std::make_unique<GossipRound>(round);

  PushSum::Setup push;
  static_cast<GossipPeers&>(push) = peers;
  push.push_timeout = std::min(timeout, std::chrono::milliseconds(20));
  // Peers that finish first wait for the rest before the final rounds; these
  // notes let them tell a slow peer from a dead one.
  if (g->final_rounds_ > 0) push.alive_interval = std::clamp(timeout / 4, std::chrono::milliseconds(100),
                                                             std::chrono::milliseconds(2000));
  g->push_sum_ = std::make_unique<PushSum>(push);
  return g;
}

void Gossip::set_membership(const Membership* membership) { links_->set_membership(membership); }

Status Gossip::SetView(const View& view) {
  std::vector<std::string> ids = view.ids();
  const auto self = static_cast<size_t>(std::find(ids.begin(), ids.end(), cfg_.self_id) - ids.begin());
  if (self == ids.size()) {
    return Status::InvalidArgument("gossip: peer " + cfg_.self_id + " is not in " + view.ToString());
  }
  if (ids != ids_) {
    // Every member computes the same graph from the same sorted ids, so the
    // Metropolis-Hastings weights stay doubly stochastic over the survivors.
    auto topology = Topology::ForMembers(cfg_, ids);
    if (!topology.ok()) return topology.status().WithContext("gossip over " + view.ToString());
    topology_ = std::move(topology).value();
    ids_ = std::move(ids);
    self_ = self;
    round_->set_self(self);
    push_sum_->set_self(self);
    ++view_changes_;
  }
  view_id_ = view.id;
  return Status::OK();
}

Status Gossip::Mix(std::span<float> params, uint64_t step) {
  const Clock::time_point start = Clock::now();
  Status st;
  if (async_) {
    push_sum_->Mix(step, params, &weight_);
    consensus_ = push_sum_->consensus() >= 0 ? push_sum_->consensus() : consensus_;
  } else {
    st = round_->Run(view_id_, step / static_cast<uint64_t>(every_), step, params, &weight_);
    if (st.ok()) {
      ++rounds_;
      if (round_->consensus() >= 0) consensus_ = round_->consensus();
    }
  }
  comm_seconds_ += SecondsSince(start);
  return st;
}

Status Gossip::Finish(std::span<float> params, uint64_t step) {
  if (final_rounds_ == 0) return Status::OK();
  const Clock::time_point start = Clock::now();
  Status st;
  if (async_) {
    st = push_sum_->FinishAndDrain(step, params, &weight_);
    if (push_sum_->consensus() >= 0) consensus_ = push_sum_->consensus();
  }
  const uint64_t first = step / static_cast<uint64_t>(every_) + 1;
  for (int64_t k = 0; st.ok() && k < final_rounds_; ++k) {
    // Exact (f32) whatever sync.compression: few rounds, and they make the model everyone writes.
    st = round_->Run(view_id_, first + static_cast<uint64_t>(k), step, params, &weight_, /*exact=*/true);
    if (st.ok()) {
      ++rounds_;
      if (round_->consensus() >= 0) consensus_ = round_->consensus();
    }
  }
  comm_seconds_ += SecondsSince(start);
  return st.WithContext("final agreement");
}

GossipStats Gossip::stats() const {
  GossipStats s;
  s.rounds = rounds_;
  s.pushes_sent = push_sum_->pushes_sent();
  s.pushes_kept = push_sum_->pushes_kept();
  const GossipCounters c = links_->counters();
  s.pushes_absorbed = c.pushes_absorbed;
  s.out_of_order = c.out_of_order;
  s.late = c.late;
  s.rejected = c.rejected;
  s.weight = weight_;
  s.consensus = consensus_;
  s.comm_seconds = comm_seconds_;
  s.wait_seconds_by_peer = round_->wait_seconds_by_peer();
  s.view_changes = view_changes_;
  s.compressed_rounds = round_->compressed_rounds();
  s.clipped = round_->clipped();
  return s;
}

}  // namespace meshtrain
