// The strategies of sync_strategy.h, and the factory that picks one from the
// config. What they share (views, reconciliation, epochs, quorum, minority,
// the end of the run) is ReplicaStrategy's.
#include <cstdio>

#include "meshtrain/sync_strategy.h"
#include "sync/replica_strategy.h"

namespace meshtrain {
namespace {

// sync.mode = "local": every peer trains alone on its own shard.
class LocalStrategy final : public ReplicaStrategy {
 public:
  using ReplicaStrategy::ReplicaStrategy;
  bool lockstep() const override { return false; }  // a peer uses its own shard size
};

// sync.mode = "ring", sync.every = 1: gradients all-reduced every step
// (docs/ring.md); replicas stay bit-identical.
class RingAllReduceStrategy final : public ReplicaStrategy {
 public:
  using ReplicaStrategy::ReplicaStrategy;
  Result<RoundResult> AfterBackward(std::span<float> grads, int64_t rows, double* loss, int64_t step) override {
    return Round([&] { return replicas().AverageGradients(grads, rows, loss, static_cast<uint64_t>(step)); },
                 /*marks_view_ready=*/true);
  }
};

// sync.mode = "ring", sync.every = k > 1 (local SGD): parameters averaged
// after every k-th step; optimizer state stays local.
class LocalSgdStrategy final : public ReplicaStrategy {
 public:
  using ReplicaStrategy::ReplicaStrategy;
  Status AfterUpdate(int64_t step) override {
    MESHTRAIN_RETURN_IF_ERROR(ReplicaStrategy::AfterUpdate(step));
    if (!replicas().averages_parameters_after(step)) return Status::OK();
    // The step is applied; a failed average is left to the next one (the
    // reconciliation after the view change aligns the replicas).
    Result<RoundResult> round =
        Round([&] { return replicas().AverageParameters(replica().params(), static_cast<uint64_t>(step)); },
              /*marks_view_ready=*/false);
    return round.status();
  }
};

// sync.mode = "gossip" (docs/gossip.md): parameters mixed with the graph's
// neighbours every sync.every steps, synchronously (D-PSGD) or, with
// sync.async, by push-sum; sync.final_rounds of agreement at the end.
class GossipStrategy final : public ReplicaStrategy {
 public:
  GossipStrategy(StrategySetup setup, int64_t final_rounds)
      : ReplicaStrategy(std::move(setup)), final_rounds_(final_rounds) {}

  Status AfterUpdate(int64_t step) override {
    MESHTRAIN_RETURN_IF_ERROR(ReplicaStrategy::AfterUpdate(step));
    if (!replicas().mixes_after(step)) return Status::OK();
    // A neighbour died or came back: the step stays applied, this round is
    // skipped, and the new view is reconciled before the next step.
    Result<RoundResult> round =
        Round([&] { return replicas().Mix(replica().params(), step); }, /*marks_view_ready=*/true);
    return round.status();
  }

  // The final averaging rounds, before the last evaluation and checkpoint so
  // both see the agreed model. Best effort: if a peer never comes, this peer
  // still writes the model it has (event agreement_failed), since it did train to the end.
  void AgreeAtEnd(int64_t step) override {
    if (!replicas().agrees_at_end()) return;
    Status agreed = Timed([&] { return replicas().Agree(replica().params(), step); });
    if (!agreed.ok()) {
      events().Announce("agreement_failed", agreed.message());
      return;
    }
    char text[120];
    std::snprintf(text, sizeof(text), "%lld final rounds; consensus distance %.3g before the last",
                  static_cast<long long>(final_rounds_), replicas().stats().consensus);
    events().Announce("agreed", text);
  }

 protected:
  void AddSummaryFields(std::vector<EventField>* fields) const override {
    const ReplicaStats rs = stats();
    *fields = {{"consensus", rs.consensus},
               {"gossip_weight", rs.gossip_weight},
               {"late_msgs", static_cast<int64_t>(rs.gossip_late)},
               {"out_of_order_msgs", static_cast<int64_t>(rs.gossip_out_of_order)},
               {"gossip_view_changes", static_cast<int64_t>(rs.gossip_view_changes)},
               {"compressed_rounds", static_cast<int64_t>(rs.gossip_compressed_rounds)},
               {"clipped", static_cast<int64_t>(rs.gossip_clipped)}};
  }

 private:
  int64_t final_rounds_;
};

}  // namespace

Result<std::unique_ptr<SyncStrategy>> CreateSyncStrategy(const Config& cfg, size_t num_params, ReplicaAccess& replica,
                                                         EventSink& events) {
  auto replicas = DataParallel::Create(cfg, num_params);
  if (!replicas.ok()) return replicas.status();
  // A cut-off minority (docs/faults.md, "A cut-off minority waits").
  auto grace = MinorityMillis("membership.minority_grace_ms", cfg.membership.minority_grace_ms,
                              AutoMinorityGraceMs(cfg.membership.dead_ms));
  if (!grace.ok()) return grace.status();
  auto end_wait = MinorityMillis("membership.minority_end_wait_ms", cfg.membership.minority_end_wait_ms, grace.value());
  if (!end_wait.ok()) return end_wait.status();

  const bool gossip = cfg.sync.mode == SyncMode::kGossip;
  StrategySetup setup;
  setup.replicas = std::move(replicas).value();
  setup.replica = &replica;
  setup.events = &events;
  setup.minority = {grace.value(), end_wait.value(), cfg.membership.minority == MinorityPolicy::kTrain};
  setup.schedule = {cfg.train.epochs, cfg.train.max_steps, cfg.train.batch_size, cfg.membership.reshard};
  setup.follower = {gossip, cfg.AgreementKeys()};
  for (const PeerEntry& p : cfg.cluster.peers) setup.cluster_ids.push_back(p.id);
  // Every key the replicas' equality depends on (docs/agreement.md). It is part
  // of the state every view reconciles, so a peer whose keys differ holds a
  // state of its own there: the minority is behind, and refuses the state it
  // fetched, naming the keys (ViewFollower::Adopt).
  setup.compat = EncodeSettings(cfg.AgreementKeys());
  setup.quorum_timeout_ms = cfg.membership.quorum_timeout_ms;
  setup.farewell_ms = cfg.membership.farewell_ms;
  setup.checkpoint_dir = cfg.CheckpointDir();

  if (gossip) return std::unique_ptr<SyncStrategy>(new GossipStrategy(std::move(setup), cfg.sync.final_rounds));
  if (cfg.sync.mode == SyncMode::kRing && cfg.sync.every == 1) {
    return std::unique_ptr<SyncStrategy>(new RingAllReduceStrategy(std::move(setup)));
  }
  if (cfg.sync.mode == SyncMode::kRing) return std::unique_ptr<SyncStrategy>(new LocalSgdStrategy(std::move(setup)));
  return std::unique_ptr<SyncStrategy>(new LocalStrategy(std::move(setup)));
}

}  // namespace meshtrain
