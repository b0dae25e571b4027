// The ZAP handler (ZeroMQ RFC 27) of one Transport's context: a REP socket at
// inproc://zeromq.zap.01 that libzmq asks, during every CURVE handshake on our
// ROUTER, whether the client's public key may connect. It answers 200 (with
// the key as the connection's User-Id) for an authorized key and 400 for
// anything else. It must be bound before the ROUTER accepts anything: with no
// handler, libzmq lets every CURVE client in. Polled by the comm thread.
#pragma once

#include <atomic>
#include <cstdint>

#include <zmq.hpp>

#include "access_policy.h"
#include "refusal_log.h"

namespace meshtrain::transport_internal {

class ZapHandler {
 public:
  // Binds the handler in `context`. May throw zmq::error_t (e.g. another
  // handler already bound in this context).
  ZapHandler(zmq::context_t& context, const AccessPolicy* policy, RefusalLog* log, std::atomic<uint64_t>* refused);

  zmq::socket_t& socket() { return socket_; }
  // Comm thread: answers every request waiting on the socket, never blocks.
  void ServePending();
  void Close() { socket_.close(); }

 private:
  void Answer(const std::vector<zmq::message_t>& request);

  zmq::socket_t socket_;
  const AccessPolicy* policy_;
  RefusalLog* log_;
  std::atomic<uint64_t>* refused_;
};

}  // namespace meshtrain::transport_internal
