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

}  // namespace meshtrain::transport_internal
