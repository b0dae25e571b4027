// Gossip in wire terms (docs/gossip.md, "On the wire"). Every gossip message
// is a kGossip header; what it means is in `extra` (GossipExtra, 9 bytes):
//   kRound  synchronous round `round`: the sender's parameters z (f32 payload)
//           and its push-sum weight w;
//   kPush   asynchronous push-sum share: `round` is the sender's push number
//           (1, 2, ...), the payload its de-biased parameters z = x/w and
//           `weight` the share of w it gives away (the receiver adds weight*z);
//   kDone   no payload: the sender has taken its last step and will push no
//           more (step = its last step);
//   kAlive  no payload: the sender is still training (step = its step).
// The payload is always z, never x = w*z: a weight near zero would make x
// underflow in f32, while z stays at the scale of the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "meshtrain/wire.h"

namespace meshtrain {

enum class GossipKind : uint8_t { kRound = 1, kPush = 2, kDone = 3, kAlive = 4 };

struct GossipExtra {
  GossipKind kind = GossipKind::kRound;
  double weight = 0;  // kRound: w; kPush: the share of w; otherwise 0
};
inline constexpr size_t kGossipExtraBytes = 9;  // u8 kind, f64 weight (IEEE-754 bits, little-endian)

std::string EncodeGossipExtra(const GossipExtra& extra);
// Nothing for a wrong length, an unknown kind, or a weight that is negative or not finite.
std::optional<GossipExtra> DecodeGossipExtra(std::string_view bytes);

// Kinds that carry the parameters.
inline bool CarriesParams(GossipKind kind) { return kind == GossipKind::kRound || kind == GossipKind::kPush; }
const char* ToString(GossipKind kind);

// `view_id`: the membership view a synchronous round runs in (0 without
// membership); pushes and notes are not view-scoped and leave it 0.
Header GossipHeader(const std::string& self, GossipKind kind, uint64_t round, uint64_t step, uint64_t n_elems,
                    double weight, uint64_t view_id = 0);

}  // namespace meshtrain
