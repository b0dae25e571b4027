// The end of a run as the whole cluster shares it (docs/membership.md, "The
// end of a run"): this peer's goodbye ("finished at step S", with a bounded
// wait for peers that were away), and the other side, a peer that learns
// that the cluster finished ahead of it and takes its final state instead of
// training on alone.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "meshtrain/data_parallel.h"
#include "meshtrain/membership.h"
#include "meshtrain/sync_events.h"
#include "meshtrain/sync_strategy.h"
#include "sync/epoch_planner.h"
#include "sync/view_follower.h"

namespace meshtrain {

class RunEnd {
 public:
  RunEnd(DataParallel& replicas, ViewFollower& follower, EpochPlanner& planner, ReplicaAccess& replica,
         EventSink& events, int64_t farewell_ms)
      : replicas_(replicas),
        follower_(follower),
        planner_(planner),
        replica_(replica),
        events_(events),
        farewell_ms_(farewell_ms) {}

  // After the last step: "finished at step S" to every peer, and with
  // `linger` a bounded wait serving the final state to peers that were away.
  void SayFarewell(const std::atomic<bool>* stop, bool linger);
  // Peers that completed the run said so while this peer is behind (it was
  // paused, cut off or restarted): training on would make a replica of its own.
  std::optional<ClusterEnd> EndedAhead() const;
  // Takes the cluster's final state from the peers that finished: kClusterEnded
  // (the trainer evaluates, saves and leaves), or kQuit when none of them
  // serves it any more (exit 1, saying so) or a signal came first.
  StepGate TakeClusterEnd(const ClusterEnd& end, const std::atomic<bool>* stop);

 private:
  DataParallel& replicas_;
  ViewFollower& follower_;
  EpochPlanner& planner_;
  ReplicaAccess& replica_;
  EventSink& events_;
  int64_t farewell_ms_;  // membership.farewell_ms
};

}  // namespace meshtrain
