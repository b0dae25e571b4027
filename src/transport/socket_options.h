// The ZeroMQ options of our two socket kinds, all taken from TransportConfig.
// docs/transport.md explains each one.
#pragma once

#include <string>

#include <zmq.hpp>

#include "meshtrain/config.h"

namespace meshtrain::transport_internal {

// The ROUTER every peer binds: receives from all peers. May throw zmq::error_t.
void ApplyRouterOptions(zmq::socket_t& router, const TransportConfig& cfg);
// A DEALER to one peer, carrying our id as its routing id. May throw zmq::error_t.
void ApplyDealerOptions(zmq::socket_t& dealer, const TransportConfig& cfg, const std::string& self_id);

// CURVE mode (docs/security.md); keys are Z85. Set before bind/connect. May throw zmq::error_t.
// The ROUTER is a CURVE server: our secret key, and a ZAP domain so the ZAP handler is asked.
// ZMQ_MAXMSGSIZE is raised by CURVE's per-frame overhead, so a frame Send() accepts is never too big once encrypted.
void ApplyRouterCurve(zmq::socket_t& router, const TransportConfig& cfg, const std::string& secret_key);
// A DEALER is a CURVE client of the peer whose public key is `server_key`.
void ApplyDealerCurve(zmq::socket_t& dealer, const std::string& public_key, const std::string& secret_key,
                      const std::string& server_key);

}  // namespace meshtrain::transport_internal
