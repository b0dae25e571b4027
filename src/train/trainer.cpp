#include "meshtrain/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "meshtrain/checkpoint.h"
#include "meshtrain/data.h"
#include "meshtrain/data_parallel.h"
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
  auto model = CreateModel(cfg.model, parts.data.train.dim, parts.data.train.num_classes, max_batch);
  if (!model.ok()) return model.status();
  parts.model = std::move(model.value());
  parts.model->InitParams(cfg.train.seed);
  auto optimizer = CreateOptimizer(cfg.optim, parts.model->num_params());
  if (!optimizer.ok()) return optimizer.status();
  parts.optimizer = std::move(optimizer.value());
  return parts;
}

EvalTotals EvaluateOn(Model& model, const Dataset& test, int64_t batch_size) {
  BatchSampler sampler(test, batch_size, 0);
  EvalTotals totals;
  for (int64_t first = 0; first < test.rows; first += batch_size) {
    const int64_t count = std::min(batch_size, test.rows - first);
    model.Evaluate(sampler.Sequential(first, count), &totals);
  }
  return totals;
}

class PeerTrainer final : public Trainer {
 public:
  PeerTrainer(const Config& cfg, Parts parts, std::unique_ptr<DataParallel> replicas)
      : cfg_(cfg),
        parts_(std::move(parts)),
        replicas_(std::move(replicas)),
        sampler_(parts_.data.train, cfg.train.batch_size, SamplerSeed(cfg.train.seed, cfg.self_index)),
        progress_(cfg.log.progress, stdout, cfg.train.log_every) {}

  Status Init(bool resume) {
    const int64_t batch = std::min<int64_t>(cfg_.train.batch_size, parts_.data.train.rows);
    if (cfg_.sync.mode == "ring") {
      // Lockstep: every peer runs the same number of steps per epoch, set by the
      // largest shard; smaller shards wrap around.
      const int64_t largest = *std::max_element(parts_.data.shard_sizes.begin(), parts_.data.shard_sizes.end());
      steps_per_epoch_ = CeilDiv(largest, std::min<int64_t>(cfg_.train.batch_size, largest));
    } else {
      steps_per_epoch_ = CeilDiv(parts_.data.train.rows, batch);
    }
    optim_ = cfg_.optim;
    if (replicas_->averages_gradients() && optim_.lr_scaling == "linear") {
      const double n = static_cast<double>(cfg_.cluster.peers.size());
      optim_.lr *= n;
      optim_.min_lr *= n;
    }
    total_steps_ = steps_per_epoch_ * cfg_.train.epochs;
    if (cfg_.train.max_steps > 0) total_steps_ = std::min(total_steps_, cfg_.train.max_steps);
    MESHTRAIN_RETURN_IF_ERROR(metrics_.Open(cfg_.MetricsPath()));
    if (resume) MESHTRAIN_RETURN_IF_ERROR(Restore());
    return Status::OK();
  }

