// Transport::Impl, caller side: Create binds the ROUTER, then every public call
// becomes a command for the communication thread (comm_thread.cpp) and waits
// for it with a deadline.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "curve_keys.h"
#include "endpoint.h"
#include "exposure_warning.h"
#include "socket_options.h"
#include "transport_impl.h"

namespace meshtrain {

using transport_internal::Clock;
using transport_internal::Completion;

namespace {

// Longest a control call (Connect/Disconnect) waits for the comm thread, which
// never blocks, so this only trips if the process is starved.
constexpr std::chrono::milliseconds kControlTimeout{5000};

void ReleaseKeepalive(void* /*data*/, void* hint) { delete static_cast<std::shared_ptr<const void>*>(hint); }

Status BindError(const std::string& endpoint, const zmq::error_t& e) {
  const std::string what = "cannot bind " + endpoint + ": " + e.what();
  if (e.num() == EADDRINUSE) return Status::Unavailable(what + " (another process holds that port)");
  return Status::InvalidArgument(what);
}

}  // namespace

Transport::Impl::Impl(const TransportConfig& cfg, std::string self_id, const TransportSecurity& security)
    : cfg_(cfg),
      self_id_(std::move(self_id)),
      security_(security),
      context_(static_cast<int>(std::clamp<int64_t>(cfg.io_threads, 1, 16))),
      router_(context_, zmq::socket_type::router),
      refusals_(self_id_),
      // rcvhwm 0 means "no limit" to ZeroMQ, and so to our queue.
      incoming_(cfg.rcvhwm > 0 ? static_cast<size_t>(cfg.rcvhwm) : SIZE_MAX) {}

Status Transport::Impl::SetUpCurve() {
  Result<transport_internal::AccessPolicy> policy = transport_internal::AccessPolicy::Create(security_);
  if (!policy.ok()) return policy.status().WithContext("peer '" + self_id_ + "'");
  Result<std::string> own_public = transport_internal::PublicKeyOf(security_.secret_key);
  if (!own_public.ok()) return own_public.status().WithContext("peer '" + self_id_ + "': our secret key");
  if (security_.public_key != own_public.value()) {
    return Status::InvalidArgument("peer '" + self_id_ + "': our public key does not belong to our secret key");
  }
  policy_ = std::make_unique<transport_internal::AccessPolicy>(std::move(policy).value());
  // The handler first: a CURVE ROUTER with no ZAP handler would admit anyone.
  zap_ = std::make_unique<transport_internal::ZapHandler>(context_, policy_.get(), &refusals_, &auth_refused_);
  monitor_ = std::make_unique<transport_internal::HandshakeMonitor>(context_, router_, &refusals_, &auth_refused_);
  transport_internal::ApplyRouterCurve(router_, cfg_, security_.secret_key);
  return Status::OK();
}

Result<std::unique_ptr<Transport::Impl>> Transport::Impl::Create(const TransportConfig& cfg,
                                                                 const std::string& self_id,
                                                                 const std::string& bind_endpoint,
                                                                 const TransportSecurity& security) {
  MESHTRAIN_RETURN_IF_ERROR(transport_internal::CheckPeerId(self_id));
  MESHTRAIN_RETURN_IF_ERROR(transport_internal::CheckTcpEndpoint(bind_endpoint, /*for_bind=*/true));
  std::unique_ptr<Impl> impl;
  try {
    impl.reset(new Impl(cfg, self_id, security));
    if (!impl->wakeup_.valid()) return Status::IOError(std::string("cannot create wakeup pipe: ") + strerror(errno));
    transport_internal::ApplyRouterOptions(impl->router_, cfg);
    if (security.curve) MESHTRAIN_RETURN_IF_ERROR(impl->SetUpCurve());
  } catch (const zmq::error_t& e) {
    return Status::IOError(std::string("cannot set up ZeroMQ for peer '") + self_id + "': " + e.what());
  }
  // libzmq spells "any port" as '*'; accept the more familiar :0 too.
  std::string endpoint = bind_endpoint;
  if (endpoint.size() > 2 && endpoint.compare(endpoint.size() - 2, 2, ":0") == 0) endpoint.back() = '*';
  try {
    impl->router_.bind(endpoint);
    impl->bound_endpoint_ = impl->router_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return BindError(bind_endpoint, e);
  }
  if (!security.curve) transport_internal::WarnIfExposed(self_id, impl->bound_endpoint_);
  // Starting the thread is a full memory barrier: the ROUTER moves to it safely.
  impl->thread_ = std::thread([raw = impl.get()] { raw->Run(); });
  return impl;
}

Transport::Impl::~Impl() {
  stop_.store(true);
  wakeup_.Notify();
  if (thread_.joinable()) thread_.join();
  // context_ terminates last (member order), waiting at most linger_ms per socket.
}

void Transport::Impl::Post(Command command) {
  {
    std::lock_guard<std::mutex> lock(commands_mu_);
    commands_.push_back(std::move(command));
  }
  wakeup_.Notify();
}

void Transport::Impl::PostAll(std::vector<Command> commands) {
  if (commands.empty()) return;
  {
    std::lock_guard<std::mutex> lock(commands_mu_);
    for (Command& command : commands) commands_.push_back(std::move(command));
  }
  wakeup_.Notify();
}

Status Transport::Impl::WaitControl(const std::shared_ptr<Completion>& completion, const std::string& what) {
  std::optional<Status> result = completion->Wait(Clock::now() + kControlTimeout);
  if (!result) return Status::Unavailable(what + ": communication thread did not answer within 5000 ms");
  return *result;
}

Status Transport::Impl::Connect(const std::string& peer_id, const std::string& endpoint) {
  MESHTRAIN_RETURN_IF_ERROR(transport_internal::CheckPeerId(peer_id));
  MESHTRAIN_RETURN_IF_ERROR(
      transport_internal::CheckTcpEndpoint(endpoint, /*for_bind=*/false).WithContext("peer '" + peer_id + "'"));
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    auto it = peer_endpoints_.find(peer_id);
    if (it != peer_endpoints_.end() && it->second == endpoint) return Status::OK();
  }
  auto completion = std::make_shared<Completion>();
  Post(ConnectCommand{peer_id, endpoint, completion});
  Status st = WaitControl(completion, "connect to peer '" + peer_id + "' at " + endpoint);
  if (st.ok()) {
    std::lock_guard<std::mutex> lock(peers_mu_);
    peer_endpoints_[peer_id] = endpoint;
  }
  return st;
}

