#include "meshtrain/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "meshtrain/checkpoint.h"
#include "meshtrain/data.h"
#include "meshtrain/data_parallel.h"
#include "meshtrain/membership.h"
#include "meshtrain/membership_epochs.h"
#include "meshtrain/metrics.h"
#include "meshtrain/model.h"
#include "meshtrain/optim.h"
#include "meshtrain/progress.h"

namespace meshtrain {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// 16 hex digits: a JSON number would lose the low bits of a 64-bit value.
std::string FingerprintHex(uint64_t fingerprint) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(fingerprint));
  return text;
}

struct Parts {
  ShardedData data;
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
};

Result<Parts> BuildParts(const Config& cfg) {
  Parts parts;
  auto data = LoadShardedData(cfg.data, static_cast<int>(cfg.cluster.peers.size()), static_cast<int>(cfg.self_index));
  if (!data.ok()) return data.status();
  parts.data = std::move(data.value());
  const int64_t max_batch = std::max<int64_t>(cfg.train.batch_size, 1);
  const Dataset& train = parts.data.train;
  const SampleShape input = train.image_height > 0 ? SampleShape::Image(1, train.image_height, train.image_width)
                                                   : SampleShape::Flat(train.dim);
  auto model = CreateModel(cfg.model, input, train.num_classes, max_batch);
  if (!model.ok()) return model.status();
  parts.model = std::move(model.value());
  parts.model->InitParams(cfg.train.seed);
  auto optimizer = CreateOptimizer(cfg.optim, parts.model->num_params());
  if (!optimizer.ok()) return optimizer.status();
  parts.optimizer = std::move(optimizer.value());
  return parts;
}

// A checkpoint holds parameters of one architecture: the layer list it records
// (version 2), or its model description (version 1), must be the configured one.
Status SameArchitecture(const CheckpointHeader& header, const Model& model, const std::string& what) {
  const bool same = header.layers.empty() ? header.model == model.Describe() : header.layers == model.LayerList();
  if (same) return Status::OK();
  return Status::InvalidArgument(what + " holds the model '" + header.model + "' but the config builds '" +
                                 model.Describe() + "'; refusing to load it (use the config it was trained with)");
}

// The test set in batches of batch_size rows, in order. A streamed (IDX) test
// set is read from its file a window of whole batches at a time, so the
// batches, and the sums, are the same as from memory.
Result<EvalTotals> EvaluateOn(Model& model, const Dataset& test, int64_t batch_size) {
  EvalTotals totals;
  const auto evaluate = [&](const Dataset& rows) {
    BatchSampler sampler(rows, batch_size, 0);
    for (int64_t first = 0; first < rows.rows; first += batch_size) {
      const int64_t count = std::min(batch_size, rows.rows - first);
      model.Evaluate(sampler.Sequential(first, count), &totals);
    }
  };
  if (!test.streamed) {
    evaluate(test);
    return totals;
  }
  constexpr int64_t kWindowRows = 128;  // 100 KB of Fashion-MNIST pixels
  const int64_t window = batch_size * std::max<int64_t>(1, kWindowRows / batch_size);
  MESHTRAIN_RETURN_IF_ERROR(ForEachWindow(test, window, evaluate));
  return totals;
}

class PeerTrainer final : public Trainer {
 public:
  PeerTrainer(const Config& cfg, Parts parts, std::unique_ptr<DataParallel> replicas)
      : cfg_(cfg),
        parts_(std::move(parts)),
        replicas_(std::move(replicas)),
        sampler_(std::make_unique<BatchSampler>(parts_.data.train, cfg.train.batch_size,
                                                SamplerSeed(cfg.train.seed, cfg.self_index))),
        progress_(cfg.log.progress, stdout, cfg.train.log_every) {}

  Status Init(bool resume) {
    const int64_t batch = std::min<int64_t>(cfg_.train.batch_size, parts_.data.train.rows);
    if (cfg_.sync.mode == SyncMode::kRing || cfg_.sync.mode == SyncMode::kGossip) {
      // Lockstep: every peer runs the same number of steps per epoch, set by the
      // largest shard; smaller shards wrap around. (Synchronous gossip needs it
      // as the ring does; push-sum gets equal work per peer from it.)
      const int64_t largest = *std::max_element(parts_.data.shard_sizes.begin(), parts_.data.shard_sizes.end());
      steps_per_epoch_ = CeilDiv(largest, std::min<int64_t>(cfg_.train.batch_size, largest));
    } else {
      steps_per_epoch_ = CeilDiv(parts_.data.train.rows, batch);
    }
    optim_ = cfg_.optim;
    if (replicas_->averages_gradients() && optim_.lr_scaling == LrScaling::kLinear) {
      const double n = static_cast<double>(cfg_.cluster.peers.size());
      optim_.lr *= n;
      optim_.min_lr *= n;
    }
    total_steps_ = steps_per_epoch_ * cfg_.train.epochs;
    if (cfg_.train.max_steps > 0) total_steps_ = std::min(total_steps_, cfg_.train.max_steps);
    // A resumed run continues its run id in the metrics (docs/training.md, "Metrics").
    const bool continues = resume && !ListCheckpoints(cfg_.CheckpointDir()).empty();
    MESHTRAIN_RETURN_IF_ERROR(metrics_.Open(cfg_.MetricsPath(), continues));
    if (resume) MESHTRAIN_RETURN_IF_ERROR(Restore());
    // The static plan: every listed peer holds its shard, epochs of equal length.
    for (const PeerEntry& p : cfg_.cluster.peers) plan_.shard_owners.push_back(p.id);
    loaded_owners_ = plan_.shard_owners;
    plan_.next_owners = plan_.shard_owners;
    plan_.epoch = step_ / steps_per_epoch_;
    plan_.start_step = plan_.epoch * steps_per_epoch_;
    plan_.steps = steps_per_epoch_;
    plan_.lr_peers = static_cast<int64_t>(cfg_.cluster.peers.size());
    // Every key the replicas' equality depends on (docs/agreement.md). It is part
    // of the state every view reconciles, so a peer whose keys differ holds a
    // state of its own there: the minority is behind, and refuses the state it
    // fetched, naming the keys (AdoptState).
    plan_.compat = EncodeSettings(cfg_.AgreementKeys());
    // A cut-off minority (docs/faults.md, "A cut-off minority waits").
    auto grace = MinorityMillis("membership.minority_grace_ms", cfg_.membership.minority_grace_ms,
                                AutoMinorityGraceMs(cfg_.membership.dead_ms));
    if (!grace.ok()) return grace.status();
    minority_grace_ms_ = grace.value();
    auto end_wait = MinorityMillis("membership.minority_end_wait_ms", cfg_.membership.minority_end_wait_ms,
                                   minority_grace_ms_);
    if (!end_wait.ok()) return end_wait.status();
    minority_end_wait_ms_ = end_wait.value();
    return Status::OK();
  }

