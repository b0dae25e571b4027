// Transports exchanging real messages over loopback TCP: two and three peers,
// with and without payload, zero-copy keepalive release, a 64 MB payload,
// byte counts, and the routing id the ROUTER reports.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "meshtrain/transport.h"

using namespace meshtrain;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 10s;  // generous bound for anything that should happen promptly

std::unique_ptr<Transport> Make(const std::string& id, TransportConfig cfg = {}) {
  Result<std::unique_ptr<Transport>> t = Transport::Create(cfg, id, "tcp://127.0.0.1:0");
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(t).value();
}

void Link(Transport& from, const Transport& to) {
  Status st = from.Connect(to.self_id(), to.bound_endpoint());
  REQUIRE_MESSAGE(st.ok(), st.ToString());
}

OutgoingMessage Text(const std::string& header) {
  OutgoingMessage m;
  m.header = header;
  return m;
}

// A payload whose keepalive we can watch.
OutgoingMessage WithPayload(const std::string& header, std::shared_ptr<std::vector<float>> data) {
  OutgoingMessage m;
  m.header = header;
  m.payload = data->data();
  m.payload_bytes = data->size() * sizeof(float);
  m.keepalive = std::move(data);
  return m;
}

IncomingMessage MustReceive(Transport& t) {
  Result<IncomingMessage> r = t.Receive(kWait);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

std::string HeaderOf(const IncomingMessage& m) { return m.header.to_string(); }

// Polls `done` every millisecond for at most kWait; true if it became true.
template <typename Pred>
bool Eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("binding port 0 reports the real port") {
  auto a = Make("a");
  const std::string ep = a->bound_endpoint();
  CHECK(ep.rfind("tcp://127.0.0.1:", 0) == 0);
  CHECK(ep != "tcp://127.0.0.1:0");
  CHECK(std::stoi(ep.substr(ep.rfind(':') + 1)) > 0);
  CHECK(a->self_id() == "a");
}

TEST_CASE("two peers exchange messages with and without payload") {
  auto a = Make("a");
  auto b = Make("b");
  Link(*a, *b);
  Link(*b, *a);

  REQUIRE(a->Send("b", Text("hello from a"), kWait).ok());
  IncomingMessage m = MustReceive(*b);
  CHECK(m.from == "a");
  CHECK(HeaderOf(m) == "hello from a");
  CHECK_FALSE(m.has_payload);
  CHECK(m.payload.size() == 0);

  auto data = std::make_shared<std::vector<float>>(std::vector<float>{1.5f, -2.0f, 3.25f});
  REQUIRE(b->Send("a", WithPayload("tensor", data), kWait).ok());
  IncomingMessage t = MustReceive(*a);
  CHECK(t.from == "b");
  CHECK(HeaderOf(t) == "tensor");
  REQUIRE(t.has_payload);
  REQUIRE(t.payload.size() == 3 * sizeof(float));
  float got[3];
  std::memcpy(got, t.payload.data(), sizeof(got));
  CHECK(got[0] == 1.5f);
  CHECK(got[1] == -2.0f);
  CHECK(got[2] == 3.25f);

  // An empty frame 1 is still a payload frame.
  OutgoingMessage empty = Text("empty");
  static const char kNothing = 0;
  empty.payload = &kNothing;
  REQUIRE(a->Send("b", std::move(empty), kWait).ok());
  IncomingMessage e = MustReceive(*b);
  CHECK(e.has_payload);
  CHECK(e.payload.size() == 0);
}

TEST_CASE("received payloads are aligned for in-place float reads, whatever the header length") {
  auto a = Make("a");
  auto b = Make("b");
  Link(*a, *b);
  auto data = std::make_shared<std::vector<float>>(8192, 1.0f);
  const std::vector<size_t> sizes = {1, 4, 12, 40, 400, 4000, 12000, 32768};
  for (size_t bytes : sizes) {
    for (size_t header_len = 1; header_len <= 9; ++header_len) {
      OutgoingMessage m = Text(std::string(header_len, 'h'));
      m.payload = data->data();
      m.payload_bytes = bytes;
      m.keepalive = data;
      REQUIRE(a->Send("b", std::move(m), kWait).ok());
    }
  }
  for (size_t bytes : sizes) {
    for (size_t header_len = 1; header_len <= 9; ++header_len) {
      IncomingMessage m = MustReceive(*b);
      CAPTURE(bytes);
      CAPTURE(header_len);
      CHECK(m.payload.size() == bytes);
      CHECK(reinterpret_cast<uintptr_t>(m.payload.data()) % kPayloadAlignment == 0);
    }
  }
}

TEST_CASE("messages to one peer keep their order") {
  auto a = Make("a");
  auto b = Make("b");
  Link(*a, *b);
  for (int i = 0; i < 500; ++i) REQUIRE(a->Send("b", Text(std::to_string(i)), kWait).ok());
  for (int i = 0; i < 500; ++i) CHECK(HeaderOf(MustReceive(*b)) == std::to_string(i));
}

// docs/transport.md, "Two lanes": a heartbeat must not wait behind gradients.
TEST_CASE("the control lane is not held behind a full data lane") {
  TransportConfig small;
  small.sndhwm = 4;
  small.rcvhwm = 4;
  auto a = Make("a", small);
  auto b = Make("b", small);  // reads nothing until the end: its input stops
  Link(*a, *b);
  Link(*b, *a);  // so that b counts what a sends under "a"
  const auto block = std::make_shared<std::vector<float>>(16 << 10, 1.0f);  // 64 KiB
  int queued = 0;
  Status refused = Status::OK();
  for (; queued < 100000; ++queued) {
    refused = a->Send("b", WithPayload("data", block), 200ms);
    if (!refused.ok()) break;
  }
  REQUIRE_MESSAGE(refused.code() == Status::Code::kUnavailable, "the data lane never filled up: " << refused.ToString());
  // Sockets, kernel buffers and our queue hold far more than what comes ahead of a heartbeat.
  REQUIRE(queued > 4 * small.rcvhwm);

  OutgoingMessage beat = Text("heartbeat");
  beat.lane = Lane::kControl;
  Status sent = a->Send("b", std::move(beat), kWait);
  CHECK_MESSAGE(sent.ok(), "the control lane waited behind the data lane: " << sent.ToString());

  // Only what b had already read into its own queue (rcvhwm messages) and
  // the ROUTER's turn between the two connections come before it; on one
  // connection it would have come after all `queued` data messages.
  int heartbeat_at = -1;
  for (int i = 0; i <= queued; ++i) {
    const IncomingMessage m = MustReceive(*b);
    CHECK(m.from == "a");  // the lane's mark is not part of the id
    if (HeaderOf(m) == "heartbeat") {
      CHECK(m.lane == Lane::kControl);
      heartbeat_at = i;
    } else {
      CHECK(m.lane == Lane::kData);
    }
  }
  MESSAGE("heartbeat received as message " << heartbeat_at << " of " << queued + 1);
  CHECK(heartbeat_at >= 0);
  CHECK(heartbeat_at <= 2 * small.rcvhwm);
  // Both lanes count as one neighbour.
  const TransportStats stats = b->stats();
  CHECK(stats.bytes_by_peer.count("a") == 1);
  CHECK(stats.bytes_by_peer.size() == 1);
}

TEST_CASE("three peers, everyone to everyone, the ROUTER names each sender") {
  std::vector<std::unique_ptr<Transport>> peers;
  for (const char* id : {"p0", "p1", "p2"}) peers.push_back(Make(id));
  for (auto& from : peers) {
    for (auto& to : peers) {
      if (from != to) Link(*from, *to);
    }
  }
  for (auto& from : peers) {
    for (auto& to : peers) {
      if (from == to) continue;
      auto data = std::make_shared<std::vector<float>>(4, static_cast<float>(from->self_id()[1] - '0'));
      REQUIRE(from->Send(to->self_id(), WithPayload(from->self_id() + "->" + to->self_id(), data), kWait).ok());
    }
  }
  for (auto& to : peers) {
    std::vector<std::string> senders;
    for (int k = 0; k < 2; ++k) {
      IncomingMessage m = MustReceive(*to);
      CHECK(HeaderOf(m) == m.from + "->" + to->self_id());
      float v = 0;
      std::memcpy(&v, m.payload.data(), sizeof(v));
      CHECK(v == static_cast<float>(m.from[1] - '0'));
      senders.push_back(m.from);
    }
    std::sort(senders.begin(), senders.end());
    std::vector<std::string> expected;
    for (auto& p : peers) {
      if (p != to) expected.push_back(p->self_id());
    }
    CHECK(senders == expected);
  }
}

TEST_CASE("a peer can send to itself") {
  auto a = Make("a");
  Link(*a, *a);
  REQUIRE(a->Send("a", Text("loop"), kWait).ok());
  IncomingMessage m = MustReceive(*a);
  CHECK(m.from == "a");
  CHECK(HeaderOf(m) == "loop");
}

TEST_CASE("zero-copy payload: the keepalive is released once ZeroMQ is done") {
  auto a = Make("a");
  auto b = Make("b");
  Link(*a, *b);
  auto data = std::make_shared<std::vector<float>>(1 << 16, 0.5f);
  const float* original = data->data();
  std::weak_ptr<std::vector<float>> watch = data;
  REQUIRE(a->Send("b", WithPayload("big", std::move(data)), kWait).ok());
  IncomingMessage m = MustReceive(*b);
  CHECK(m.payload.size() == (1u << 16) * sizeof(float));
  CHECK(m.payload.data() != static_cast<const void*>(original));  // a different process would not share it either
  CHECK(Eventually([&] { return watch.expired(); }));
}

TEST_CASE("without a keepalive the payload is copied before Send returns") {
  auto a = Make("a");
  auto b = Make("b");
  Link(*a, *b);
  std::vector<char> buffer(1000, 'x');
  OutgoingMessage m = Text("copied");
  m.payload = buffer.data();
  m.payload_bytes = buffer.size();
  REQUIRE(a->Send("b", std::move(m), kWait).ok());
  std::fill(buffer.begin(), buffer.end(), 'y');  // the caller may reuse its buffer at once
  IncomingMessage got = MustReceive(*b);
  CHECK(std::string(static_cast<const char*>(got.payload.data()), got.payload.size()) == std::string(1000, 'x'));
}

TEST_CASE("a 64 MB payload arrives intact") {
  auto a = Make("a");
  auto b = Make("b");
  Link(*a, *b);
  const size_t n = (64u << 20) / sizeof(float);
  auto data = std::make_shared<std::vector<float>>(n);
  std::iota(data->begin(), data->end(), 0.0f);
  std::weak_ptr<std::vector<float>> watch = data;
  REQUIRE(a->Send("b", WithPayload("64MB", std::move(data)), kWait).ok());
  IncomingMessage m = MustReceive(*b);
  REQUIRE(m.payload.size() == n * sizeof(float));
  // Reduce-style read straight out of the received buffer.
  const auto* bytes = static_cast<const unsigned char*>(m.payload.data());
  bool intact = true;
  for (size_t i = 0; i < n; i += 4099) {
    float v;
    std::memcpy(&v, bytes + i * sizeof(float), sizeof(v));
    intact = intact && v == static_cast<float>(i);
  }
  float last;
  std::memcpy(&last, bytes + (n - 1) * sizeof(float), sizeof(last));
  CHECK(intact);
  CHECK(last == static_cast<float>(n - 1));
  CHECK(Eventually([&] { return watch.expired(); }));
  CHECK(a->stats().bytes_sent == 4 + n * sizeof(float));
  CHECK(b->stats().bytes_recv == 4 + n * sizeof(float));
}

TEST_CASE("stats count header and payload bytes in both directions") {
  auto a = Make("a");
  auto b = Make("b");
  Link(*a, *b);
  Link(*b, *a);
  auto data = std::make_shared<std::vector<float>>(100, 1.0f);
  REQUIRE(a->Send("b", Text("12345"), kWait).ok());                // 5
  REQUIRE(a->Send("b", WithPayload("123", data), kWait).ok());     // 3 + 400
  REQUIRE(b->Send("a", Text("1234567"), kWait).ok());              // 7
  MustReceive(*b);
  MustReceive(*b);
  MustReceive(*a);
  const TransportStats sa = a->stats(), sb = b->stats();
  CHECK(sa.bytes_sent == 408);
  CHECK(sa.msgs_sent == 2);
  CHECK(sa.bytes_recv == 7);
  CHECK(sa.msgs_recv == 1);
  CHECK(sb.bytes_sent == 7);
  CHECK(sb.msgs_sent == 1);
  CHECK(sb.bytes_recv == 408);
  CHECK(sb.msgs_recv == 2);
  CHECK(sa.malformed == 0);
  CHECK(sb.malformed == 0);
  CHECK(sa.send_timeouts == 0);
  // The same bytes by neighbour: one link each way.
  REQUIRE(sa.bytes_by_peer.size() == 1);
  CHECK(sa.bytes_by_peer.at("b").sent == 408);
  CHECK(sa.bytes_by_peer.at("b").recv == 7);
  REQUIRE(sb.bytes_by_peer.size() == 1);
  CHECK(sb.bytes_by_peer.at("a").sent == 7);
  CHECK(sb.bytes_by_peer.at("a").recv == 408);
}

TEST_CASE("bytes by peer: one entry per link, kept after Disconnect; unlinked senders under (other)") {
  auto a = Make("a");
  auto b = Make("b");
  auto c = Make("c");
  Link(*a, *b);
  Link(*a, *c);
  Link(*b, *a);
  REQUIRE(a->Send("b", Text("1234"), kWait).ok());
  REQUIRE(a->Send("c", Text("12"), kWait).ok());
  REQUIRE(b->Send("a", Text("123"), kWait).ok());
  MustReceive(*b);
  MustReceive(*c);
  MustReceive(*a);
  // a's message reached c before c linked to a: c counted it under kUnlinkedSender.
  Link(*c, *a);
  REQUIRE(c->Send("a", Text("123456"), kWait).ok());
  MustReceive(*a);
  REQUIRE(a->Disconnect("b").ok());
  const TransportStats sa = a->stats();
  CHECK(sa.bytes_by_peer.size() == 2);
  CHECK(sa.bytes_by_peer.at("b").sent == 4);  // disconnected, still counted
  CHECK(sa.bytes_by_peer.at("b").recv == 3);
  CHECK(sa.bytes_by_peer.at("c").sent == 2);
  CHECK(sa.bytes_by_peer.at("c").recv == 6);
  CHECK(sa.bytes_by_peer.count(kUnlinkedSender) == 0);
  uint64_t sent = 0, recv = 0;
  for (const auto& [id, link] : sa.bytes_by_peer) {
    sent += link.sent;
    recv += link.recv;
  }
  CHECK(sent == sa.bytes_sent);
  CHECK(recv == sa.bytes_recv);
  const TransportStats sc = c->stats();
  CHECK(sc.bytes_by_peer.at("a").sent == 6);
  CHECK(sc.bytes_by_peer.at("a").recv == 0);
  CHECK(sc.bytes_by_peer.at(kUnlinkedSender).recv == 2);
  CHECK(sc.bytes_recv == 2);
}

TEST_CASE("the ROUTER reports the routing id, and malformed framing is counted, not delivered") {
  auto b = Make("b");
  zmq::context_t ctx(1);
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::routing_id, std::string("imposter"));
  raw.connect(b->bound_endpoint());
  // Four frames after the routing id: not a meshtrain message.
  for (int i = 0; i < 4; ++i) {
    REQUIRE(raw.send(zmq::str_buffer("f"), i < 3 ? zmq::send_flags::sndmore : zmq::send_flags::none));
  }
  // Then a proper two-frame message.
  REQUIRE(raw.send(zmq::str_buffer("hdr"), zmq::send_flags::sndmore));
  REQUIRE(raw.send(zmq::str_buffer("payload"), zmq::send_flags::none));
  IncomingMessage m = MustReceive(*b);
  CHECK(m.from == "imposter");  // whatever the header claims, this is who connected
  CHECK(HeaderOf(m) == "hdr");
  CHECK(m.payload.to_string() == "payload");
  CHECK(b->stats().malformed == 1);
  CHECK(b->stats().msgs_recv == 1);
  raw.close();
}

