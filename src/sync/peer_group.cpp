#include "meshtrain/peer_group.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>

#include "meshtrain/membership.h"
#include "meshtrain/ring_allreduce.h"
#include "meshtrain/wire.h"
#include "sync/drop_log.h"
#include "sync/gossip_links.h"
#include "sync/mailbox.h"
#include "sync/peer_table.h"
#include "sync/ring_codecs.h"
#include "sync/ring_messages.h"
#include "sync/ring_round.h"
#include "sync/round_tag.h"

namespace meshtrain {
namespace {

using Clock = std::chrono::steady_clock;

// The start barrier repeats its Hello this often: a peer that starts late
// finds our DEALER still reconnecting, and a Hello sent before it was up is
// refused (ZMQ_IMMEDIATE), not queued.
constexpr std::chrono::milliseconds kHelloInterval{100};
// Hello, its answer and Bye are best effort: if a peer is not reachable now,
// the next Hello (or its own) tries again, so never stall a round for one.
constexpr std::chrono::milliseconds kControlSendTimeout{20};
// The largest state piece a reconciliation asks for (the smaller of this and
// sync.chunk_bytes): 0.05 s of a 10 Mbit/s link.
constexpr int64_t kMaxStatePieceBytes = 64 * 1024;

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

}  // namespace

PeerGroup::PeerGroup() : peers_(std::make_unique<PeerTable>()) {}

PeerGroup::~PeerGroup() = default;

Result<std::unique_ptr<PeerGroup>> PeerGroup::Create(const Config& cfg) {
  std::vector<PeerEntry> members = cfg.cluster.peers;
  if (cfg.cluster.size > 0 && static_cast<size_t>(cfg.cluster.size) < members.size()) {
    members.resize(static_cast<size_t>(cfg.cluster.size));
  }
  if (members.empty()) return Status::InvalidArgument("cluster.peers is empty: a peer group needs at least this peer");

  std::unique_ptr<PeerGroup> group(new PeerGroup());
  group->self_id_ = cfg.self_id;
  group->sync_ = cfg.sync;
  group->transport_cfg_ = cfg.transport;
  std::string self_endpoint;
  std::set<std::string> seen;
  for (const PeerEntry& p : members) {
    if (!seen.insert(p.id).second) {
      return Status::InvalidArgument("cluster.peers: peer id \"" + p.id + "\" is listed twice");
    }
    group->peer_ids_.push_back(p.id);
    if (p.id == cfg.self_id) {
      self_endpoint = p.endpoint;
    } else {
      group->peers_->Add(p.id, p.endpoint);
    }
  }
  std::sort(group->peer_ids_.begin(), group->peer_ids_.end());
  if (seen.count(cfg.self_id) == 0) {
    return Status::InvalidArgument("peer id \"" + cfg.self_id + "\" is not in the cluster (" +
                                   JoinIds(group->peer_ids_) + ")");
  }
  group->ring_ = std::make_unique<RingAllreduce>(
      static_cast<size_t>(std::max<int64_t>(cfg.sync.chunk_bytes / static_cast<int64_t>(sizeof(float)), 1)));
  group->f32_ = std::make_unique<F32RingCodec>();
  group->drop_log_ = std::make_unique<DropLog>(cfg.self_id);
  group->cluster_ = members;
  group->bootstrap_ = cfg.cluster.bootstrap;
  group->membership_cfg_ = cfg.membership;
  group->self_endpoint_ = self_endpoint;
  // A cluster of one has nothing to talk to, unless it joins others through bootstrap.
  if (members.size() == 1 && cfg.cluster.bootstrap.empty()) return group;

  // [security]: key files are read here, so a bad or exposed key stops the peer before any socket opens.
  Result<TransportSecurity> security = LoadTransportSecurity(cfg.security, group->peer_ids_);
  if (!security.ok()) return security.status().WithContext("peer " + cfg.self_id);
  Result<std::unique_ptr<Transport>> transport =
      Transport::Create(cfg.transport, cfg.self_id, self_endpoint, security.value());
  if (!transport.ok()) return transport.status().WithContext("peer " + cfg.self_id);
  group->transport_ = std::move(transport).value();
  for (const auto& [id, state] : group->peers_->all()) {
    MESHTRAIN_RETURN_IF_ERROR(group->transport_->Connect(id, state.endpoint).WithContext("peer " + cfg.self_id));
  }

  ValidationRules rules;
  for (const auto& [id, state] : group->peers_->all()) rules.known_senders.push_back(id);
  rules.allow_unknown_hello = false;  // joining a running cluster is the membership layer's job
  const int64_t max_bytes = cfg.transport.max_msg_bytes;
  rules.max_elems = max_bytes > 0 ? static_cast<uint64_t>(max_bytes) / sizeof(float)
                                  : std::numeric_limits<uint64_t>::max();
  const size_t min_stash = max_bytes > 0 ? static_cast<size_t>(max_bytes) : size_t{256} << 20;
  group->mailbox_ = std::make_unique<Mailbox>(group->transport_.get(), std::move(rules), min_stash,
                                              group->drop_log_.get());
  PeerGroup* raw = group.get();
  group->mailbox_->set_control_handler([raw](const Header& h) { raw->HandleControl(h); });
  // Gossip messages bypass the stash: push-sum has no rounds (docs/gossip.md).
  group->gossip_links_ = std::make_unique<GossipLinks>(group->transport_.get(), group->mailbox_.get(),
                                                       group->peers_.get(), cfg.self_id, 4 * members.size() + 16);
  group->mailbox_->set_gossip_handler(
      [raw](Header h, IncomingMessage msg) { raw->gossip_links_->File(std::move(h), std::move(msg)); });
  return group;
}

// The start barrier is a two-way handshake per pair. Each Hello says what the
// sender knows: whether it has heard from us, and whether it knows we have
// heard from it. We are done with a peer when we have heard from it and it
// has said it heard from us; and we may only stop answering once every peer
// that did not yet know we heard it has been told so by a Hello that reached
// ZeroMQ (else it would wait for us forever while we run ahead).
void PeerGroup::HandleControl(const Header& h) {
  PeerState* peer = peers_->Find(h.sender);
  if (peer == nullptr) return;  // Validate only lets known senders through
  if (h.type == MessageType::kBye) {  // an orderly leave; a later Hello brings it back
    peer->departed = true;
    peer->heard = false;
    peer->acked = false;
    peer->owe_answer = false;
    return;
  }
  const HelloFlags flags = DecodeHelloFlags(h.extra);
  peer->heard = true;
  peer->departed = false;
  if (flags.heard_you) peer->acked = true;
  // Answered whenever it comes, even mid-collective. Our DEALER to it may not
  // be connected yet (it can reach us before we reach it): then the answer is
  // owed and retried.
  if (!flags.got_yours) peer->owe_answer = !SendHello(h.sender);
}

bool PeerGroup::SendHello(const std::string& peer_id) {
  PeerState* peer = peers_->Find(peer_id);
  HelloFlags flags;
  flags.heard_you = peer->heard;
  flags.got_yours = peer->acked;
  OutgoingMessage msg;
  EncodeHeaderTo(HelloHeader(self_id_, flags), &msg.header);
  const bool sent = transport_->Send(peer_id, std::move(msg), kControlSendTimeout).ok();
  if (sent && peer->heard) peer->owe_answer = false;
  return sent;
}

void PeerGroup::AnswerHellos() {
  for (auto& [id, state] : peers_->all()) {
    if (state.owe_answer) SendHello(id);
  }
}

std::string PeerGroup::DescribePeers(const std::vector<std::string>& ids) const {
  std::vector<std::string> endpoints;
  for (const auto& id : ids) endpoints.push_back(peers_->EndpointOf(id));
  return JoinIds(ids) + " (" + JoinIds(endpoints) + ")";
}

Status PeerGroup::WaitForPeers(std::chrono::milliseconds timeout) {
  if (shut_down_) return Status::Aborted("peer " + self_id_ + ": WaitForPeers after Shutdown");
  if (!transport_) return Status::OK();
  const Clock::time_point deadline = Clock::now() + timeout;
  Clock::time_point next_hello = Clock::now();
  for (;;) {
    const std::vector<std::string> waiting = peers_->NotReady();
    if (waiting.empty() && !peers_->OwesAnswers()) return Status::OK();
    Clock::time_point now = Clock::now();
    if (now >= deadline) break;
    if (now >= next_hello) {
      for (const auto& id : waiting) SendHello(id);
      AnswerHellos();
      next_hello = Clock::now() + kHelloInterval;
    }
    now = Clock::now();
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(std::min(deadline, next_hello) - now);
    mailbox_->Pump(std::max(wait, std::chrono::milliseconds(1)));
  }
  std::vector<std::string> silent, unanswered, unreachable;
  for (const auto& id : peers_->NotReady()) (peers_->Find(id)->heard ? unanswered : silent).push_back(id);
  for (const auto& [id, state] : peers_->all()) {
    if (state.owe_answer && state.acked) unreachable.push_back(id);
  }
  std::string msg;
  const std::string within = " within " + std::to_string(timeout.count()) + " ms: ";
  const auto add = [&](const char* what, const std::vector<std::string>& ids) {
    if (!ids.empty()) msg += (msg.empty() ? "" : "; ") + std::string(what) + within + DescribePeers(ids);
  };
  add("peers never heard from", silent);
  add("peers that never answered our Hello", unanswered);
  add("peers we could not answer", unreachable);
  return Status::Timeout(msg);
}

Status PeerGroup::StartMembership() {
  if (shut_down_) return Status::Aborted("peer " + self_id_ + ": StartMembership after Shutdown");
  if (!transport_) return Status::InvalidArgument("peer " + self_id_ + ": a cluster of one has no membership");
  if (membership_) return Status::OK();
  MembershipOptions options;
  options.self_id = self_id_;
  // A configured port 0 (or *) means "any": tell the others the one we got.
  const bool any_port = self_endpoint_.ends_with(":0") || self_endpoint_.ends_with(":*");
  options.self_endpoint = any_port ? transport_->bound_endpoint() : self_endpoint_;
  options.peers = cluster_;
  options.bootstrap = bootstrap_;
  options.timing = membership_cfg_;
  options.max_msg_bytes = transport_cfg_.max_msg_bytes;
  // State pieces of at most 64 KiB: every piece that arrives proves its
  // holder alive, so on a slow link a transfer never looks like silence
  // (docs/membership.md, "Heartbeats and the failure detector").
  options.state_piece_floats = static_cast<size_t>(
      std::max<int64_t>(std::min<int64_t>(sync_.chunk_bytes, kMaxStatePieceBytes) / static_cast<int64_t>(sizeof(float)), 1));
  options.inbox_capacity = static_cast<size_t>(std::max<int64_t>(4 * transport_cfg_.rcvhwm, 4096));
  Result<std::unique_ptr<Membership>> started = Membership::Start(transport_.get(), std::move(options));
  if (!started.ok()) return started.status().WithContext("peer " + self_id_);
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    membership_ = std::move(started).value();
  }
  Membership* m = membership_.get();
  mailbox_->set_source([m](std::chrono::milliseconds timeout) { return m->Receive(timeout); });
  return Status::OK();
}