  Status Run(const std::atomic<bool>* stop) override {
    Model& model = *parts_.model;
    // Signals are honoured in every phase (docs/training.md, "Signals"): during
    // data loading (before Run), while waiting for the others, and in training.
    if (stop && stop->load()) return Stopped("stopped by signal before the peers started");
    Status started = replicas_->Start(stop, [this](const std::string& text) {
      progress_.Message("peer " + cfg_.self_id + ": " + text);
    });
    if (started.code() == Status::Code::kAborted && stop && stop->load()) return Stopped(started.message());
    if (!started.ok()) {
      Event("start_failed", started.message());
      return started;
    }
    const std::vector<std::string> view = replicas_->view();
    progress_.Message("peer " + cfg_.self_id + ": " + model.Describe() + ", " + std::to_string(model.num_params()) +
                      " params, shard " + std::to_string(parts_.data.train.rows) + " rows, " +
                      std::to_string(total_steps_) + " steps, sync " + std::string(ToString(cfg_.sync.mode)) + " over " +
                      std::to_string(view.size()) + " peer(s)");
    WarnIfWarmupExceedsRun();
    const auto run_start = Clock::now();
    int64_t samples_since = 0;
    auto window_start = Clock::now();
    double samples_per_s = 0;
    bool full_window_seen = false;

    for (;;) {
      if (step_ >= total_steps_) {
        // The last step. A peer whose state went through a minority view does
        // not call the run done here: it waits for the others, and if they come
        // back behind it, trains on with them (docs/faults.md, "A cut-off minority waits").
        if (!replicas_->elastic() || !in_minority_) break;
        Status ended;
        const EndWait wait = AwaitOthersAtEnd(stop, run_start, &ended);
        if (wait == EndWait::kRejoined) continue;  // back with the majority: on to the end with it
        if (wait == EndWait::kReturn) return ended;
        minority_finish_ = true;  // nobody came back: end with this minority's model, and say so
        break;
      }
      if (stop && stop->load()) return StopBySignal();
      if (replicas_->elastic()) {  // docs/membership.md: follow the view, reconcile after a change
        if (std::optional<ClusterEnd> end = ClusterEndedAhead()) return EndWithCluster(*end, stop, run_start);
        Status st = FollowMembership(stop);
        if (st.code() == Status::Code::kAborted) continue;  // the view moved on again: reconcile anew
        if (!st.ok()) return minority_stopped_ ? st : Fail(st);
        if (step_ >= total_steps_) continue;  // took over the state of peers that had finished
      }
      if (step_ >= plan_.end_step()) {
        Status st = StartNextEpoch();
        if (!st.ok()) return Fail(st);
      }
      const int64_t epoch = plan_.epoch;
      const int64_t index = step_ - plan_.start_step;

      auto t0 = Clock::now();
      Batch batch{};
      double loss = 0;
      bool local_loss_finite = true;  // this peer's own contribution, before any averaging
      if (has_shard_) {
        batch = sampler_->Get(epoch, index);
        // Dropout masks: a pure function of (seed, peer, step), so a resumed run draws the same ones.
        model.SetNoiseKey(NoiseKey(cfg_.train.seed, cfg_.self_index, step_));
        loss = model.ForwardBackward(batch);
        local_loss_finite = std::isfinite(loss);
      } else {  // no shard this epoch (a newcomer): take part in the round with nothing to add
        auto grads = model.grads();
        std::fill(grads.begin(), grads.end(), 0.0f);
      }
      double step_compute_s = SecondsSince(t0);

      if (replicas_->averages_gradients()) {
        auto t1 = Clock::now();
        Status st = replicas_->AverageGradients(model.grads(), batch.rows, &loss, static_cast<uint64_t>(step_));
        comm_s_ += SecondsSince(t1);
        if (st.code() == Status::Code::kAborted && replicas_->elastic()) {
          RoundAborted(st);
          continue;  // redone after the reconciliation (a step is never applied twice, nor lost)
        }
        if (!st.ok()) return Fail(st);
        RoundDone();
      }

      auto t2 = Clock::now();
      if (Status st = ApplyStep(loss, local_loss_finite); !st.ok()) return Diverged(st);
      step_compute_s += SecondsSince(t2);
      SlowDown(step_compute_s);
      compute_s_ += step_compute_s * std::max(1.0, cfg_.debug.slowdown);
      CountMissingShards();
      ++step_;

      if (replicas_->averages_parameters_after(step_)) {
        auto t3 = Clock::now();
        Status st = replicas_->AverageParameters(model.params(), static_cast<uint64_t>(step_));
        comm_s_ += SecondsSince(t3);
        // Local SGD: the step is applied; a failed average is left to the next
        // one (the reconciliation after the view change aligns the replicas).
        if (st.code() == Status::Code::kAborted && replicas_->elastic()) {
          RoundAborted(st);
          st = Status::OK();
        }
        if (!st.ok()) return Fail(st);
      }
      if (replicas_->mixes_after(step_)) {  // gossip (docs/gossip.md)
        auto t4 = Clock::now();
        Status st = replicas_->Mix(model.params(), step_);
        comm_s_ += SecondsSince(t4);
        // A neighbour died or came back: the step stays applied, this round is
        // skipped, and the new view is reconciled before the next step.
        if (st.code() == Status::Code::kAborted && replicas_->elastic()) {
          RoundAborted(st);
          st = Status::OK();
        } else if (st.ok()) {
          RoundDone();
        }
        if (!st.ok()) return Fail(st);
      }
      if (cfg_.debug.flip_bit_at_step > 0 && step_ == cfg_.debug.flip_bit_at_step) FlipOneBit();
      if (replicas_->verifies_replicas_after(step_)) PublishFingerprint();
      if (step_ == total_steps_) {
        train_s_ = SecondsSince(run_start);
        AgreeAtEnd();
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
      if (step_ % cfg_.train.log_every == 0 || step_ == total_steps_) LogStep(loss, samples_per_s);
      const bool epoch_end = step_ == plan_.end_step();
      if ((cfg_.train.eval_every > 0 && step_ % cfg_.train.eval_every == 0) ||
          (cfg_.train.eval_every == 0 && epoch_end) || step_ == total_steps_) {
        MESHTRAIN_RETURN_IF_ERROR(Evaluate());
      }
      if (cfg_.checkpoint.every_steps > 0 && step_ % cfg_.checkpoint.every_steps == 0) {
        MESHTRAIN_RETURN_IF_ERROR(SaveNow());
      }
      const double elapsed = SecondsSince(run_start);
      const double eta = elapsed / static_cast<double>(std::max<int64_t>(step_ - first_step_, 1)) *
                         static_cast<double>(total_steps_ - step_);
      progress_.Update({step_, total_steps_, CurrentEpoch(), loss, outcome_.test_acc_or(-1), samples_per_s,
                        eta, static_cast<int>(replicas_->view().size())});
    }
    // Resumed at (or past) the last step, or handed the end by the others: no
    // step ran here, so the model this run ends with is evaluated now.
    if (!evaluated_) MESHTRAIN_RETURN_IF_ERROR(Evaluate());
    if (last_saved_step_ != step_) MESHTRAIN_RETURN_IF_ERROR(SaveNow());
    elastic_ = replicas_->elastic();
    final_view_ = replicas_->view();
    if (minority_finish_) {
      MinorityFinish();
      SayFarewell(stop, /*linger=*/false);  // its goodbye ranks below the majority's: nobody takes it as the end
    } else {
      replicas_->Finish(step_, stop);  // leave only once the others are done too
      SayFarewell(stop, /*linger=*/true);
    }
    replicas_->Shutdown();
    WriteSummary(SecondsSince(run_start));
    // The view it ended in (after Shutdown, the group knows only the static list).
    progress_.Finish({step_, total_steps_, CurrentEpoch(), last_loss_, outcome_.test_acc, samples_per_s, 0,
                      static_cast<int>(final_view_.size())});
    return Status::OK();
  }

  TrainOutcome outcome() const override {
    TrainOutcome out;
    out.steps = step_;
    out.test_acc = outcome_.test_acc;
    out.test_loss = outcome_.test_loss;
    out.minority = minority_finish_;
    out.minority_detail = minority_detail_;
    return out;
  }

  void ObserveMetrics(MetricsObserver observer) { metrics_.SetObserver(std::move(observer)); }

 private:
  struct OutcomeState {
    double test_acc = -1;
    double test_loss = 0;
    double test_acc_or(double fallback) const { return test_acc >= 0 ? test_acc : fallback; }
  };

  // Gossip: the final averaging rounds, before the last evaluation and checkpoint
  // so both see the agreed model. Best effort: if a peer never comes, this peer
  // still writes the model it has (event agreement_failed), since it did train to the end.
  void AgreeAtEnd() {
    if (!replicas_->agrees_at_end()) return;
    auto t = Clock::now();
    Status st = replicas_->Agree(parts_.model->params(), step_);
    comm_s_ += SecondsSince(t);
    if (!st.ok()) {
      Event("agreement_failed", st.message());
      return;
    }
    char buf[120];
    std::snprintf(buf, sizeof(buf), "%lld final rounds; consensus distance %.3g before the last",
                  static_cast<long long>(cfg_.sync.final_rounds), replicas_->stats().consensus);
    Event("agreed", buf);
  }

  // The epoch the next step belongs to (after an epoch's last step, the next
  // one; with equal epochs this is step / steps_per_epoch).
  int64_t CurrentEpoch() const { return step_ >= plan_.end_step() ? plan_.epoch + 1 : plan_.epoch; }

  // ---- the end of a run (docs/membership.md, "The end of a run") ----

  // After the last step: "finished at step S" to every peer, and (with
  // `linger`) a bounded wait for peers that were away, serving them the
  // final state so that they end with it instead of training on alone.
  void SayFarewell(const std::atomic<bool>* stop, bool linger) {
    if (!replicas_->elastic()) return;
    const FarewellOutcome out = replicas_->Farewell(step_, parts_.model->params(), parts_.optimizer->state(),
                                                    EncodeEpochPlan(plan_), linger, stop);
    if (!out.lingered) return;
    const std::string told = JoinIds(out.told);
    std::string missed;
    for (const auto& id : out.awaited) {
      if (std::find(out.told.begin(), out.told.end(), id) == out.told.end()) missed += (missed.empty() ? "" : ", ") + id;
    }
    Event("farewell", "finished at step " + std::to_string(step_) + " with " + JoinIds(out.awaited) + " away" +
                          (told.empty() ? "" : "; " + told + " came back and took the end") +
                          (missed.empty() ? ""
                                          : "; " + missed + " did not come back within membership.farewell_ms = " +
                                                std::to_string(cfg_.membership.farewell_ms) + " ms"));
  }

  // Peers that completed the run said so while this peer is behind (it was
  // paused, cut off or restarted): training on would make a replica of its own.
  std::optional<ClusterEnd> ClusterEndedAhead() const {
    std::optional<ClusterEnd> end = replicas_->ClusterFinished();
    if (!end || (static_cast<int64_t>(end->step) <= step_ && !end->supersedes)) return std::nullopt;
    return end;
  }

  // Takes the cluster's final state from the peers that finished (exit 0, with
  // their model), or, if none of them serves it any more, stops here without
  // training on (exit 1, saying so): never a silent divergent "final" replica.
  Status EndWithCluster(const ClusterEnd& end, const std::atomic<bool>* stop, Clock::time_point run_start) {
    WriteMembershipEvents();
    const int64_t before = step_;
    const std::string finishers = JoinIds(end.finished);
    const std::string what = "the cluster (" + finishers + ") finished its run at step " + std::to_string(end.step) +
                             " while this peer was away at step " + std::to_string(before);
    progress_.Message("peer " + cfg_.self_id + ": " + what + "; taking its final state");
    const size_t n_values = parts_.model->params().size() + parts_.optimizer->state().size();
    const auto t0 = Clock::now();
    Result<StateSnapshot> fetched = replicas_->FetchFinalState(end, n_values, stop);
    Status adopted = fetched.status();
    if (fetched.ok()) {
      ReconcilePlan from;
      from.target_step = end.step;
      from.sources = end.serving;
      adopted = AdoptState(fetched.value(), from);
    }
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", "cluster_finished");
    line.Add("finished_step", static_cast<int64_t>(end.step)).Add("from_step", before).Add("sources", end.finished);
    line.Add("adopted", adopted.ok());
    if (stop != nullptr && stop->load() && !adopted.ok()) {
      line.Add("detail", what + "; stopped by a signal before its final state arrived");
      metrics_.Write(line);
      replicas_->Shutdown();
      return Status::Aborted("stopped by signal at step " + std::to_string(step_) + " (" + what + ")");
    }
    if (!adopted.ok()) {
      const std::string detail =
          what + "; its final state could not be fetched (" + adopted.message() +
          "), so this peer stops here rather than train on alone: its checkpoints are not the run's model, the "
          "final checkpoints of " + finishers + " are";
      line.Add("detail", detail);
      metrics_.Write(line);
      replicas_->Shutdown();
      return Status::Unavailable(detail);  // printed once, by main, as the reason for exit 1
    }
    ++state_syncs_;
    const std::string detail = what + "; adopted its final state (" + std::to_string(n_values) + " floats from " +
                               JoinIds(end.serving) + ", checksum verified, " +
                               std::to_string(static_cast<int64_t>(SecondsSince(t0) * 1000)) +
                               " ms) instead of training on alone";
    line.Add("detail", detail);
    metrics_.Write(line);
    progress_.Message("peer " + cfg_.self_id + ": cluster_finished: " + detail);
    MESHTRAIN_RETURN_IF_ERROR(Evaluate());
    MESHTRAIN_RETURN_IF_ERROR(SaveNow());
    elastic_ = true;
    final_view_ = replicas_->view();
    SayFarewell(stop, /*linger=*/false);
    replicas_->Shutdown();
    WriteSummary(SecondsSince(run_start));
    progress_.Finish({step_, total_steps_, CurrentEpoch(), last_loss_, outcome_.test_acc, 0, 0,
                      static_cast<int>(final_view_.size())});
    return Status::OK();
  }

  static std::string JoinIds(const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
    return out;
  }

  // ---- membership (docs/membership.md, docs/faults.md) ----

  // Between steps: tells membership our step, writes its events, and after a
  // view change reconciles with the members of the new view. Aborted if the
  // view moved on meanwhile (the caller comes back).
  Status FollowMembership(const std::atomic<bool>* stop) {
    replicas_->SetProgress(step_);
    WriteMembershipEvents();
    if (std::string why = replicas_->ReplicaDisagreement(); !why.empty()) return ReplicasDisagree(why);
    const View view = replicas_->current_view();
    if (view.id != reconciled_view_) MESHTRAIN_RETURN_IF_ERROR(ReconcileView(view, stop));
    MESHTRAIN_RETURN_IF_ERROR(CheckQuorum());
    return CheckMinority();
  }

  // A signal: the step in hand is done; checkpoint it, say goodbye, leave.
  Status StopBySignal() {
    // A step not yet in a checkpoint is saved; one that is (or step 0) is not
    // written again, so the newest checkpoint stays the one that matters.
    const bool save = step_ > 0 && step_ != last_saved_step_;
    Event("stopped", "signal received at step " + std::to_string(step_) + (save ? "; checkpointing" : ""));
    if (save) MESHTRAIN_RETURN_IF_ERROR(SaveNow());
    replicas_->Shutdown();
    return Status::Aborted("stopped by signal at step " + std::to_string(step_));
  }

  // ---- a cut-off minority (docs/faults.md, "A cut-off minority waits") ----

  // After every reconciliation: is the view this peer trains in a primary one
  // (a strict majority of the last primary view), or a minority's?
  void NoteLineage(const ReconcilePlan& plan) {
    last_primary_members_ = plan.lineage.members;
    if (plan.primary) {
      in_minority_ = false;
      return;
    }
    if (!in_minority_) {
      in_minority_ = true;
      minority_since_ = Clock::now();
      last_shared_step_ = static_cast<int64_t>(plan.target_step);  // the state it left the majority with
    }
  }

  std::string MinorityText(const View& view) const {
    return "view " + ViewText(view) + " holds no majority of the last primary view [" +
           JoinIds(last_primary_members_) + "]";
  }

  // A peer in a minority view takes no step for membership.minority_grace_ms
  // (it may be the side of a cut that will heal in a moment: it heartbeats,
  // and when the others are back it copies their state), then trains on alone
  // or stops, as membership.minority says. Aborted while it waits, so that the
  // loop looks at signals and views again.
  Status CheckMinority() {
    if (!in_minority_) {
      if (minority_waiting_ || minority_alone_) {
        Event("minority_rejoined", "view " + ViewText(replicas_->active_view()) + " holds a majority of [" +
                                       JoinIds(last_primary_members_) + "] again after " +
                                       std::to_string(SecondsSince(minority_since_)) + " s in minority views (" +
                                       (minority_alone_ ? "trained alone" : "took no step") + ")");
      }
      minority_waiting_ = minority_alone_ = false;
      return Status::OK();
    }
    if (minority_alone_) return Status::OK();
    const View view = replicas_->active_view();
    const int64_t waited_ms = static_cast<int64_t>(SecondsSince(minority_since_) * 1000);
    const bool train = cfg_.membership.minority == MinorityPolicy::kTrain;
    switch (DecideMinority(false, waited_ms, minority_grace_ms_, train)) {
      case MinorityAction::kTrain:
        return Status::OK();
      case MinorityAction::kWait:
        if (!minority_waiting_) {
          minority_waiting_ = true;
          Event("minority_wait", MinorityText(view) + " (at step " + std::to_string(step_) +
                                     "): no steps for up to membership.minority_grace_ms = " +
                                     std::to_string(minority_grace_ms_) + " ms while the others may come back");
        }
        replicas_->WaitForViewChange(view.id, std::chrono::milliseconds(200));
        return Status::Aborted("waiting for the majority");
      case MinorityAction::kTrainAlone:
        minority_waiting_ = false;
        minority_alone_ = true;
        Event("minority_training",
              MinorityText(view) + "; nobody came back within membership.minority_grace_ms = " +
                  std::to_string(minority_grace_ms_) + " ms, so it trains on in this view from step " +
                  std::to_string(step_) + " (membership.minority = \"train\"); if the others come back, their "
                  "state wins and these steps are dropped");
        return Status::OK();
      case MinorityAction::kStop: {
        minority_stopped_ = true;
        const std::string detail =
            MinorityText(view) + " and nobody came back within membership.minority_grace_ms = " +
            std::to_string(minority_grace_ms_) + " ms; membership.minority = \"stop\": stopping at step " +
            std::to_string(step_) + " rather than train on alone (its checkpoint is the state it shared with the "
            "others at step " + std::to_string(last_shared_step_) + ", not the run's model)";
        Event("minority_stopped", detail);
        if (step_ > 0 && step_ != last_saved_step_) MESHTRAIN_RETURN_IF_ERROR(SaveNow());
        replicas_->Shutdown();
        return Status::Unavailable(detail);
      }
    }
    return Status::OK();
  }

  enum class EndWait { kRejoined, kAlone, kReturn };

  // The last step, reached in a minority view (or after one, without a
  // primary view since): the others may still be training, cut off from this
  // peer. Wait up to membership.minority_end_wait_ms for them; back in a
  // primary view, this peer takes the majority's state and trains on with it
  // (kRejoined); a majority that finished meanwhile hands it its final state
  // (kReturn, through EndWithCluster); nobody: kAlone.
  EndWait AwaitOthersAtEnd(const std::atomic<bool>* stop, Clock::time_point run_start, Status* out) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(minority_end_wait_ms_);
    Event("minority_end_wait", MinorityText(replicas_->active_view()) + ": reached the last step " +
                                   std::to_string(step_) + " without it (last step shared with it: " +
                                   std::to_string(last_shared_step_) + "); waiting up to " +
                                   "membership.minority_end_wait_ms = " + std::to_string(minority_end_wait_ms_) +
                                   " ms for the others before ending with a minority's model");
    for (;;) {
      if (stop && stop->load()) {
        *out = StopBySignal();
        return EndWait::kReturn;
      }
      if (std::optional<ClusterEnd> end = ClusterEndedAhead()) {
        *out = EndWithCluster(*end, stop, run_start);
        return EndWait::kReturn;
      }
      replicas_->SetProgress(step_);
      WriteMembershipEvents();
      const View view = replicas_->current_view();
      if (view.id != reconciled_view_) {
        Status st = ReconcileView(view, stop);
        if (st.code() == Status::Code::kAborted) continue;
        if (!st.ok()) {
          *out = Fail(st);
          return EndWait::kReturn;
        }
        if (!in_minority_) {
          static_cast<void>(CheckMinority());  // logs minority_rejoined; no wait in a primary view
          return EndWait::kRejoined;
        }
        // Others came back, still a minority together, and behind: train on
        // with them (and wait again at the end).
        if (step_ < total_steps_) return EndWait::kRejoined;
      }
      if (Clock::now() >= deadline) return EndWait::kAlone;
      replicas_->WaitForViewChange(view.id, std::chrono::milliseconds(200));
    }
  }

