#include "sync/gossip_messages.h"

#include <cmath>
#include <cstring>

namespace meshtrain {

std::string EncodeGossipExtra(const GossipExtra& extra) {
  std::string out(kGossipExtraBytes, '\0');
  out[0] = static_cast<char>(extra.kind);
  uint64_t bits = 0;
  std::memcpy(&bits, &extra.weight, sizeof(bits));
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((bits >> (8 * i)) & 0xff);
  return out;
}

std::optional<GossipExtra> DecodeGossipExtra(std::string_view bytes) {
  if (bytes.size() != kGossipExtraBytes) return std::nullopt;
  const auto kind = static_cast<uint8_t>(bytes[0]);
  if (kind < static_cast<uint8_t>(GossipKind::kRound) || kind > static_cast<uint8_t>(GossipKind::kAlive)) {
    return std::nullopt;
  }
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[1 + i])) << (8 * i);
  GossipExtra extra;
  extra.kind = static_cast<GossipKind>(kind);
  std::memcpy(&extra.weight, &bits, sizeof(bits));
  if (!std::isfinite(extra.weight) || extra.weight < 0) return std::nullopt;
  return extra;
}

const char* ToString(GossipKind kind) {
  switch (kind) {
    case GossipKind::kRound: return "round";
    case GossipKind::kPush: return "push";
    case GossipKind::kDone: return "done";
    case GossipKind::kAlive: return "alive";
  }
  return "?";
}

Header GossipHeader(const std::string& self, GossipKind kind, uint64_t round, uint64_t step, uint64_t n_elems,
                    double weight, uint64_t view_id) {
  Header h;
  h.view_id = view_id;
  h.type = MessageType::kGossip;
  h.sender = self;
  h.round = round;
  h.step = step;
  h.dtype = DType::kF32;  // a tensor type; control kinds send an empty one
  h.n_elems = CarriesParams(kind) ? n_elems : 0;
  h.extra = EncodeGossipExtra(GossipExtra{kind, weight});
  return h;
}

}  // namespace meshtrain