void PeerGroup::AdoptView(uint64_t view_id) {
  if (!membership_ || view_id <= adopted_view_) return;
  const View v = membership_->view();
  if (v.id != view_id) return;
  adopted_view_ = view_id;
  for (const ViewMember& m : v.members) {
    if (m.id == self_id_) continue;
    if (PeerState* known = peers_->Find(m.id)) {
      // Membership admits a peer that said Bye only when it is back as a new
      // incarnation (a restart): it is no longer gone.
      known->departed = false;
      continue;
    }
    peers_->Add(m.id, membership_->EndpointOf(m.id));
    mailbox_->AddKnownSender(m.id);
  }
}

Status PeerGroup::CheckRing(const std::vector<std::string>& ring, size_t* rank) const {
  if (ring.empty()) return Status::InvalidArgument("ring all-reduce: the ring is empty (it must include this peer)");
  for (size_t i = 0; i < ring.size(); ++i) {
    if (i > 0 && ring[i] <= ring[i - 1]) {
      return Status::InvalidArgument("ring all-reduce: ring ids must be sorted and distinct, got \"" + ring[i] +
                                     "\" after \"" + ring[i - 1] + "\"");
    }
    if (!std::binary_search(peer_ids_.begin(), peer_ids_.end(), ring[i]) && peers_->Find(ring[i]) == nullptr) {
      return Status::InvalidArgument("ring all-reduce: \"" + ring[i] + "\" is not in the cluster (" +
                                     JoinIds(peer_ids_) + ")");
    }
  }
  const auto it = std::find(ring.begin(), ring.end(), self_id_);
  if (it == ring.end()) {
    return Status::InvalidArgument("ring all-reduce: this peer (" + self_id_ + ") is not in the ring (" +
                                   JoinIds(ring) + ")");
  }
  *rank = static_cast<size_t>(it - ring.begin());
  return Status::OK();
}