  // The run ends in a minority: the final checkpoint is written (it is the
  // model this peer has), but the event and exit code 3 say whose it is.
  void MinorityFinish() {
    minority_detail_ = "finished the run (step " + std::to_string(step_) + ") in a minority: " +
                       MinorityText(replicas_->active_view()) + ", and the others did not come back within " +
                       "membership.minority_end_wait_ms = " + std::to_string(minority_end_wait_ms_) +
                       " ms; the last step it shared with them is " + std::to_string(last_shared_step_) +
                       ", so its final checkpoint is a minority's model, not necessarily the run's";
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", "minority_finish");
    line.Add("last_shared_step", last_shared_step_).Add("last_primary_view", last_primary_members_);
    line.Add("detail", minority_detail_);
    metrics_.Write(line);
    progress_.Message("peer " + cfg_.self_id + ": minority_finish: " + minority_detail_);
  }

  // membership.quorum (docs/membership.md, "Quorum"): in a view with too few
  // live members this peer takes no step (so a minority cut off from the rest
  // neither runs ahead nor finishes the run alone); membership keeps
  // heartbeating, and training resumes in the first view big enough.
  // Aborted while waiting, so that the loop looks at signals and views again.
  Status CheckQuorum() {
    if (replicas_->has_quorum()) {
      if (quorum_lost_) {
        quorum_lost_ = false;
        Event("quorum_regained", "view " + ViewText(replicas_->active_view()) + " has the quorum of " +
                                     std::to_string(replicas_->quorum()) + " after " +
                                     std::to_string(SecondsSince(quorum_lost_at_)) + " s without it");
      }
      return Status::OK();
    }
    const View view = replicas_->active_view();
    if (!quorum_lost_) {
      quorum_lost_ = true;
      quorum_lost_at_ = Clock::now();
      Event("quorum_lost", "view " + ViewText(view) + " has " + std::to_string(view.members.size()) + " of the " +
                               std::to_string(replicas_->quorum()) +
                               " live members membership.quorum needs; no steps until it has them again");
    }
    const int64_t limit_ms = cfg_.membership.quorum_timeout_ms;
    if (limit_ms > 0 && SecondsSince(quorum_lost_at_) * 1000 >= static_cast<double>(limit_ms)) {
      return Status::Timeout("no quorum (" + std::to_string(replicas_->quorum()) + " live members) within " +
                             "membership.quorum_timeout_ms = " + std::to_string(limit_ms) + " ms; last view " +
                             ViewText(view));
    }
    replicas_->WaitForViewChange(view.id, std::chrono::milliseconds(200));
    return Status::Aborted("waiting for a quorum");
  }

