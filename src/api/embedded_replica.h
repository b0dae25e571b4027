// The sync strategy's view of an embedding program's replica (ReplicaAccess,
// sync_strategy.h) and where its events go (EventSink): the caller's own
// buffers and step counter, no data shards to load (the caller owns its
// data) and no checkpoints to write (the caller owns those too). Events are
// queued for Peer::DrainEvents instead of written to a metrics file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "meshtrain/meshtrain.h"
#include "meshtrain/sync_events.h"
#include "meshtrain/sync_strategy.h"

namespace meshtrain {

class EmbeddedReplica final : public ReplicaAccess, public EventSink {
 public:
  void Attach(std::span<float> params, std::span<float> optimizer_state) {
    params_ = params;
    optimizer_state_ = optimizer_state;
  }
  void CountStep() { ++step_; }

  // ReplicaAccess
  std::span<float> params() override { return params_; }
  std::span<float> optimizer_state() override { return optimizer_state_; }
  int64_t step() const override { return step_; }
  Result<ShardFacts> LoadShard(const EpochPlan& /*plan*/) override { return ShardFacts{}; }
  Status StateReplaced(int64_t step) override {
    step_ = step;
    return Status::OK();
  }
  Status SaveUnsaved() override { return Status::OK(); }

  // EventSink: the metrics events are kept; console lines are the CLI's, not a library's.
  void Record(const SyncEvent& event) override { events_.push_back({event.name, event.detail, step_}); }
  void Say(const std::string& /*text*/) override {}

  std::vector<PeerEvent> TakeEvents() { return std::exchange(events_, {}); }

 private:
  std::span<float> params_;
  std::span<float> optimizer_state_;
  int64_t step_ = 0;
  std::vector<PeerEvent> events_;
};

}  // namespace meshtrain
