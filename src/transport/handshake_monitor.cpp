#include "handshake_monitor.h"

#include <cstring>

namespace meshtrain::transport_internal {
namespace {

constexpr const char* kMonitorEndpoint = "inproc://meshtrain.handshake-monitor";
// Protocol failures, and connections closed or reset during the handshake: a
// plaintext client that sees our CURVE greeting often hangs up (with a reset)
// before we have read its own, so its mismatch shows up as the latter. A port
// scanner or a peer killed mid-handshake is counted too; a client that
// completes the handshake never is.
constexpr int kEvents = ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;

std::string ProtocolError(uint32_t value) {
  switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "the client does not speak CURVE (plaintext or another mechanism)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "CURVE handshake did not decrypt (the client has the wrong server key or is not CURVE)";
    default:
      return "handshake failed (ZMTP protocol error " + std::to_string(value) + ")";
  }
}

}  // namespace

HandshakeMonitor::HandshakeMonitor(zmq::context_t& context, zmq::socket_t& router, RefusalLog* log,
                                   std::atomic<uint64_t>* refused)
    : socket_(context, zmq::socket_type::pair), log_(log), refused_(refused) {
  if (zmq_socket_monitor(router.handle(), kMonitorEndpoint, kEvents) != 0) throw zmq::error_t();
  socket_.set(zmq::sockopt::linger, 0);
  socket_.connect(kMonitorEndpoint);
}

void HandshakeMonitor::DrainEvents() {
  for (;;) {
    try {
      // An event is two frames: [u16 event, u32 value], then the endpoint.
      zmq::message_t event, endpoint;
      if (!socket_.recv(event, zmq::recv_flags::dontwait)) return;
      if (event.more() && !socket_.recv(endpoint, zmq::recv_flags::dontwait)) return;
      if (event.size() < 6) continue;
      uint16_t id = 0;
      uint32_t value = 0;
      std::memcpy(&id, event.data(), sizeof id);
      std::memcpy(&value, static_cast<const char*>(event.data()) + 2, sizeof value);
      if ((id & kEvents) == 0) continue;
      refused_->fetch_add(1, std::memory_order_relaxed);
      const std::string reason =
          id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
              ? ProtocolError(value)
              : "connection closed during the handshake (" + std::string(std::strerror(static_cast<int>(value))) +
                    "): a client that does not speak CURVE, or gave up";
      log_->Refused("a connection to " + endpoint.to_string(), reason);
    } catch (const zmq::error_t&) {
      return;
    }
  }
}

}  // namespace meshtrain::transport_internal
