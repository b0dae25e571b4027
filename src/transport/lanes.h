// How a routing id names the lane a connection carries (docs/transport.md,
// "Two lanes"): the data lane's DEALER uses the peer id itself, the control
// lane's the same id after one byte 1, which CheckPeerId refuses as a first
// byte, so the two can never be confused.
#pragma once

#include <cstddef>
#include <string>

#include "meshtrain/transport.h"

namespace meshtrain::transport_internal {

inline constexpr char kControlLaneMark = '\x01';
// ZeroMQ allows 255 bytes; the control lane's mark takes one.
inline constexpr size_t kMaxPeerIdBytes = 254;

inline std::string RoutingIdFor(const std::string& peer_id, Lane lane) {
  return lane == Lane::kControl ? kControlLaneMark + peer_id : peer_id;
}

// The peer id and lane a received routing id stands for.
inline Lane LaneOf(const std::string& routing_id) {
  return !routing_id.empty() && routing_id[0] == kControlLaneMark ? Lane::kControl : Lane::kData;
}
inline std::string PeerIdOf(const std::string& routing_id) {
  return LaneOf(routing_id) == Lane::kControl ? routing_id.substr(1) : routing_id;
}

}  // namespace meshtrain::transport_internal
