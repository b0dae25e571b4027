// Peer (meshtrain/meshtrain.h): one SyncStrategy, the one `meshtrain run`'s
// trainer drives, driven by the embedding program's loop instead
// (docs/api.md; the trainer's loop is src/train/trainer.cpp).
#include <utility>

#include "api/embedded_replica.h"
#include "meshtrain/config.h"
#include "meshtrain/meshtrain.h"
#include "meshtrain/sync_strategy.h"

namespace meshtrain {

class Peer::Impl {
 public:
  Impl(Config cfg, int64_t steps) : cfg_(std::move(cfg)), steps_(steps) {}

  Status Attach(std::span<float> params, std::span<float> optimizer_state) {
    if (strategy_) return Status::InvalidArgument("Peer::Attach: the buffers are attached already");
    if (params.empty()) return Status::InvalidArgument("Peer::Attach: no parameters (an empty span)");
    replica_.Attach(params, optimizer_state);
    auto strategy = CreateSyncStrategy(cfg_, params.size(), replica_, replica_);
    if (!strategy.ok()) return strategy.status();
    strategy_ = std::move(strategy).value();
    // One epoch of the run's length: the caller's data has no shards to re-cut.
    strategy_->BeginPlan(0, steps_);
    return Status::OK();
  }

  Status Start(const std::atomic<bool>* stop) {
    MESHTRAIN_RETURN_IF_ERROR(Attached("Start"));
    if (started_) return Status::InvalidArgument("Peer::Start: started already");
    MESHTRAIN_RETURN_IF_ERROR(strategy_->Start(stop, {}));
    started_ = true;
    return Status::OK();
  }

  Result<bool> BeginStep(const std::atomic<bool>* stop) {
    MESHTRAIN_RETURN_IF_ERROR(Running("BeginStep"));
    // A signal between steps ends the run here, as `meshtrain run`'s loop does.
    if (stop && stop->load()) return Status::Aborted("stopped by signal at step " + std::to_string(replica_.step()));
    if (done()) return false;
    const StepGate gate = strategy_->BeforeStep(stop);
    switch (gate.gate) {
      case Gate::kStep:
        return true;
      case Gate::kComeBack:
        return false;
      case Gate::kClusterEnded:  // the cluster finished ahead; its final state is in the buffers now
        cluster_ended_ = true;
        return false;
      case Gate::kSignal:
        return Status::Aborted("stopped by signal at step " + std::to_string(replica_.step()));
      default:
        return gate.status.ok() ? Status::Unavailable("the cluster ended this peer's run") : gate.status;
    }
  }

  Result<Round> AllReduce(std::span<float> grads, int64_t rows, double* loss) {
    MESHTRAIN_RETURN_IF_ERROR(Running("AllReduce"));
    if (grads.size() != replica_.params().size()) {
      return Status::InvalidArgument("Peer::AllReduce: " + std::to_string(grads.size()) +
                                     " gradient values for " + std::to_string(replica_.params().size()) +
                                     " attached parameters");
    }
    double unused = 0;
    Result<RoundResult> round = strategy_->AfterBackward(grads, rows, loss ? loss : &unused, replica_.step());
    if (!round.ok()) return round.status();
    return *round == RoundResult::kRedoStep ? Round::kRedo : Round::kDone;
  }

  Status EndStep() {
    MESHTRAIN_RETURN_IF_ERROR(Running("EndStep"));
    replica_.CountStep();
    const int64_t step = replica_.step();
    MESHTRAIN_RETURN_IF_ERROR(strategy_->AfterUpdate(step));
    strategy_->VerifyReplica(step);
    if (step == strategy_->total_steps()) strategy_->AgreeAtEnd(step);
    return Status::OK();
  }

