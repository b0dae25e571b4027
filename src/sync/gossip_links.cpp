#include "sync/gossip_links.h"

#include <algorithm>
#include <cstring>

#include "meshtrain/codec.h"
#include "meshtrain/membership.h"
#include "sync/float_kernels.h"

namespace meshtrain {

using Clock = std::chrono::steady_clock;

namespace {
// How long one attempt to hand a message to the transport may block before we
// look at incoming messages (a Bye) again.
constexpr std::chrono::milliseconds kSendSlice{100};
}  // namespace

GossipLinks::GossipLinks(Transport* transport, Mailbox* mailbox, const PeerTable* peers, std::string self,
                         size_t max_stored_rounds)
    : transport_(transport),
      mailbox_(mailbox),
      peers_(peers),
      self_(std::move(self)),
      max_stored_rounds_(max_stored_rounds) {}

void GossipLinks::Reject(const std::string& peer, const std::string& why) {
  ++counters_.rejected;
  mailbox_->Reject(peer, why);
}

void GossipLinks::File(Header h, IncomingMessage msg) {
  const std::optional<GossipExtra> extra = DecodeGossipExtra(h.extra);
  if (!extra) {
    Reject(h.sender, "gossip message with a malformed extra field (" + std::to_string(h.extra.size()) +
                         " bytes; expected " + std::to_string(kGossipExtraBytes) +
                         ": a known kind and a finite weight >= 0)");
    return;
  }
  PeerProgress& progress = progress_[h.sender];
  progress.heard = true;
  progress.last_heard = Clock::now();
  progress.step = std::max(progress.step, h.step);
  if (!CarriesParams(extra->kind)) {
    if (extra->kind == GossipKind::kDone) progress.done = true;
    return;
  }
  // Pushes are always f32; a round may carry a compressed change of the
  // sender's public copy (dense codecs: one value per parameter; topk: the
  // entries kept, indices checked against the model here, before it is held).
  const bool compressed = h.dtype != DType::kF32;
  const bool sparse = h.dtype == DType::kTopK;
  if (compressed && extra->kind == GossipKind::kPush) {
    Reject(h.sender, std::string("gossip push in ") + ToString(h.dtype) + "; pushes travel in f32");
    return;
  }
  if (num_params_ == 0 || (sparse ? h.n_elems > num_params_ : h.n_elems != num_params_)) {
    Reject(h.sender, std::string("gossip ") + ToString(extra->kind) + " of " + std::to_string(h.n_elems) +
                         (sparse ? " kept entries" : " parameters") + "; this peer's model has " +
                         std::to_string(num_params_));
    return;
  }
  if (sparse) {
    const Status indices = CheckTopK(msg.payload.data(), h.n_elems, num_params_);
    if (!indices.ok()) {
      Reject(h.sender, "gossip round in topk: " + indices.message());
      return;
    }
  }
  const size_t bytes = msg.payload.size();
  auto holder = std::make_shared<IncomingMessage>(std::move(msg));
  const float* z = nullptr;
  std::shared_ptr<void> owner;
  if (compressed) {
    owner = holder;  // the decoders read any alignment
  } else if (sync_internal::IsFloatAligned(holder->payload.data())) {
    // ZeroMQ may place a small frame at any offset; floats need alignment.
    z = static_cast<const float*>(holder->payload.data());
    owner = holder;
  } else {
    auto copy = std::make_shared<std::vector<float>>(bytes / sizeof(float));
    std::memcpy(copy->data(), holder->payload.data(), bytes);
    z = copy->data();
    owner = std::move(copy);
  }

  if (extra->kind == GossipKind::kPush) {
    AddPush(h, extra->weight, z);
    return;
  }
  const std::pair<uint64_t, uint64_t> tag{h.view_id, h.round};
  if (finished_round_ && tag <= *finished_round_) {
    ++counters_.late;  // its round is over: mixing it in now would break the doubly stochastic weights
    return;
  }
  RoundKey key{h.view_id, h.round, h.sender};
  if (rounds_.count(key) != 0) {
    Reject(h.sender, "duplicate gossip round " + std::to_string(h.round) + " of view " + std::to_string(h.view_id));
    return;
  }
  if (rounds_.size() >= max_stored_rounds_) {
    Reject(h.sender, "gossip round store full (" + std::to_string(rounds_.size()) + " messages held for later rounds)");
    return;
  }
  RoundMessage m{h.sender, h.step, extra->weight, z, h.dtype, h.n_elems, nullptr, 0, std::move(owner)};
  if (compressed) {
    m.payload = holder->payload.data();
    m.payload_bytes = bytes;
  }
  rounds_.emplace(std::move(key), std::move(m));
}

void GossipLinks::AddPush(const Header& h, double share, const float* z) {
  // Summed on arrival whatever its number: push-sum keeps its mass only if
  // every share is counted once, late or not.
  uint64_t& last = last_push_[h.sender];
  if (h.round <= last) ++counters_.out_of_order;
  last = std::max(last, h.round);
  ++counters_.pushes_absorbed;
  if (inbox_.weighted_sum.size() != num_params_) inbox_.weighted_sum.assign(num_params_, 0.0f);
  const auto s = static_cast<float>(share);
  double sq = 0;
  float* acc = inbox_.weighted_sum.data();
  for (size_t i = 0; i < num_params_; ++i) {
    acc[i] += s * z[i];
    sq += static_cast<double>(z[i]) * z[i];
  }
  inbox_.weight += share;
  inbox_.weighted_sq_norm += share * sq;
  ++inbox_.count;
}

PushInbox GossipLinks::TakePushes() {
  PushInbox out = std::move(inbox_);
  inbox_ = PushInbox{};
  return out;
}

namespace {
GossipPayload FloatPayload(std::shared_ptr<const std::vector<float>> values) {
  GossipPayload p;
  if (values && !values->empty()) {
    p.data = values->data();
    p.bytes = values->size() * sizeof(float);
    p.keep = std::move(values);
  }
  return p;
}
}  // namespace

bool GossipLinks::Gone(const std::string& peer) const {
  if (peers_->Departed(peer)) return true;
  return membership_ != nullptr && !membership_->view().Contains(peer);
}

std::string GossipLinks::Superseded(uint64_t view_id) const {
  if (membership_ == nullptr || view_id == 0) return {};
  const uint64_t now = membership_->view_id();
  if (now == view_id) return {};
  return "view " + std::to_string(view_id) + " was replaced by view " + std::to_string(now) + " (membership changed)";
}

bool GossipLinks::TrySend(const std::string& peer, const Header& header,
                          std::shared_ptr<const std::vector<float>> values, std::chrono::milliseconds timeout) {
  return TrySend(peer, header, FloatPayload(std::move(values)), timeout);
}

bool GossipLinks::TrySend(const std::string& peer, const Header& header, const GossipPayload& payload,
                          std::chrono::milliseconds timeout) {
  if (transport_ == nullptr || peers_->Departed(peer)) return false;
  OutgoingMessage msg;
  EncodeHeaderTo(header, &msg.header);
  if (payload.bytes > 0) {
    msg.payload = payload.data;
    msg.payload_bytes = payload.bytes;
    msg.keepalive = payload.keep;
  }
  return transport_->Send(peer, std::move(msg), std::max(timeout, std::chrono::milliseconds(1))).ok();
}

Status GossipLinks::Send(const std::string& peer, const Header& header,
                         std::shared_ptr<const std::vector<float>> values, std::chrono::milliseconds timeout,
                         uint64_t view_id) {
  return Send(peer, header, FloatPayload(std::move(values)), timeout, view_id);
}

Status GossipLinks::Send(const std::string& peer, const Header& header, const GossipPayload& payload,
                         std::chrono::milliseconds timeout, uint64_t view_id) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    if (transport_ == nullptr) return Status::Aborted("gossip: cannot send to " + Named(peer) + " after shutdown");
    if (peers_->Departed(peer)) return Status::Aborted("gossip: " + Named(peer) + " left the group (Bye)");
    const std::string superseded = Superseded(view_id);
    if (!superseded.empty()) return Status::Aborted("gossip: sending to " + Named(peer) + ": " + superseded);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (TrySend(peer, header, payload, std::clamp(left, std::chrono::milliseconds(1), kSendSlice))) return Status::OK();
    if (Clock::now() >= deadline) break;
    mailbox_->PumpQueued();  // a Bye among them ends the wait
  }
  return Status::Timeout("gossip: could not send to " + Named(peer) + " within " + std::to_string(timeout.count()) +
                         " ms: no live connection to it, or its queue stayed full");
}

