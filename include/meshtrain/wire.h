// The wire schema (docs/protocol.md): frame 0 of every message is a msgpack
// array header, frame 1 (optional) the raw little-endian tensor payload.
// Decoding is structural (is it an 11-field header?); Validate is semantic
// (does it make sense from this sender, now, with this payload?). The wire
// layer knows nothing of sockets; the sync layer joins it to the transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain {

inline constexpr uint32_t kWireVersion = 1;
inline constexpr size_t kHeaderFields = 11;
inline constexpr size_t kMaxSenderBytes = 255;  // a ZeroMQ routing id is 1..255 bytes

enum class MessageType : uint8_t {
  kHello = 1,          // join / start barrier: "I am up", no payload
  kBye = 2,            // orderly leave: "I finished, this is not a crash", no payload
  kReduceScatter = 3,  // ring all-reduce phase 1: a partial sum of one chunk
  kAllGather = 4,      // ring all-reduce phase 2: one fully reduced chunk
  kHeartbeat = 5,      // membership: member table in `extra`, no payload
  kStateRequest = 6,   // "send me your parameters/optimizer state", no payload
  kState = 7,          // state sync reply: a chunk of the flat state buffer
  kGossip = 8,         // gossip / push-sum exchange of parameters
};
inline constexpr uint8_t kMaxMessageType = 8;  // later issues add types and raise this

enum class DType : uint8_t { kNone = 0, kF32 = 1, kF16 = 2, kBF16 = 3, kI8 = 4, kTopK = 5 };
inline constexpr uint8_t kMaxDType = 5;

struct Header {
  uint32_t version = kWireVersion;
  MessageType type = MessageType::kHello;
  std::string sender;      // peer id; must equal the ZeroMQ routing id it arrived with
  uint64_t view_id = 0;    // membership view the message belongs to
  uint64_t round = 0;      // collective round within the view
  uint64_t step = 0;       // sender's optimizer step
  uint32_t chunk = 0;      // which chunk of the flat buffer (chunked types)
  uint32_t n_chunks = 0;   // how many chunks the buffer is cut into
  DType dtype = DType::kNone;
  uint64_t n_elems = 0;    // element count of the payload (for kTopK: number of kept entries)
  std::string extra;       // opaque bytes for type-specific fields (msgpack bin)
};

enum class RejectReason {
  kNone = 0,
  kBadEncoding,      // frame 0 is not a well-formed 11-field header
  kBadVersion,       // version != kWireVersion
  kUnknownType,      // type not in MessageType
  kSenderMismatch,   // header sender != ZeroMQ routing id
  kUnknownSender,    // sender not in rules.known_senders
  kStaleView,        // view-scoped message from an older view
  kBadSize,          // payload bytes != PayloadBytes(dtype, n_elems), n_elems > max, payload where none belongs
  kBadDType,         // unknown dtype, or a dtype the type cannot carry
  kNonFinite,        // NaN or Inf in a tensor payload (or a bad i8 scale)
  kChunkOutOfRange,  // chunk >= n_chunks
  kBadExtra,         // extra longer than rules.max_extra_bytes
  kBadIndex,         // kTopK index out of range or not strictly increasing
};

// Encodes `h` as the 11-element msgpack array (integers in their smallest form).
std::string EncodeHeader(const Header& h);
// Same, into `out` (cleared first; reuse it to avoid an allocation per message).
void EncodeHeaderTo(const Header& h, std::string* out);

// Structural decode: msgpack well-formed, exactly one array of exactly 11, each
// field the right msgpack type and in range, nothing after it. The version is
// the first field and checked first, so a future version fails as
// "unsupported wire version 9" rather than as a shape error. Allocation-free
// apart from the two strings of the returned Header. Never throws. On error
// the Status is Corruption and, if `why` is given, *why is kBadVersion or
// kBadEncoding (kNone on success).
Result<Header> DecodeHeader(const void* data, size_t size, RejectReason* why = nullptr);

// Payload size in bytes for `n_elems` elements of `dtype`:
// f32 4n; f16, bf16 2n; i8 4 + n (one f32 scale, then n int8); topk 8n (n u32
// indices, then n f32 values); none 0. Saturates instead of overflowing.
size_t PayloadBytes(DType dtype, uint64_t n_elems);

// Types whose payload is a tensor (dtype != kNone allowed, values checked).
bool CarriesTensor(MessageType type);
// Types bound to a (view, round): one tagged with an older view is stale.
bool IsViewScoped(MessageType type);
// Types that carry a chunk index (chunk < n_chunks required).
bool IsChunked(MessageType type);
bool IsKnownType(MessageType type);
bool IsKnownDType(DType dtype);
const char* ToString(MessageType type);
const char* ToString(DType dtype);

struct ValidationRules {
  // Peers we accept messages from (the current view, plus anyone else we know).
  // kHello may come from anyone not listed when allow_unknown_hello is true (a join request).
  std::vector<std::string> known_senders;
  bool allow_unknown_hello = true;
  uint64_t max_elems = 0;          // largest n_elems accepted (the model's parameter count)
  uint64_t current_view = 0;       // view-scoped messages with view_id < this are stale
  size_t max_extra_bytes = 1 << 20;
  uint64_t topk_dense_elems = 0;   // kTopK: indices must be < this (0 = max_elems)
  bool check_finite = true;        // NaN/Inf scan of tensor payloads
};


// Semantic check of a decoded header against the routing id it came with, its
// payload and the rules. Order: version, type, sender, view, dtype, chunk,
// sizes, values. Returns the first reason found, kNone if acceptable.
RejectReason Validate(const Header& h, const std::string& routing_id, const void* payload,
                      size_t payload_bytes, const ValidationRules& rules);

const char* ToString(RejectReason reason);

}  // namespace meshtrain