  static std::string ViewText(const View& view) {
    std::string ids;
    for (const auto& id : view.ids()) ids += (ids.empty() ? "" : ", ") + id;
    return std::to_string(view.id) + " [" + ids + "]";
  }

  void WriteMembershipEvents() {
    for (const MembershipEvent& e : replicas_->DrainEvents()) {
      if (e.name == "peer_suspect") continue;  // a dead peer gets its own line; suspicion alone is noise
      JsonLine line;
      line.Add("t", e.unix_t).Add("peer", cfg_.self_id).Add("step", step_).Add("event", e.name);
      if (!e.peer.empty()) line.Add("about", e.peer);
      if (e.name == "peer_dead") line.Add("silence_s", e.silence_s);
      if (e.name == "view_change") {
        line.Add("view_id", static_cast<int64_t>(e.view.id)).Add("view", e.view.ids());
        view_changed_at_ = e.unix_t;
        ++view_changes_;
      }
      line.Add("detail", e.detail);
      metrics_.Write(line);
      progress_.Message("peer " + cfg_.self_id + ": " + e.name + (e.peer.empty() ? "" : " " + e.peer) + ": " +
                        e.detail);
    }
  }

  // The members of `view` agree on the most advanced (step, state); if that is
  // not ours we copy it (parameters, optimizer state, step, epoch plan). The
  // interrupted round is then redone, or skipped if it completed somewhere.
  Status ReconcileView(const View& view, const std::atomic<bool>* stop) {
    Model& model = *parts_.model;
    plan_.next_owners = NextShardOwners(plan_, view.ids(), cfg_.membership.reshard);
    StateSnapshot fetched;
    const auto t0 = Clock::now();
    const int64_t before = step_;
    auto agreed = replicas_->Reconcile(view, step_, model.params(), parts_.optimizer->state(),
                                       EncodeEpochPlan(plan_), &fetched, stop);
    if (!agreed.ok()) return agreed.status();
    reconciled_view_ = view.id;
    awaiting_first_round_ = true;
    NoteLineage(agreed.value());
    if (!agreed->behind) return Status::OK();
    MESHTRAIN_RETURN_IF_ERROR(AdoptState(fetched, agreed.value()));
    ++state_syncs_;
    std::string sources;
    for (const auto& id : agreed->sources) sources += (sources.empty() ? "" : ",") + id;
    const double ms = SecondsSince(t0) * 1000;
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", "state_sync");
    line.Add("from_step", before).Add("view_id", static_cast<int64_t>(view.id)).Add("sources", agreed->sources);
    line.Add("bytes", static_cast<int64_t>(fetched.values.size() * sizeof(float))).Add("ms", ms);
    line.Add("detail", "step " + std::to_string(before) + " -> " + std::to_string(step_) + ": " +
                           std::to_string(fetched.values.size()) + " floats from " + sources + ", checksum verified");
    metrics_.Write(line);
    progress_.Message("peer " + cfg_.self_id + ": state_sync: step " + std::to_string(before) + " -> " +
                      std::to_string(step_) + " from " + sources);
    return Status::OK();
  }

