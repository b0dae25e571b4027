// How this replica stays in step with the others (docs/architecture.md,
// "Train and sync"): one strategy per run, chosen from the config by
// CreateSyncStrategy: local, ring all-reduce of gradients, local SGD
// (parameter averaging every k steps), synchronous gossip, push-sum. The
// trainer calls it at fixed points of its step loop and knows nothing of
// membership: the strategy follows the views, reconciles after a change,
// keeps the epoch plan, applies the quorum and the minority's rules, and ends
// the run with the cluster (docs/membership.md, docs/faults.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/data_parallel.h"
#include "meshtrain/membership_epochs.h"
#include "meshtrain/status.h"
#include "meshtrain/sync_events.h"

namespace meshtrain {

// This peer's shard of an epoch plan, as the data layer holds it.
struct ShardFacts {
  bool held = true;  // false: no shard this epoch (a newcomer)
  int64_t largest_rows = 1;  // rows of the plan's largest shard (sets the epoch's lockstep steps)
};

// The trainer's side of the seam: what a strategy may read and replace of the
// replica, and the few trainer actions the cluster's rules need. The strategy
// never sees the model, the optimizer or the data.
class ReplicaAccess {
 public:
  virtual ~ReplicaAccess() = default;
  virtual std::span<float> params() = 0;
  virtual std::span<float> optimizer_state() = 0;
  virtual int64_t step() const = 0;
  // Loads this peer's shard of `plan` if the one in memory was cut for other owners.
  virtual Result<ShardFacts> LoadShard(const EpochPlan& plan) = 0;
  // params() and optimizer_state() now hold a state fetched from the cluster,
  // taken at `step` under the strategy's (already adopted) epoch plan.
  virtual Status StateReplaced(int64_t step) = 0;
  // A checkpoint of the current step, unless it is step 0 or already written.
  virtual Status SaveUnsaved() = 0;
};

// What the trainer does next, before a step or at the last one.
enum class Gate {
  kStep,  // take the step
  kComeBack,  // not now (a view moved on, a wait, the state was replaced): ask again
  kFinish,  // at the last step: end the run here
  kClusterEnded,  // the cluster finished ahead; its final state is ours now: evaluate, save, leave
  kSignal,  // a signal arrived while waiting: checkpoint and leave
  kFail,  // `status` ends the run as a failed synchronization (sync_failed)
  kQuit,  // `status` ends the run; the strategy already said why and shut down
};
struct StepGate {
  Gate gate = Gate::kStep;
  Status status;
};

// After a gradient round: apply the step, or redo it (a view change aborted
// the round; the new view is reconciled first, so a step is never applied
// twice, nor lost).
enum class RoundResult { kDone, kRedoStep };

// Fields of the run's `done` line that the strategy owns (docs/training.md).
struct SyncSummary {
  std::vector<EventField> membership;  // after "rejected": view, view_changes, ... (elastic runs only)
  std::vector<EventField> strategy;  // after "steps_per_s": the gossip figures
  std::vector<std::string> final_view;
  bool minority = false;  // the run ended in a minority view (exit 3)
  std::string minority_detail;
};

class SyncStrategy {
 public:
  virtual ~SyncStrategy() = default;
  // Waits for the cluster (DataParallel::Start).
  virtual Status Start(const std::atomic<bool>* stop, const DataParallel::WaitReport& report) = 0;
  // True when every peer runs the same steps per epoch (set by the largest shard).
  virtual bool lockstep() const = 0;
  // True when gradients are averaged over the cluster every step (optim.lr_scaling applies).
  virtual bool averages_gradients() const = 0;
  // The static plan of a run that starts or resumes at `step`.
  virtual void BeginPlan(int64_t step, int64_t steps_per_epoch) = 0;
  virtual const EpochPlan& plan() const = 0;
  virtual int64_t total_steps() const = 0;

  // Before each step: follows the view, reconciles, checks the quorum and the
  // minority's grace, starts the next epoch when due.
  virtual StepGate BeforeStep(const std::atomic<bool>* stop) = 0;
  // At the last step: kFinish, unless a minority waits for the others.
  virtual StepGate AtLastStep(const std::atomic<bool>* stop) = 0;
  // After backward: combines `grads` (mean over `rows` local samples) and `loss`.
  virtual Result<RoundResult> AfterBackward(std::span<float> grads, int64_t rows, double* loss, int64_t step) = 0;
  // After the optimizer step; `step` steps are done: averages or mixes parameters.
  virtual Status AfterUpdate(int64_t step) = 0;
  // After AfterUpdate: the replica fingerprint, when due (docs/agreement.md).
  virtual void VerifyReplica(int64_t step) = 0;
  // After the last step, before the last evaluation: gossip's final agreement.
  virtual void AgreeAtEnd(int64_t step) = 0;
  // The run is over (final checkpoint written): wait for the others, say
  // goodbye, and for a minority's end write minority_finish.
  virtual void Leave(const std::atomic<bool>* stop) = 0;
  virtual void Shutdown() = 0;

  virtual ReplicaStats stats() const = 0;
  virtual std::vector<std::string> view() const = 0;
  virtual double sync_seconds() const = 0;  // time spent in synchronization rounds (comm_s)
  virtual SyncSummary summary() const = 0;
};

// The strategy `cfg` asks for, over a new DataParallel (its errors as Create's).
Result<std::unique_ptr<SyncStrategy>> CreateSyncStrategy(const Config& cfg, size_t num_params, ReplicaAccess& replica,
                                                         EventSink& events);

}  // namespace meshtrain
