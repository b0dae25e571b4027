#include "membership/membership_messages.h"

#include <algorithm>

#include "common/byte_io.h"

namespace meshtrain::membership_internal {
namespace {

constexpr uint8_t kStartedFlag = 1;
constexpr uint8_t kLeavingFlag = 2;
constexpr uint8_t kFinishedFlag = 4;
constexpr size_t kMaxMetaBytes = 64 * 1024;

void PutView(ByteWriter& w, const View& v) {
  w.U64(v.id);
  w.U16(static_cast<uint16_t>(std::min(v.members.size(), kMaxTableEntries)));
  for (size_t i = 0; i < v.members.size() && i < kMaxTableEntries; ++i) {
    w.ShortStr(v.members[i].id);
    w.U64(v.members[i].incarnation);
  }
}

// A state request and every state piece open alike: u8 format (1), u64 floats
// in the whole state, u64 floats per piece (docs/membership.md, "On the wire").
constexpr uint8_t kTransferFormat = 1;

void PutTransferShape(ByteWriter& w, uint64_t n_values, uint64_t piece_floats) {
  w.U8(kTransferFormat);
  w.U64(n_values);
  w.U64(piece_floats);
}

// False for another format or a piece size of 0.
bool GetTransferShape(ByteReader& r, uint64_t* n_values, uint64_t* piece_floats) {
  if (r.U8() != kTransferFormat) return false;
  *n_values = r.U64();
  *piece_floats = r.U64();
  return !r.failed() && *piece_floats != 0;
}

bool GetView(ByteReader& r, View* v) {
  v->id = r.U64();
  const uint16_t n = r.U16();
  if (r.failed() || n > kMaxTableEntries) return false;
  v->members.clear();
  for (uint16_t i = 0; i < n && !r.failed(); ++i) {
    ViewMember m;
    m.id = r.ShortStr();
    m.incarnation = r.U64();
    if (m.id.empty()) return false;
    // A view is sorted by id, each id once: anything else is not ours.
    if (!v->members.empty() && m.id <= v->members.back().id) return false;
    v->members.push_back(std::move(m));
  }
  return !r.failed();
}

// A report's lineage: u64 primary, u8 off_primary, u16 n + n x str id (sorted, unique).
void PutLineage(ByteWriter& w, const Lineage& l) {
  w.U64(l.primary);
  w.U8(l.off_primary ? 1 : 0);
  w.U16(static_cast<uint16_t>(std::min(l.members.size(), kMaxTableEntries)));
  for (size_t i = 0; i < l.members.size() && i < kMaxTableEntries; ++i) w.ShortStr(l.members[i]);
}

bool GetLineage(ByteReader& r, Lineage* l) {
  l->primary = r.U64();
  const uint8_t off = r.U8();
  const uint16_t n = r.U16();
  if (r.failed() || off > 1 || n > kMaxTableEntries) return false;
  l->off_primary = off == 1;
  l->members.clear();
  for (uint16_t i = 0; i < n && !r.failed(); ++i) {
    std::string id = r.ShortStr();
    if (id.empty() || (!l->members.empty() && id <= l->members.back())) return false;
    l->members.push_back(std::move(id));
  }
  return !r.failed();
}

}  // namespace

std::string EncodeHeartbeat(const Heartbeat& hb) {
  std::string out;
  ByteWriter w(&out);
  w.U8(kHeartbeatFormat);
  w.U64(hb.incarnation);
  w.ShortStr(hb.endpoint);
  w.U8(static_cast<uint8_t>((hb.started ? kStartedFlag : 0) | (hb.leaving ? kLeavingFlag : 0) |
                            (hb.finished ? kFinishedFlag : 0)));
  w.U64(hb.step);
  PutView(w, hb.installed);
  PutView(w, hb.proposal);
  w.U64(hb.report.view_id);
  w.U64(hb.report.step);
  w.U64(hb.report.checksum);
  PutLineage(w, hb.report.lineage);
  w.U8(hb.report.suspect ? 1 : 0);
  w.U64(hb.fingerprint.view_id);
  w.U64(hb.fingerprint.step);
  w.U64(hb.fingerprint.value);
  const size_t n = std::min(hb.table.size(), kMaxTableEntries);
  w.U16(static_cast<uint16_t>(n));
  for (size_t i = 0; i < n; ++i) {
    const TableEntry& e = hb.table[i];
    w.ShortStr(e.id);
    w.ShortStr(e.endpoint);
    w.U64(e.incarnation);
    w.U8(static_cast<uint8_t>(e.state));
    w.U64(e.step);
  }
  return out;
}

std::optional<Heartbeat> DecodeHeartbeat(std::string_view bytes) {
  ByteReader r(bytes);
  if (r.U8() != kHeartbeatFormat) return std::nullopt;
  Heartbeat hb;
  hb.incarnation = r.U64();
  hb.endpoint = r.ShortStr();
  const uint8_t flags = r.U8();
  if ((flags & ~(kStartedFlag | kLeavingFlag | kFinishedFlag)) != 0) return std::nullopt;
  hb.started = (flags & kStartedFlag) != 0;
  hb.leaving = (flags & kLeavingFlag) != 0;
  hb.finished = (flags & kFinishedFlag) != 0;
  if (hb.finished && !hb.leaving) return std::nullopt;  // only a goodbye says the run is over
  hb.step = r.U64();
  if (!GetView(r, &hb.installed) || !GetView(r, &hb.proposal)) return std::nullopt;
  hb.report.view_id = r.U64();
  hb.report.step = r.U64();
  hb.report.checksum = r.U64();
  if (!GetLineage(r, &hb.report.lineage)) return std::nullopt;
  const uint8_t suspect = r.U8();
  if (suspect > 1) return std::nullopt;
  hb.report.suspect = suspect == 1;
  hb.fingerprint.view_id = r.U64();
  hb.fingerprint.step = r.U64();
  hb.fingerprint.value = r.U64();
  const uint16_t n = r.U16();
  if (r.failed() || n > kMaxTableEntries) return std::nullopt;
  hb.table.reserve(n);
  for (uint16_t i = 0; i < n && !r.failed(); ++i) {
    TableEntry e;
    e.id = r.ShortStr();
    e.endpoint = r.ShortStr();
    e.incarnation = r.U64();
    const uint8_t state = r.U8();
    e.step = r.U64();
    if (state > static_cast<uint8_t>(MemberState::kLeft) || e.id.empty()) return std::nullopt;
    e.state = static_cast<MemberState>(state);
    hb.table.push_back(std::move(e));
  }
  if (r.failed() || !r.done()) return std::nullopt;
  return hb;
}

std::string EncodeStateRequest(const StateRequest& req) {
  std::string out;
  ByteWriter w(&out);
  PutTransferShape(w, req.n_values, req.piece_floats);
  w.U32(req.stride);
  w.U64(req.checksum);
  return out;
}

std::optional<StateRequest> DecodeStateRequest(std::string_view bytes) {
  ByteReader r(bytes);
  StateRequest req;
  if (!GetTransferShape(r, &req.n_values, &req.piece_floats)) return std::nullopt;
  req.stride = r.U32();
  req.checksum = r.U64();
  if (r.failed() || !r.done() || req.stride == 0) return std::nullopt;
  return req;
}

std::string EncodeStatePieceInfo(const StatePieceInfo& info) {
  std::string out;
  ByteWriter w(&out);
  PutTransferShape(w, info.n_values, info.piece_floats);
  w.U64(info.checksum);
  w.Str(info.meta);
  return out;
}

std::optional<StatePieceInfo> DecodeStatePieceInfo(std::string_view bytes) {
  ByteReader r(bytes);
  StatePieceInfo info;
  if (!GetTransferShape(r, &info.n_values, &info.piece_floats)) return std::nullopt;
  info.checksum = r.U64();
  info.meta = r.Str(kMaxMetaBytes);
  if (r.failed() || !r.done()) return std::nullopt;
  return info;
}

uint64_t StatePieceCount(uint64_t n_values, uint64_t piece_floats) {
  if (piece_floats == 0) return 1;
  return std::max<uint64_t>(1, (n_values + piece_floats - 1) / piece_floats);
}

Header HeartbeatHeader(const std::string& self, uint64_t view_id, uint64_t step, std::string extra) {
  Header h;
  h.type = MessageType::kHeartbeat;
  h.sender = self;
  h.view_id = view_id;
  h.step = step;
  h.extra = std::move(extra);
  return h;
}

Header StateRequestHeader(const std::string& self, uint64_t view_id, uint64_t step, uint32_t first,
                          uint32_t n_pieces, const StateRequest& req) {
  Header h;
  h.type = MessageType::kStateRequest;
  h.sender = self;
  h.view_id = view_id;
  h.step = step;
  h.chunk = first;
  h.n_chunks = n_pieces;
  h.extra = EncodeStateRequest(req);
  return h;
}

Header StatePieceHeader(const std::string& self, uint64_t view_id, uint64_t step, uint32_t piece, uint32_t n_pieces,
                        uint64_t n_elems, const StatePieceInfo& info) {
  Header h;
  h.type = MessageType::kState;
  h.sender = self;
  h.view_id = view_id;
  h.step = step;
  h.chunk = piece;
  h.n_chunks = n_pieces;
  h.dtype = DType::kF32;
  h.n_elems = n_elems;
  h.extra = EncodeStatePieceInfo(info);
  return h;
}

}  // namespace meshtrain::membership_internal