Status PeerGroup::CheckTag(uint64_t view_id, uint64_t round) const {
  const RoundTag tag{view_id, round};
  if (!last_tag_) return Status::OK();
  const RoundTag last{last_tag_->first, last_tag_->second};
  if (tag > last) return Status::OK();
  return Status::InvalidArgument("ring all-reduce (" + tag.ToString() + "): the tag must come after the last one (" +
                                 last.ToString() + "); a failed round is redone under a new tag, never the old one");
}

Result<bool> PeerGroup::BeginRingRound(size_t buf_elems, const std::vector<std::string>& ring, uint64_t view_id,
                                       uint64_t round, const std::string& what, RingRound* out) {
  if (shut_down_) return Status::Aborted("peer " + self_id_ + ": " + what + " after Shutdown");
  AdoptView(view_id);
  MESHTRAIN_RETURN_IF_ERROR(CheckRing(ring, &out->rank));
  MESHTRAIN_RETURN_IF_ERROR(CheckTag(view_id, round));
  const RoundTag tag{view_id, round};
  const std::string context = what + " (" + tag.ToString() + ")";
  if (membership_ && membership_->view_id() != view_id) {
    return Status::Aborted(context + ": view " + std::to_string(view_id) + " is no longer current (now view " +
                           std::to_string(membership_->view_id()) + ")");
  }
  out->start = Clock::now();
  last_tag_ = std::make_pair(view_id, round);
  if (ring.size() == 1) {  // the sum of one buffer: no messages, no sockets
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.rounds;
    return false;
  }

  const size_t n = ring.size();
  out->layout.emplace(ring_->LayoutFor(buf_elems, n));
  if (out->layout->n_pieces() > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument(context + ": " + std::to_string(buf_elems) +
                                   " floats make more than 2^32 pieces; raise sync.chunk_bytes");
  }
  // A compressed piece is never larger than the f32 one (topk falls back to f32).
  const uint64_t piece_bytes = static_cast<uint64_t>(out->layout->segment_elems()) * sizeof(float);
  if (transport_cfg_.max_msg_bytes > 0 && piece_bytes > static_cast<uint64_t>(transport_cfg_.max_msg_bytes)) {
    return Status::InvalidArgument(context + ": pieces of " + std::to_string(piece_bytes) +
                                   " bytes exceed transport.max_msg_bytes = " +
                                   std::to_string(transport_cfg_.max_msg_bytes) +
                                   "; lower sync.chunk_bytes or raise transport.max_msg_bytes");
  }

  RingNeighbours::Setup& setup = out->setup;
  setup.transport = transport_.get();
  setup.mailbox = mailbox_.get();
  setup.peers = peers_.get();
  setup.self = self_id_;
  setup.left = ring[(out->rank + n - 1) % n];
  setup.right = ring[(out->rank + 1) % n];
  setup.tag = tag;
  setup.layout = &*out->layout;
  setup.timeout = std::chrono::milliseconds(std::max<int64_t>(sync_.timeout_ms, 1));
  if (membership_) {
    const Membership* m = membership_.get();
    setup.superseded = [m, view_id]() -> std::string {
      const uint64_t now = m->view_id();
      if (now == view_id) return {};
      return "view " + std::to_string(view_id) + " was replaced by view " + std::to_string(now) +
             " (membership changed); the round is redone in the new view";
    };
  }
  return true;
}