Result<RoundMessage> GossipLinks::ReceiveRound(const std::string& peer, uint64_t view_id, uint64_t round,
                                               std::chrono::milliseconds timeout, double* waited) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + timeout;
  for (;;) {
    auto it = rounds_.find(RoundKey{view_id, round, peer});
    if (it != rounds_.end()) {
      RoundMessage out = std::move(it->second);
      rounds_.erase(it);
      *waited += std::chrono::duration<double>(Clock::now() - start).count();
      return out;
    }
    // Messages from one peer arrive in order: after its Bye, nothing more comes.
    if (peers_->Departed(peer)) {
      *waited += std::chrono::duration<double>(Clock::now() - start).count();
      return Status::Aborted("gossip round " + std::to_string(round) + ": neighbour " + Named(peer) +
                             " left the group (Bye) before sending its parameters");
    }
    const std::string superseded = Superseded(view_id);
    if (!superseded.empty()) {
      *waited += std::chrono::duration<double>(Clock::now() - start).count();
      return Status::Aborted("gossip round " + std::to_string(round) + " waiting for " + Named(peer) + ": " +
                             superseded + "; the round is skipped and the new view reconciled");
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline || transport_ == nullptr) {
      *waited += std::chrono::duration<double>(now - start).count();
      return Status::Timeout("gossip round " + std::to_string(round) + ": no parameters from neighbour " +
                             Named(peer) + " within " + std::to_string(timeout.count()) + " ms");
    }
    // With membership, look up at the view at least every 100 ms.
    auto wait = std::max(std::chrono::ceil<std::chrono::milliseconds>(deadline - now), std::chrono::milliseconds(1));
    if (membership_ != nullptr) wait = std::min(wait, kSendSlice);
    mailbox_->Pump(wait);
  }
}

void GossipLinks::EndRound(uint64_t view_id, uint64_t round) {
  const std::pair<uint64_t, uint64_t> tag{view_id, round};
  finished_round_ = std::max(finished_round_.value_or(tag), tag);
  auto it = rounds_.begin();
  while (it != rounds_.end() && std::make_pair(std::get<0>(it->first), std::get<1>(it->first)) <= *finished_round_) {
    ++counters_.late;
    it = rounds_.erase(it);
  }
}

void GossipLinks::Poll(std::chrono::milliseconds timeout) {
  if (transport_ == nullptr) return;
  if (mailbox_->Pump(timeout)) mailbox_->PumpQueued();
}

PeerProgress GossipLinks::Progress(const std::string& peer) const {
  auto it = progress_.find(peer);
  return it == progress_.end() ? PeerProgress{} : it->second;
}

std::string GossipLinks::Named(const std::string& peer) const {
  return "peer " + peer + " (" + peers_->EndpointOf(peer) + ")";
}

}  // namespace meshtrain
