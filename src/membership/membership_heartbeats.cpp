// The membership thread's loop (docs/membership.md, "Heartbeats and the
// failure detector"): every membership.heartbeat_ms a tick runs the failure
// detector and the agreement and sends heartbeats; in between, every incoming
// message goes to Dispatch. What the detector finds becomes events here.
#include "membership/membership_impl.h"

#include <algorithm>
#include <cstddef>

namespace meshtrain {

using membership_internal::EncodeHeartbeat;
using membership_internal::HeartbeatHeader;
using membership_internal::UnixNow;

namespace {

// Peers that are not live (dead, gone, never heard) still get a heartbeat now
// and then: a paused peer learns from it that it was declared dead.
constexpr std::chrono::milliseconds kQuietPeerInterval{500};
constexpr size_t kDrainBatch = 256;

}  // namespace

void Membership::Impl::Run() {
  const auto heartbeat = std::chrono::milliseconds(std::max<int64_t>(opt_.timing.heartbeat_ms, 1));
  // A gap this long between two turns of our own loop means we were not
  // running (SIGSTOP, starved CPU), not that everyone else went quiet.
  const auto stall = std::max(std::chrono::milliseconds(opt_.timing.dead_ms / 2), 3 * heartbeat);
  Clock::time_point next_tick = Clock::now();
  Clock::time_point last_turn = Clock::now();
  while (!stop_.load()) {
    Clock::time_point now = Clock::now();
    if (now - last_turn > stall) {
      std::lock_guard<std::mutex> lock(mu_);
      table_.Grace(now);
    }
    last_turn = now;
    if (now >= next_tick) {
      Tick(now);
      next_tick = now + heartbeat;
    }
    now = Clock::now();
    const auto wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(next_tick - now),
                                 std::chrono::milliseconds(1), heartbeat);
    Result<IncomingMessage> got = transport_->Receive(wait);
    if (!got.ok()) continue;
    Dispatch(std::move(got).value());
    for (size_t i = 0; i < kDrainBatch && !stop_.load(); ++i) {
      Result<IncomingMessage> more = transport_->Receive(std::chrono::milliseconds(0));
      if (!more.ok()) break;
      Dispatch(std::move(more).value());
    }
  }
}

void Membership::Impl::Tick(Clock::time_point now) {
  std::vector<std::pair<std::string, std::string>> connects;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (leaving_) return;
    // Nobody is buried while a state transfer to us is moving: it fills our
    // download link, and on a slow link one of the TCP streams sharing it
    // (a holder's, or a heartbeat's) can go more than a second without a
    // complete message. A peer that died meanwhile is judged dead_ms after
    // the transfer ends or stops moving (it is bounded by sync.timeout_ms).
    const auto dead = std::chrono::milliseconds(opt_.timing.dead_ms);
    std::vector<std::string> spared;
    if (fetch_ && now - last_piece_ < dead) {
      for (const auto& [id, rec] : table_.all()) spared.push_back(id);
    }
    const auto changes = table_.Tick(now, std::chrono::milliseconds(opt_.timing.suspect_ms), dead, spared);
    ApplyChangesLocked(changes, &connects);
    RecomputeLocked();
  }
  Connect(connects);
  SendHeartbeats(/*periodic=*/true);
}

void Membership::Impl::Connect(const std::vector<std::pair<std::string, std::string>>& connects) {
  std::vector<std::pair<std::string, std::string>> reconnects;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reconnects.swap(reconnects_);
  }
  for (const auto& [id, endpoint] : reconnects) {
    transport_->Disconnect(id);
    const Status st = transport_->Connect(id, endpoint);
    if (!st.ok()) Reject(id, "cannot reconnect to its endpoint: " + st.message());
  }
  for (const auto& [id, endpoint] : connects) {
    const Status st = transport_->Connect(id, endpoint);
    if (!st.ok()) Reject(id, "cannot connect to its endpoint: " + st.message());
  }
}

