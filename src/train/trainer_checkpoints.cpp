// Checkpoints of a peer's run (docs/training.md, "Checkpoints"): saving,
// resuming, the checkpoint a signal leaves, and `meshtrain eval`.
#include "meshtrain/checkpoint.h"
#include "meshtrain/metric_names.h"
#include "train/peer_trainer.h"

namespace meshtrain {

// The header of a checkpoint of the current state; the floats are written
// from the model's and the optimizer's own buffers (no copy).
CheckpointHeader PeerTrainer::SnapshotHeader() const {
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

Status PeerTrainer::SaveNow() {
  // A non-finite model is never checkpointed: it would replace the last good one.
  if (!AllFinite(parts_.model->params()) || !AllFinite(parts_.optimizer->state())) {
    Event("checkpoint_skipped", "the parameters or optimizer state are non-finite at step " + std::to_string(step_));
    return Status::OK();
  }
  auto path = SaveCheckpoint(cfg_.CheckpointDir(), SnapshotHeader(), parts_.model->params(), parts_.optimizer->state(),
                             cfg_.checkpoint.keep);
  if (!path.ok()) return path.status();
  last_saved_step_ = step_;
  JsonLine line;
  line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add(metric::kEvent, events::kCheckpoint);
  line.Add("path", *path);
  metrics_.Write(line);
  return Status::OK();
}

// A step not yet in a checkpoint is saved; one that is (or step 0) is not
// written again, so the newest checkpoint stays the one that matters.
Status PeerTrainer::SaveUnsaved() {
  if (step_ > 0 && step_ != last_saved_step_) return SaveNow();
  return Status::OK();
}

// A signal: the step in hand is done; checkpoint it, say goodbye, leave.
Status PeerTrainer::StopBySignal() {
  const bool save = step_ > 0 && step_ != last_saved_step_;
  Event(events::kStopped, "signal received at step " + std::to_string(step_) + (save ? "; checkpointing" : ""));
  MESHTRAIN_RETURN_IF_ERROR(SaveUnsaved());
  strategy_->Shutdown();
  return Status::Aborted("stopped by signal at step " + std::to_string(step_));
}

Status PeerTrainer::Restore() {
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(cfg_.CheckpointDir(), &skipped);
  for (const auto& why : skipped) Event("checkpoint_rejected", why + "; trying an older one");
  if (!c.ok()) {
    events_.Say("no valid checkpoint in " + cfg_.CheckpointDir() + "; starting fresh");
    return Status::OK();
  }
  const std::string where = "checkpoint of step " + std::to_string(c->header.step) + " in " + cfg_.CheckpointDir();
  MESHTRAIN_RETURN_IF_ERROR(SameArchitecture(c->header, *parts_.model, where));
  if (c->header.config_hash != cfg_.Hash()) {
    return Status::InvalidArgument(where +
                                   " was written under a different model/data/optimizer config; "
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
  Event(events::kResumed, "from " + where);
  if (step_ >= total_steps()) {
    events_.Say("the " + where + " is at or past this run's last step (" + std::to_string(total_steps()) +
                ": train.epochs, train.max_steps); nothing left to train");
  }
  return Status::OK();
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
