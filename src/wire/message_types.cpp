// What each message type and dtype may carry: payload sizes and the per-type
// rules Validate applies (docs/protocol.md, "Message types").
#include <limits>

#include "meshtrain/wire.h"

namespace meshtrain {
namespace {

// n * per_elem + fixed, saturating at SIZE_MAX so a hostile n_elems can never
// wrap around to a size that matches a small payload.
size_t SaturatingBytes(uint64_t n, uint64_t per_elem, uint64_t fixed) {
  constexpr uint64_t kMax = std::numeric_limits<size_t>::max();
  if (per_elem != 0 && n > (kMax - fixed) / per_elem) return static_cast<size_t>(kMax);
  return static_cast<size_t>(n * per_elem + fixed);
}

}  // namespace

size_t PayloadBytes(DType dtype, uint64_t n_elems) {
  switch (dtype) {
    case DType::kNone: return 0;
    case DType::kF32: return SaturatingBytes(n_elems, 4, 0);
    case DType::kF16:
    case DType::kBF16: return SaturatingBytes(n_elems, 2, 0);
    case DType::kI8: return SaturatingBytes(n_elems, 1, 4);
    case DType::kTopK: return SaturatingBytes(n_elems, 8, 0);
  }
  return 0;
}

bool IsKnownType(MessageType type) {
  const auto v = static_cast<uint8_t>(type);
  return v >= 1 && v <= kMaxMessageType;
}

bool IsKnownDType(DType dtype) { return static_cast<uint8_t>(dtype) <= kMaxDType; }

bool CarriesTensor(MessageType type) {
  switch (type) {
    case MessageType::kReduceScatter:
    case MessageType::kAllGather:
    case MessageType::kState:
    case MessageType::kGossip: return true;
    default: return false;
  }
}

bool IsViewScoped(MessageType type) {
  switch (type) {
    case MessageType::kReduceScatter:
    case MessageType::kAllGather:
    case MessageType::kState: return true;
    default: return false;
  }
}

bool IsChunked(MessageType type) {
  switch (type) {
    case MessageType::kReduceScatter:
    case MessageType::kAllGather:
    case MessageType::kState: return true;
    default: return false;
  }
}

const char* ToString(MessageType type) {
  switch (type) {
    case MessageType::kHello: return "hello";
    case MessageType::kBye: return "bye";
    case MessageType::kReduceScatter: return "reduce_scatter";
    case MessageType::kAllGather: return "all_gather";
    case MessageType::kHeartbeat: return "heartbeat";
    case MessageType::kStateRequest: return "state_request";
    case MessageType::kState: return "state";
    case MessageType::kGossip: return "gossip";
  }
  return "unknown";
}

const char* ToString(DType dtype) {
  switch (dtype) {
    case DType::kNone: return "none";
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI8: return "i8";
    case DType::kTopK: return "topk";
  }
  return "unknown";
}

}  // namespace meshtrain