  Status Finish(const std::atomic<bool>* stop) {
    MESHTRAIN_RETURN_IF_ERROR(Running("Finish"));
    if (!cluster_ended_) {
      if (!done()) {
        return Status::InvalidArgument("Peer::Finish at step " + std::to_string(replica_.step()) + " of " +
                                       std::to_string(strategy_->total_steps()));
      }
      const StepGate end = strategy_->AtLastStep(stop);
      if (end.gate == Gate::kComeBack) {
        return Status::Aborted("back in a view with the others, behind the last step: train on until done()");
      }
      if (end.gate == Gate::kSignal) return Status::Aborted("stopped by signal at the last step");
      if (end.gate == Gate::kClusterEnded) cluster_ended_ = true;
      else if (end.gate != Gate::kFinish) return end.status;
    }
    strategy_->Leave(stop);
    strategy_->Shutdown();
    finished_ = true;
    return Status::OK();
  }

  bool done() const { return cluster_ended_ || (strategy_ && replica_.step() >= strategy_->total_steps()); }
  int64_t step() const { return replica_.step(); }
  std::vector<std::string> view() const { return strategy_ ? strategy_->view() : std::vector<std::string>{}; }
  std::vector<PeerEvent> DrainEvents() { return replica_.TakeEvents(); }

  ~Impl() {
    if (strategy_ && !finished_) strategy_->Shutdown();
  }

 private:
  Status Attached(const char* call) const {
    if (!strategy_) return Status::InvalidArgument(std::string("Peer::") + call + " before Attach");
    return Status::OK();
  }
  Status Running(const char* call) const {
    MESHTRAIN_RETURN_IF_ERROR(Attached(call));
    if (!started_) return Status::InvalidArgument(std::string("Peer::") + call + " before Start");
    if (finished_) return Status::InvalidArgument(std::string("Peer::") + call + " after Finish");
    return Status::OK();
  }

  Config cfg_;
  int64_t steps_;
  EmbeddedReplica replica_;
  std::unique_ptr<SyncStrategy> strategy_;
  bool started_ = false;
  bool finished_ = false;
  bool cluster_ended_ = false;
};

Result<std::unique_ptr<Peer>> Peer::Open(const PeerOptions& options) {
  if (options.config_file.empty()) return Status::InvalidArgument("PeerOptions::config_file is empty");
  if (options.steps <= 0) {
    return Status::InvalidArgument("PeerOptions::steps = " + std::to_string(options.steps) +
                                   ": the run needs at least one step");
  }
  // The run is one epoch of `steps` steps (Impl::Attach): the cluster's step
  // counter ends there on every peer.
  std::vector<std::string> overrides = options.overrides;
  overrides.push_back("train.epochs=1");
  overrides.push_back("train.max_steps=" + std::to_string(options.steps));
  auto cfg = LoadConfig(options.config_file, options.id, overrides);
  if (!cfg.ok()) return cfg.status();
  return std::unique_ptr<Peer>(new Peer(std::make_unique<Impl>(std::move(cfg).value(), options.steps)));
}

Peer::Peer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Peer::~Peer() = default;

Status Peer::Attach(std::span<float> params, std::span<float> optimizer_state) {
  return impl_->Attach(params, optimizer_state);
}
Status Peer::Start(const std::atomic<bool>* stop) { return impl_->Start(stop); }
Result<bool> Peer::BeginStep(const std::atomic<bool>* stop) { return impl_->BeginStep(stop); }
Result<Round> Peer::AllReduce(std::span<float> grads, int64_t rows, double* loss) {
  return impl_->AllReduce(grads, rows, loss);
}
Status Peer::EndStep() { return impl_->EndStep(); }
bool Peer::done() const { return impl_->done(); }
int64_t Peer::step() const { return impl_->step(); }
std::vector<std::string> Peer::view() const { return impl_->view(); }
std::vector<PeerEvent> Peer::DrainEvents() { return impl_->DrainEvents(); }
Status Peer::Finish(const std::atomic<bool>* stop) { return impl_->Finish(stop); }

}  // namespace meshtrain
