// What every sync strategy shares (sync_strategy.h): the view follower, the
// epoch planner, the quorum and minority guards and the end of the run, over
// one DataParallel. The strategies (sync_strategies.cpp) add their
// collective: what is combined after backward, after the optimizer step, and
// at the end.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/data_parallel.h"
#include "meshtrain/sync_strategy.h"
#include "sync/epoch_planner.h"
#include "sync/minority_guard.h"
#include "sync/quorum_guard.h"
#include "sync/run_end.h"
#include "sync/view_follower.h"

namespace meshtrain {

struct StrategySetup {
  std::unique_ptr<DataParallel> replicas;
  ReplicaAccess* replica = nullptr;
  EventSink* events = nullptr;
  MinorityRules minority;
  EpochSchedule schedule;
  FollowerOptions follower;
  std::vector<std::string> cluster_ids;  // cluster.peers, in their order: the static plan's shard owners
  std::string compat;  // EncodeSettings(Config::AgreementKeys())
  int64_t quorum_timeout_ms = 0;
  int64_t farewell_ms = 0;
  std::string checkpoint_dir;  // named when the replicas disagree
};

class ReplicaStrategy : public SyncStrategy {
 public:
  explicit ReplicaStrategy(StrategySetup setup);

  Status Start(const std::atomic<bool>* stop, const DataParallel::WaitReport& report) override;
  bool lockstep() const override { return true; }
  bool averages_gradients() const override { return replicas_->averages_gradients(); }
  void BeginPlan(int64_t step, int64_t steps_per_epoch) override;
  const EpochPlan& plan() const override { return planner_.plan(); }
  int64_t total_steps() const override { return planner_.total_steps(); }

  StepGate BeforeStep(const std::atomic<bool>* stop) override;
  StepGate AtLastStep(const std::atomic<bool>* stop) override;
  Result<RoundResult> AfterBackward(std::span<float> grads, int64_t rows, double* loss, int64_t step) override;
  Status AfterUpdate(int64_t step) override;
  void VerifyReplica(int64_t step) override;
  void AgreeAtEnd(int64_t step) override;
  void Leave(const std::atomic<bool>* stop) override;
  void Shutdown() override { replicas_->Shutdown(); }

  ReplicaStats stats() const override { return replicas_->stats(); }
  std::vector<std::string> view() const override { return replicas_->view(); }
  double sync_seconds() const override { return sync_seconds_; }
  SyncSummary summary() const override;

 protected:
  DataParallel& replicas() { return *replicas_; }
  ReplicaAccess& replica() { return replica_; }
  EventSink& events() { return events_; }
  // A synchronization call, timed as communication (comm_s).
  Status Timed(const std::function<Status()>& call);
  // One synchronization round, timed. A round that a view
  // change interrupted is reported (round_aborted) and returns kRedoStep; with
  // `marks_view_ready`, the first round that succeeds in a view says so (view_ready).
  Result<RoundResult> Round(const std::function<Status()>& call, bool marks_view_ready);
  // The strategy's own fields of the done line.
  virtual void AddSummaryFields(std::vector<EventField>*) const {}

 private:
  using Clock = std::chrono::steady_clock;
  Status FollowMembership(const std::atomic<bool>* stop);
  Status CheckQuorum();
  Status CheckMinority();
  StepGate TakeClusterEnd(const ClusterEnd& end, const std::atomic<bool>* stop);

  std::unique_ptr<DataParallel> replicas_;
  ReplicaAccess& replica_;
  EventSink& events_;
  std::vector<std::string> cluster_ids_;
  std::string compat_;
  std::string checkpoint_dir_;
  EpochPlanner planner_;
  MinorityGuard minority_;
  QuorumGuard quorum_;
  ViewFollower follower_;
  RunEnd run_end_;
  double sync_seconds_ = 0;
  int64_t fingerprints_ = 0;  // replica fingerprints published
  double fingerprint_s_ = 0;  // time spent taking them
  bool cluster_end_taken_ = false;  // the run ended with the cluster's final state
  bool elastic_at_end_ = false;  // for the summary, written after the group is shut down
  std::vector<std::string> final_view_;
};

}  // namespace meshtrain
