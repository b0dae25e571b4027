// Checks "tcp://host:port" endpoints before ZeroMQ sees them, so a typo in a
// config is reported with the endpoint named rather than as a bare EINVAL.
#pragma once

#include <string>

#include "meshtrain/status.h"

namespace meshtrain::transport_internal {

// `for_bind` also accepts port 0 or "*" (the OS picks a free port).
Status CheckTcpEndpoint(const std::string& endpoint, bool for_bind);

// A peer id becomes our routing ids: 1..254 bytes (one more for the control
// lane's mark), not starting with byte 0 (ZeroMQ's rule) or 1 (lanes.h).
Status CheckPeerId(const std::string& id);

}  // namespace meshtrain::transport_internal
