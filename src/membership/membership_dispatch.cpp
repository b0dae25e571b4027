// Every message the membership thread reads (it is the only reader of the
// Transport): heartbeats, Bye and state transfers handled here, the rest
// passed up through the inbox (docs/membership.md, "One thread owns the
// receive side"); malformed ones dropped, counted and logged.
#include "membership/membership_impl.h"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace meshtrain {

using membership_internal::ClockIncarnation;
using membership_internal::JoinIds;
using membership_internal::UnixNow;

void Membership::Impl::Dispatch(IncomingMessage msg) {
  Result<Header> header = DecodeHeader(msg.header.data(), msg.header.size());
  if (!header.ok() || header->sender != msg.from) {
    Forward(std::move(msg));  // the layer above rejects, counts and logs it
    return;
  }
  if (header->type != MessageType::kHeartbeat && header->type != MessageType::kBye) {
    // Whatever a live peer sends proves it alive: on a slow link its heartbeat
    // may be queued behind the very pieces that arrive here first.
    std::lock_guard<std::mutex> lock(mu_);
    table_.OnTraffic(msg.from, Clock::now());
  }
  switch (header->type) {
    case MessageType::kHeartbeat:
      if (msg.lane == Lane::kData && IsPeriodicHeartbeat(header.value(), msg)) {
        // The data lane's copy of a member's periodic heartbeat (SendHeartbeats)
        // may arrive after newer ones on the control lane: it proves the sender
        // alive, and its contents are left to the control lane's, in order.
        std::lock_guard<std::mutex> lock(mu_);
        if (table_.Find(msg.from) != nullptr) {
          table_.OnTraffic(msg.from, Clock::now());
          return;
        }
      }
      HandleHeartbeat(header.value(), msg);
      return;
    case MessageType::kStateRequest:
      HandleStateRequest(header.value(), msg);
      return;
    case MessageType::kState:
      HandleStatePiece(header.value(), msg);
      return;
    case MessageType::kBye:
      HandleBye(header->sender);
      Forward(std::move(msg));  // the collectives end at once on a Bye
      return;
    default:
      Forward(std::move(msg));
      return;
  }
}

void Membership::Impl::Forward(IncomingMessage msg) {
  bool member = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.forwarded;  // counted first: the reader may look at the stats as soon as it has the message
    member = table_.Find(msg.from) != nullptr;
  }
  // A stranger (whatever it says, the layer above will reject it) may fill
  // only half the inbox, so that a flood from outside cannot crowd out the
  // pieces members send while the trainer computes (docs/protocol.md).
  const size_t limit = member ? inbox_.capacity() : inbox_.capacity() / 2;
  if (inbox_.Push(std::move(msg), limit)) return;
  std::lock_guard<std::mutex> lock(mu_);
  --stats_.forwarded;
  ++stats_.inbox_dropped;
}

void Membership::Impl::Reject(const std::string& from, const std::string& why) {
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.rejected;
  auto [it, fresh] = last_logged_.emplace(from, now);
  if (!fresh && now - it->second < std::chrono::minutes(1)) return;
  it->second = now;
  std::fprintf(stderr, "meshtrain[%s]: membership: dropped a message from %s: %s\n", opt_.self_id.c_str(),
               from.c_str(), why.c_str());
}

// A well-formed heartbeat that is not a goodbye (a goodbye says the sender
// leaves: SendGoodbyes). Anything else goes to HandleHeartbeat, which reads
// a goodbye and rejects (and counts) a malformed one.
bool Membership::Impl::IsPeriodicHeartbeat(const Header& h, const IncomingMessage& msg) {
  if (msg.has_payload && msg.payload.size() > 0) return false;
  std::optional<Heartbeat> hb = membership_internal::DecodeHeartbeat(h.extra);
  return hb && !hb->leaving;
}

void Membership::Impl::HandleHeartbeat(const Header& h, const IncomingMessage& msg) {
  if (msg.has_payload && msg.payload.size() > 0) return Reject(msg.from, "heartbeat with a payload");
  std::optional<Heartbeat> hb = membership_internal::DecodeHeartbeat(h.extra);
  if (!hb) {
    const uint8_t format = h.extra.empty() ? 0 : static_cast<uint8_t>(h.extra[0]);
    if (format != membership_internal::kHeartbeatFormat) {
      return Reject(msg.from, "heartbeat format " + std::to_string(format) + ", this build speaks format " +
                                  std::to_string(membership_internal::kHeartbeatFormat) +
                                  " (a peer of another meshtrain version: run the same version everywhere)");
    }
    return Reject(msg.from, "malformed heartbeat (" + std::to_string(h.extra.size()) + " bytes of extra)");
  }
  std::vector<std::pair<std::string, std::string>> connects;
  std::vector<std::string> disconnects;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.heartbeats_recv;
    bool evicted = false;
    const auto changes =
        table_.OnHeartbeat(h.sender, *hb, Clock::now(), incarnation_, &evicted, installed_.members.size());
    if (evicted && !leaving_) Rejoin(*hb);
    if (farewell_ && hb->leaving) farewell_heard_.insert(h.sender);  // it knows the run is over
    ApplyChangesLocked(changes, &connects);
    fingerprints_.Record(h.sender, hb->fingerprint);
    const bool renewed = JudgeFingerprintsLocked();
    if (!bootstrap_ids_.empty()) {
      // Someone answered: from now on we talk to peers by name. Keeping the
      // bootstrap connection would make the peer's ROUTER hand our id back
      // and forth between two connections.
      disconnects.swap(bootstrap_ids_);
    }
    changed = RecomputeLocked() || evicted || renewed;
    cv_.notify_all();  // a report may have come with it
  }
  for (const std::string& id : disconnects) transport_->Disconnect(id);
  Connect(connects);
  if (changed) SendHeartbeats(/*periodic=*/false);
}

// The others declared this incarnation dead (we were paused, or cut off).
// Come back as a new incarnation: the view change that admits it also makes
// our trainer abort its round and fetch the state it missed.
void Membership::Impl::Rejoin(const Heartbeat& hb) {
  uint64_t highest = incarnation_;
  for (const auto& e : hb.table) {
    if (e.id == opt_.self_id) highest = std::max(highest, e.incarnation);
  }
  const uint64_t old = incarnation_;
  incarnation_ = std::max(highest + 1, ClockIncarnation());
  // The peers we buried while we were away were the other side of the same
  // cut: take it back, so that they are not evicted in turn by our table.
  const std::vector<std::string> withdrawn = table_.WithdrawVerdicts();
  for (const std::string& id : withdrawn) {
    if (const MemberRecord* rec = table_.Find(id)) reconnects_.emplace_back(id, rec->endpoint);
  }
  MembershipEvent e;
  e.name = "evicted";
  e.peer = opt_.self_id;
  e.unix_t = UnixNow();
  e.detail = "the others declared incarnation " + std::to_string(old) + " of this peer dead (paused or cut off); "
             "rejoining as incarnation " + std::to_string(incarnation_) +
             (withdrawn.empty() ? "" : "; withdrew its own verdicts on " + JoinIds(withdrawn));
  EventLocked(std::move(e));
}

void Membership::Impl::HandleBye(const std::string& from) {
  std::lock_guard<std::mutex> lock(mu_);
  if (farewell_) {
    farewell_heard_.insert(from);
    cv_.notify_all();
  }
  std::vector<std::pair<std::string, std::string>> none;
  if (std::optional<MemberChange> left = table_.OnLeave(from)) ApplyChangesLocked({*left}, &none);
  RecomputeLocked();
}

}  // namespace meshtrain
