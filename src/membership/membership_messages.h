// Membership's messages in wire terms (docs/membership.md, "On the wire"):
//   kHeartbeat: no payload; view_id = the sender's installed view, step = its
//     trainer step, extra = Heartbeat (its incarnation, endpoint, installed
//     view, proposal, reconciliation report with its lineage, newest replica
//     fingerprint, and member table).
//   kStateRequest: no payload; view_id = the view being reconciled, step =
//     the state's step, chunk = first piece wanted, n_chunks = pieces in all,
//     extra = StateRequest (every `stride`-th piece from `chunk` on).
//   kState: one piece of a StateSnapshot's values as f32; view_id, step as in
//     the request, chunk = piece index, n_chunks = pieces in all, extra =
//     StatePieceInfo (sizes, checksum of the whole state, the metadata).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "membership/fingerprint_ledger.h"
#include "meshtrain/membership.h"
#include "meshtrain/wire.h"

namespace meshtrain::membership_internal {

struct TableEntry {
  std::string id;
  std::string endpoint;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  uint64_t step = 0;
  bool operator==(const TableEntry&) const = default;
};

struct Heartbeat {
  uint64_t incarnation = 0;
  std::string endpoint;   // where the sender listens: how a newcomer becomes reachable
  bool started = false;   // its trainer runs: a newcomer joins rather than waits for all
  bool leaving = false;   // an orderly leave: drop it from the view now
  // With leaving: the sender completed the run; `step` is its last step and
  // `report` names its final state, which it serves while it says goodbye
  // (docs/membership.md, "The end of a run").
  bool finished = false;
  uint64_t step = 0;
  View installed;
  View proposal;
  ReplicaReport report;
  ReplicaFingerprint fingerprint;  // the newest one the sender published (view 0: none)
  std::vector<TableEntry> table;   // what the sender knows of everyone else
  bool operator==(const Heartbeat&) const = default;
};

// 2: the report carries the state's lineage (docs/membership.md, "Partitions").
// 3: the report's suspect flag and the sender's newest replica fingerprint
// (docs/agreement.md, "Replica fingerprints").
// The flag `finished` (4) came later without a new format: the layout is the
// same, and a build that does not know the flag drops such a goodbye as
// malformed, i.e. hears the finished peer fall silent, as before.
inline constexpr uint8_t kHeartbeatFormat = 3;
inline constexpr size_t kMaxTableEntries = 4096;

std::string EncodeHeartbeat(const Heartbeat& hb);
// nullopt if the bytes are not a well-formed heartbeat (truncated, trailing
// bytes, unknown format or state, more than kMaxTableEntries entries, an
// unsorted or duplicated view).
std::optional<Heartbeat> DecodeHeartbeat(std::string_view bytes);

struct StateRequest {
  uint64_t n_values = 0;      // floats in the whole state
  uint64_t piece_floats = 0;  // floats per piece (the last may be shorter)
  uint32_t stride = 1;        // ask for pieces first, first + stride, ...
  uint64_t checksum = 0;      // the state wanted
  bool operator==(const StateRequest&) const = default;
};
std::string EncodeStateRequest(const StateRequest& r);
std::optional<StateRequest> DecodeStateRequest(std::string_view bytes);

struct StatePieceInfo {
  uint64_t n_values = 0;
  uint64_t piece_floats = 0;
  uint64_t checksum = 0;
  std::string meta;  // the snapshot's metadata (small), carried by every piece
  bool operator==(const StatePieceInfo&) const = default;
};
std::string EncodeStatePieceInfo(const StatePieceInfo& info);
std::optional<StatePieceInfo> DecodeStatePieceInfo(std::string_view bytes);

// Pieces a state of `n_values` floats is cut into (at least one, even when empty).
uint64_t StatePieceCount(uint64_t n_values, uint64_t piece_floats);

Header HeartbeatHeader(const std::string& self, uint64_t view_id, uint64_t step, std::string extra);
Header StateRequestHeader(const std::string& self, uint64_t view_id, uint64_t step, uint32_t first,
                          uint32_t n_pieces, const StateRequest& r);
Header StatePieceHeader(const std::string& self, uint64_t view_id, uint64_t step, uint32_t piece, uint32_t n_pieces,
                        uint64_t n_elems, const StatePieceInfo& info);

}  // namespace meshtrain::membership_internal
