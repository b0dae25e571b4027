// Follows membership's views for the trainer (docs/membership.md,
// "Reconciliation and state sync"; docs/faults.md, "The rule"): writes
// membership's events, reconciles with the members of every new view, adopts
// the state of the most advanced (parameters, optimizer state, step, epoch
// plan), and reports the first round that succeeds in a view.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/data_parallel.h"
#include "meshtrain/membership.h"
#include "meshtrain/sync_events.h"
#include "meshtrain/sync_strategy.h"
#include "sync/epoch_planner.h"
#include "sync/minority_guard.h"

namespace meshtrain {

struct FollowerOptions {
  // Gossip replicas keep their own optimizer state (docs/gossip.md, "Faults").
  bool keep_own_optimizer_state = false;
  std::vector<Setting> agreement_keys;  // Config::AgreementKeys(): named when a fetched state's differ
};

class ViewFollower {
 public:
  ViewFollower(DataParallel& replicas, EpochPlanner& planner, MinorityGuard& minority, ReplicaAccess& replica,
               EventSink& events, FollowerOptions options)
      : replicas_(replicas),
        planner_(planner),
        minority_(minority),
        replica_(replica),
        events_(events),
        options_(std::move(options)) {}

  // Membership's events since the last call, as metrics events (peer_suspect left out).
  void WriteMembershipEvents();
  // The members of `view` agree on the most advanced (step, state); if that
  // is not ours we copy it. Aborted if the view moved on meanwhile.
  Status Reconcile(const View& view, const std::atomic<bool>* stop);
  // Takes `state` (from `agreed.sources`) into the replica, after checking
  // its size, its epoch plan and that its config keys are ours.
  Status Adopt(const StateSnapshot& state, const ReconcilePlan& agreed);
  uint64_t reconciled_view() const { return reconciled_view_; }

  void CountStateSync() { ++state_syncs_; }
  // A round a view change interrupted (event round_aborted).
  void RoundAborted(const Status& why);
  // A round that succeeded: the first one after a view change means the cluster has re-formed (view_ready).
  void RoundDone();

  int64_t view_changes() const { return view_changes_; }
  int64_t rounds_aborted() const { return rounds_aborted_; }
  int64_t state_syncs() const { return state_syncs_; }

 private:
  DataParallel& replicas_;
  EpochPlanner& planner_;
  MinorityGuard& minority_;
  ReplicaAccess& replica_;
  EventSink& events_;
  FollowerOptions options_;
  uint64_t reconciled_view_ = 0;
  bool awaiting_first_round_ = false;  // a view was reconciled; its first round has not succeeded yet
  double view_changed_at_ = 0;  // unix time of the last view change
  int64_t view_changes_ = 0;
  int64_t rounds_aborted_ = 0;
  int64_t state_syncs_ = 0;
};

}  // namespace meshtrain