  Status Run(const std::atomic<bool>* stop) override {
    Model& model = *parts_.model;
    Status started = replicas_->Start();
    if (!started.ok()) {
      Event("start_failed", started.message());
      return started;
    }
    const std::vector<std::string> view = replicas_->view();
    progress_.Message("peer " + cfg_.self_id + ": " + model.Describe() + ", " + std::to_string(model.num_params()) +
                      " params, shard " + std::to_string(parts_.data.train.rows) + " rows, " +
                      std::to_string(total_steps_) + " steps, sync " + cfg_.sync.mode + " over " +
                      std::to_string(view.size()) + " peer(s)");
    const auto run_start = Clock::now();
    int64_t samples_since = 0;
    auto window_start = Clock::now();
    double samples_per_s = 0;
    bool full_window_seen = false;

    while (step_ < total_steps_) {
      if (stop && stop->load()) {
        Event("stopped", "signal received; checkpointing at step " + std::to_string(step_));
        MESHTRAIN_RETURN_IF_ERROR(SaveNow());
        replicas_->Shutdown();
        return Status::Aborted("stopped by signal at step " + std::to_string(step_));
      }
      const int64_t epoch = step_ / steps_per_epoch_;
      const int64_t index = step_ % steps_per_epoch_;

      auto t0 = Clock::now();
      Batch batch = sampler_.Get(epoch, index);
      double loss = model.ForwardBackward(batch);
      double step_compute_s = SecondsSince(t0);

      if (replicas_->averages_gradients()) {
        auto t1 = Clock::now();
        Status st = replicas_->AverageGradients(model.grads(), batch.rows, &loss, static_cast<uint64_t>(step_));
        comm_s_ += SecondsSince(t1);
        if (!st.ok()) return Fail(st);
      }

      auto t2 = Clock::now();
      ApplyStep(loss);
      step_compute_s += SecondsSince(t2);
      SlowDown(step_compute_s);
      compute_s_ += step_compute_s * std::max(1.0, cfg_.debug.slowdown);
      ++step_;

      if (replicas_->averages_parameters_after(step_)) {
        auto t3 = Clock::now();
        Status st = replicas_->AverageParameters(model.params(), static_cast<uint64_t>(step_));
        comm_s_ += SecondsSince(t3);
        if (!st.ok()) return Fail(st);
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
      const bool epoch_end = step_ % steps_per_epoch_ == 0;
      if ((cfg_.train.eval_every > 0 && step_ % cfg_.train.eval_every == 0) ||
          (cfg_.train.eval_every == 0 && epoch_end) || step_ == total_steps_) {
        Evaluate();
      }
      if (cfg_.checkpoint.every_steps > 0 && step_ % cfg_.checkpoint.every_steps == 0) {
        MESHTRAIN_RETURN_IF_ERROR(SaveNow());
      }
      const double elapsed = SecondsSince(run_start);
      const double eta = elapsed / static_cast<double>(std::max<int64_t>(step_ - first_step_, 1)) *
                         static_cast<double>(total_steps_ - step_);
      progress_.Update({step_, total_steps_, step_ / steps_per_epoch_, loss, outcome_.test_acc_or(-1), samples_per_s,
                        eta, static_cast<int>(view.size())});
    }
    if (last_saved_step_ != step_) MESHTRAIN_RETURN_IF_ERROR(SaveNow());
    replicas_->Shutdown();
    WriteSummary(SecondsSince(run_start));
    progress_.Finish({step_, total_steps_, step_ / steps_per_epoch_, last_loss_, outcome_.test_acc, samples_per_s, 0,
                      static_cast<int>(view.size())});
    return Status::OK();
  }

  TrainOutcome outcome() const override { return {step_, outcome_.test_acc, outcome_.test_loss}; }

 private:
  struct OutcomeState {
    double test_acc = -1;
    double test_loss = 0;
    double test_acc_or(double fallback) const { return test_acc >= 0 ? test_acc : fallback; }
  };

  // A non-finite loss or gradient skips the update: one bad batch must not poison the model.
  void ApplyStep(double loss) {
    Model& model = *parts_.model;
    auto grads = model.grads();
    if (!std::isfinite(loss) || !AllFinite(grads)) {
      ++skipped_steps_;
      Event("nonfinite_skipped", "non-finite loss or gradient at step " + std::to_string(step_) + "; update skipped");
      return;
    }
    if (cfg_.optim.clip_norm > 0) ClipByGlobalNorm(grads, cfg_.optim.clip_norm);
    const double lr = ScheduledLearningRate(optim_, step_, total_steps_);
    last_lr_ = lr;
    parts_.optimizer->Step(model.params(), grads, lr, step_ + 1);
  }

  // debug.slowdown = s stretches each step to s times its compute time (straggler
  // experiments); debug.step_delay_ms adds a fixed pause (fault tests).
  void SlowDown(double step_seconds) const {
    double pause = cfg_.debug.step_delay_ms / 1000.0;
    if (cfg_.debug.slowdown > 1.0) pause += step_seconds * (cfg_.debug.slowdown - 1.0);
    if (pause > 0) std::this_thread::sleep_for(std::chrono::duration<double>(pause));
  }

  void Evaluate() {
    EvalTotals totals = EvaluateOn(*parts_.model, parts_.data.test, cfg_.train.batch_size);
    outcome_.test_acc = totals.accuracy();
    outcome_.test_loss = totals.loss();
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", step_ / steps_per_epoch_);
    line.Add("test_loss", outcome_.test_loss);
    if (parts_.data.test.num_classes > 0) line.Add("test_acc", outcome_.test_acc);
    metrics_.Write(line);
    char buf[160];
    std::snprintf(buf, sizeof(buf), "peer %s step %lld: test_loss %.4f test_acc %.4f", cfg_.self_id.c_str(),
                  static_cast<long long>(step_), outcome_.test_loss, outcome_.test_acc);
    progress_.Message(buf);
  }

  void LogStep(double loss, double samples_per_s) {
    ReplicaStats rs = replicas_->stats();
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", step_ / steps_per_epoch_);
    line.Add("loss", loss).Add("lr", last_lr_).Add("view", replicas_->view());
    line.Add("bytes_sent", rs.bytes_sent).Add("bytes_recv", rs.bytes_recv);
    line.Add("comm_s", comm_s_).Add("compute_s", compute_s_).Add("samples_per_s", samples_per_s);
    metrics_.Write(line);
  }

  void Event(const char* name, const std::string& detail) {
    JsonLine line;
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("event", name).Add("detail", detail);
    metrics_.Write(line);
    progress_.Message("peer " + cfg_.self_id + ": " + name + ": " + detail);
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
    line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", step_ / steps_per_epoch_);
    line.Add("event", "done").Add("test_loss", outcome_.test_loss);
    if (parts_.data.test.num_classes > 0) line.Add("test_acc", outcome_.test_acc);
    line.Add("bytes_sent", rs.bytes_sent).Add("bytes_recv", rs.bytes_recv);
    line.Add("comm_s", comm_s_).Add("compute_s", compute_s_).Add("wall_s", wall_s);
    line.Add("skipped_steps", skipped_steps_).Add("rejected_msgs", rs.rejected);
    line.AddRaw("wait_s_by_peer", waits.str());
    metrics_.Write(line);
  }

  Checkpoint Snapshot() const {
    Checkpoint c;
    c.header.step = step_;
    c.header.epoch = step_ / steps_per_epoch_;
    c.header.config_hash = cfg_.Hash();
    c.header.seed = cfg_.train.seed;
    c.header.peer_id = cfg_.self_id;
    c.header.model = parts_.model->Describe();
    auto params = parts_.model->params();
    c.params.assign(params.begin(), params.end());
    auto state = parts_.optimizer->state();
    c.optimizer_state.assign(state.begin(), state.end());
    c.header.n_params = c.params.size();
    c.header.n_optimizer_state = c.optimizer_state.size();
    return c;
  }

  Status SaveNow() {
    auto path = SaveCheckpoint(cfg_.CheckpointDir(), Snapshot(), cfg_.checkpoint.keep);
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
    return Status::OK();
  }

  const Config& cfg_;
  OptimConfig optim_;  // cfg_.optim with lr scaled for the cluster
  Parts parts_;
  std::unique_ptr<DataParallel> replicas_;
  BatchSampler sampler_;
  ProgressReporter progress_;
  MetricsWriter metrics_;
  OutcomeState outcome_;
  int64_t steps_per_epoch_ = 1;
  int64_t total_steps_ = 0;
  int64_t step_ = 0;
  int64_t first_step_ = 0;
  int64_t last_saved_step_ = -1;
  int64_t skipped_steps_ = 0;
  double last_loss_ = 0;
  double last_lr_ = 0;
  double compute_s_ = 0;
  double comm_s_ = 0;
};

}  // namespace

