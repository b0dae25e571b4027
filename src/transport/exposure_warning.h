// security.mode = "none" is for loopback demos (docs/security.md, "Threat model"): a peer
// that listens in plaintext on any other address says so, loudly, at start.
#pragma once

#include <string>

namespace meshtrain::transport_internal {

// "tcp://127.x.y.z:port", "tcp://[::1]:port" (or an IPv4-mapped 127/8), "tcp://localhost:port".
bool IsLoopbackEndpoint(const std::string& endpoint);

// The warning text for `endpoint`, "" when it is loopback.
std::string ExposureWarning(const std::string& self_id, const std::string& endpoint);

// Prints ExposureWarning to stderr, if any.
void WarnIfExposed(const std::string& self_id, const std::string& endpoint);

}  // namespace meshtrain::transport_internal
