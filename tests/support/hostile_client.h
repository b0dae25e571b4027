// A test attacker (tests/test_*_hostile*.cpp): what someone who can reach a
// peer's port may throw at it. Two levels:
//   - SendRawBytes: plain TCP, bytes that are not ZMTP at all;
//   - HostileDealer: a real ZeroMQ DEALER with a routing id of our choice,
//     which gets through the ZMTP handshake (security mode "none") and then
//     sends frames of our choice: garbage, wrong msgpack, headers that lie,
//     oversized frames, floods.
// It watches its own connection with a socket monitor, so a test can see that
// the peer dropped it (an oversized frame) without looking inside the peer.
// Header-only; everything is bounded by a timeout and nothing throws.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "meshtrain/wire.h"
#include "sync/ring_messages.h"

namespace meshtrain::testing {

inline std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// Connects to 127.0.0.1:`port`, writes `bytes`, and waits (at most `timeout`)
// for the peer to close the connection. True if it did: ZeroMQ closes a
// connection whose greeting is not ZMTP. False if the connection could not
// be made or stayed open.
inline bool SendRawBytes(int port, const std::string& bytes, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool closed = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // already reset: that is the peer closing too
      off += static_cast<size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char sink[4096];
    while (!closed) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd, sink, sizeof(sink), 0);  // the peer's greeting, then EOF or a reset
      closed = n <= 0;
    }
  }
  ::close(fd);
  return closed;
}

// A DEALER presenting `routing_id` to the peer's ROUTER at `endpoint`.
class HostileDealer {
 public:
  // `linger`: how long closing waits for queued messages to reach the peer.
  HostileDealer(zmq::context_t& ctx, const std::string& routing_id, const std::string& endpoint,
                std::chrono::milliseconds linger = std::chrono::milliseconds(2000))
      : socket_(ctx, zmq::socket_type::dealer), monitor_(ctx, zmq::socket_type::pair) {
    static std::atomic<int> next{0};
    const std::string monitor_endpoint = "inproc://hostile-monitor-" + std::to_string(next++);
    socket_.set(zmq::sockopt::routing_id, zmq::buffer(routing_id));
    socket_.set(zmq::sockopt::linger, static_cast<int>(linger.count()));
    socket_.set(zmq::sockopt::sndhwm, 1000);
    socket_.set(zmq::sockopt::reconnect_ivl, 50);
    socket_.set(zmq::sockopt::immediate, 1);  // queue only on a live connection: "sent" means handed to one
    zmq_socket_monitor(socket_.handle(), monitor_endpoint.c_str(),
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED);
    monitor_.connect(monitor_endpoint);
    socket_.connect(endpoint);
  }
  ~HostileDealer() {
    zmq_socket_monitor(socket_.handle(), nullptr, 0);
    monitor_.close();
    socket_.close();
  }
  HostileDealer(const HostileDealer&) = delete;
  HostileDealer& operator=(const HostileDealer&) = delete;

  // Waits until the ZMTP handshake has succeeded `count` times in all.
  bool WaitHandshakes(int count, std::chrono::milliseconds timeout) {
    return WaitFor(timeout, [&] { return handshakes_ >= count; });
  }
  // Waits until the peer has dropped our connection `count` times in all.
  bool WaitDisconnects(int count, std::chrono::milliseconds timeout) {
    return WaitFor(timeout, [&] { return disconnects_ >= count; });
  }
  int handshakes() {
    DrainMonitor(0);
    return handshakes_;
  }
  int disconnects() {
    DrainMonitor(0);
    return disconnects_;
  }

  // One multipart message of these frames; false if not taken within
  // `timeout` (no connection, or the send queue is at its HWM).
  bool SendFrames(const std::vector<std::string>& frames, std::chrono::milliseconds timeout) {
    if (frames.empty()) return false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      try {
        zmq::message_t first(frames[0].data(), frames[0].size());
        const auto flags = frames.size() > 1 ? zmq::send_flags::dontwait | zmq::send_flags::sndmore
                                             : zmq::send_flags::dontwait;
        if (socket_.send(first, flags)) {
          for (size_t i = 1; i < frames.size(); ++i) {
            zmq::message_t part(frames[i].data(), frames[i].size());
            socket_.send(part, i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
          }
          return true;
        }
      } catch (const zmq::error_t&) {
        return false;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      DrainMonitor(1);  // also waits a millisecond
    }
  }

  // A wire message: the encoded header, and the payload as frame 1 if given.
  bool Send(const Header& h, const std::string* payload, std::chrono::milliseconds timeout) {
    std::vector<std::string> frames = {EncodeHeader(h)};
    if (payload != nullptr) frames.push_back(*payload);
    return SendFrames(frames, timeout);
  }

 private:
  template <typename Pred>
  bool WaitFor(std::chrono::milliseconds timeout, Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      DrainMonitor(0);
      if (pred()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      DrainMonitor(20);
    }
  }

  // Reads monitor events (each is [u16 event, u32 value] then the address),
  // waiting at most `wait_ms` for the first.
  void DrainMonitor(int wait_ms) {
    zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(wait_ms)) <= 0) return;
    zmq::message_t event;
    while (monitor_.recv(event, zmq::recv_flags::dontwait)) {
      uint16_t id = 0;
      if (event.size() >= sizeof(id)) std::memcpy(&id, event.data(), sizeof(id));
      zmq::message_t address;
      if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::none);
      if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) ++handshakes_;
      if (id == ZMQ_EVENT_DISCONNECTED) ++disconnects_;
    }
  }

  zmq::socket_t socket_;
  zmq::socket_t monitor_;
  int handshakes_ = 0;
  int disconnects_ = 0;
};

