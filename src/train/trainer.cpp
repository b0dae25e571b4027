// The step loop of one peer (docs/training.md, "The step loop"). The
// SyncStrategy is called before each step, after backward, after the
// optimizer step and at the end; everything membership does happens there.
#include "meshtrain/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "meshtrain/metric_names.h"
#include "train/peer_trainer.h"

namespace meshtrain {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

PeerTrainer::PeerTrainer(const Config& cfg, Parts parts)
    : cfg_(cfg),
      parts_(std::move(parts)),
      shards_(cfg, std::move(parts_.data)),
      progress_(cfg.log.progress, stdout, cfg.train.log_every),
      events_(metrics_, progress_, cfg.self_id, step_) {}

Status PeerTrainer::AttachStrategy(size_t num_params) {
  auto strategy = CreateSyncStrategy(cfg_, num_params, *this, events_);
  if (!strategy.ok()) return strategy.status();
  strategy_ = std::move(strategy).value();
  return Status::OK();
}

Status PeerTrainer::Init(bool resume) {
  const ShardedData& data = shards_.data();
  if (strategy_->lockstep()) {
    // Lockstep: every peer runs the same number of steps per epoch, set by the
    // largest shard; smaller shards wrap around. (Synchronous gossip needs it
    // as the ring does; push-sum gets equal work per peer from it.)
    const int64_t largest = *std::max_element(data.shard_sizes.begin(), data.shard_sizes.end());
    steps_per_epoch_ = CeilDiv(largest, std::min<int64_t>(cfg_.train.batch_size, largest));
  } else {
    steps_per_epoch_ = CeilDiv(data.train.rows, std::min<int64_t>(cfg_.train.batch_size, data.train.rows));
  }
  ScaleLearningRate(static_cast<int64_t>(cfg_.cluster.peers.size()));
  // The static plan: every listed peer holds its shard, epochs of equal length.
  // Begun at step 0 so that Restore knows the run's length, and again at the
  // step it resumes from.
  strategy_->BeginPlan(0, steps_per_epoch_);
  // A resumed run continues its run id in the metrics (docs/training.md, "Metrics").
  const bool continues = resume && !ListCheckpoints(cfg_.CheckpointDir()).empty();
  MESHTRAIN_RETURN_IF_ERROR(metrics_.Open(cfg_.MetricsPath(), continues));
  if (resume) MESHTRAIN_RETURN_IF_ERROR(Restore());
  strategy_->BeginPlan(step_, steps_per_epoch_);
  return Status::OK();
}

void PeerTrainer::ScaleLearningRate(int64_t peers) {
  optim_ = cfg_.optim;
  if (strategy_->averages_gradients() && optim_.lr_scaling == LrScaling::kLinear) {
    optim_.lr *= static_cast<double>(peers);
    optim_.min_lr *= static_cast<double>(peers);
  }
}

// The epoch the next step belongs to (after an epoch's last step, the next
// one; with equal epochs this is step / steps_per_epoch).
int64_t PeerTrainer::CurrentEpoch() const {
  const EpochPlan& plan = strategy_->plan();
  return step_ >= plan.end_step() ? plan.epoch + 1 : plan.epoch;
}

Status PeerTrainer::Run(const std::atomic<bool>* stop) {
  Model& model = *parts_.model;
  // Signals are honoured in every phase (docs/training.md, "Signals"): during
  // data loading (before Run), while waiting for the others, and in training.
  if (stop && stop->load()) return Stopped("stopped by signal before the peers started");
  Status started = strategy_->Start(stop, [this](const std::string& text) { events_.Say(text); });
  if (started.code() == Status::Code::kAborted && stop && stop->load()) return Stopped(started.message());
  if (!started.ok()) {
    Event(events::kStartFailed, started.message());
    return started;
  }
  events_.Say(model.Describe() + ", " + std::to_string(model.num_params()) + " params, shard " +
              std::to_string(shards_.data().train.rows) + " rows, " + std::to_string(total_steps()) + " steps, sync " +
              std::string(ToString(cfg_.sync.mode)) + " over " + std::to_string(strategy_->view().size()) + " peer(s)");
  WarnIfWarmupExceedsRun();
  const auto run_start = Clock::now();
  int64_t samples_since = 0;
  auto window_start = Clock::now();
  double samples_per_s = 0;
  bool full_window_seen = false;

  for (;;) {
    if (step_ >= total_steps()) {
      // The last step: a minority waits for the others here, and trains on
      // with them if they come back behind it (docs/faults.md).
      const StepGate end = strategy_->AtLastStep(stop);
      if (end.gate == Gate::kFinish) break;
      if (end.gate == Gate::kComeBack) continue;
      return EndEarly(end, stop, run_start);
    }
    if (stop && stop->load()) return StopBySignal();
    const StepGate gate = strategy_->BeforeStep(stop);
    if (gate.gate == Gate::kComeBack) continue;
    if (gate.gate != Gate::kStep) return EndEarly(gate, stop, run_start);
    const EpochPlan& plan = strategy_->plan();
    const int64_t epoch = plan.epoch;
    const int64_t index = step_ - plan.start_step;

    auto t0 = Clock::now();
    Batch batch{};
    double loss = 0;
    bool local_loss_finite = true;  // this peer's own contribution, before any averaging
    if (shards_.has_shard()) {
      batch = shards_.sampler().Get(epoch, index);
      // Dropout masks: a pure function of (seed, peer, step), so a resumed run draws the same ones.
      model.SetNoiseKey(NoiseKey(cfg_.train.seed, cfg_.self_index, step_));
      loss = model.ForwardBackward(batch);
      local_loss_finite = std::isfinite(loss);
    } else {  // no shard this epoch (a newcomer): take part in the round with nothing to add
      auto grads = model.grads();
      std::fill(grads.begin(), grads.end(), 0.0f);
    }
    double step_compute_s = SecondsSince(t0);

    Result<RoundResult> combined = strategy_->AfterBackward(model.grads(), batch.rows, &loss, step_);
    if (!combined.ok()) return Fail(combined.status());
    if (*combined == RoundResult::kRedoStep) continue;  // redone after the reconciliation

    auto t2 = Clock::now();
    if (Status st = ApplyStep(loss, local_loss_finite); !st.ok()) return Diverged(st);
    step_compute_s += SecondsSince(t2);
    SlowDown(step_compute_s);
    compute_s_ += step_compute_s * std::max(1.0, cfg_.debug.slowdown);
    ++step_;

    if (Status st = strategy_->AfterUpdate(step_); !st.ok()) return Fail(st);
    if (cfg_.debug.flip_bit_at_step > 0 && step_ == cfg_.debug.flip_bit_at_step) FlipOneBit();
    strategy_->VerifyReplica(step_);
    if (step_ == total_steps()) {
      train_s_ = SecondsSince(run_start);
      strategy_->AgreeAtEnd(step_);
    }

    last_loss_ = loss;
    // Throughput over the last full second; until one has passed, over the run so far.
    samples_since += batch.rows;
    const double window = SecondsSince(window_start);
    if (window >= 1.0 || !full_window_seen) {
      samples_per_s = static_cast<double>(samples_since) / std::max(window, 1e-9);
    }
    if (window >= 1.0) {
      samples_since = 0;
      window_start = Clock::now();
      full_window_seen = true;
    }
    const int64_t total = total_steps();
    if (step_ % cfg_.train.log_every == 0 || step_ == total) LogStep(loss, samples_per_s);
    const bool epoch_end = step_ == strategy_->plan().end_step();
    if ((cfg_.train.eval_every > 0 && step_ % cfg_.train.eval_every == 0) ||
        (cfg_.train.eval_every == 0 && epoch_end) || step_ == total) {
      MESHTRAIN_RETURN_IF_ERROR(Evaluate());
    }
    if (cfg_.checkpoint.every_steps > 0 && step_ % cfg_.checkpoint.every_steps == 0) {
      MESHTRAIN_RETURN_IF_ERROR(SaveNow());
    }
    const double elapsed = SecondsSince(run_start);
    const double eta =
        elapsed / static_cast<double>(std::max<int64_t>(step_ - first_step_, 1)) * static_cast<double>(total - step_);
    progress_.Update({step_, total, CurrentEpoch(), loss, outcome_.test_acc_or(-1), samples_per_s, eta,
                      static_cast<int>(strategy_->view().size())});
  }
  // Resumed at (or past) the last step, or handed the end by the others: no
  // step ran here, so the model this run ends with is evaluated now.
  if (!evaluated_) MESHTRAIN_RETURN_IF_ERROR(Evaluate());
  if (last_saved_step_ != step_) MESHTRAIN_RETURN_IF_ERROR(SaveNow());
  strategy_->Leave(stop);
  strategy_->Shutdown();
  WriteSummary(SecondsSince(run_start));
  // The view it ended in (after Shutdown, the group knows only the static list).
  progress_.Finish({step_, total_steps(), CurrentEpoch(), last_loss_, outcome_.test_acc, samples_per_s, 0,
                    static_cast<int>(strategy_->summary().final_view.size())});
  return Status::OK();
}

// A gate that ends the run before its last step, or instead of it.
Status PeerTrainer::EndEarly(const StepGate& gate, const std::atomic<bool>* stop, Clock::time_point run_start) {
  switch (gate.gate) {
    case Gate::kSignal: return StopBySignal();
    case Gate::kClusterEnded: return FinishWithCluster(stop, run_start);
    case Gate::kFail: return Fail(gate.status);
    default: return gate.status;
  }
}

// The strategy took the cluster's final state (docs/membership.md, "The end
// of a run"): this peer ends with the cluster's model, evaluated and saved.
Status PeerTrainer::FinishWithCluster(const std::atomic<bool>* stop, Clock::time_point run_start) {
  MESHTRAIN_RETURN_IF_ERROR(Evaluate());
  MESHTRAIN_RETURN_IF_ERROR(SaveNow());
  strategy_->Leave(stop);
  strategy_->Shutdown();
  WriteSummary(SecondsSince(run_start));
  progress_.Finish({step_, total_steps(), CurrentEpoch(), last_loss_, outcome_.test_acc, 0, 0,
                    static_cast<int>(strategy_->summary().final_view.size())});
  return Status::OK();
}

Status PeerTrainer::StateReplaced(int64_t step) {
  step_ = step;
  // Another model now: the last evaluation and checkpoint were of ours.
  evaluated_ = false;
  last_saved_step_ = -1;
  Result<ShardFacts> shard = shards_.Ensure(strategy_->plan());
  if (!shard.ok()) return shard.status();
  ScaleLearningRate(strategy_->plan().lr_peers);
  return Status::OK();
}

// A step with a non-finite loss or gradient is skipped, never applied: one bad
// batch must not poison the model. Too many in a row, or parameters that have
// become non-finite, mean the run has diverged (docs/training.md, "A run that
// diverges"): Aborted says why.
Status PeerTrainer::ApplyStep(double loss, bool local_loss_finite) {
  Model& model = *parts_.model;
  auto grads = model.grads();
  if (std::isfinite(loss) && AllFinite(grads)) {
    nonfinite_in_a_row_ = 0;
    if (cfg_.optim.clip_norm > 0) ClipByGlobalNorm(grads, cfg_.optim.clip_norm);
    const double lr = ScheduledLearningRate(optim_, step_, total_steps());
    last_lr_ = lr;
    parts_.optimizer->Step(model.params(), grads, lr, step_ + 1);
    return Status::OK();
  }
  ++skipped_steps_;
  if (nonfinite_in_a_row_++ == 0) {
    first_nonfinite_step_ = step_;
    first_nonfinite_was_local_ = !local_loss_finite;
  }
  Event("nonfinite_skipped", "non-finite loss or gradient at step " + std::to_string(step_) + "; update skipped");
  const int64_t limit = cfg_.train.stop_after_nonfinite;
  if (limit == 0) return Status::OK();
  const std::string since = "since step " + std::to_string(first_nonfinite_step_) + " (" +
                            (first_nonfinite_was_local_ ? "this peer's own loss was non-finite there"
                                                        : "this peer's own loss was finite there") +
                            ")";
  if (!AllFinite(model.params())) return Status::Aborted("the parameters are non-finite; no step applied " + since);
  if (nonfinite_in_a_row_ >= limit) {
    return Status::Aborted(std::to_string(nonfinite_in_a_row_) + " steps in a row had a non-finite loss or gradient " +
                           since + "; train.stop_after_nonfinite = " + std::to_string(limit));
  }
  return Status::OK();
}

// The run has diverged: no checkpoint of the broken model is written, so the
// newest one stays the last finite state, for a --resume with a lower lr.
Status PeerTrainer::Diverged(const Status& why) {
  Event("diverged", why.message());
  strategy_->Shutdown();
  return Status::Aborted("diverged at step " + std::to_string(step_) + ": " + why.message() +
                         "; the newest checkpoint in " + cfg_.CheckpointDir() +
                         " is the last finite state (--resume it with a lower optim.lr)");
}

// debug.flip_bit_at_step: a silent memory error, for the fingerprint check to find.
void PeerTrainer::FlipOneBit() {
  float& first = parts_.model->params()[0];
  uint32_t bits;
  std::memcpy(&bits, &first, sizeof(bits));
  bits ^= 1u;
  std::memcpy(&first, &bits, sizeof(bits));
  Event("bit_flipped",
        "debug.flip_bit_at_step: flipped the lowest bit of parameter 0 after step " + std::to_string(step_));
}

// debug.slowdown = s stretches each step to s times its compute time (straggler
// experiments); debug.step_delay_ms adds a fixed pause (fault tests), which
// also stands in for compute on a device of its own, so s stretches it too.
void PeerTrainer::SlowDown(double step_seconds) const {
  double pause = cfg_.debug.step_delay_ms / 1000.0 * std::max(1.0, cfg_.debug.slowdown);
  if (cfg_.debug.slowdown > 1.0) pause += step_seconds * (cfg_.debug.slowdown - 1.0);
  if (pause > 0) std::this_thread::sleep_for(std::chrono::duration<double>(pause));
}

// A signal before training began: nothing to checkpoint, leave at once.
Status PeerTrainer::Stopped(const std::string& why) {
  Event(events::kStopped, why);
  strategy_->Shutdown();
  return Status::Aborted(why);
}

Status PeerTrainer::Fail(const Status& st) {
  Event(events::kSyncFailed, st.message());
  strategy_->Shutdown();
  return st;
}

TrainOutcome PeerTrainer::outcome() const {
  TrainOutcome out;
  out.steps = step_;
  out.test_acc = outcome_.test_acc;
  out.test_loss = outcome_.test_loss;
  const SyncSummary sync = strategy_->summary();
  out.minority = sync.minority;
  out.minority_detail = sync.minority_detail;
  return out;
}

uint64_t SamplerSeed(uint64_t train_seed, size_t peer_index) {
  return train_seed * 1000003ULL + 7919ULL * (peer_index + 1);
}

Result<std::unique_ptr<Trainer>> Trainer::Create(const Config& cfg, bool resume, MetricsObserver observer) {
  auto parts = BuildParts(cfg);
  if (!parts.ok()) return parts.status();
  const size_t num_params = parts->model->num_params();
  auto trainer = std::make_unique<PeerTrainer>(cfg, std::move(parts.value()));
  MESHTRAIN_RETURN_IF_ERROR(trainer->AttachStrategy(num_params));
  trainer->ObserveMetrics(std::move(observer));
  MESHTRAIN_RETURN_IF_ERROR(trainer->Init(resume));
  return std::unique_ptr<Trainer>(std::move(trainer));
}

}  // namespace meshtrain