Status PeerGroup::RunRingRound(const RingRound& r, size_t stash_bytes, const std::function<Status()>& exchange,
                               const std::function<PeerWaits()>& waits) {
  mailbox_->BeginRound(r.setup.tag, stash_bytes);
  // Answer what came in since the last collective first: a Bye among it ends
  // this round at once, before we block sending to a peer that is gone.
  mailbox_->PumpQueued();
  AnswerHellos();
  const Status st = exchange();
  mailbox_->EndRound(st.ok());

  const PeerWaits waited = waits();
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.comm_seconds += std::chrono::duration<double>(Clock::now() - r.start).count();
  for (const auto& [peer, seconds] : waited) stats_.wait_seconds_by_peer[peer] += seconds;
  if (st.ok()) ++stats_.rounds;
  return st;
}

uint64_t PeerGroup::DirectMaxBytes(size_t ring_size) const {
  int64_t limit = ring_size == 2 ? std::max(sync_.direct_max_bytes, sync_.pair_direct_max_bytes)
                                 : sync_.direct_max_bytes;
  // The whole buffer travels as one frame: never more than a peer accepts.
  if (transport_cfg_.max_msg_bytes > 0) limit = std::min(limit, transport_cfg_.max_msg_bytes);
  return static_cast<uint64_t>(limit);
}