Status Transport::Impl::Disconnect(const std::string& peer_id) {
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    if (peer_endpoints_.erase(peer_id) == 0) return Status::OK();
  }
  auto completion = std::make_shared<Completion>();
  Post(DisconnectCommand{peer_id, completion});
  return WaitControl(completion, "disconnect from peer '" + peer_id + "'");
}

std::vector<std::string> Transport::Impl::connected_peers() const {
  std::lock_guard<std::mutex> lock(peers_mu_);
  std::vector<std::string> ids;
  for (const auto& [id, endpoint] : peer_endpoints_) ids.push_back(id);
  return ids;
}

Result<std::shared_ptr<Transport::Impl::SendRequest>> Transport::Impl::PrepareSend(const std::string& peer_id,
                                                                                  OutgoingMessage msg,
                                                                                  std::chrono::milliseconds timeout,
                                                                                  std::string* endpoint) {
  const Clock::time_point deadline = Clock::now() + std::max(timeout, std::chrono::milliseconds(0));
  {
    std::lock_guard<std::mutex> lock(peers_mu_);
    auto it = peer_endpoints_.find(peer_id);
    if (it == peer_endpoints_.end()) {
      return Status::NotFound("send to peer '" + peer_id + "': not connected (Connect it first)");
    }
    *endpoint = it->second;
  }
  if (msg.payload == nullptr && msg.payload_bytes != 0) {
    return Status::InvalidArgument("send to peer '" + peer_id + "': payload_bytes without a payload");
  }
  const uint64_t frame_limit = cfg_.max_msg_bytes > 0 ? static_cast<uint64_t>(cfg_.max_msg_bytes) : UINT64_MAX;
  if (msg.payload_bytes > frame_limit || msg.header.size() > frame_limit) {
    // The receiver would drop the whole connection over it (ZMQ_MAXMSGSIZE).
    return Status::InvalidArgument("send to peer '" + peer_id + "': frame of " +
                                   std::to_string(std::max(msg.payload_bytes, msg.header.size())) +
                                   " bytes exceeds transport.max_msg_bytes = " + std::to_string(cfg_.max_msg_bytes));
  }

  auto req = std::make_shared<SendRequest>();
  try {
    req->header = zmq::message_t(msg.header.data(), msg.header.size());  // small: copied
    req->has_payload = msg.payload != nullptr;
    if (msg.payload_bytes == 0) {
      // Nothing to share; release the keepalive now.
    } else if (msg.keepalive) {
      // Zero-copy: ZeroMQ reads the caller's buffer and calls ReleaseKeepalive when done.
      auto* hint = new std::shared_ptr<const void>(std::move(msg.keepalive));
      try {
        req->payload = zmq::message_t(const_cast<void*>(msg.payload), msg.payload_bytes, &ReleaseKeepalive, hint);
      } catch (...) {
        delete hint;
        throw;
      }
    } else {
      // No keepalive means no way to know when ZeroMQ is done with the
      // buffer, so take a copy rather than risk a dangling read.
      req->payload = zmq::message_t(msg.payload, msg.payload_bytes);
    }
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("send to peer '" + peer_id + "': " + e.what());
  }
  req->bytes = msg.header.size() + msg.payload_bytes;
  req->deadline = deadline;
  req->timeout = timeout;
  return req;
}