// Heartbeats to every live peer; with `periodic`, also (now and then) to
// peers that are not live, so that they can find us or learn their fate.
void Membership::Impl::SendHeartbeats(bool periodic) {
  std::vector<std::string> targets;
  std::string header;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (leaving_) return;
    header = EncodeHeader(HeartbeatHeader(opt_.self_id, installed_.id, step_, EncodeHeartbeat(BuildHeartbeatLocked())));
    const Clock::time_point now = Clock::now();
    for (const auto& [id, rec] : table_.all()) {
      MemberRecord* r = table_.Find(id);
      if (rec.live() || (periodic && now - rec.last_sent >= kQuietPeerInterval)) {
        targets.push_back(id);
        r->last_sent = now;
      }
    }
    if (periodic) targets.insert(targets.end(), bootstrap_ids_.begin(), bootstrap_ids_.end());
  }
  // On the control lane (docs/transport.md, "Two lanes"): a heartbeat must
  // not wait behind megabytes of gradients on a slow link. Goodbyes stay on
  // the data lane, behind the last pieces they follow. A copy goes on the
  // data lane too, if it takes it at once: on a lossy link, a small segment
  // behind the last one of a piece lets TCP see that one lost and resend it
  // at once, instead of after its retransmission timeout (200 ms or more).
  std::vector<Transport::Addressed> msgs;
  for (const std::string& id : targets) {
    for (Lane lane : {Lane::kControl, Lane::kData}) {
      OutgoingMessage msg;
      msg.lane = lane;
      msg.header = header;
      msgs.push_back({id, std::move(msg)});
    }
  }
  const std::vector<Status> results = transport_->SendAll(std::move(msgs), kHeartbeatSendTimeout);
  uint64_t sent = 0;
  for (size_t i = 0; i < results.size(); i += 2) sent += results[i].ok() ? 1 : 0;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.heartbeats_sent += sent;
}

membership_internal::Heartbeat Membership::Impl::BuildHeartbeatLocked() const {
  Heartbeat hb;
  hb.incarnation = incarnation_;
  hb.endpoint = opt_.self_endpoint;
  hb.started = started_;
  hb.leaving = leaving_;
  hb.finished = finished_;
  hb.step = step_;
  hb.installed = installed_;
  hb.proposal = proposal_;
  hb.report = report_;
  hb.fingerprint = fingerprint_;
  hb.table = table_.Entries({opt_.self_id, opt_.self_endpoint, incarnation_, MemberState::kAlive, step_});
  return hb;
}

void Membership::Impl::ApplyChangesLocked(const std::vector<MemberChange>& changes,
                                          std::vector<std::pair<std::string, std::string>>* connects) {
  for (const MemberChange& c : changes) {
    MembershipEvent e;
    e.peer = c.id;
    e.unix_t = UnixNow();
    e.silence_s = c.silence_s;
    const MemberRecord* rec = table_.Find(c.id);
    switch (c.kind) {
      case MemberChange::Kind::kDiscovered:
        if (rec != nullptr) connects->emplace_back(c.id, rec->endpoint);
        continue;
      case MemberChange::Kind::kJoined:
        // Our connection to a restarted peer may be deep in its reconnect
        // back-off (up to transport.reconnect_ivl_max_ms): connect afresh.
        if (c.returning && rec != nullptr) reconnects_.emplace_back(c.id, rec->endpoint);
        if (!started_) continue;  // everyone "joins" at start; only later arrivals are news
        e.name = "peer_joined";
        e.detail = "incarnation " + std::to_string(rec ? rec->incarnation : 0) + " at " +
                   (rec ? rec->endpoint : std::string("?")) +
                   (rec && rec->report.suspect ? " (its replica differed: it comes back to copy the majority's)"
                                               : "");
        break;
      case MemberChange::Kind::kSuspect:
        e.name = "peer_suspect";
        e.detail = "silent for " + std::to_string(static_cast<int64_t>(c.silence_s * 1000)) + " ms";
        break;
      case MemberChange::Kind::kDead:
        e.name = "peer_dead";
        e.detail = "silent for " + std::to_string(static_cast<int64_t>(c.silence_s * 1000)) +
                   " ms (membership.dead_ms = " + std::to_string(opt_.timing.dead_ms) + ")";
        break;
      case MemberChange::Kind::kLeft:
        e.name = "peer_left";
        e.detail = "said it is leaving";
        break;
      case MemberChange::Kind::kFinished:
        e.name = "peer_finished";
        e.detail = "said it completed the run at step " + std::to_string(c.step) + " (a goodbye, not a death)";
        break;
    }
    EventLocked(std::move(e));
  }
}

}  // namespace meshtrain
