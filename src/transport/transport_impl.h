// Transport::Impl: the caller-side API (Send/Receive/Connect wait on
// completions) and the communication thread that owns every ZeroMQ socket.
// Only Run() and the functions it calls touch sockets (marked "comm thread").
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include "access_policy.h"
#include "completion.h"
#include "handshake_monitor.h"
#include "incoming_queue.h"
#include "meshtrain/transport.h"
#include "refusal_log.h"
#include "wakeup_pipe.h"
#include "zap_handler.h"

namespace meshtrain {

class Transport::Impl {
 public:
  static Result<std::unique_ptr<Impl>> Create(const TransportConfig& cfg, const std::string& self_id,
                                              const std::string& bind_endpoint, const TransportSecurity& security);
  ~Impl();

  const std::string& self_id() const { return self_id_; }
  const std::string& bound_endpoint() const { return bound_endpoint_; }
  Status Connect(const std::string& peer_id, const std::string& endpoint);
  Status Disconnect(const std::string& peer_id);
  std::vector<std::string> connected_peers() const;
  Status Send(const std::string& peer_id, OutgoingMessage msg, std::chrono::milliseconds timeout);
  std::vector<Status> SendAll(std::vector<Transport::Addressed> msgs, std::chrono::milliseconds timeout);
  Result<IncomingMessage> Receive(std::chrono::milliseconds timeout);
  TransportStats stats() const;

 private:
  // One Send() in flight.
  struct SendRequest {
    zmq::message_t header;
    zmq::message_t payload;
    bool has_payload = false;
    uint64_t bytes = 0;  // header + payload
    transport_internal::Clock::time_point deadline;
    std::chrono::milliseconds timeout{0};
    transport_internal::Completion completion;
  };
  struct ConnectCommand {
    std::string peer_id, endpoint;
    std::shared_ptr<transport_internal::Completion> completion;
  };
  struct DisconnectCommand {
    std::string peer_id;
    std::shared_ptr<transport_internal::Completion> completion;
  };
  struct SendCommand {
    std::string peer_id;
    Lane lane = Lane::kData;
    std::shared_ptr<SendRequest> request;
  };
  using Command = std::variant<ConnectCommand, DisconnectCommand, SendCommand>;

  // Bytes to and from one peer id (TransportStats::bytes_by_peer).
  struct LinkCounters {
    std::atomic<uint64_t> sent{0}, recv{0};
  };

  // Comm thread: one DEALER to a peer and the sends waiting for it, in order.
  struct LaneSocket {
    zmq::socket_t dealer;
    std::deque<std::shared_ptr<SendRequest>> pending;
  };
  // Comm thread: our two connections to one peer, indexed by Lane.
  struct PeerLink {
    std::string endpoint;
    std::array<LaneSocket, 2> lanes;
    LinkCounters* counters = nullptr;  // in traffic_, which outlives the link
    LaneSocket& on(Lane lane) { return lanes[static_cast<size_t>(lane)]; }
  };

  Impl(const TransportConfig& cfg, std::string self_id, const TransportSecurity& security);
  // CURVE mode, on the caller's thread before the ROUTER binds: the policy, the
  // ZAP handler and the handshake monitor. May throw zmq::error_t.
  Status SetUpCurve();
  // The one message for "the peer did not take it in time", from either side.
  Status SendTimedOut(const std::string& peer_id, const std::string& endpoint,
                      std::chrono::milliseconds timeout) const;
  // Caller side.
  void Post(Command command);
  void PostAll(std::vector<Command> commands);  // one wake-up for all
  // Send's checks and the zero-copy request; sets *endpoint for error messages.
  Result<std::shared_ptr<SendRequest>> PrepareSend(const std::string& peer_id, OutgoingMessage msg,
                                                   std::chrono::milliseconds timeout, std::string* endpoint);
  // Waits for a posted request until its deadline, and counts a failure.
  Status AwaitSend(const std::string& peer_id, const std::string& endpoint, SendRequest& req);
  Status WaitControl(const std::shared_ptr<transport_internal::Completion>& completion, const std::string& what);
  // Comm thread.
  void Run();
  void RunCommands();
  void Handle(ConnectCommand& cmd);
  void Handle(DisconnectCommand& cmd);
  void Handle(SendCommand& cmd);
  // A DEALER for one lane to `endpoint` (may throw zmq::error_t).
  zmq::socket_t OpenLane(Lane lane, const std::string& endpoint, const std::string& server_key);
  void Flush(PeerLink& link, LaneSocket& lane);
  std::optional<Status> TrySend(PeerLink& link, LaneSocket& lane, SendRequest& req);
  void ExpireRequests(transport_internal::Clock::time_point now);
  long PollTimeoutMs(transport_internal::Clock::time_point now) const;
  void ReadRouter();
  // CURVE mode: whether a received message's connection may speak as `from`;
  // counts and logs it if not.
  bool Admit(const std::string& from, const zmq::message_t& first_frame);
  void DrainStray(zmq::socket_t& dealer);
  LinkCounters& CountersFor(const std::string& peer_id);
  void CloseAll();

  const TransportConfig cfg_;
  const std::string self_id_;
  const TransportSecurity security_;
  std::string bound_endpoint_;

  // Declared first so it is destroyed last, after every socket is closed.
  zmq::context_t context_;
  zmq::socket_t router_;                  // comm thread (bound by Create before the thread starts)
  // CURVE mode only (null otherwise); comm thread after Create.
  std::unique_ptr<transport_internal::AccessPolicy> policy_;
  std::unique_ptr<transport_internal::ZapHandler> zap_;
  std::unique_ptr<transport_internal::HandshakeMonitor> monitor_;
  transport_internal::RefusalLog refusals_;
  std::map<std::string, PeerLink> links_;  // comm thread

  transport_internal::WakeupPipe wakeup_;
  std::mutex commands_mu_;
  std::deque<Command> commands_;
  transport_internal::IncomingQueue incoming_;

  // Caller-side copy of the peers we connected to, for NotFound and messages.
  mutable std::mutex peers_mu_;
  std::map<std::string, std::string> peer_endpoints_;

  // Only the comm thread adds entries (on Connect; none is ever removed, and
  // map nodes do not move), under traffic_mu_, which stats() holds to walk
  // them. So the comm thread looks ids up without the lock, and counting a
  // message is one relaxed atomic add, as the totals were.
  mutable std::mutex traffic_mu_;
  std::map<std::string, LinkCounters, std::less<>> traffic_;
  LinkCounters unlinked_;  // received from ids with no entry in traffic_

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> msgs_sent_{0}, msgs_recv_{0}, malformed_{0}, send_timeouts_{0}, auth_refused_{0};
  std::thread thread_;
};

}  // namespace meshtrain
