// Validate: the semantic gate every received message passes before the sync
// layer may touch it. Cheap checks first (header fields), payload scans last.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "meshtrain/wire.h"
#include "payload_scan.h"

namespace meshtrain {
namespace {

// Chunked types need chunk < n_chunks; the rest may leave both at 0.
bool ChunkInRange(const Header& h) {
  if (IsChunked(h.type)) return h.chunk < h.n_chunks;
  return h.n_chunks == 0 ? h.chunk == 0 : h.chunk < h.n_chunks;
}

bool IsKnownSender(const std::string& sender, const ValidationRules& rules) {
  return std::find(rules.known_senders.begin(), rules.known_senders.end(), sender) != rules.known_senders.end();
}

RejectReason CheckPayloadValues(const Header& h, const void* payload, const ValidationRules& rules) {
  using namespace wire_internal;
  const auto n = static_cast<size_t>(h.n_elems);
  const auto* bytes = static_cast<const unsigned char*>(payload);
  switch (h.dtype) {
    case DType::kF32:
      return !rules.check_finite || AllFiniteF32(payload, n) ? RejectReason::kNone : RejectReason::kNonFinite;
    case DType::kF16:
      return !rules.check_finite || AllFiniteF16(payload, n) ? RejectReason::kNone : RejectReason::kNonFinite;
    case DType::kBF16:
      return !rules.check_finite || AllFiniteBF16(payload, n) ? RejectReason::kNone : RejectReason::kNonFinite;
    case DType::kI8: {
      // Checked even without check_finite, since the scale multiplies everything:
      // finite and at most FLT_MAX / 127 (a sender's is max|x| / 127), else q = +-127
      // decodes to +-inf (found by fuzz_wire).
      const uint32_t bits = uint32_t{bytes[0]} | uint32_t{bytes[1]} << 8 | uint32_t{bytes[2]} << 16 |
                            uint32_t{bytes[3]} << 24;
      float scale;
      std::memcpy(&scale, &bits, sizeof(scale));
      constexpr float kMaxScale = std::numeric_limits<float>::max() / 127.0f;
      return std::fabs(scale) <= kMaxScale ? RejectReason::kNone : RejectReason::kNonFinite;
    }
    case DType::kTopK: {
      const uint64_t bound = rules.topk_dense_elems != 0 ? rules.topk_dense_elems : rules.max_elems;
      if (!IndicesIncreasingBelow(payload, n, bound)) return RejectReason::kBadIndex;
      return !rules.check_finite || AllFiniteF32(bytes + 4 * n, n) ? RejectReason::kNone : RejectReason::kNonFinite;
    }
    case DType::kNone: return RejectReason::kNone;
  }
  return RejectReason::kBadDType;
}

}  // namespace

RejectReason Validate(const Header& h, const std::string& routing_id, const void* payload, size_t payload_bytes,
                      const ValidationRules& rules) {
  assert(payload != nullptr || payload_bytes == 0);
  if (h.version != kWireVersion) return RejectReason::kBadVersion;
  if (!IsKnownType(h.type)) return RejectReason::kUnknownType;
  if (h.sender != routing_id) return RejectReason::kSenderMismatch;
  const bool join_request = h.type == MessageType::kHello && rules.allow_unknown_hello;
  if (!join_request && !IsKnownSender(h.sender, rules)) return RejectReason::kUnknownSender;
  if (IsViewScoped(h.type) && h.view_id < rules.current_view) return RejectReason::kStaleView;
  if (h.extra.size() > rules.max_extra_bytes) return RejectReason::kBadExtra;

  if (!IsKnownDType(h.dtype)) return RejectReason::kBadDType;
  if (!CarriesTensor(h.type)) {
    // Control messages: everything they say is in the header.
    if (h.dtype != DType::kNone) return RejectReason::kBadDType;
    if (h.n_elems != 0 || payload_bytes != 0) return RejectReason::kBadSize;
    return ChunkInRange(h) ? RejectReason::kNone : RejectReason::kChunkOutOfRange;
  }
  if (h.dtype == DType::kNone) return RejectReason::kBadDType;
  if (!ChunkInRange(h)) return RejectReason::kChunkOutOfRange;
  if (h.n_elems > rules.max_elems) return RejectReason::kBadSize;
  if (payload_bytes != PayloadBytes(h.dtype, h.n_elems)) return RejectReason::kBadSize;
  return CheckPayloadValues(h, payload, rules);
}

const char* ToString(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone: return "ok";
    case RejectReason::kBadEncoding: return "bad encoding";
    case RejectReason::kBadVersion: return "unsupported wire version";
    case RejectReason::kUnknownType: return "unknown message type";
    case RejectReason::kSenderMismatch: return "sender does not match routing id";
    case RejectReason::kUnknownSender: return "unknown sender";
    case RejectReason::kStaleView: return "stale view";
    case RejectReason::kBadSize: return "payload size mismatch";
    case RejectReason::kBadDType: return "bad dtype for message type";
    case RejectReason::kNonFinite: return "non-finite value in payload";
    case RejectReason::kChunkOutOfRange: return "chunk out of range";
    case RejectReason::kBadExtra: return "extra field too long";
    case RejectReason::kBadIndex: return "top-k index out of range or out of order";
  }
  return "unknown reason";
}

}  // namespace meshtrain
