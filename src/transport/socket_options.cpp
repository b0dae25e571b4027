#include "socket_options.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace meshtrain::transport_internal {
namespace {

int ClampInt(int64_t v, int64_t lo, int64_t hi) { return static_cast<int>(std::clamp(v, lo, hi)); }
constexpr int64_t kIntMax = std::numeric_limits<int>::max();
// A connection silent for 10 s is probed every 5 s and closed after 3 probes
// go unanswered: a pulled cable's connection is gone within about 25 s.
constexpr int kKeepaliveIdleS = 10;
constexpr int kKeepaliveIntervalS = 5;
constexpr int kKeepaliveProbes = 3;

void ApplyCommon(zmq::socket_t& s, const TransportConfig& cfg) {
  s.set(zmq::sockopt::linger, ClampInt(cfg.linger_ms, 0, kIntMax));
  s.set(zmq::sockopt::sndhwm, ClampInt(cfg.sndhwm, 0, kIntMax));
  s.set(zmq::sockopt::rcvhwm, ClampInt(cfg.rcvhwm, 0, kIntMax));
  s.set(zmq::sockopt::maxmsgsize, cfg.max_msg_bytes > 0 ? cfg.max_msg_bytes : int64_t{-1});
  // No ZMTP heartbeats (ZMQ_HEARTBEAT_*): in libzmq 4.3.4 a PING on a
  // connection whose input is stopped at the high-water mark can hit the
  // assertion !_io_error and abort the process (docs/transport.md, "Options
  // we avoid"). Membership's own heartbeats judge liveness; the kernel's
  // keepalive, which runs no libzmq code, closes a half-open connection.
  s.set(zmq::sockopt::tcp_keepalive, 1);
  s.set(zmq::sockopt::tcp_keepalive_idle, kKeepaliveIdleS);
  s.set(zmq::sockopt::tcp_keepalive_intvl, kKeepaliveIntervalS);
  s.set(zmq::sockopt::tcp_keepalive_cnt, kKeepaliveProbes);
}

}  // namespace

void ApplyRouterOptions(zmq::socket_t& router, const TransportConfig& cfg) {
  ApplyCommon(router, cfg);
  // A peer restarted after kill -9 reconnects with the same id while its old
  // connection may still look alive; hand the id over instead of ignoring the newcomer.
  router.set(zmq::sockopt::router_handover, 1);
  // We never send on the ROUTER; if that ever changes, an unroutable message
  // must fail loudly (EHOSTUNREACH), not vanish.
  router.set(zmq::sockopt::router_mandatory, 1);
}

void ApplyDealerOptions(zmq::socket_t& dealer, const TransportConfig& cfg, const std::string& self_id) {
  ApplyCommon(dealer, cfg);
  dealer.set(zmq::sockopt::routing_id, zmq::buffer(self_id));
  dealer.set(zmq::sockopt::reconnect_ivl, ClampInt(cfg.reconnect_ivl_ms, -1, kIntMax));
  dealer.set(zmq::sockopt::reconnect_ivl_max, ClampInt(cfg.reconnect_ivl_max_ms, 0, kIntMax));
  // Queue only on a live connection: a send to a dead or never-started peer
  // fails fast (EAGAIN) instead of piling up for a process that may come back
  // as a different incarnation. This is the DEALER's ROUTER_MANDATORY.
  dealer.set(zmq::sockopt::immediate, 1);
  // A SYN into a black hole must not stall reconnects for the OS's ~2 minutes.
  dealer.set(zmq::sockopt::connect_timeout, ClampInt(cfg.connect_timeout_ms, 1, kIntMax));
}

// The ZAP domain names our realm in ZAP requests; setting it also makes libzmq
// consult the handler for every handshake on this socket.
constexpr const char* kZapDomain = "meshtrain";

// An encrypted frame travels as a MESSAGE command: name, nonce, MAC and flags
// (33 bytes) around the payload, and ZeroMQ checks MAXMSGSIZE on that.
constexpr int64_t kCurveFrameOverhead = 64;

void ApplyRouterCurve(zmq::socket_t& router, const TransportConfig& cfg, const std::string& secret_key) {
  if (cfg.max_msg_bytes > 0) router.set(zmq::sockopt::maxmsgsize, cfg.max_msg_bytes + kCurveFrameOverhead);
  router.set(zmq::sockopt::curve_server, true);
  router.set(zmq::sockopt::curve_secretkey, secret_key);
  router.set(zmq::sockopt::zap_domain, kZapDomain);
}

void ApplyDealerCurve(zmq::socket_t& dealer, const std::string& public_key, const std::string& secret_key,
                      const std::string& server_key) {
  dealer.set(zmq::sockopt::curve_serverkey, server_key);
  dealer.set(zmq::sockopt::curve_publickey, public_key);
  dealer.set(zmq::sockopt::curve_secretkey, secret_key);
}

}  // namespace meshtrain::transport_internal