  Status AdoptState(const StateSnapshot& state, const ReconcilePlan& agreed) {
    auto params = parts_.model->params();
    auto optimizer_state = parts_.optimizer->state();
    const std::string from = agreed.sources.empty() ? std::string("?") : agreed.sources.front();
    if (state.values.size() != params.size() + optimizer_state.size()) {
      return Status::InvalidArgument("state from " + from + " holds " + std::to_string(state.values.size()) +
                                     " values; this peer's model and optimizer hold " +
                                     std::to_string(params.size() + optimizer_state.size()));
    }
    std::optional<EpochPlan> plan = DecodeEpochPlan(state.meta);
    if (!plan) return Status::Corruption("state from " + from + " carries no readable epoch plan");
    if (plan->compat != plan_.compat) {
      const std::optional<std::vector<Setting>> theirs = DecodeSettings(plan->compat);
      const std::string cluster = "the cluster (" + JoinIds(agreed.sources) + ")";
      const std::string differences =
          theirs ? DescribeSettingDifferences(cfg_.AgreementKeys(), *theirs, cluster) : std::string();
      return Status::InvalidArgument("this peer's config differs from " + cluster + "'s in keys every peer must share: " +
                                     (differences.empty() ? "(unreadable settings from " + from + ")" : differences) +
                                     " (docs/agreement.md); fix this peer's config and restart it");
    }
    std::copy(state.values.begin(), state.values.begin() + static_cast<std::ptrdiff_t>(params.size()), params.begin());
    // Gossip replicas keep their own optimizer state (docs/gossip.md, "Faults"):
    // each momentum sums that peer's own gradients, and one peer's copied into
    // every replica would apply its noise everywhere for the next 1/(1-momentum) steps.
    if (cfg_.sync.mode != SyncMode::kGossip) {
      std::copy(state.values.begin() + static_cast<std::ptrdiff_t>(params.size()), state.values.end(),
                optimizer_state.begin());
    }
    step_ = static_cast<int64_t>(state.step);
    // Another model now: the last evaluation and checkpoint were of ours.
    evaluated_ = false;
    last_saved_step_ = -1;
    plan_ = std::move(*plan);
    MESHTRAIN_RETURN_IF_ERROR(EnsureShard());
    ScaleLearningRate();
    RecomputeTotalSteps();
    return Status::OK();
  }

  // The next epoch's shards go to the owners decided at the last
  // reconciliation; re-cut when they differ from this epoch's.
  Status StartNextEpoch() {
    ReportMissingShards();
    const std::vector<std::string> previous = plan_.shard_owners;
    plan_.epoch += 1;
    plan_.start_step = plan_.end_step();
    plan_.shard_owners = plan_.next_owners;
    MESHTRAIN_RETURN_IF_ERROR(EnsureShard());
    if (plan_.shard_owners != previous) {
      if (has_shard_) {
        const auto& sizes = parts_.data.shard_sizes;
        const int64_t largest = std::max<int64_t>(*std::max_element(sizes.begin(), sizes.end()), 1);
        plan_.steps = CeilDiv(largest, std::min<int64_t>(cfg_.train.batch_size, largest));
      }
      std::string owners;
      for (const auto& id : plan_.shard_owners) owners += (owners.empty() ? "" : ",") + id;
      JsonLine line;
      line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", "reshard");
      line.Add("epoch", plan_.epoch).Add("owners", plan_.shard_owners).Add("steps", plan_.steps);
      line.Add("detail", "epoch " + std::to_string(plan_.epoch) + ": the data is re-cut over " +
                             std::to_string(plan_.shard_owners.size()) + " peers (" + owners + "), " +
                             std::to_string(plan_.steps) + " steps");
      metrics_.Write(line);
    }
    RecomputeTotalSteps();
    return Status::OK();
  }

