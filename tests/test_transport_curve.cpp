// CurveZMQ on the transport (docs/security.md): key files, two CURVE peers
// exchanging, and the three kinds of outsider the ZAP rules refuse — an
// unknown key, a plaintext client, a valid key speaking for an id it may not —
// each counted in auth_refused, none delivered to Receive(). Real sockets on
// 127.0.0.1, OS-chosen ports, temp dirs.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "meshtrain/transport.h"
#include "support/temp_dir.h"
#include "transport/access_policy.h"
#include "transport/curve_keys.h"
#include "transport/exposure_warning.h"
#include "transport/refusal_log.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 10s;  // bound for anything that should happen promptly

#define CHECK_CONTAINS(text, part) CHECK_MESSAGE((text).find(part) != std::string::npos, (text))

struct KeyPair {
  std::string public_key, secret_key;
};

KeyPair NewKeys() {
  std::array<char, 41> pub{}, sec{};
  REQUIRE(zmq_curve_keypair(pub.data(), sec.data()) == 0);
  return {pub.data(), sec.data()};
}

// Security for `self` in a cluster whose bound keys are `peers` (id, key pair).
TransportSecurity CurveFor(const KeyPair& self, const std::vector<std::pair<std::string, KeyPair>>& peers,
                           std::vector<AuthorizedKey> extra = {}) {
  TransportSecurity s;
  s.curve = true;
  s.public_key = self.public_key;
  s.secret_key = self.secret_key;
  for (const auto& [id, keys] : peers) {
    s.authorized.push_back(AuthorizedKey{keys.public_key, {id}});
    s.cluster_ids.push_back(id);
  }
  for (auto& e : extra) s.authorized.push_back(std::move(e));
  return s;
}

std::unique_ptr<Transport> Make(const std::string& id, const TransportSecurity& security) {
  Result<std::unique_ptr<Transport>> t = Transport::Create(TransportConfig{}, id, "tcp://127.0.0.1:0", security);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(t).value();
}

OutgoingMessage Text(const std::string& header) {
  OutgoingMessage m;
  m.header = header;
  return m;
}

template <typename Pred>
bool Eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

// Sends until the peer takes one (the CURVE handshake takes a moment).
void SendEventually(Transport& from, const std::string& to, const std::string& header) {
  Status st = Status::Unavailable("not tried");
  for (int i = 0; i < 100 && !st.ok(); ++i) st = from.Send(to, Text(header), 100ms);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
}

