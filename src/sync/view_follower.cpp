#include "sync/view_follower.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "meshtrain/metric_names.h"
#include "sync/view_text.h"

namespace meshtrain {
namespace {

double UnixNow() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

void ViewFollower::WriteMembershipEvents() {
  for (const MembershipEvent& e : replicas_.DrainEvents()) {
    if (e.name == "peer_suspect") continue;  // a dead peer gets its own line; suspicion alone is noise
    SyncEvent event{e.name, {}, e.detail, e.unix_t};
    if (!e.peer.empty()) event.fields.push_back({metric::kAbout, e.peer});
    if (e.name == events::kPeerDead) event.fields.push_back({"silence_s", e.silence_s});
    if (e.name == events::kViewChange) {
      event.fields.push_back({metric::kViewId, static_cast<int64_t>(e.view.id)});
      event.fields.push_back({metric::kView, e.view.ids()});
      view_changed_at_ = e.unix_t;
      ++view_changes_;
    }
    events_.Record(event);
    events_.Say(e.name + (e.peer.empty() ? "" : " " + e.peer) + ": " + e.detail);
  }
}

Status ViewFollower::Reconcile(const View& view, const std::atomic<bool>* stop) {
  planner_.PlanNextOwners(view.ids());
  StateSnapshot fetched;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t before = replica_.step();
  auto agreed = replicas_.Reconcile(view, before, replica_.params(), replica_.optimizer_state(), planner_.Encoded(),
                                    &fetched, stop);
  if (!agreed.ok()) return agreed.status();
  reconciled_view_ = view.id;
  awaiting_first_round_ = true;
  minority_.Note(agreed.value(), std::chrono::steady_clock::now());
  if (!agreed->behind) return Status::OK();
  MESHTRAIN_RETURN_IF_ERROR(Adopt(fetched, agreed.value()));
  ++state_syncs_;
  std::string sources;
  for (const auto& id : agreed->sources) sources += (sources.empty() ? "" : ",") + id;
  const double ms = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1000;
  const int64_t after = replica_.step();
  events_.Record({events::kStateSync,
                  {{"from_step", before},
                   {metric::kViewId, static_cast<int64_t>(view.id)},
                   {"sources", agreed->sources},
                   {"bytes", static_cast<int64_t>(fetched.values.size() * sizeof(float))},
                   {"ms", ms}},
                  "step " + std::to_string(before) + " -> " + std::to_string(after) + ": " +
                      std::to_string(fetched.values.size()) + " floats from " + sources + ", checksum verified",
                  std::nullopt});
  events_.Say("state_sync: step " + std::to_string(before) + " -> " + std::to_string(after) + " from " + sources);
  return Status::OK();
}

Status ViewFollower::Adopt(const StateSnapshot& state, const ReconcilePlan& agreed) {
  auto params = replica_.params();
  auto optimizer_state = replica_.optimizer_state();
  const std::string from = agreed.sources.empty() ? std::string("?") : agreed.sources.front();
  if (state.values.size() != params.size() + optimizer_state.size()) {
    return Status::InvalidArgument("state from " + from + " holds " + std::to_string(state.values.size()) +
                                   " values; this peer's model and optimizer hold " +
                                   std::to_string(params.size() + optimizer_state.size()));
  }
  std::optional<EpochPlan> plan = DecodeEpochPlan(state.meta);
  if (!plan) return Status::Corruption("state from " + from + " carries no readable epoch plan");
  // Every key the replicas' equality depends on travels in the plan
  // (docs/agreement.md): a peer whose keys differ refuses the state, naming them.
  if (plan->compat != planner_.plan().compat) {
    const std::optional<std::vector<Setting>> theirs = DecodeSettings(plan->compat);
    const std::string cluster = "the cluster (" + JoinIds(agreed.sources) + ")";
    const std::string differences =
        theirs ? DescribeSettingDifferences(options_.agreement_keys, *theirs, cluster) : std::string();
    return Status::InvalidArgument("this peer's config differs from " + cluster + "'s in keys every peer must share: " +
                                   (differences.empty() ? "(unreadable settings from " + from + ")" : differences) +
                                   " (docs/agreement.md); fix this peer's config and restart it");
  }
  std::copy(state.values.begin(), state.values.begin() + static_cast<std::ptrdiff_t>(params.size()), params.begin());
  // Gossip replicas keep their own optimizer state (docs/gossip.md, "Faults"):
  // each momentum sums that peer's own gradients, and one peer's copied into
  // every replica would apply its noise everywhere for the next 1/(1-momentum) steps.
  if (!options_.keep_own_optimizer_state) {
    std::copy(state.values.begin() + static_cast<std::ptrdiff_t>(params.size()), state.values.end(),
              optimizer_state.begin());
  }
  planner_.Adopt(std::move(*plan));
  return replica_.StateReplaced(static_cast<int64_t>(state.step));
}

void ViewFollower::RoundAborted(const Status& why) {
  ++rounds_aborted_;
  events_.Announce(events::kRoundAborted, why.message());
}

void ViewFollower::RoundDone() {
  if (!awaiting_first_round_) return;
  awaiting_first_round_ = false;
  if (!replicas_.elastic() || view_changed_at_ <= 0) return;
  const double ms = (UnixNow() - view_changed_at_) * 1000;
  events_.Record({"view_ready",
                  {{metric::kViewId, static_cast<int64_t>(reconciled_view_)},
                   {metric::kView, replicas_.view()},
                   {"ms_since_view_change", ms}},
                  "first round of view " + std::to_string(reconciled_view_) + " done, " +
                      std::to_string(static_cast<int64_t>(ms)) + " ms after the view change",
                  std::nullopt});
}

}  // namespace meshtrain
