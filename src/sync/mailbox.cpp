#include "sync/mailbox.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "sync/float_kernels.h"

namespace meshtrain {

Mailbox::Mailbox(Transport* transport, ValidationRules rules, size_t min_stash_bytes, DropLog* log)
    : transport_(transport), rules_(std::move(rules)), stash_budget_(min_stash_bytes), log_(log) {}

bool Mailbox::Pump(std::chrono::milliseconds timeout) {
  if (transport_ == nullptr) return false;
  Result<IncomingMessage> got = source_ ? source_(timeout) : transport_->Receive(timeout);
  if (!got.ok()) return false;
  IncomingMessage msg = std::move(got).value();

  RejectReason decode_why = RejectReason::kNone;
  Result<Header> header = DecodeHeader(msg.header.data(), msg.header.size(), &decode_why);
  if (!header.ok()) {
    Reject(msg.from, decode_why == RejectReason::kBadVersion ? DropKind::kBadVersion : DropKind::kBadHeader,
           header.status().message());
    return true;
  }
  const void* payload = msg.has_payload && msg.payload.size() > 0 ? msg.payload.data() : nullptr;
  const size_t payload_bytes = payload != nullptr ? msg.payload.size() : 0;
  const RejectReason why = Validate(header.value(), msg.from, payload, payload_bytes, rules_);
  if (why == RejectReason::kStaleView) {
    CountStale(DropKind::kStaleView);  // expected after a view change; not worth a log line
    return true;
  }
  if (why != RejectReason::kNone) {
    Reject(msg.from, DropKindOf(why), std::string(ToString(why)) + " (" + DescribeHeader(header.value()) + ")");
    return true;
  }
  switch (header->type) {
    case MessageType::kHello:
    case MessageType::kBye:
      if (on_control_) on_control_(header.value());
      break;
    case MessageType::kReduceScatter:
    case MessageType::kAllGather:
      File(std::move(header).value(), std::move(msg));
      break;
    case MessageType::kGossip:
      if (on_gossip_) {
        on_gossip_(std::move(header).value(), std::move(msg));
      } else {
        unhandled_.fetch_add(1, std::memory_order_relaxed);
      }
      break;
    default:
      unhandled_.fetch_add(1, std::memory_order_relaxed);  // a later layer's message (membership, gossip)
      break;
  }
  return true;
}

void Mailbox::AddKnownSender(const std::string& id) {
  if (std::find(rules_.known_senders.begin(), rules_.known_senders.end(), id) == rules_.known_senders.end()) {
    rules_.known_senders.push_back(id);
  }
}

void Mailbox::PumpQueued(size_t limit) {
  for (size_t i = 0; i < limit && Pump(std::chrono::milliseconds(0)); ++i) {
  }
}

void Mailbox::File(Header header, IncomingMessage msg) {
  const RoundTag tag{header.view_id, header.round};
  if (floor_ && tag <= *floor_) {
    CountStale(DropKind::kStaleRound);
    return;
  }
  Key key{tag, header.type, header.chunk, header.sender};
  if (stash_.count(key) != 0) {
    Reject(header.sender, DropKind::kDuplicate, "duplicate piece (" + DescribeHeader(header) + ")");
    return;
  }
  const size_t payload_bytes = msg.has_payload ? msg.payload.size() : 0;
  const size_t cost = payload_bytes + msg.header.size() + kPieceOverheadBytes;
  size_t& held = stashed_bytes_[header.sender];
  if (held + cost > SenderBudget(header, cost)) {
    Reject(header.sender, DropKind::kStashFull,
           "stash full: " + std::to_string(held) + " bytes from this peer already held for later steps (" +
               DescribeHeader(header) + ")");
    return;
  }

  StashedPiece piece;
  piece.cost_bytes = cost;
  auto holder = std::make_shared<IncomingMessage>(std::move(msg));
  if (payload_bytes > 0) {
    void* data = holder->payload.data();
    if (sync_internal::IsFloatAligned(data)) {
      // The normal case: reduce straight out of ZeroMQ's buffer.
      piece.data = static_cast<float*>(data);
      piece.owner = holder;
    } else {
      // ZeroMQ packs small frames into a shared receive buffer at any offset;
      // a float* there would be misaligned, so take an aligned copy (rounded
      // up: f16 and i8 payloads need not be a whole number of floats).
      auto copy = std::make_shared<std::vector<float>>((payload_bytes + sizeof(float) - 1) / sizeof(float));
      std::memcpy(copy->data(), data, payload_bytes);
      piece.data = copy->data();
      piece.owner = std::move(copy);
    }
  }
  piece.header = std::move(header);
  held += cost;
  stash_.emplace(std::move(key), std::move(piece));
}

void Mailbox::BeginRound(RoundTag tag, size_t buffer_bytes) {
  current_ = tag;
  rules_.current_view = std::max(rules_.current_view, tag.view);
  stash_budget_ = std::max(stash_budget_, 2 * buffer_bytes);
  DropUpTo(tag, /*inclusive=*/false, /*as_stale=*/true);
}

void Mailbox::EndRound(bool completed) {
  if (!current_) return;
  floor_ = current_;
  DropUpTo(*current_, /*inclusive=*/true, /*as_stale=*/!completed);
  current_.reset();
}

void Mailbox::DropUpTo(RoundTag bound, bool inclusive, bool as_stale) {
  auto it = stash_.begin();
  while (it != stash_.end() && (it->first.tag < bound || (inclusive && it->first.tag == bound))) {
    if (as_stale) {
      CountStale(DropKind::kStaleRound);
    } else {
      Reject(it->first.sender, DropKind::kUnexpectedPiece,
             "piece nobody asked for (" + DescribeHeader(it->second.header) + ")");
    }
    const auto next = std::next(it);
    Unstash(it);
    it = next;
  }
}

StashedPiece Mailbox::Unstash(std::map<Key, StashedPiece>::iterator it) {
  stashed_bytes_[it->first.sender] -= it->second.cost_bytes;
  StashedPiece out = std::move(it->second);
  stash_.erase(it);
  return out;
}

size_t Mailbox::SenderBudget(const Header& header, size_t piece_cost) const {
  // n_chunks is a 32-bit count and a piece at most max_msg_bytes: no overflow.
  const size_t declared_round = static_cast<size_t>(std::max<uint32_t>(header.n_chunks, 1)) * piece_cost;
  return std::max(stash_budget_, 2 * declared_round);
}

std::optional<StashedPiece> Mailbox::Take(RoundTag tag, MessageType type, uint32_t piece,
                                          const std::string& sender) {
  auto it = stash_.find(Key{tag, type, piece, sender});
  if (it == stash_.end()) return std::nullopt;
  return Unstash(it);
}

void Mailbox::Reject(const std::string& peer, const std::string& why) { Reject(peer, DropKind::kBadPiece, why); }

void Mailbox::Reject(const std::string& peer, DropKind kind, const std::string& why) {
  drops_.Add(kind);
  rejected_.fetch_add(1, std::memory_order_relaxed);
  if (log_ != nullptr) log_->Dropped(peer, why);
}

void Mailbox::CountStale(DropKind kind) {
  drops_.Add(kind);
  stale_.fetch_add(1, std::memory_order_relaxed);
}

std::string DescribeHeader(const Header& h) {
  std::string s = std::string(ToString(h.type)) + " view " + std::to_string(h.view_id) + " round " +
                  std::to_string(h.round);
  if (h.n_chunks != 0) s += ", piece " + std::to_string(h.chunk) + " of " + std::to_string(h.n_chunks);
  if (h.dtype != DType::kNone) s += ", " + std::to_string(h.n_elems) + " " + ToString(h.dtype);
  return s;
}

}  // namespace meshtrain