TEST_CASE("SendAll hands several messages over at once: one status each, in order, and each arrives") {
  auto a = Make("a");
  auto b = Make("b");
  auto c = Make("c");
  Link(*a, *b);
  Link(*a, *c);
  auto data = std::make_shared<std::vector<float>>(1000, 2.5f);
  std::weak_ptr<std::vector<float>> watched = data;
  std::vector<Transport::Addressed> batch;
  batch.push_back({"b", WithPayload("to-b", data)});
  batch.push_back({"nobody", Text("to-nobody")});  // never connected: NotFound, the others still go
  batch.push_back({"c", WithPayload("to-c", data)});
  batch.push_back({"b", Text("to-b-again")});
  data.reset();
  const std::vector<Status> sent = a->SendAll(std::move(batch), kWait);
  REQUIRE(sent.size() == 4);
  CHECK_MESSAGE(sent[0].ok(), sent[0].ToString());
  CHECK(sent[1].code() == Status::Code::kNotFound);
  CHECK_MESSAGE(sent[2].ok(), sent[2].ToString());
  CHECK_MESSAGE(sent[3].ok(), sent[3].ToString());

  IncomingMessage first = MustReceive(*b);
  CHECK(HeaderOf(first) == "to-b");
  CHECK(first.from == "a");
  REQUIRE(first.payload.size() == 1000 * sizeof(float));
  float value = 0;
  std::memcpy(&value, first.payload.data(), sizeof(float));
  CHECK(value == 2.5f);
  CHECK(HeaderOf(MustReceive(*b)) == "to-b-again");  // order to one peer is kept
  CHECK(HeaderOf(MustReceive(*c)) == "to-c");
  // Both zero-copy sends let go of the shared buffer once ZeroMQ is done with it.
  CHECK(Eventually([&] { return watched.expired(); }));
  CHECK(a->stats().msgs_sent == 3);
}
