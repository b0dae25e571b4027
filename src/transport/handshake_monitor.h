// Counts CURVE handshakes on our ROUTER that fail before the ZAP handler is
// asked: a plaintext (NULL) or PLAIN client (mechanism mismatch, or it hangs up
// mid-handshake), a client that does not know our public key (its HELLO does
// not decrypt), garbage bytes.
// A ZeroMQ socket monitor (inproc PAIR) polled by the comm thread. Refusals by
// the ZAP handler itself are counted there, not here.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <zmq.hpp>

#include "refusal_log.h"

namespace meshtrain::transport_internal {

class HandshakeMonitor {
 public:
  // Call before the ROUTER binds. May throw zmq::error_t.
  HandshakeMonitor(zmq::context_t& context, zmq::socket_t& router, RefusalLog* log, std::atomic<uint64_t>* refused);

  zmq::socket_t& socket() { return socket_; }
  // Comm thread: reads every pending event, never blocks.
  void DrainEvents();
  void Close() { socket_.close(); }

 private:
  zmq::socket_t socket_;
  RefusalLog* log_;
  std::atomic<uint64_t>* refused_;
};

}  // namespace meshtrain::transport_internal
