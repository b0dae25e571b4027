// The sync layer's messages in wire terms (docs/ring.md, "On the wire"):
//   kReduceScatter / kAllGather: one piece of the buffer, whatever the codec.
//     chunk = global piece index, n_chunks = number of pieces, dtype and
//     n_elems = the payload's (f32 and the piece size for the f32 ring), and
//     extra = PieceExtra (how the sender cut the buffer, the non-finite
//     marker, in which case there is no payload and n_elems = 0, and for a
//     compression codec its exact tail; docs/compression.md, "On the wire").
//   kHello: "I am up"; extra = one byte of HelloFlags, so that the start
//     barrier ends on both sides (see PeerGroup::WaitForPeers).
//   kBye: "I am leaving on purpose".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshtrain/ring_allreduce.h"
#include "meshtrain/wire.h"
#include "sync/round_tag.h"

namespace meshtrain {

// u64 total, u64 segment (little-endian), u8 flags: bit 0 non-finite, bit 1
// compressed. Only a compressed piece goes on: u32 exact tail, then the f32
// values of the tail floats inside this piece. The f32 ring's extra is the
// 17 bytes alone, so a peer that compresses and one that does not tell each
// other apart instead of misreading the pieces.
struct PieceExtra {
  uint64_t total_elems = 0;    // length of the whole buffer being reduced (body + exact tail)
  uint64_t segment_elems = 0;  // the sender's segment size
  bool non_finite = false;     // the piece holds NaN/Inf: no values travel
  bool compressed = false;     // sent by a compression codec (RingWire::compressed)
  uint32_t exact_tail = 0;     // compressed: floats at the end of the buffer that never go through the codec
  std::vector<float> tail = {};  // compressed: this piece's share of them
};
inline constexpr size_t kPieceExtraBytes = 17;            // the f32 ring's
inline constexpr size_t kCompressedPieceExtraFixedBytes = 21;  // a compressed piece's, before its tail

struct HelloFlags {
  bool heard_you = false;  // the sender has heard from the receiver
  bool got_yours = false;  // the sender knows the receiver has heard from it
};
std::string EncodeHelloFlags(HelloFlags flags);
// Unknown bits and a missing byte read as "nothing known yet".
HelloFlags DecodeHelloFlags(std::string_view extra);

std::string EncodePieceExtra(const PieceExtra& extra);
// nullopt if malformed (wrong length for its flags, unknown flags).
std::optional<PieceExtra> DecodePieceExtra(std::string_view bytes);

MessageType ToMessageType(RingPhase phase);
const char* PhaseName(RingPhase phase);  // "reduce-scatter" | "all-gather"

// An f32 piece of `n_elems` floats (0 for the marker); set dtype and n_elems
// afterwards for another payload.
Header PieceHeader(const std::string& self, RoundTag tag, RingPhase phase, uint32_t piece, uint32_t n_pieces,
                   uint64_t n_elems, const PieceExtra& extra);
Header HelloHeader(const std::string& self, HelloFlags flags);
Header ByeHeader(const std::string& self);

}  // namespace meshtrain