// An outsider: a raw ZeroMQ DEALER that keeps sending to `endpoint` as
// `routing_id`, with CURVE keys or (server_key empty) in plaintext.
class Intruder {
 public:
  Intruder(const std::string& endpoint, const std::string& routing_id, const KeyPair* own,
           const std::string& server_key)
      : context_(1), socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::routing_id, routing_id);
    socket_.set(zmq::sockopt::reconnect_ivl, 20);
    if (own != nullptr) {
      socket_.set(zmq::sockopt::curve_serverkey, server_key);
      socket_.set(zmq::sockopt::curve_publickey, own->public_key);
      socket_.set(zmq::sockopt::curve_secretkey, own->secret_key);
    }
    socket_.connect(endpoint);
  }
  // Queues a few messages (they leave if the handshake ever succeeds).
  void Send(int n) {
    for (int i = 0; i < n; ++i) socket_.send(zmq::buffer(std::string("forged")), zmq::send_flags::dontwait);
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

// Nothing at all arrives for a while (the intruder keeps trying meanwhile).
void CheckNothingDelivered(Transport& t, Intruder& intruder) {
  for (int i = 0; i < 5; ++i) {
    intruder.Send(10);
    Result<IncomingMessage> r = t.Receive(60ms);
    CHECK_MESSAGE(!r.ok(), "delivered a message from " << (r.ok() ? r->from : std::string()));
  }
  CHECK(t.stats().msgs_recv == 0);
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  { std::ofstream(path, std::ios::binary) << text; }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

}  // namespace

TEST_CASE("two CURVE transports exchange in both directions") {
  const KeyPair ka = NewKeys(), kb = NewKeys();
  const std::vector<std::pair<std::string, KeyPair>> cluster = {{"a", ka}, {"b", kb}};
  auto a = Make("a", CurveFor(ka, cluster));
  auto b = Make("b", CurveFor(kb, cluster));
  REQUIRE(a->Connect("b", b->bound_endpoint()).ok());
  REQUIRE(b->Connect("a", a->bound_endpoint()).ok());
  SendEventually(*a, "b", "hello b");
  Result<IncomingMessage> at_b = b->Receive(kWait);
  REQUIRE_MESSAGE(at_b.ok(), at_b.status().ToString());
  CHECK(at_b->from == "a");
  CHECK(at_b->header.to_string() == "hello b");

  // A payload too, zero-copy path included.
  auto data = std::make_shared<std::vector<float>>(100000, 1.5f);
  OutgoingMessage m = Text("payload");
  m.payload = data->data();
  m.payload_bytes = data->size() * sizeof(float);
  m.keepalive = data;
  REQUIRE(b->Send("a", std::move(m), kWait).ok());
  Result<IncomingMessage> at_a = a->Receive(kWait);
  REQUIRE(at_a.ok());
  CHECK(at_a->from == "b");
  REQUIRE(at_a->payload.size() == 400000);
  CHECK(static_cast<const float*>(at_a->payload.data())[99999] == 1.5f);
  CHECK(a->stats().auth_refused == 0);
  CHECK(b->stats().auth_refused == 0);
}

TEST_CASE("a frame of exactly max_msg_bytes still fits once encrypted") {
  const KeyPair ka = NewKeys(), kb = NewKeys();
  const std::vector<std::pair<std::string, KeyPair>> cluster = {{"a", ka}, {"b", kb}};
  TransportConfig cfg;
  cfg.max_msg_bytes = 4096;
  auto make = [&](const std::string& id, const KeyPair& k) {
    auto t = Transport::Create(cfg, id, "tcp://127.0.0.1:0", CurveFor(k, cluster));
    REQUIRE(t.ok());
    return std::move(t).value();
  };
  auto a = make("a", ka);
  auto b = make("b", kb);
  REQUIRE(a->Connect("b", b->bound_endpoint()).ok());
  std::vector<char> bytes(4096, 'x');
  OutgoingMessage m = Text("full");
  m.payload = bytes.data();
  m.payload_bytes = bytes.size();  // no keepalive: copied
  Status st = Status::Unavailable("not tried");
  for (int i = 0; i < 100 && !st.ok(); ++i) {
    OutgoingMessage copy = m;
    st = a->Send("b", std::move(copy), 100ms);
  }
  REQUIRE(st.ok());
  Result<IncomingMessage> r = b->Receive(kWait);
  REQUIRE(r.ok());
  CHECK(r->payload.size() == 4096);
}

TEST_CASE("a client with an unknown key is refused by ZAP, counted, and delivers nothing") {
  const KeyPair ka = NewKeys(), kb = NewKeys(), stranger = NewKeys();
  auto b = Make("b", CurveFor(kb, {{"a", ka}, {"b", kb}}));
  // It knows b's public key and claims a's id, but its own key is not listed.
  Intruder intruder(b->bound_endpoint(), "a", &stranger, kb.public_key);
  intruder.Send(10);
  REQUIRE(Eventually([&] { return b->stats().auth_refused >= 1; }));
  CheckNothingDelivered(*b, intruder);
}

TEST_CASE("a plaintext client is refused at the handshake, counted, and delivers nothing") {
  const KeyPair ka = NewKeys(), kb = NewKeys();
  auto b = Make("b", CurveFor(kb, {{"a", ka}, {"b", kb}}));
  Intruder intruder(b->bound_endpoint(), "a", nullptr, "");
  intruder.Send(10);
  REQUIRE(Eventually([&] { return b->stats().auth_refused >= 1; }));
  CheckNothingDelivered(*b, intruder);
}

TEST_CASE("a client that does not know our public key fails the handshake and is counted") {
  const KeyPair ka = NewKeys(), kb = NewKeys(), wrong_server = NewKeys();
  auto b = Make("b", CurveFor(kb, {{"a", ka}, {"b", kb}}));
  Intruder intruder(b->bound_endpoint(), "a", &ka, wrong_server.public_key);  // a's real key, wrong server key
  intruder.Send(10);
  REQUIRE(Eventually([&] { return b->stats().auth_refused >= 1; }));
  CheckNothingDelivered(*b, intruder);
}

TEST_CASE("a valid key speaking for an id it may not use is refused per message") {
  const KeyPair ka = NewKeys(), kb = NewKeys(), kc = NewKeys(), member = NewKeys();
  // `member` is authorized but unbound: it may speak for any cluster id, and no other.
  auto b = Make("b", CurveFor(kb, {{"a", ka}, {"b", kb}, {"c", kc}}, {AuthorizedKey{member.public_key, {}}}));

  SUBCASE("an unbound key claiming an id that is not in the cluster") {
    Intruder intruder(b->bound_endpoint(), "mallory", &member, kb.public_key);
    intruder.Send(10);
    REQUIRE(Eventually([&] { return b->stats().auth_refused >= 1; }));
    CheckNothingDelivered(*b, intruder);
  }
  SUBCASE("c's key claiming to be a") {
    Intruder intruder(b->bound_endpoint(), "a", &kc, kb.public_key);
    intruder.Send(10);
    REQUIRE(Eventually([&] { return b->stats().auth_refused >= 1; }));
    CheckNothingDelivered(*b, intruder);
  }
  SUBCASE("the unbound key with a cluster id is let in") {
    Intruder intruder(b->bound_endpoint(), "c", &member, kb.public_key);
    intruder.Send(1);
    Result<IncomingMessage> r = b->Receive(kWait);
    REQUIRE(r.ok());
    CHECK(r->from == "c");
    CHECK(b->stats().auth_refused == 0);
  }
}

TEST_CASE("the cluster keeps working while an outsider hammers a peer") {
  const KeyPair ka = NewKeys(), kb = NewKeys(), stranger = NewKeys();
  const std::vector<std::pair<std::string, KeyPair>> cluster = {{"a", ka}, {"b", kb}};
  auto a = Make("a", CurveFor(ka, cluster));
  auto b = Make("b", CurveFor(kb, cluster));
  Intruder bad_key(b->bound_endpoint(), "a", &stranger, kb.public_key);
  Intruder plaintext(b->bound_endpoint(), "a", nullptr, "");
  REQUIRE(a->Connect("b", b->bound_endpoint()).ok());
  for (int i = 0; i < 50; ++i) {
    bad_key.Send(5);
    plaintext.Send(5);
    SendEventually(*a, "b", "m" + std::to_string(i));
    Result<IncomingMessage> r = b->Receive(kWait);
    REQUIRE(r.ok());
    CHECK(r->from == "a");
    CHECK(r->header.to_string() == "m" + std::to_string(i));
  }
  CHECK(b->stats().msgs_recv == 50);
  CHECK(Eventually([&] { return b->stats().auth_refused >= 2; }));
}

TEST_CASE("connecting to a peer whose key is not known fails with a clear error") {
  const KeyPair ka = NewKeys(), kb = NewKeys();
  auto a = Make("a", CurveFor(ka, {{"a", ka}}, {AuthorizedKey{kb.public_key, {}}}));
  Status st = a->Connect("b", "tcp://127.0.0.1:5999");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK_CONTAINS(st.message(), "peer 'b'");
  CHECK_CONTAINS(st.message(), "security.authorized_keys");
  // A key bound to the endpoint instead (how cluster.bootstrap finds a peer's key) is enough.
  auto a2 = Make("a", CurveFor(ka, {{"a", ka}}, {AuthorizedKey{kb.public_key, {"tcp://127.0.0.1:5999"}}}));
  CHECK(a2->Connect("bootstrap:tcp://127.0.0.1:5999", "tcp://127.0.0.1:5999").ok());
}

TEST_CASE("Create refuses a public key that does not belong to the secret key") {
  const KeyPair ka = NewKeys(), other = NewKeys();
  TransportSecurity s = CurveFor(ka, {{"a", ka}});
  s.public_key = other.public_key;
  auto t = Transport::Create(TransportConfig{}, "a", "tcp://127.0.0.1:0", s);
  CHECK(t.status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("key lines and key files") {
  using namespace meshtrain::transport_internal;
  const KeyPair k = NewKeys();
  CHECK(IsZ85Key(k.public_key));
  CHECK_FALSE(IsZ85Key(k.public_key.substr(1)));
  auto line = ParseKeyLine(k.public_key + "  p0 tcp://10.0.0.1:7101");
  REQUIRE(line.ok());
  CHECK(line->key == k.public_key);
  CHECK(line->names == std::vector<std::string>{"p0", "tcp://10.0.0.1:7101"});
  CHECK_FALSE(ParseKeyLine("short p0").ok());
  CHECK_FALSE(ParseKeyLine(k.public_key + " bad/name").ok());
  CHECK(IsInlineKeyEntry(k.public_key));
  CHECK(IsInlineKeyEntry(k.public_key + " p0"));
  CHECK_FALSE(IsInlineKeyEntry("keys/cluster.pub"));

  TempDir dir;
  WriteFile(dir.File("ok.pub"), "# comment\n\n" + k.public_key + " p0\r\n", 0644);
  auto keys = ReadKeyFile(dir.File("ok.pub"), "security.authorized_keys[0]");
  REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
  REQUIRE(keys->size() == 1);
  CHECK(keys->front().names == std::vector<std::string>{"p0"});

  WriteFile(dir.File("bad.pub"), "# comment\n" + k.public_key + "\nnot-a-key\n", 0644);
  auto bad = ReadKeyFile(dir.File("bad.pub"), "security.authorized_keys[1]");
  REQUIRE_FALSE(bad.ok());
  CHECK_CONTAINS(bad.status().message(), dir.File("bad.pub") + ":3:");
  CHECK_CONTAINS(bad.status().message(), "security.authorized_keys[1]");

  WriteFile(dir.File("empty.pub"), "# nothing\n", 0644);
  CHECK_CONTAINS(ReadKeyFile(dir.File("empty.pub"), "x").status().message(), "holds no key");
}

TEST_CASE("LoadTransportSecurity reads the files, and refuses a secret key others can read") {
  TempDir dir;
  const KeyPair k0 = NewKeys(), k1 = NewKeys();
  WriteFile(dir.File("p0.key"), "# secret\n" + k0.secret_key + "\n", 0600);
  WriteFile(dir.File("p0.pub"), k0.public_key + " p0\n", 0644);
  WriteFile(dir.File("cluster.pub"), k0.public_key + " p0\n" + k1.public_key + " p1\n", 0644);
  SecurityConfig cfg;
  cfg.mode = SecurityMode::kCurve;
  cfg.secret_key_file = dir.File("p0.key");
  cfg.public_key_file = dir.File("p0.pub");
  cfg.authorized_keys = {dir.File("cluster.pub"), NewKeys().public_key};

  auto s = LoadTransportSecurity(cfg, {"p0", "p1"});
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  CHECK(s->curve);
  CHECK(s->secret_key == k0.secret_key);
  CHECK(s->public_key == k0.public_key);
  REQUIRE(s->authorized.size() == 3);
  CHECK(s->authorized[1].public_key == k1.public_key);
  CHECK(s->authorized[1].names == std::vector<std::string>{"p1"});
  CHECK(s->authorized[2].names.empty());

  SUBCASE("mode none reads nothing") {
    cfg.mode = SecurityMode::kNone;
    cfg.secret_key_file = dir.File("missing.key");
    auto none = LoadTransportSecurity(cfg, {"p0"});
    REQUIRE(none.ok());
    CHECK_FALSE(none->curve);
  }
  SUBCASE("group- or world-readable secret key") {
    for (mode_t mode : {0644, 0640, 0604, 0660}) {
      REQUIRE(::chmod(cfg.secret_key_file.c_str(), mode) == 0);
      auto refused = LoadTransportSecurity(cfg, {"p0", "p1"});
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.status().code() == Status::Code::kInvalidArgument);
      CHECK_CONTAINS(refused.status().message(), cfg.secret_key_file);
      CHECK_CONTAINS(refused.status().message(), "chmod 600 " + cfg.secret_key_file);
    }
    REQUIRE(::chmod(cfg.secret_key_file.c_str(), 0400) == 0);  // read-only for the owner is fine
    CHECK(LoadTransportSecurity(cfg, {"p0", "p1"}).ok());
  }
  SUBCASE("missing secret key file") {
    cfg.secret_key_file = dir.File("nope.key");
    auto missing = LoadTransportSecurity(cfg, {"p0"});
    CHECK_CONTAINS(missing.status().message(), dir.File("nope.key"));
    CHECK_CONTAINS(missing.status().message(), "meshtrain keygen");
  }
  SUBCASE("public key of another pair") {
    WriteFile(dir.File("other.pub"), k1.public_key + "\n", 0644);
    cfg.public_key_file = dir.File("other.pub");
    auto mismatch = LoadTransportSecurity(cfg, {"p0"});
    CHECK_CONTAINS(mismatch.status().message(), "does not belong to the secret key");
  }
  SUBCASE("a name bound to two keys is refused when the transport is made") {
    cfg.authorized_keys.push_back(NewKeys().public_key + " p1");
    auto two = LoadTransportSecurity(cfg, {"p0", "p1"});
    REQUIRE(two.ok());
    auto t = Transport::Create(TransportConfig{}, "p0", "tcp://127.0.0.1:0", two.value());
    CHECK_CONTAINS(t.status().message(), "'p1' is bound to two keys");
  }
}

TEST_CASE("the access policy: bound keys speak for their names, unbound ones for cluster ids") {
  using namespace meshtrain::transport_internal;
  const KeyPair k0 = NewKeys(), k1 = NewKeys(), free = NewKeys();
  TransportSecurity s = CurveFor(k0, {{"p0", k0}, {"p1", k1}}, {AuthorizedKey{free.public_key, {}}});
  auto policy = AccessPolicy::Create(s);
  REQUIRE(policy.ok());
  CHECK(policy->MaySpeakAs(k1.public_key, "p1"));
  CHECK_FALSE(policy->MaySpeakAs(k1.public_key, "p0"));
  CHECK(policy->MaySpeakAs(free.public_key, "p0"));
  CHECK_FALSE(policy->MaySpeakAs(free.public_key, "p9"));
  CHECK_FALSE(policy->MaySpeakAs(NewKeys().public_key, "p0"));
  CHECK(policy->ServerKeyFor("p1", "tcp://x:1") == k1.public_key);
  CHECK(policy->ServerKeyFor("p9", "tcp://x:1").empty());
}

TEST_CASE("refusals are logged once per source per minute") {
  transport_internal::RefusalLog log("p0");
  std::vector<std::string> lines;
  log.set_sink([&](std::string_view line) { lines.emplace_back(line); });
  // A fresh key per attempt from one address still makes one line.
  for (int i = 0; i < 100; ++i) {
    log.Refused("connection from 10.0.0.9", "key not authorized", "(key " + std::to_string(i) + "...)");
  }
  log.Refused("connection from 10.0.0.8", "key not authorized");
  log.Refused("connection from 10.0.0.8", "another reason");
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "meshtrain[p0]: security: refused connection from 10.0.0.9 (key 0...): key not authorized");
  CHECK(lines[1] == "meshtrain[p0]: security: refused connection from 10.0.0.8: key not authorized");
}

TEST_CASE("plaintext on a non-loopback address is warned about, loopback is not") {
  using namespace meshtrain::transport_internal;
  CHECK(IsLoopbackEndpoint("tcp://127.0.0.1:7000"));
  CHECK(IsLoopbackEndpoint("tcp://127.1.2.3:7000"));
  CHECK(IsLoopbackEndpoint("tcp://[::1]:7000"));
  CHECK(IsLoopbackEndpoint("tcp://localhost:7000"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://0.0.0.0:7000"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://10.1.2.3:7000"));
  CHECK_FALSE(IsLoopbackEndpoint("tcp://[::]:7000"));
  CHECK(ExposureWarning("p0", "tcp://127.0.0.1:7000").empty());
  const std::string warning = ExposureWarning("p0", "tcp://0.0.0.0:7000");
  CHECK_CONTAINS(warning, "WARNING");
  CHECK_CONTAINS(warning, "tcp://0.0.0.0:7000");
  CHECK_CONTAINS(warning, "security.mode = \"curve\"");
}
