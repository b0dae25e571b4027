// The sync layer's messages in wire terms (docs/ring.md, "On the wire"):
//   kReduceScatter / kAllGather: one piece of the buffer. chunk = global piece
//     index, n_chunks = number of pieces, dtype f32, n_elems = piece size, and
//     extra = PieceExtra (how the sender cut the buffer, plus the non-finite
//     marker, in which case there is no payload and n_elems = 0).
//   kHello: "I am up"; extra = one byte of HelloFlags, so that the start
//     barrier ends on both sides (see PeerGroup::WaitForPeers).
//   kBye: "I am leaving on purpose".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "meshtrain/ring_allreduce.h"
#include "meshtrain/wire.h"
#include "sync/round_tag.h"

namespace meshtrain {

struct PieceExtra {
  uint64_t total_elems = 0;    // length of the whole buffer being reduced
  uint64_t segment_elems = 0;  // the sender's segment size
  bool non_finite = false;     // the piece holds NaN/Inf: no values travel
};
inline constexpr size_t kPieceExtraBytes = 17;  // u64 total, u64 segment (little-endian), u8 flags

struct HelloFlags {
  bool heard_you = false;  // the sender has heard from the receiver
  bool got_yours = false;  // the sender knows the receiver has heard from it
};
std::string EncodeHelloFlags(HelloFlags flags);
// Unknown bits and a missing byte read as "nothing known yet".
HelloFlags DecodeHelloFlags(std::string_view extra);

std::string EncodePieceExtra(const PieceExtra& extra);
std::optional<PieceExtra> DecodePieceExtra(std::string_view bytes);

MessageType ToMessageType(RingPhase phase);
const char* PhaseName(RingPhase phase);  // "reduce-scatter" | "all-gather"

Header PieceHeader(const std::string& self, RoundTag tag, RingPhase phase, uint32_t piece, uint32_t n_pieces,
                   uint64_t n_elems, const PieceExtra& extra);
Header HelloHeader(const std::string& self, HelloFlags flags);
Header ByeHeader(const std::string& self);

}  // namespace meshtrain