Status Transport::Impl::AwaitSend(const std::string& peer_id, const std::string& endpoint, SendRequest& req) {
  std::optional<Status> result = req.completion.Wait(req.deadline);
  if (!result) {
    send_timeouts_.fetch_add(1, std::memory_order_relaxed);
    return SendTimedOut(peer_id, endpoint, req.timeout);
  }
  if (!result->ok()) send_timeouts_.fetch_add(1, std::memory_order_relaxed);
  return *result;
}

Status Transport::Impl::Send(const std::string& peer_id, OutgoingMessage msg, std::chrono::milliseconds timeout) {
  std::string endpoint;
  const Lane lane = msg.lane;
  Result<std::shared_ptr<SendRequest>> req = PrepareSend(peer_id, std::move(msg), timeout, &endpoint);
  if (!req.ok()) return req.status();
  Post(SendCommand{peer_id, lane, req.value()});
  return AwaitSend(peer_id, endpoint, *req.value());
}

std::vector<Status> Transport::Impl::SendAll(std::vector<Transport::Addressed> msgs,
                                             std::chrono::milliseconds timeout) {
  std::vector<Status> results(msgs.size());
  std::vector<std::shared_ptr<SendRequest>> requests(msgs.size());
  std::vector<std::string> endpoints(msgs.size());
  std::vector<Command> commands;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Lane lane = msgs[i].msg.lane;
    Result<std::shared_ptr<SendRequest>> req = PrepareSend(msgs[i].peer_id, std::move(msgs[i].msg), timeout,
                                                           &endpoints[i]);
    if (!req.ok()) {
      results[i] = req.status();
      continue;
    }
    requests[i] = req.value();
    commands.push_back(SendCommand{msgs[i].peer_id, lane, req.value()});
  }
  PostAll(std::move(commands));
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (requests[i]) results[i] = AwaitSend(msgs[i].peer_id, endpoints[i], *requests[i]);
  }
  return results;
}

Status Transport::Impl::SendTimedOut(const std::string& peer_id, const std::string& endpoint,
                                     std::chrono::milliseconds timeout) const {
  return Status::Unavailable("send to peer '" + peer_id + "' (" + endpoint + "): not taken within " +
                             std::to_string(timeout.count()) + " ms (no live connection, or " +
                             std::to_string(cfg_.sndhwm) + " messages already queued)");
}

Result<IncomingMessage> Transport::Impl::Receive(std::chrono::milliseconds timeout) {
  bool made_room = false;
  std::optional<IncomingMessage> msg =
      incoming_.Pop(Clock::now() + std::max(timeout, std::chrono::milliseconds(0)), &made_room);
  if (made_room) wakeup_.Notify();  // the comm thread paused reading the ROUTER
  if (!msg) {
    return Status::Timeout("peer '" + self_id_ + "': no message within " + std::to_string(timeout.count()) + " ms");
  }
  return std::move(*msg);
}

TransportStats Transport::Impl::stats() const {
  TransportStats s;
  {
    // The totals are the sums of the same loads, so a snapshot always adds up.
    std::lock_guard<std::mutex> lock(traffic_mu_);
    for (const auto& [id, counters] : traffic_) {
      const LinkBytes link{counters.sent.load(std::memory_order_relaxed),
                           counters.recv.load(std::memory_order_relaxed)};
      s.bytes_by_peer.emplace(id, link);
      s.bytes_sent += link.sent;
      s.bytes_recv += link.recv;
    }
    const uint64_t unlinked = unlinked_.recv.load(std::memory_order_relaxed);
    if (unlinked > 0) s.bytes_by_peer[kUnlinkedSender].recv += unlinked;
    s.bytes_recv += unlinked;
  }
  s.msgs_sent = msgs_sent_.load(std::memory_order_relaxed);
  s.msgs_recv = msgs_recv_.load(std::memory_order_relaxed);
  s.malformed = malformed_.load(std::memory_order_relaxed);
  s.send_timeouts = send_timeouts_.load(std::memory_order_relaxed);
  s.auth_refused = auth_refused_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace meshtrain
