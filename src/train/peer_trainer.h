// The trainer of one peer (trainer.h): the step loop (trainer.cpp),
// checkpoints and resume (trainer_checkpoints.cpp), metrics lines and
// evaluation (trainer_report.cpp). How the replica stays in step with the
// cluster is its SyncStrategy's (sync_strategy.h); this class is the
// strategy's ReplicaAccess.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "meshtrain/config.h"
#include "meshtrain/metrics.h"
#include "meshtrain/progress.h"
#include "meshtrain/sync_strategy.h"
#include "meshtrain/trainer.h"
#include "train/metrics_event_sink.h"
#include "train/shard_keeper.h"
#include "train/trainer_parts.h"

namespace meshtrain {

class PeerTrainer final : public Trainer, public ReplicaAccess {
 public:
  PeerTrainer(const Config& cfg, Parts parts);
  Status AttachStrategy(size_t num_params);
  Status Init(bool resume);
  Status Run(const std::atomic<bool>* stop) override;
  TrainOutcome outcome() const override;
  void ObserveMetrics(MetricsObserver observer) { metrics_.SetObserver(std::move(observer)); }

  // ReplicaAccess
  std::span<float> params() override { return parts_.model->params(); }
  std::span<float> optimizer_state() override { return parts_.optimizer->state(); }
  int64_t step() const override { return step_; }
  Result<ShardFacts> LoadShard(const EpochPlan& plan) override { return shards_.Ensure(plan); }
  Status StateReplaced(int64_t step) override;
  Status SaveUnsaved() override;

 private:
  using Clock = std::chrono::steady_clock;
  struct OutcomeState {
    double test_acc = -1;
    double test_loss = 0;
    double test_acc_or(double fallback) const { return test_acc >= 0 ? test_acc : fallback; }
  };

  // trainer.cpp: the step loop
  int64_t total_steps() const { return strategy_->total_steps(); }
  int64_t CurrentEpoch() const;
  void ScaleLearningRate(int64_t peers);
  Status EndEarly(const StepGate& gate, const std::atomic<bool>* stop, Clock::time_point run_start);
  Status FinishWithCluster(const std::atomic<bool>* stop, Clock::time_point run_start);
  Status ApplyStep(double loss, bool local_loss_finite);
  Status Diverged(const Status& why);
  void FlipOneBit();
  void SlowDown(double step_seconds) const;
  Status Stopped(const std::string& why);
  Status Fail(const Status& st);

  // trainer_checkpoints.cpp
  CheckpointHeader SnapshotHeader() const;
  Status SaveNow();
  Status Restore();
  Status StopBySignal();

  // trainer_report.cpp
  Status Evaluate();
  void LogStep(double loss, double samples_per_s);
  void WriteSummary(double wall_s);
  void WarnIfWarmupExceedsRun();
  void Event(const char* name, const std::string& detail) { events_.Announce(name, detail); }

  const Config& cfg_;
  OptimConfig optim_;  // cfg_.optim with lr scaled for the cluster
  Parts parts_;  // the model and optimizer; the data is shards_'
  ShardKeeper shards_;
  ProgressReporter progress_;
  MetricsWriter metrics_;
  MetricsEventSink events_;
  std::unique_ptr<SyncStrategy> strategy_;
  OutcomeState outcome_;
  bool evaluated_ = false;  // this run has evaluated the model at least once
  int64_t steps_per_epoch_ = 1;
  int64_t step_ = 0;
  int64_t first_step_ = 0;
  int64_t last_saved_step_ = -1;
  int64_t skipped_steps_ = 0;
  int64_t nonfinite_in_a_row_ = 0;  // skipped steps since the last applied one
  int64_t first_nonfinite_step_ = 0;  // the first of them
  bool first_nonfinite_was_local_ = false;
  double last_loss_ = 0;
  double last_lr_ = 0;
  double compute_s_ = 0;
  double train_s_ = 0;  // wall time until the last step (before any final agreement)
  std::map<std::string, uint64_t> last_logged_drops_;  // the "rejected" counts of the last step line that had them
};

}  // namespace meshtrain