uint64_t SamplerSeed(uint64_t train_seed, size_t peer_index) {
  return train_seed * 1000003ULL + 7919ULL * (peer_index + 1);
}

Result<std::unique_ptr<Trainer>> Trainer::Create(const Config& cfg, bool resume) {
  auto parts = BuildParts(cfg);
  if (!parts.ok()) return parts.status();
  auto replicas = DataParallel::Create(cfg);
  if (!replicas.ok()) return replicas.status();
  auto trainer = std::make_unique<PeerTrainer>(cfg, std::move(parts.value()), std::move(replicas.value()));
  MESHTRAIN_RETURN_IF_ERROR(trainer->Init(resume));
  return std::unique_ptr<Trainer>(std::move(trainer));
}

Result<TrainOutcome> EvaluateCheckpoint(const Config& cfg, const std::string& checkpoint_path) {
  auto parts = BuildParts(cfg);
  if (!parts.ok()) return parts.status();
  auto c = ReadCheckpoint(checkpoint_path);
  if (!c.ok()) return c.status();
  auto params = parts->model->params();
  if (c->params.size() != params.size()) {
    return Status::InvalidArgument("checkpoint " + checkpoint_path + " holds " + std::to_string(c->params.size()) +
                                   " params but the configured model (" + parts->model->Describe() + ") has " +
                                   std::to_string(params.size()));
  }
  std::copy(c->params.begin(), c->params.end(), params.begin());
  EvalTotals totals = EvaluateOn(*parts->model, parts->data.test, cfg.train.batch_size);
  return TrainOutcome{c->header.step, totals.accuracy(), totals.loss()};
}

}  // namespace meshtrain