void PeerGroup::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (!transport_) return;
  if (membership_) membership_->Leave();  // heartbeats saying so: the others re-form at once
  for (const auto& [id, state] : peers_->all()) {
    if (state.departed) continue;
    OutgoingMessage msg;
    EncodeHeaderTo(ByeHeader(self_id_), &msg.header);
    transport_->Send(id, std::move(msg), kControlSendTimeout);  // best effort: a missed Bye looks like a crash
  }
  mailbox_->set_transport(nullptr);
  mailbox_->set_source(nullptr);
  if (gossip_links_) gossip_links_->set_transport(nullptr);
  std::unique_ptr<Membership> stopping;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);  // stats() reads it from any thread
    stopping = std::move(membership_);
    if (stopping) {  // its counts outlive it: the final metrics line is written after Shutdown
      const MembershipStats ms = stopping->stats();
      final_membership_rejected_ = ms.rejected;
      final_inbox_dropped_ = ms.inbox_dropped;
    }
  }
  stopping.reset();  // joins its thread, the transport's other reader
  std::unique_ptr<Transport> closing;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    final_transport_ = transport_->stats();
    closing = std::move(transport_);
  }
  closing.reset();  // lingers up to transport.linger_ms so the Byes get out
}

CommStats PeerGroup::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  CommStats out = stats_;
  const TransportStats t = transport_ ? transport_->stats() : final_transport_;
  out.bytes_sent = t.bytes_sent;
  out.bytes_recv = t.bytes_recv;
  out.bytes_by_peer = t.bytes_by_peer;
  out.msgs_sent = t.msgs_sent;
  if (mailbox_) {
    out.rejected = mailbox_->rejected();
    out.stale = mailbox_->stale();
    out.unhandled = mailbox_->unhandled();
    out.dropped_by_kind = mailbox_->dropped_by_kind();
  } else {
    out.dropped_by_kind = DropCounters().ByName();  // a cluster of one: the same keys, all zero
  }
  uint64_t membership_rejected = final_membership_rejected_;
  uint64_t inbox_dropped = final_inbox_dropped_;
  if (membership_) {
    const MembershipStats ms = membership_->stats();
    membership_rejected = ms.rejected;
    inbox_dropped = ms.inbox_dropped;
  }
  out.rejected += membership_rejected;
  out.dropped_by_kind["malformed_frames"] = t.malformed;
  out.dropped_by_kind["auth_refused"] = t.auth_refused;
  out.dropped_by_kind["membership"] = membership_rejected;
  out.dropped_by_kind["inbox_full"] = inbox_dropped;
  return out;
}

std::string PeerGroup::bound_endpoint() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return transport_ ? transport_->bound_endpoint() : std::string();
}

void PeerGroup::set_log_sink(LogSink sink) { drop_log_->set_sink(std::move(sink)); }

}  // namespace meshtrain
