#include "sync/drop_log.h"

#include <cstdio>

namespace meshtrain {

DropLog::DropLog(std::string self_id) : self_id_(std::move(self_id)) {
  sink_ = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); };
}

void DropLog::Dropped(const std::string& peer, const std::string& why) {
  const auto now = std::chrono::steady_clock::now();
  // Bound the table too: a flood of made-up routing ids shares one entry.
  const std::string key = peers_.size() < 1024 || peers_.count(peer) ? peer : std::string("<others>");
  PerPeer& p = peers_[key];
  if (p.logged && now - p.last < kInterval) {
    ++p.suppressed;
    return;
  }
  std::string line = "meshtrain[" + self_id_ + "]: dropped a message from " + PrintableId(key) + ": " + why;
  if (p.suppressed > 0) line += " (" + std::to_string(p.suppressed) + " more dropped since the last report)";
  line += "; further drops from this peer are reported at most once a minute";
  p.logged = true;
  p.last = now;
  p.suppressed = 0;
  if (sink_) sink_(line);
}

const char* ToString(DropKind kind) {
  switch (kind) {
    case DropKind::kBadHeader: return "bad_header";
    case DropKind::kBadVersion: return "bad_version";
    case DropKind::kUnknownType: return "unknown_type";
    case DropKind::kSenderMismatch: return "sender_mismatch";
    case DropKind::kUnknownSender: return "unknown_sender";
    case DropKind::kStaleView: return "stale_view";
    case DropKind::kStaleRound: return "stale_round";
    case DropKind::kBadExtra: return "bad_extra";
    case DropKind::kBadDType: return "bad_dtype";
    case DropKind::kChunkOutOfRange: return "chunk_out_of_range";
    case DropKind::kBadSize: return "bad_size";
    case DropKind::kBadIndex: return "bad_index";
    case DropKind::kNonFinite: return "nonfinite";
    case DropKind::kDuplicate: return "duplicate";
    case DropKind::kStashFull: return "stash_full";
    case DropKind::kUnexpectedPiece: return "unexpected_piece";
    case DropKind::kBadPiece: return "bad_piece";
    case DropKind::kCount: break;
  }
  return "?";
}

DropKind DropKindOf(RejectReason reason) {
  switch (reason) {
    case RejectReason::kBadEncoding: return DropKind::kBadHeader;
    case RejectReason::kBadVersion: return DropKind::kBadVersion;
    case RejectReason::kUnknownType: return DropKind::kUnknownType;
    case RejectReason::kSenderMismatch: return DropKind::kSenderMismatch;
    case RejectReason::kUnknownSender: return DropKind::kUnknownSender;
    case RejectReason::kStaleView: return DropKind::kStaleView;
    case RejectReason::kBadSize: return DropKind::kBadSize;
    case RejectReason::kBadDType: return DropKind::kBadDType;
    case RejectReason::kNonFinite: return DropKind::kNonFinite;
    case RejectReason::kChunkOutOfRange: return DropKind::kChunkOutOfRange;
    case RejectReason::kBadExtra: return DropKind::kBadExtra;
    case RejectReason::kBadIndex: return DropKind::kBadIndex;
    case RejectReason::kNone: break;
  }
  return DropKind::kBadPiece;  // kNone is never dropped; callers check first
}

bool IsStale(DropKind kind) { return kind == DropKind::kStaleView || kind == DropKind::kStaleRound; }

std::map<std::string, uint64_t> DropCounters::ByName() const {
  std::map<std::string, uint64_t> out;
  for (size_t i = 0; i < kDropKinds; ++i) out[ToString(static_cast<DropKind>(i))] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

std::string PrintableId(std::string_view id) {
  std::string out;
  for (unsigned char c : id) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  return out.empty() ? std::string("<empty id>") : out;
}

}  // namespace meshtrain
