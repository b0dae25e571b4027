#include "meshtrain/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "meshtrain/gossip.h"
#include "meshtrain/peer_group.h"

namespace meshtrain {

DataParallel::~DataParallel() = default;

Result<std::unique_ptr<DataParallel>> DataParallel::Create(const Config& cfg, size_t num_params) {
  std::unique_ptr<DataParallel> dp(new DataParallel());
  dp->mode_ = cfg.sync.mode;
  dp->every_ = cfg.sync.every;
  dp->verify_every_ = cfg.sync.verify_every;
  dp->start_timeout_ms_ = cfg.sync.start_timeout_ms;
  // Compression applies to the gradient all-reduce only (docs/compression.md):
  // refuse it where it would silently send f32 instead.
  // Gossip checks its own combinations (Gossip::Create: synchronous, fixed graph).
  if (cfg.sync.compression != Compression::kNone && cfg.cluster.peers.size() > 1 &&
      (dp->mode_ == SyncMode::kRing && dp->every_ > 1)) {
    return Status::InvalidArgument(
        "sync.compression = \"" + std::string(ToString(cfg.sync.compression)) +
        "\" applies to the ring's gradient all-reduce (sync.mode = \"ring\", sync.every = 1) only; " +
        (dp->mode_ == SyncMode::kGossip ? std::string("gossip exchanges parameters in f32")
                               : std::string("parameter averaging (sync.every > 1) travels in f32")) +
        "; set sync.compression = \"none\"");
  }
  if (dp->mode_ == SyncMode::kRing) {
    dp->codec_.compression = cfg.sync.compression;
    dp->codec_.rounding = cfg.sync.int8_rounding;
    dp->codec_.topk_ratio = cfg.sync.topk_ratio;
    dp->error_feedback_ = cfg.sync.error_feedback && dp->codec_.compression != Compression::kNone;
  }
  dp->sync_timeout_ms_ = cfg.sync.timeout_ms;
  dp->dead_ms_ = cfg.membership.dead_ms;
  dp->farewell_ms_ = cfg.membership.farewell_ms;
  auto quorum = QuorumSize(cfg.membership.quorum, cfg.cluster.peers.size());
  if (!quorum.ok()) return quorum.status();
  if (quorum.value() > cfg.cluster.peers.size() && cfg.cluster.bootstrap.empty()) {
    return Status::InvalidArgument("membership.quorum = \"" + cfg.membership.quorum + "\" needs more peers than the " +
                                   std::to_string(cfg.cluster.peers.size()) +
                                   " of cluster.peers: no view could ever reach it");
  }
  dp->quorum_ = quorum.value();
  dp->self_id_ = cfg.self_id;
  dp->static_peers_ = cfg.cluster.peers;
  dp->bootstrap_ = cfg.cluster.bootstrap;
  for (const auto& p : cfg.cluster.peers) dp->view_.push_back(p.id);
  std::sort(dp->view_.begin(), dp->view_.end());
  // A cluster of one has no one to talk to: it trains like a local peer and opens
  // no socket, unless it is a ring peer joining others through cluster.bootstrap.
  const bool joins = dp->mode_ == SyncMode::kRing && !cfg.cluster.bootstrap.empty();
  if (dp->mode_ == SyncMode::kLocal || (cfg.cluster.peers.size() == 1 && !joins)) {
    dp->view_ = {cfg.self_id};
    return dp;
  }
  if (dp->mode_ != SyncMode::kRing && dp->mode_ != SyncMode::kGossip) {
    return Status::InvalidArgument("sync.mode = \"" + std::string(ToString(dp->mode_)) + "\" is not available in this build (use local, ring or gossip)");
  }
  auto group = PeerGroup::Create(cfg);
  if (!group.ok()) return group.status();
  dp->group_ = std::move(group.value());
  if (dp->mode_ == SyncMode::kGossip) {
    auto gossip = Gossip::Create(cfg, dp->group_->gossip_links(), num_params);
    if (!gossip.ok()) return gossip.status();
    dp->gossip_ = std::move(gossip).value();
  }
  return dp;
}

Status DataParallel::Start(const std::atomic<bool>* stop, const WaitReport& report) {
  if (!group_) return Status::OK();
  if (mode_ != SyncMode::kRing && mode_ != SyncMode::kGossip) return group_->WaitForPeers(std::chrono::milliseconds(start_timeout_ms_));
  MESHTRAIN_RETURN_IF_ERROR(group_->StartMembership());
  // Gossip follows the views too (docs/gossip.md, "Faults"): dead peers leave the graph.
  if (gossip_) gossip_->set_membership(group_->membership());
  return WaitForStartView(stop, report);
}

Membership* DataParallel::membership() const { return group_ ? group_->membership() : nullptr; }

bool DataParallel::elastic() const { return membership() != nullptr; }

Status DataParallel::WaitForStartView(const std::atomic<bool>* stop, const WaitReport& report) {
  Membership* m = membership();
  const bool joining = !bootstrap_.empty();
  const auto ready = [&](const View& v) {
    if (m->ClusterFinished()) return true;  // too late: the trainer takes the final state, or stops
    if (!v.Contains(self_id_)) return false;
    if (joining) return v.members.size() > 1;
    if (m->ClusterRunning()) return true;  // a restart: join what is running
    for (const PeerEntry& p : static_peers_) {
      if (!v.Contains(p.id)) return false;
    }
    return true;  // a fresh start: everyone listed is here
  };
  // Waits in short slices so that a signal is honoured at once (docs/training.md,
  // "Signals"), and says every few seconds whom it still waits for.
  using Clock = std::chrono::steady_clock;
  constexpr auto kStopPoll = std::chrono::milliseconds(100);
  constexpr auto kReportEvery = std::chrono::seconds(3);
  const auto begin = Clock::now();
  const auto deadline = begin + std::chrono::milliseconds(start_timeout_ms_);
  auto next_report = begin + kReportEvery;
  for (;;) {
    const auto slice = std::max(std::min(deadline, Clock::now() + kStopPoll) - Clock::now(), Clock::duration::zero());
    if (m->WaitForView(std::chrono::ceil<std::chrono::milliseconds>(slice), ready)) return Status::OK();
    if (stop && stop->load()) {
      return Status::Aborted("stopped by signal while waiting for the other peers (" + DescribeStartWait(m->view()) +
                             ")");
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (report && now >= next_report) {
      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - begin).count();
      report(DescribeStartWait(m->view()) + " (" + std::to_string(waited) + " s of sync.start_timeout_ms = " +
             std::to_string(start_timeout_ms_) + ")");
      next_report = now + kReportEvery;
    }
  }
  const std::string within = " within " + std::to_string(start_timeout_ms_) + " ms";
  if (joining) {
    std::string endpoints;
    for (const auto& e : bootstrap_) endpoints += (endpoints.empty() ? "" : ", ") + e;
    return Status::Timeout("no running cluster answered through cluster.bootstrap (" + endpoints + ")" + within);
  }
  const std::vector<std::string> silent = m->NeverHeard();
  if (!silent.empty()) {
    std::string ids, endpoints;
    for (const auto& id : silent) {
      ids += (ids.empty() ? "" : ", ") + id;
      endpoints += (endpoints.empty() ? "" : ", ") + m->EndpointOf(id);
    }
    return Status::Timeout("peers never heard from" + within + ": " + ids + " (" + endpoints + ")");
  }
  return Status::Timeout("the peers never agreed on a view with all of them" + within + " (last: " +
                         m->view().ToString() + ")");
}

std::string DataParallel::DescribeStartWait(const View& view) const {
  Membership* m = membership();
  if (!bootstrap_.empty()) {
    std::string endpoints;
    for (const auto& e : bootstrap_) endpoints += (endpoints.empty() ? "" : ", ") + e;
    return "waiting for a running cluster to answer through cluster.bootstrap (" + endpoints + ")";
  }
  const std::vector<std::string> silent = m->NeverHeard();
  std::string never, not_in_view;
  for (const PeerEntry& p : static_peers_) {
    if (p.id == self_id_ || view.Contains(p.id)) continue;
    if (std::find(silent.begin(), silent.end(), p.id) != silent.end()) {
      never += (never.empty() ? "" : ", ") + p.id + " at " + m->EndpointOf(p.id);
    } else {
      not_in_view += (not_in_view.empty() ? "" : ", ") + p.id;
    }
  }
  std::string text = "waiting for the other peers";
  if (!never.empty()) text += "; never heard from " + never;
  if (!not_in_view.empty()) text += "; heard from, not yet in the view: " + not_in_view;
  return text + "; view so far " + view.ToString();
}

View DataParallel::current_view() const {
  if (Membership* m = membership()) return m->view();
  View v;
  for (const auto& id : view_) v.members.push_back({id, 0});
  return v;
}

View DataParallel::active_view() const {
  if (membership() != nullptr) return active_view_;
  return current_view();
}

Status DataParallel::AfterFailedRound(const Status& failed, uint64_t view_id) {
  Membership* m = membership();
  if (m == nullptr || failed.code() == Status::Code::kInvalidArgument) return failed;
  // A dead or departing neighbour fails the round before (or as) membership
  // notices; the view change follows within about dead_ms.
  const auto wait = std::chrono::milliseconds(2 * dead_ms_ + 1000);
  if (m->view_id() != view_id || m->WaitForViewChange(view_id, wait)) return Status::Aborted(failed.message());
  return failed;
}

Result<ReconcilePlan> DataParallel::Reconcile(const View& view, int64_t step, std::span<const float> params,
                                              std::span<const float> optimizer_state, const std::string& meta,
                                              StateSnapshot* fetched, const std::atomic<bool>* stop) {
  Membership* m = membership();
  if (m == nullptr) {
    ReconcilePlan alone;
    alone.target_step = static_cast<uint64_t>(step);
    alone.sources = {self_id_};
    return alone;
  }
  Result<ReconcilePlan> plan =
      m->Reconcile(view.id, static_cast<uint64_t>(step), params, optimizer_state, meta,
                   std::chrono::milliseconds(std::max<int64_t>(sync_timeout_ms_, 1)), fetched, stop);
  if (plan.ok()) active_view_ = view;
  if (plan.ok() && gossip_) {  // the graph over the view's members, the same on every one of them
    group_->AdoptViewMembers(view.id);
    MESHTRAIN_RETURN_IF_ERROR(gossip_->SetView(view));
  }
  return plan;
}

bool DataParallel::has_quorum() const {
  return membership() == nullptr || active_view_.members.size() >= quorum_;
}

bool DataParallel::WaitForViewChange(uint64_t view_id, std::chrono::milliseconds timeout) const {
  Membership* m = membership();
  return m != nullptr && m->WaitForViewChange(view_id, timeout);
}

std::vector<MembershipEvent> DataParallel::DrainEvents() {
  Membership* m = membership();
  return m ? m->DrainEvents() : std::vector<MembershipEvent>{};
}

void DataParallel::PublishFingerprint(uint64_t view_id, int64_t step, uint64_t fingerprint) {
  if (Membership* m = membership()) m->PublishFingerprint(view_id, static_cast<uint64_t>(step), fingerprint);
}

std::string DataParallel::ReplicaDisagreement() const {
  Membership* m = membership();
  return m != nullptr ? m->ReplicaDisagreement() : std::string();
}

void DataParallel::SetProgress(int64_t step) {
  if (Membership* m = membership()) m->SetProgress(static_cast<uint64_t>(step), true);
}

void DataParallel::Finish(int64_t step, const std::atomic<bool>* stop) {
  if (Membership* m = membership()) {
    m->Finish(static_cast<uint64_t>(step), std::chrono::milliseconds(std::max<int64_t>(sync_timeout_ms_, 1)), stop);
  }
}

FarewellOutcome DataParallel::Farewell(int64_t step, std::span<const float> params,
                                       std::span<const float> optimizer_state, const std::string& meta, bool linger,
                                       const std::atomic<bool>* stop) {
  Membership* m = membership();
  if (m == nullptr) return {};
  const auto window = std::chrono::milliseconds(linger ? farewell_ms_ : 0);
  return m->Farewell(static_cast<uint64_t>(step), params, optimizer_state, meta, window, stop);
}

std::optional<ClusterEnd> DataParallel::ClusterFinished() const {
  Membership* m = membership();
  return m != nullptr ? m->ClusterFinished() : std::nullopt;
}

Result<StateSnapshot> DataParallel::FetchFinalState(const ClusterEnd& end, size_t n_values,
                                                    const std::atomic<bool>* stop) {
  Membership* m = membership();
  if (m == nullptr) return Status::Unavailable("no membership: nobody to take the final state from");
  return m->FetchFinalState(end, n_values, std::chrono::milliseconds(std::max<int64_t>(sync_timeout_ms_, 1)), stop);
}

Status DataParallel::AverageGradients(std::span<float> grads, int64_t rows, double* loss, uint64_t round) {
  if (!group_) return Status::OK();
  // One all-reduce carries [grad * rows, rows, loss * rows]: the weighted mean
  // needs the cluster's total rows, and the loss rides along for free.
  const size_t n = grads.size();
  buffer_.resize(n + 2);
  const float w = static_cast<float>(rows);
  for (size_t i = 0; i < n; ++i) buffer_[i] = grads[i] * w;
  buffer_[n] = w;
  buffer_[n + 1] = static_cast<float>(*loss * static_cast<double>(rows));
  if (codec_.compression == Compression::kNone) {
    const View ring = active_view();
    const Status st = group_->AllreduceSum(buffer_, ring.ids(), ring.id, round);
    if (!st.ok()) return AfterFailedRound(st, ring.id);
  } else {
    MESHTRAIN_RETURN_IF_ERROR(AllreduceCompressed(round));
  }
  const float total = buffer_[n];
  const float inv = total > 0 ? 1.0f / total : 0.0f;
  for (size_t i = 0; i < n; ++i) grads[i] = buffer_[i] * inv;
  *loss = static_cast<double>(buffer_[n + 1]) * inv;
  return Status::OK();
}

// The gradient travels through the codec; the sample count and the loss (the
// last two floats) travel exactly. The residual is committed only when the
// round succeeded and its sum is finite: a failed round is redone from the
// old residual, and a non-finite one is skipped by every replica, so what it
// took out of the residual must stay there.
Status DataParallel::AllreduceCompressed(uint64_t round) {
  CompressedReduce how;
  how.codec = codec_;
  how.exact_tail = 2;
  if (error_feedback_) {
    const size_t n = buffer_.size() - how.exact_tail;
    if (residual_.size() != n) residual_.assign(n, 0.0f);
    residual_next_.assign(residual_.begin(), residual_.end());
    how.residual = residual_next_;
  }
  const View ring = active_view();
  const Status st = group_->AllreduceSumCompressed(buffer_, how, ring.ids(), ring.id, round);
  if (!st.ok()) return AfterFailedRound(st, ring.id);
  if (error_feedback_ && std::all_of(buffer_.begin(), buffer_.end(), [](float v) { return std::isfinite(v); })) {
    residual_.swap(residual_next_);
  }
  return Status::OK();
}

Status DataParallel::AverageParameters(std::span<float> params, uint64_t round) {
  if (!group_) return Status::OK();
  buffer_.assign(params.begin(), params.end());
  const View ring = active_view();
  const Status st = group_->AllreduceSum(buffer_, ring.ids(), ring.id, round);
  if (!st.ok()) return AfterFailedRound(st, ring.id);
  const float inv = 1.0f / static_cast<float>(ring.members.size());
  for (size_t i = 0; i < params.size(); ++i) params[i] = buffer_[i] * inv;
  return Status::OK();
}

Status DataParallel::Mix(std::span<float> params, int64_t step) {
  if (!gossip_) return Status::OK();
  const Status st = gossip_->Mix(params, static_cast<uint64_t>(step));
  // A dead neighbour: Aborted once membership replaces the view (the trainer
  // reconciles the new one and goes on), not a failed run.
  if (!st.ok() && elastic()) return AfterFailedRound(st, gossip_->view_id());
  return st;
}

bool DataParallel::agrees_at_end() const { return gossip_ != nullptr && gossip_->agrees_at_end(); }

Status DataParallel::Agree(std::span<float> params, int64_t step) {
  if (!gossip_) return Status::OK();
  return gossip_->Finish(params, static_cast<uint64_t>(step));
}

void DataParallel::Shutdown() {
  if (group_) group_->Shutdown();
}

ReplicaStats DataParallel::stats() const {
  ReplicaStats out;
  if (!group_) return out;
  CommStats s = group_->stats();
  out.bytes_sent = s.bytes_sent;
  out.bytes_recv = s.bytes_recv;
  out.bytes_by_peer = std::move(s.bytes_by_peer);
  out.comm_seconds = s.comm_seconds;
  out.rejected = s.rejected;
  out.dropped_by_kind = s.dropped_by_kind;
  std::map<std::string, double> waits = s.wait_seconds_by_peer;
  if (gossip_) {
    const GossipStats g = gossip_->stats();
    out.comm_seconds += g.comm_seconds;
    out.consensus = g.consensus;
    out.gossip_weight = g.weight;
    out.gossip_late = g.late;
    out.gossip_out_of_order = g.out_of_order;
    out.gossip_view_changes = g.view_changes;
    out.gossip_compressed_rounds = g.compressed_rounds;
    out.gossip_clipped = g.clipped;
    for (const auto& [peer, seconds] : g.wait_seconds_by_peer) waits[peer] += seconds;
  }
  for (const auto& [peer, seconds] : waits) out.wait_seconds_by_peer.emplace_back(peer, seconds);
  return out;
}

std::vector<std::string> DataParallel::view() const {
  if (membership() != nullptr) return active_view_.ids();
  return view_;
}

}  // namespace meshtrain