// One bad message of the catalogue below, and the counter of the metrics'
// "rejected" object (docs/training.md) it must land in.
struct HostileMessage {
  std::string name;                 // what it is, for test output
  std::vector<std::string> frames;  // as the DEALER sends them (the ROUTER adds the routing id)
  std::string counted_as;           // "bad_header", "unknown_sender", "membership", ...
};

// A header as a member would send it; the attacks below change one thing.
inline Header PlausiblePiece(const std::string& sender, uint64_t view, uint64_t round, uint64_t n_elems) {
  PieceExtra extra{n_elems, n_elems, false};
  return PieceHeader(sender, RoundTag{view, round}, RingPhase::kReduceScatter, 0, 1, n_elems, extra);
}

inline std::string F32Payload(size_t n, float value) {
  std::string out(n * sizeof(float), '\0');
  for (size_t i = 0; i < n; ++i) std::memcpy(out.data() + i * sizeof(float), &value, sizeof(float));
  return out;
}

// Every kind of bad input the issue lists, as sent by an outsider whose
// routing id is `self` (not a cluster member), to a peer whose model reduces
// `elems` floats per round; `member` is a cluster member's id to spoof.
// From an outsider, everything that passes the structural checks (version,
// type) fails at the sender check first: wrong sizes, NaN, old rounds and
// other views are all "unknown_sender" (docs/protocol.md, "Rejection").
inline std::vector<HostileMessage> OutsiderCatalogue(const std::string& self, const std::string& member,
                                                      uint64_t elems, uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::vector<HostileMessage> out;
  const auto add = [&](std::string name, std::vector<std::string> frames, std::string kind) {
    out.push_back({std::move(name), std::move(frames), std::move(kind)});
  };
  const Header piece = PlausiblePiece(self, 1, 3, elems);
  const std::string good_header = EncodeHeader(piece);
  const std::string payload = F32Payload(elems, 0.5f);
  const std::string id = std::string(1, static_cast<char>(0xa0 | self.size())) + self;  // msgpack fixstr (< 32 bytes)

  // Valid ZMTP, garbage frames.
  add("three frames", {good_header, payload, "trailing junk frame"}, "malformed_frames");
  add("four frames", {good_header, payload, "", "x"}, "malformed_frames");
  add("random header bytes", {RandomBytes(rng, 64), payload}, "bad_header");
  add("empty header frame", {std::string()}, "bad_header");
  add("header of one zero byte", {std::string(1, '\0')}, "bad_header");

  // msgpack of the wrong shape or types.
  add("msgpack map", {std::string("\x81\x01\x02", 3)}, "bad_header");
  add("array of 10", {std::string("\x9a\x01\x03", 3) + id + std::string("\x00\x00\x00\x00\x00\x00\x00", 7)},
      "bad_header");
  add("array of 12", {std::string("\x9c\x01\x03", 3) + id + std::string("\x00\x00\x00\x00\x00\x00\x00\xc4\x00\x00", 10)},
      "bad_header");
  add("str where view_id belongs", {std::string("\x9b\x01\x03", 3) + id + std::string("\xa1x\x00\x00\x00\x00\x01\x00\xc4\x00", 10)},
      "bad_header");
  add("negative view_id", {std::string("\x9b\x01\x03", 3) + id + std::string("\xff\x00\x00\x00\x00\x01\x00\xc4\x00", 9)},
      "bad_header");
  add("float view_id", {std::string("\x9b\x01\x03", 3) + id + std::string("\xca\x3f\x80\x00\x00\x00\x00\x00\x00\x01\x00\xc4\x00", 13)},
      "bad_header");
  add("nested array", {std::string("\x9b\x01\x03", 3) + id + std::string("\x90\x00\x00\x00\x00\x01\x00\xc4\x00", 9)},
      "bad_header");
  add("str where extra (bin) belongs", {std::string("\x9b\x01\x03", 3) + id + std::string("\x00\x00\x00\x00\x00\x01\x00\xa0", 8)},
      "bad_header");
  add("array claiming 4 billion fields", {std::string("\xdd\xff\xff\xff\xff\x01", 6)}, "bad_header");
  add("truncated header", {good_header.substr(0, good_header.size() - 3), payload}, "bad_header");
  add("trailing bytes after the header", {good_header + std::string("\x00", 1), payload}, "bad_header");
  add("sender of 300 bytes", {EncodeHeader([&] { Header h = piece; h.sender.assign(300, 'm'); return h; }())},
      "bad_header");

  // Unknown version or type.
  for (uint32_t version : {0u, 2u, 9u, 0xffffffffu}) {
    Header h = piece;
    h.version = version;
    add("wire version " + std::to_string(version), {EncodeHeader(h), payload}, "bad_version");
  }
  add("version 2 with a shorter header", {std::string("\x93\x02\x03", 3) + id}, "bad_version");
  for (int type : {0, 9, 99, 255}) {
    Header h = piece;
    h.type = static_cast<MessageType>(type);
    add("message type " + std::to_string(type), {EncodeHeader(h), payload}, "unknown_type");
  }

  // Well-formed, from a stranger: every semantic fault is refused at the sender check.
  const auto stranger = [&](const std::string& name, const Header& h, const std::string* body) {
    std::vector<std::string> frames = {EncodeHeader(h)};
    if (body != nullptr) frames.push_back(*body);
    add(name, std::move(frames), "unknown_sender");
  };
  stranger("a plausible piece", piece, &payload);
  {
    const std::string short_payload = F32Payload(elems - 1, 0.5f);
    stranger("payload shorter than n_elems", piece, &short_payload);
    Header h = piece;
    h.n_elems = elems + 1000;
    stranger("n_elems larger than the model", h, &payload);
    h.n_elems = ~0ULL;
    stranger("n_elems of 2^64-1", h, &payload);
  }
  {
    std::string nan = F32Payload(elems, std::numeric_limits<float>::quiet_NaN());
    stranger("NaN payload", piece, &nan);
    std::string inf = F32Payload(elems, std::numeric_limits<float>::infinity());
    stranger("Inf payload", piece, &inf);
    PieceExtra marker{elems, elems, true};
    stranger("non-finite marker", PieceHeader(self, RoundTag{1, 3}, RingPhase::kReduceScatter, 0, 1, elems, marker),
             nullptr);
  }
  {
    Header old_round = PlausiblePiece(self, 1, 0, elems);
    stranger("piece of an old round", old_round, &payload);
    Header old_view = PlausiblePiece(self, 0, 0, elems);
    stranger("piece of an old view", old_view, &payload);
    Header future_view = PlausiblePiece(self, 1000, 0, elems);
    stranger("piece of another (future) view", future_view, &payload);
    Header gather = piece;
    gather.type = MessageType::kAllGather;
    stranger("all-gather piece", gather, &payload);
  }
  {
    stranger("hello", HelloHeader(self, HelloFlags{true, true}), nullptr);
    stranger("bye", ByeHeader(self), nullptr);
    Header gossip = piece;
    gossip.type = MessageType::kGossip;
    stranger("gossip push", gossip, &payload);
  }

  // Spoofing: a member's name in the header, our own routing id underneath.
  const auto spoof = [&](const std::string& name, Header h, const std::string* body) {
    h.sender = member;
    std::vector<std::string> frames = {EncodeHeader(h)};
    if (body != nullptr) frames.push_back(*body);
    add(name, std::move(frames), "sender_mismatch");
  };
  spoof("spoofed piece", piece, &payload);
  spoof("spoofed non-finite marker",
        PieceHeader(member, RoundTag{1, 3}, RingPhase::kReduceScatter, 0, 1, elems, PieceExtra{elems, elems, true}),
        nullptr);
  spoof("spoofed bye", ByeHeader(member), nullptr);
  spoof("spoofed hello", HelloHeader(member, HelloFlags{true, true}), nullptr);
  {
    Header hb;
    hb.type = MessageType::kHeartbeat;
    hb.extra = "whatever";
    spoof("spoofed heartbeat", hb, nullptr);
  }

  // Membership's own messages, malformed (a well-formed heartbeat from a
  // stranger is a join request in security mode "none": see docs/protocol.md).
  {
    Header hb;
    hb.type = MessageType::kHeartbeat;
    hb.sender = self;
    hb.extra = "\xee" + RandomBytes(rng, 40);  // no heartbeat format byte is 0xee
    add("heartbeat with a garbage member table", {EncodeHeader(hb)}, "membership");
    add("heartbeat with a payload", {EncodeHeader(hb), payload}, "membership");
    Header req;
    req.type = MessageType::kStateRequest;
    req.sender = self;
    req.extra = "junk";
    add("state request with a garbage extra", {EncodeHeader(req)}, "membership");
  }
  return out;
}

}  // namespace meshtrain::testing