  // Loads our shard of the current plan if the one in memory was cut for another.
  Status EnsureShard() {
    const int index = plan_.ShardIndexOf(cfg_.self_id);
    has_shard_ = index >= 0;
    if (!has_shard_ || plan_.shard_owners == loaded_owners_) return Status::OK();
    auto data = LoadShardedData(cfg_.data, static_cast<int>(plan_.shard_owners.size()), index);
    if (!data.ok()) return data.status();
    sampler_.reset();
    parts_.data = std::move(data).value();
    sampler_ = std::make_unique<BatchSampler>(parts_.data.train, cfg_.train.batch_size,
                                              SamplerSeed(cfg_.train.seed, static_cast<size_t>(index)));
    loaded_owners_ = plan_.shard_owners;
    return Status::OK();
  }

  void ScaleLearningRate() {
    optim_ = cfg_.optim;
    if (replicas_->averages_gradients() && optim_.lr_scaling == LrScaling::kLinear) {
      optim_.lr *= static_cast<double>(plan_.lr_peers);
      optim_.min_lr *= static_cast<double>(plan_.lr_peers);
    }
  }

  void RecomputeTotalSteps() {
    total_steps_ = plan_.start_step + plan_.steps * std::max<int64_t>(cfg_.train.epochs - plan_.epoch, 0);
    if (cfg_.train.max_steps > 0) total_steps_ = std::min(total_steps_, cfg_.train.max_steps);
  }

  // A dead peer's shard is not silently lost: every step it sits out is counted.
  void CountMissingShards() {
    if (!replicas_->elastic()) return;
    const View view = replicas_->active_view();
    for (const auto& owner : plan_.shard_owners) {
      if (!view.Contains(owner)) {
        ++missing_shard_steps_[owner];
        ++missing_shard_steps_total_;
      }
    }
  }

  void ReportMissingShards() {
    if (missing_shard_steps_.empty()) return;
    std::string detail = "epoch " + std::to_string(plan_.epoch) + ":";
    int64_t samples = 0;
    for (const auto& [owner, steps] : missing_shard_steps_) {
      detail += " " + owner + "'s shard sat out " + std::to_string(steps) + " of " + std::to_string(plan_.steps) +
                " steps;";
      samples += steps * cfg_.train.batch_size;
    }
    detail += " about " + std::to_string(samples) + " samples not seen this epoch";
    if (plan_.next_owners != plan_.shard_owners) detail += "; the next epoch re-cuts the data over the live peers";
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", "shard_missing");
    line.Add("epoch", plan_.epoch).Add("samples", samples).Add("detail", detail);
    metrics_.Write(line);
    missing_shard_steps_.clear();
  }

  void RoundAborted(const Status& st) {
    ++rounds_aborted_;
    Event("round_aborted", st.message());
  }

  // The first successful round after a view change: the cluster has re-formed.
  void RoundDone() {
    if (!awaiting_first_round_) return;
    awaiting_first_round_ = false;
    if (!replicas_->elastic() || view_changed_at_ <= 0) return;
    const double ms = (UnixSeconds() - view_changed_at_) * 1000;
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", "view_ready");
    line.Add("view_id", static_cast<int64_t>(reconciled_view_)).Add("view", replicas_->view());
    line.Add("ms_since_view_change", ms);
    line.Add("detail", "first round of view " + std::to_string(reconciled_view_) + " done, " +
                           std::to_string(static_cast<int64_t>(ms)) + " ms after the view change");
    metrics_.Write(line);
  }

