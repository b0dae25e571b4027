// The communication thread: the only code that touches ZeroMQ sockets after
// Create. One loop: run queued commands, push pending sends into DEALERs,
// expire sends past their deadline, then zmq_poll the wakeup pipe, the ROUTER
// and the DEALERs (two a peer, one per lane) until something happens or the
// next deadline.
#include <algorithm>
#include <array>
#include <cstdint>

#include "curve_keys.h"
#include "lanes.h"
#include "socket_options.h"
#include "transport_impl.h"

namespace meshtrain {

using transport_internal::Clock;

namespace {

// How many messages to read from the ROUTER before servicing sends again, so
// a flood of input cannot starve our own outgoing traffic.
constexpr int kReadBatch = 256;
// Upper bound on one poll, as a safety net; every real event wakes us earlier.
constexpr long kMaxPollMs = 1000;

// libzmq's zero-copy receive leaves frames smaller than its 8 KB input batch
// inside the shared batch buffer, at whatever offset they arrived (and pins
// that buffer while the frame lives). Copy those few small frames so every
// payload can be read as floats in place; large frames have their own
// allocation, already aligned, and are never copied.
zmq::message_t Aligned(zmq::message_t frame) {
  if (reinterpret_cast<uintptr_t>(frame.data()) % kPayloadAlignment == 0) return frame;
  return zmq::message_t(frame.data(), frame.size());
}

}  // namespace

void Transport::Impl::Run() {
  std::vector<zmq_pollitem_t> items;
  std::vector<LaneSocket*> item_lanes;
  while (!stop_.load()) {
    RunCommands();
    // The control lane first: its messages are small and time-critical.
    for (auto& [id, link] : links_) {
      Flush(link, link.on(Lane::kControl));
      Flush(link, link.on(Lane::kData));
    }
    const Clock::time_point now = Clock::now();
    ExpireRequests(now);

    items.clear();
    item_lanes.clear();
    items.push_back(zmq_pollitem_t{nullptr, wakeup_.read_fd(), ZMQ_POLLIN, 0});
    // A full incoming queue pauses reading: back-pressure through RCVHWM and TCP.
    items.push_back(zmq_pollitem_t{router_.handle(), 0, static_cast<short>(incoming_.full() ? 0 : ZMQ_POLLIN), 0});
    // CURVE mode: handshakes wait on the ZAP handler, so it is served even while input is paused.
    const size_t first_link = zap_ ? 4 : 2;
    if (zap_) {
      items.push_back(zmq_pollitem_t{zap_->socket().handle(), 0, ZMQ_POLLIN, 0});
      items.push_back(zmq_pollitem_t{monitor_->socket().handle(), 0, ZMQ_POLLIN, 0});
    }
    for (auto& [id, link] : links_) {
      for (LaneSocket& lane : link.lanes) {
        const short events = static_cast<short>(ZMQ_POLLIN | (lane.pending.empty() ? 0 : ZMQ_POLLOUT));
        items.push_back(zmq_pollitem_t{lane.dealer.handle(), 0, events, 0});
        item_lanes.push_back(&lane);
      }
    }
    if (zmq_poll(items.data(), static_cast<int>(items.size()), PollTimeoutMs(now)) < 0) {
      if (zmq_errno() == ETERM) break;
      continue;  // EINTR
    }
    if (items[0].revents != 0) wakeup_.Drain();
    if ((items[1].revents & ZMQ_POLLIN) != 0) ReadRouter();
    if (zap_ && (items[2].revents & ZMQ_POLLIN) != 0) zap_->ServePending();
    if (monitor_ && (items[3].revents & ZMQ_POLLIN) != 0) monitor_->DrainEvents();
    for (size_t i = 0; i < item_lanes.size(); ++i) {
      if ((items[i + first_link].revents & ZMQ_POLLIN) != 0) DrainStray(item_lanes[i]->dealer);
      // POLLOUT is served by Flush at the top of the loop.
    }
  }
  CloseAll();
}

void Transport::Impl::RunCommands() {
  std::deque<Command> batch;
  {
    std::lock_guard<std::mutex> lock(commands_mu_);
    batch.swap(commands_);
  }
  for (Command& command : batch) std::visit([this](auto& cmd) { Handle(cmd); }, command);
}

void Transport::Impl::Handle(ConnectCommand& cmd) {
  auto it = links_.find(cmd.peer_id);
  if (it != links_.end() && it->second.endpoint == cmd.endpoint) {
    cmd.completion->Finish(Status::OK());
    return;
  }
  std::string server_key;
  if (policy_) {
    server_key = policy_->ServerKeyFor(cmd.peer_id, cmd.endpoint);
    if (server_key.empty()) {
      cmd.completion->Finish(Status::InvalidArgument(
          "cannot connect to peer '" + cmd.peer_id + "' at " + cmd.endpoint +
          ": security.mode = 'curve' needs its public key, and no key in security.authorized_keys is bound to "
          "that id or endpoint (write the key line as KEY " + cmd.peer_id + ")"));
      return;
    }
  }
  try {
    zmq::socket_t data = OpenLane(Lane::kData, cmd.endpoint, server_key);
    zmq::socket_t control = OpenLane(Lane::kControl, cmd.endpoint, server_key);
    if (it == links_.end()) {
      PeerLink link;
      link.endpoint = cmd.endpoint;
      link.on(Lane::kData).dealer = std::move(data);
      link.on(Lane::kControl).dealer = std::move(control);
      link.counters = &CountersFor(cmd.peer_id);
      links_.emplace(cmd.peer_id, std::move(link));
    } else {
      // The peer moved: swap the sockets, keep its pending sends in order.
      PeerLink& link = it->second;
      link.on(Lane::kData).dealer.close();
      link.on(Lane::kData).dealer = std::move(data);
      link.on(Lane::kControl).dealer.close();
      link.on(Lane::kControl).dealer = std::move(control);
      link.endpoint = cmd.endpoint;
    }
    cmd.completion->Finish(Status::OK());
  } catch (const zmq::error_t& e) {
    cmd.completion->Finish(Status::InvalidArgument("cannot connect to peer '" + cmd.peer_id + "' at " +
                                                   cmd.endpoint + ": " + e.what()));
  }
}

zmq::socket_t Transport::Impl::OpenLane(Lane lane, const std::string& endpoint, const std::string& server_key) {
  zmq::socket_t dealer(context_, zmq::socket_type::dealer);
  transport_internal::ApplyDealerOptions(dealer, cfg_, transport_internal::RoutingIdFor(self_id_, lane));
  if (policy_) transport_internal::ApplyDealerCurve(dealer, security_.public_key, security_.secret_key, server_key);
  dealer.connect(endpoint);  // asynchronous: TCP comes up (and back) in the background
  return dealer;
}

void Transport::Impl::Handle(DisconnectCommand& cmd) {
  auto it = links_.find(cmd.peer_id);
  if (it != links_.end()) {
    for (LaneSocket& lane : it->second.lanes) {
      for (auto& req : lane.pending) {
        req->completion.Finish(Status::Unavailable("peer '" + cmd.peer_id + "' was disconnected before the send"));
      }
      lane.dealer.close();  // linger lets messages already handed over drain
    }
    links_.erase(it);
  }
  cmd.completion->Finish(Status::OK());
}

void Transport::Impl::Handle(SendCommand& cmd) {
  auto it = links_.find(cmd.peer_id);
  if (it == links_.end()) {
    cmd.request->completion.Finish(Status::NotFound("send to peer '" + cmd.peer_id + "': not connected"));
    return;
  }
  it->second.on(cmd.lane).pending.push_back(std::move(cmd.request));
}

void Transport::Impl::Flush(PeerLink& link, LaneSocket& lane) {
  while (!lane.pending.empty()) {
    SendRequest& req = *lane.pending.front();
    if (!req.completion.TryFinish([&] { return TrySend(link, lane, req); })) return;  // DEALER full or not connected
    lane.pending.pop_front();
  }
}

std::optional<Status> Transport::Impl::TrySend(PeerLink& link, LaneSocket& lane, SendRequest& req) {
  try {
    const zmq::send_flags first =
        req.has_payload ? (zmq::send_flags::dontwait | zmq::send_flags::sndmore) : zmq::send_flags::dontwait;
    // ZMQ_IMMEDIATE: EAGAIN here means no live connection or the HWM is reached.
    if (!lane.dealer.send(req.header, first)) return std::nullopt;
    // Once the first frame is in, ZeroMQ takes the rest of the message unless
    // the connection died in between, in which case it drops the message.
    if (req.has_payload && !lane.dealer.send(req.payload, zmq::send_flags::dontwait)) {
      return Status::Unavailable("connection to " + link.endpoint + " lost in the middle of a message");
    }
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("send to " + link.endpoint + ": " + e.what());
  }
  link.counters->sent.fetch_add(req.bytes, std::memory_order_relaxed);
  msgs_sent_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

void Transport::Impl::ExpireRequests(Clock::time_point now) {
  for (auto& entry : links_) {
    // Named references rather than structured bindings: C++20 lambdas may not
    // capture those in clang 14 (the fuzz and sanitizer builds use clang).
    const std::string& id = entry.first;
    const std::string& endpoint = entry.second.endpoint;
    for (LaneSocket& lane : entry.second.lanes) {
      auto& pending = lane.pending;
      pending.erase(std::remove_if(pending.begin(), pending.end(),
                                   [&](const std::shared_ptr<SendRequest>& req) {
                                     // The caller gives up at the same deadline; this just frees the
                                     // message (and the caller's keepalive) promptly.
                                     if (now >= req->deadline) {
                                       req->completion.Finish(SendTimedOut(id, endpoint, req->timeout));
                                     }
                                     return req->completion.over();
                                   }),
                    pending.end());
    }
  }
}

long Transport::Impl::PollTimeoutMs(Clock::time_point now) const {
  Clock::time_point wake = now + std::chrono::milliseconds(kMaxPollMs);
  for (const auto& [id, link] : links_) {
    for (const LaneSocket& lane : link.lanes) {
      for (const auto& req : lane.pending) wake = std::min(wake, req->deadline);
    }
  }
  if (wake <= now) return 0;
  // Round up so we wake after the deadline, not a hair before it.
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(wake - now).count();
  return static_cast<long>((us + 999) / 1000);
}

void Transport::Impl::ReadRouter() {
  for (int n = 0; n < kReadBatch && !incoming_.full(); ++n) {
    zmq::message_t routing_id;
    std::array<zmq::message_t, 2> frames;
    size_t count = 0;
    try {
      if (!router_.recv(routing_id, zmq::recv_flags::dontwait)) return;
      // The rest of a multipart message is already here: ZeroMQ delivers messages whole.
      bool more = routing_id.more();
      while (more) {
        zmq::message_t frame;
        if (!router_.recv(frame, zmq::recv_flags::dontwait)) break;
        more = frame.more();
        if (count < frames.size()) frames[count] = std::move(frame);
        ++count;
      }
    } catch (const zmq::error_t&) {
      return;  // ETERM during shutdown
    }
    if (count < 1 || count > 2) {  // not [id, header] or [id, header, payload]
      malformed_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    IncomingMessage msg;
    const std::string sender = routing_id.to_string();
    msg.from = transport_internal::PeerIdOf(sender);
    msg.lane = transport_internal::LaneOf(sender);
    if (policy_ && !Admit(msg.from, frames[0])) continue;
    msg.header = std::move(frames[0]);
    msg.has_payload = count == 2;
    if (msg.has_payload) msg.payload = Aligned(std::move(frames[1]));
    auto counters = traffic_.find(msg.from);
    (counters != traffic_.end() ? counters->second : unlinked_)
        .recv.fetch_add(msg.header.size() + msg.payload.size(), std::memory_order_relaxed);
    msgs_recv_.fetch_add(1, std::memory_order_relaxed);
    incoming_.Push(std::move(msg));
  }
}

bool Transport::Impl::Admit(const std::string& from, const zmq::message_t& first_frame) {
  // The key the ZAP handler approved for this connection (its User-Id).
  const char* key = zmq_msg_gets(first_frame.handle(), "User-Id");
  if (key != nullptr && policy_->MaySpeakAs(key, from)) return true;
  auth_refused_.fetch_add(1, std::memory_order_relaxed);
  const char* address = zmq_msg_gets(first_frame.handle(), "Peer-Address");
  std::string id;
  for (char c : from.substr(0, 64)) id += (c >= 0x20 && c < 0x7f) ? c : '?';
  refusals_.Refused("messages from " + std::string(address != nullptr ? address : "?"),
                    "the sender's key may not speak for that peer id",
                    "(key " + (key != nullptr ? transport_internal::KeyPrefix(key) : std::string("none")) +
                        ", claiming peer id '" + id + "')");
  return false;
}

void Transport::Impl::DrainStray(zmq::socket_t& dealer) {
  // Nobody should send to our DEALERs (replies go through our own DEALER to
  // the peer's ROUTER); count anything that arrives and let it go.
  zmq::message_t frame;
  try {
    while (dealer.recv(frame, zmq::recv_flags::dontwait)) {
      if (!frame.more()) malformed_.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const zmq::error_t&) {
  }
}

Transport::Impl::LinkCounters& Transport::Impl::CountersFor(const std::string& peer_id) {
  std::lock_guard<std::mutex> lock(traffic_mu_);
  return traffic_.try_emplace(peer_id).first->second;
}

void Transport::Impl::CloseAll() {
  for (auto& [id, link] : links_) {
    for (LaneSocket& lane : link.lanes) {
      for (auto& req : lane.pending) req->completion.Finish(Status::Aborted("transport is shutting down"));
      lane.pending.clear();
      lane.dealer.close();
    }
  }
  links_.clear();
  router_.close();
  // After the ROUTER: a CURVE ROUTER must never run without its ZAP handler.
  if (monitor_) monitor_->Close();
  if (zap_) zap_->Close();
}

}  // namespace meshtrain