  // A non-finite loss or gradient skips the update: one bad batch must not poison the model.
  // A step with a non-finite loss or gradient is skipped, never applied. Too
  // many in a row, or parameters that have become non-finite, mean the run has
  // diverged (docs/training.md, "A run that diverges"): Aborted says why.
  Status ApplyStep(double loss, bool local_loss_finite) {
    Model& model = *parts_.model;
    auto grads = model.grads();
    if (std::isfinite(loss) && AllFinite(grads)) {
      nonfinite_in_a_row_ = 0;
      if (cfg_.optim.clip_norm > 0) ClipByGlobalNorm(grads, cfg_.optim.clip_norm);
      const double lr = ScheduledLearningRate(optim_, step_, total_steps_);
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
  Status Diverged(const Status& why) {
    Event("diverged", why.message());
    replicas_->Shutdown();
    return Status::Aborted("diverged at step " + std::to_string(step_) + ": " + why.message() +
                           "; the newest checkpoint in " + cfg_.CheckpointDir() +
                           " is the last finite state (--resume it with a lower optim.lr)");
  }

  // ---- replica fingerprints (docs/agreement.md, "Replica fingerprints") ----

  // Taken in the reconciled view, after the step's update: every ring replica
  // of that view holds exactly the same bits here.
  void PublishFingerprint() {
    const auto t0 = Clock::now();
    const uint64_t fp = StateFingerprint(parts_.model->params(), parts_.optimizer->state());
    fingerprint_s_ += SecondsSince(t0);
    ++fingerprints_;
    replicas_->PublishFingerprint(reconciled_view_, step_, fp);
  }

  // debug.flip_bit_at_step: a silent memory error, for the fingerprint check to find.
  void FlipOneBit() {
    float& first = parts_.model->params()[0];
    uint32_t bits;
    std::memcpy(&bits, &first, sizeof(bits));
    bits ^= 1u;
    std::memcpy(&first, &bits, sizeof(bits));
    Event("bit_flipped", "debug.flip_bit_at_step: flipped the lowest bit of parameter 0 after step " +
                             std::to_string(step_));
  }

  // The replicas differ and no majority holds one state: no checkpoint of
  // this one is written. One written since the last check that agreed may
  // already hold the difference, which only a person can judge.
  Status ReplicasDisagree(const std::string& why) {
    replicas_->Shutdown();
    return Status::Corruption(why + "; stopping at step " + std::to_string(step_) +
                              " without a checkpoint of this state (resume from one in " + cfg_.CheckpointDir() +
                              " taken at or before the last fingerprint check that agreed)");
  }

  // debug.slowdown = s stretches each step to s times its compute time (straggler
  // experiments); debug.step_delay_ms adds a fixed pause (fault tests), which
  // also stands in for compute on a device of its own, so s stretches it too.
  void SlowDown(double step_seconds) const {
    double pause = cfg_.debug.step_delay_ms / 1000.0 * std::max(1.0, cfg_.debug.slowdown);
    if (cfg_.debug.slowdown > 1.0) pause += step_seconds * (cfg_.debug.slowdown - 1.0);
    if (pause > 0) std::this_thread::sleep_for(std::chrono::duration<double>(pause));
  }

  Status Evaluate() {
    Result<EvalTotals> evaluated = EvaluateOn(*parts_.model, parts_.data.test, cfg_.train.batch_size);
    if (!evaluated.ok()) return evaluated.status();
    const EvalTotals& totals = *evaluated;
    outcome_.test_acc = totals.accuracy();
    outcome_.test_loss = totals.loss();
    evaluated_ = true;
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", CurrentEpoch());
    line.Add("test_loss", outcome_.test_loss);
    if (parts_.data.test.num_classes > 0) line.Add("test_acc", outcome_.test_acc);
    metrics_.Write(line);
    char buf[160];
    std::snprintf(buf, sizeof(buf), "peer %s step %lld: test_loss %.4f test_acc %.4f", cfg_.self_id.c_str(),
                  static_cast<long long>(step_), outcome_.test_loss, outcome_.test_acc);
    progress_.Message(buf);
    return Status::OK();
  }

  void LogStep(double loss, double samples_per_s) {
    ReplicaStats rs = replicas_->stats();
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", CurrentEpoch());
    line.Add("loss", loss).Add("lr", last_lr_).Add("view", replicas_->view());
    line.Add("bytes_sent", rs.bytes_sent).Add("bytes_recv", rs.bytes_recv);
    AddBytesByPeer(rs.bytes_by_peer, &line);
    line.Add("comm_s", comm_s_).Add("compute_s", compute_s_).Add("samples_per_s", samples_per_s);
    if (rs.consensus >= 0) line.Add("consensus", rs.consensus);
    // The counts by kind ride on a step line only when they changed, so an attack
    // shows up while it happens without a clean run paying for it on every line.
    if (!rs.dropped_by_kind.empty() && rs.dropped_by_kind != last_logged_drops_) {
      line.AddRaw("rejected", DropCountsJson(rs.dropped_by_kind));
      last_logged_drops_ = rs.dropped_by_kind;
    }
    metrics_.Write(line);
  }

  // "bytes_sent_by_peer" and "bytes_recv_by_peer" (docs/training.md); a peer
  // without a network has no neighbours and no such fields.
  static void AddBytesByPeer(const std::map<std::string, LinkBytes>& by_peer, JsonLine* line) {
    if (by_peer.empty()) return;
    JsonLine sent, recv;
    for (const auto& [peer, bytes] : by_peer) {
      const std::string key = JsonEscape(peer);
      sent.Add(key.c_str(), bytes.sent);
      recv.Add(key.c_str(), bytes.recv);
    }
    line->AddRaw("bytes_sent_by_peer", sent.str()).AddRaw("bytes_recv_by_peer", recv.str());
  }

  static std::string DropCountsJson(const std::map<std::string, uint64_t>& counts) {
    JsonLine kinds;
    for (const auto& [kind, count] : counts) kinds.Add(kind.c_str(), count);
    return kinds.str();
  }

  // docs/models.md, "Schedules": a run no longer than optim.warmup_steps never
  // reaches optim.lr. It trains (the ramp), but the user should know.
  void WarnIfWarmupExceedsRun() {
    if (optim_.warmup_steps <= 0 || total_steps_ > optim_.warmup_steps) return;
    const double peak = ScheduledLearningRate(optim_, total_steps_ - 1, total_steps_);
    char lr[32];
    std::snprintf(lr, sizeof(lr), "%.4g", peak);
    Event("warmup_exceeds_run", "optim.warmup_steps = " + std::to_string(optim_.warmup_steps) + " is not shorter than the run (" +
                                    std::to_string(total_steps_) + " steps): the learning rate only ramps up, to " + lr +
                                    " at the last step, and the schedule's decay never starts; lower optim.warmup_steps");
  }

  void Event(const char* name, const std::string& detail) {
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", name).Add("detail", detail);
    metrics_.Write(line);
    progress_.Message("peer " + cfg_.self_id + ": " + name + ": " + detail);
  }

  // A signal before training began: nothing to checkpoint, leave at once.
  Status Stopped(const std::string& why) {
    Event("stopped", why);
    replicas_->Shutdown();
    return Status::Aborted(why);
  }

  Status Fail(const Status& st) {
    Event("sync_failed", st.message());
    replicas_->Shutdown();
    return st;
  }

  void WriteSummary(double wall_s) {
    ReplicaStats rs = replicas_->stats();
    JsonLine waits;
    for (const auto& [peer, seconds] : rs.wait_seconds_by_peer) waits.Add(peer.c_str(), seconds);
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", CurrentEpoch());
    line.Add("event", "done").Add("test_loss", outcome_.test_loss);
    if (parts_.data.test.num_classes > 0) line.Add("test_acc", outcome_.test_acc);
    line.Add("bytes_sent", rs.bytes_sent).Add("bytes_recv", rs.bytes_recv);
    AddBytesByPeer(rs.bytes_by_peer, &line);
    line.Add("comm_s", comm_s_).Add("compute_s", compute_s_).Add("wall_s", wall_s);
    line.Add("skipped_steps", skipped_steps_).Add("rejected_msgs", rs.rejected);
    // The final replica's fingerprint (docs/agreement.md): equal on two peers'
    // done lines means the same parameters and optimizer state, bit for bit.
    line.Add("state_fingerprint", FingerprintHex(StateFingerprint(parts_.model->params(), parts_.optimizer->state())));
    if (!rs.dropped_by_kind.empty()) {  // by kind (docs/training.md); local peers and clusters of one have none
      line.AddRaw("rejected", DropCountsJson(rs.dropped_by_kind));
    }
    if (elastic_) {
      line.Add("view", final_view_).Add("view_changes", view_changes_).Add("rounds_aborted", rounds_aborted_);
      line.Add("state_syncs", state_syncs_).Add("missing_shard_steps", missing_shard_steps_total_);
      if (minority_finish_) line.Add("minority", true).Add("last_shared_step", last_shared_step_);
      if (fingerprints_ > 0) line.Add("fingerprints", fingerprints_).Add("fingerprint_s", fingerprint_s_);
    }
    if (train_s_ > 0) {
      line.Add("train_s", train_s_).Add("steps_per_s", static_cast<double>(step_ - first_step_) / train_s_);
    }
    if (cfg_.sync.mode == SyncMode::kGossip) {
      line.Add("consensus", rs.consensus).Add("gossip_weight", rs.gossip_weight);
      line.Add("late_msgs", rs.gossip_late).Add("out_of_order_msgs", rs.gossip_out_of_order);
      line.Add("gossip_view_changes", rs.gossip_view_changes).Add("compressed_rounds", rs.gossip_compressed_rounds);
      line.Add("clipped", rs.gossip_clipped);
    }
    line.AddRaw("wait_s_by_peer", waits.str());
    metrics_.Write(line);
  }

  // The header of a checkpoint of the current state; the floats are written
  // from the model's and the optimizer's own buffers (no copy).
  CheckpointHeader SnapshotHeader() const {
    CheckpointHeader h;
    h.step = step_;
    h.epoch = CurrentEpoch();
    h.config_hash = cfg_.Hash();
    h.seed = cfg_.train.seed;
    h.peer_id = cfg_.self_id;
    h.model = parts_.model->Describe();
    h.layers = parts_.model->LayerList();
    h.n_params = parts_.model->params().size();
    h.n_optimizer_state = parts_.optimizer->state().size();
    return h;
  }

  Status SaveNow() {
    // A non-finite model is never checkpointed: it would replace the last good one.
    if (!AllFinite(parts_.model->params()) || !AllFinite(parts_.optimizer->state())) {
      Event("checkpoint_skipped", "the parameters or optimizer state are non-finite at step " + std::to_string(step_));
      return Status::OK();
    }
    auto path = SaveCheckpoint(cfg_.CheckpointDir(), SnapshotHeader(), parts_.model->params(),
                               parts_.optimizer->state(), cfg_.checkpoint.keep);
    if (!path.ok()) return path.status();
    last_saved_step_ = step_;
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", "checkpoint");
    line.Add("path", *path);
    metrics_.Write(line);
    return Status::OK();
  }

  Status Restore() {
    std::vector<std::string> skipped;
    auto c = LoadNewestCheckpoint(cfg_.CheckpointDir(), &skipped);
    for (const auto& why : skipped) Event("checkpoint_rejected", why + "; trying an older one");
    if (!c.ok()) {
      progress_.Message("peer " + cfg_.self_id + ": no valid checkpoint in " + cfg_.CheckpointDir() + "; starting fresh");
      return Status::OK();
    }
    const std::string where = "checkpoint of step " + std::to_string(c->header.step) + " in " + cfg_.CheckpointDir();
    MESHTRAIN_RETURN_IF_ERROR(SameArchitecture(c->header, *parts_.model, where));
    if (c->header.config_hash != cfg_.Hash()) {
      return Status::InvalidArgument(where + " was written under a different model/data/optimizer config; "
                                     "refusing to resume (use a fresh checkpoint.dir)");
    }
    auto params = parts_.model->params();
    auto state = parts_.optimizer->state();
    if (c->params.size() != params.size() || c->optimizer_state.size() != state.size()) {
      return Status::InvalidArgument(where + " has " + std::to_string(c->params.size()) + " params, the model " +
                                     std::to_string(params.size()));
    }
    std::copy(c->params.begin(), c->params.end(), params.begin());
    std::copy(c->optimizer_state.begin(), c->optimizer_state.end(), state.begin());
    step_ = first_step_ = last_saved_step_ = c->header.step;
    Event("resumed", "from " + where);
    if (step_ >= total_steps_) {
      progress_.Message("peer " + cfg_.self_id + ": the " + where + " is at or past this run's last step (" +
                        std::to_string(total_steps_) + ": train.epochs, train.max_steps); nothing left to train");
    }
    return Status::OK();
  }

  const Config& cfg_;
  OptimConfig optim_;  // cfg_.optim with lr scaled for the cluster
  Parts parts_;
  std::unique_ptr<DataParallel> replicas_;
  std::unique_ptr<BatchSampler> sampler_;  // over parts_.data.train; rebuilt when the shard is re-cut
  ProgressReporter progress_;
  MetricsWriter metrics_;
  OutcomeState outcome_;
  bool evaluated_ = false;  // this run has evaluated the model at least once
  int64_t steps_per_epoch_ = 1;
  int64_t total_steps_ = 0;
  int64_t step_ = 0;
  int64_t first_step_ = 0;
  int64_t last_saved_step_ = -1;
  int64_t skipped_steps_ = 0;
  int64_t nonfinite_in_a_row_ = 0;   // skipped steps since the last applied one
  int64_t first_nonfinite_step_ = 0;  // the first of them
  bool first_nonfinite_was_local_ = false;
  double last_loss_ = 0;
  double last_lr_ = 0;
  double compute_s_ = 0;
  double comm_s_ = 0;
  double train_s_ = 0;  // wall time until the last step (before any final agreement)
  std::map<std::string, uint64_t> last_logged_drops_;  // the "rejected" counts of the last step line that had them
  // Membership (docs/membership.md, docs/faults.md).
  EpochPlan plan_;                          // the epoch being trained, and whose shards make it
  std::vector<std::string> loaded_owners_;  // the plan our shard in parts_.data.train was cut for
  bool has_shard_ = true;                   // false: we hold no shard this epoch (a newcomer)
  uint64_t reconciled_view_ = 0;
  int64_t fingerprints_ = 0;    // replica fingerprints published
  double fingerprint_s_ = 0;    // time spent taking them
  bool awaiting_first_round_ = false;       // a view was reconciled; its first round has not succeeded yet
  double view_changed_at_ = 0;              // unix time of the last view change
  std::map<std::string, int64_t> missing_shard_steps_;  // this epoch: steps each absent owner's shard sat out
  int64_t missing_shard_steps_total_ = 0;
  int64_t view_changes_ = 0;
  int64_t rounds_aborted_ = 0;
  int64_t state_syncs_ = 0;
  bool quorum_lost_ = false;             // membership.quorum: waiting for a view big enough
  // A cut-off minority (docs/faults.md, "A cut-off minority waits").
  int64_t minority_grace_ms_ = 0;        // membership.minority_grace_ms, resolved
  int64_t minority_end_wait_ms_ = 0;     // membership.minority_end_wait_ms, resolved
  bool in_minority_ = false;             // the last reconciled view holds no majority of the last primary view
  std::vector<std::string> last_primary_members_;  // that last primary view (the lineage's members)
  Clock::time_point minority_since_{};   // when this peer left the primary view
  int64_t last_shared_step_ = 0;         // the step of the state it left the primary view with
  bool minority_waiting_ = false;        // within the grace: no steps
  bool minority_alone_ = false;          // the grace is over: training alone (membership.minority = "train")
  bool minority_stopped_ = false;        // the grace is over: stopped (membership.minority = "stop")
  bool minority_finish_ = false;         // the run ended in a minority view (exit 3)
  std::string minority_detail_;
  Clock::time_point quorum_lost_at_{};
  bool elastic_ = false;                 // for the summary, written after the group is shut down
  std::vector<std::string> final_view_;
};

}  // namespace

uint64_t SamplerSeed(uint64_t train_seed, size_t peer_index) {
  return train_seed * 1000003ULL + 7919ULL * (peer_index + 1);
}

Result<std::unique_ptr<Trainer>> Trainer::Create(const Config& cfg, bool resume, MetricsObserver observer) {
  auto parts = BuildParts(cfg);
  if (!parts.ok()) return parts.status();
  auto replicas = DataParallel::Create(cfg, parts->model->num_params());
  if (!replicas.ok()) return replicas.status();
  auto trainer = std::make_unique<PeerTrainer>(cfg, std::move(parts.value()), std::move(replicas.value()));
  trainer->ObserveMetrics(std::move(observer));
  MESHTRAIN_RETURN_IF_ERROR(trainer->Init(resume));
  return std::unique_ptr<Trainer>(std::move(trainer));
}

Result<TrainOutcome> EvaluateCheckpoint(const Config& cfg, const std::string& checkpoint_path) {
  auto parts = BuildParts(cfg);
  if (!parts.ok()) return parts.status();
  auto c = ReadCheckpoint(checkpoint_path);
  if (!c.ok()) return c.status();
  MESHTRAIN_RETURN_IF_ERROR(SameArchitecture(c->header, *parts->model, "checkpoint " + checkpoint_path));
  auto params = parts->model->params();
  if (c->params.size() != params.size()) {
    return Status::InvalidArgument("checkpoint " + checkpoint_path + " holds " + std::to_string(c->params.size()) +
                                   " params but the configured model (" + parts->model->Describe() + ") has " +
                                   std::to_string(params.size()));
  }
  std::copy(c->params.begin(), c->params.end(), params.begin());
  Result<EvalTotals> totals = EvaluateOn(*parts->model, parts->data.test, cfg.train.batch_size);
  if (!totals.ok()) return totals.status();
  TrainOutcome out;
  out.steps = c->header.step;
  out.test_acc = totals->accuracy();
  out.test_loss = totals->loss();
  return out;
}

}  // namespace meshtrain
