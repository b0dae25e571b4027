// A real PeerGroup (p0) against a hand-driven peer (p1: a bare Transport that
// speaks the wire format) on 127.0.0.1, to control exactly what arrives and
// when: pieces of later rounds and views that come early, out of order,
// stale, malformed or hostile, and the non-finite marker.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "meshtrain/ring_allreduce.h"
#include "meshtrain/transport.h"
#include "meshtrain/wire.h"
#include "sync/ring_messages.h"
#include "test_sync_cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

constexpr size_t kLen = 1001;  // two chunks of 501 and 500 floats, one piece each

struct Scene {
  std::vector<int> ports;
  std::unique_ptr<PeerGroup> p0;
  std::unique_ptr<Transport> fake;  // plays p1
  RingLayout layout;
  std::vector<std::string> logs;

  // `max_msg_bytes`: p0's transport.max_msg_bytes (0: the default), which is
  // also its ring piece size then.
  explicit Scene(int64_t max_msg_bytes = 0)
      : layout(RingAllreduce(max_msg_bytes > 0 ? max_msg_bytes / 4 : 1 << 18).LayoutFor(kLen, 2)) {
    for (int attempt = 0; attempt < 5 && !fake; ++attempt) {
      ports = {FreeLoopbackPort(), FreeLoopbackPort()};
      auto t = Transport::Create(TransportConfig{}, "p1", "tcp://127.0.0.1:" + std::to_string(ports[1]));
      if (!t.ok()) continue;
      Config cfg = TestPeerConfig(ports, 0, /*timeout_ms=*/20000, max_msg_bytes > 0 ? max_msg_bytes : 1 << 20);
      if (max_msg_bytes > 0) cfg.transport.max_msg_bytes = max_msg_bytes;
      auto g = PeerGroup::Create(cfg);
      if (!g.ok()) continue;
      fake = std::move(t.value());
      p0 = std::move(g.value());
    }
    REQUIRE(fake != nullptr);
    REQUIRE(fake->Connect("p0", "tcp://127.0.0.1:" + std::to_string(ports[0])).ok());
    p0->set_log_sink([this](std::string_view line) { logs.emplace_back(line); });
  }

  // p0's and p1's inputs for a round: distinct integers, so sums are exact.
  static std::vector<float> Input(int peer, uint64_t round) {
    std::vector<float> v(kLen);
    for (size_t i = 0; i < kLen; ++i) v[i] = static_cast<float>((peer + 1) * 1000 + static_cast<int>(i) + 7 * static_cast<int>(round));
    return v;
  }

  Status SendHeader(const Header& h, const void* payload, size_t bytes) {
    OutgoingMessage msg;
    msg.header = EncodeHeader(h);
    msg.payload = payload;
    msg.payload_bytes = bytes;
    return fake->Send("p0", std::move(msg), 5000ms);  // no keepalive: the transport copies
  }

  Header Piece(RoundTag tag, RingPhase phase, size_t index, bool non_finite = false) const {
    PieceExtra extra{kLen, layout.segment_elems(), non_finite};
    return PieceHeader("p1", tag, phase, static_cast<uint32_t>(index), static_cast<uint32_t>(layout.n_pieces()),
                       layout.piece(index).size, extra);
  }

  // What p1 sends p0 in a 2-ring: its own chunk 1 (reduce-scatter), then the
  // full sum of chunk 0, which it owns (all-gather).
  void SendRound(RoundTag tag, RingPhase phase) {
    const auto x0 = Input(0, tag.round), x1 = Input(1, tag.round);
    if (phase == RingPhase::kReduceScatter) {
      const auto p = layout.piece(1);
      REQUIRE(SendHeader(Piece(tag, phase, 1), x1.data() + p.offset, p.size * 4).ok());
    } else {
      const auto p = layout.piece(0);
      std::vector<float> sum(p.size);
      for (size_t i = 0; i < p.size; ++i) sum[i] = x0[p.offset + i] + x1[p.offset + i];
      REQUIRE(SendHeader(Piece(tag, phase, 0), sum.data(), p.size * 4).ok());
    }
  }

  // p1's Hello, as from a peer that has heard p0 and been heard, then p0's
  // WaitForPeers: p0 files whatever p1 sent before it, before any round begins.
  void Handshake() {
    HelloFlags ready;
    ready.heard_you = true;
    ready.got_yours = true;
    REQUIRE(SendHeader(HelloHeader("p1", ready), nullptr, 0).ok());
    const Status waited = p0->WaitForPeers(5s);
    REQUIRE_MESSAGE(waited.ok(), waited.ToString());
  }

  // Runs one all-reduce on p0 and checks the exact sum.
  void ExpectRound(RoundTag tag) {
    auto buf = Input(0, tag.round);
    Status st = p0->AllreduceSum(buf, {"p0", "p1"}, tag.view, tag.round);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    const auto x1 = Input(1, tag.round);
    const auto x0 = Input(0, tag.round);
    for (size_t i = 0; i < kLen; ++i) REQUIRE(buf[i] == x0[i] + x1[i]);
  }

  // The next message p0 sent us, decoded.
  std::pair<Header, std::vector<float>> NextFromP0() {
    auto got = fake->Receive(5000ms);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    auto h = DecodeHeader(got->header.data(), got->header.size());
    REQUIRE(h.ok());
    std::vector<float> payload(got->payload.size() / 4);
    if (!payload.empty()) std::memcpy(payload.data(), got->payload.data(), got->payload.size());
    return {h.value(), payload};
  }
};

}  // namespace

TEST_CASE("pieces of later rounds and views that arrive early, in any order, wait in the stash") {
  Scene s;
  // Everything p1 will ever send, newest first, before p0 even starts.
  const std::vector<RoundTag> tags = {{0, 0}, {0, 1}, {1, 0}};
  for (auto it = tags.rbegin(); it != tags.rend(); ++it) {
    s.SendRound(*it, RingPhase::kAllGather);
    s.SendRound(*it, RingPhase::kReduceScatter);
  }
  for (const RoundTag& tag : tags) s.ExpectRound(tag);

  // What p0 sent: per round, its chunk 0 (reduce-scatter), then the sum of chunk 1 it owns.
  for (const RoundTag& tag : tags) {
    auto [rs, rs_data] = s.NextFromP0();
    CHECK(rs.type == MessageType::kReduceScatter);
    CHECK(rs.view_id == tag.view);
    CHECK(rs.round == tag.round);
    CHECK(rs.chunk == 0);
    CHECK(rs.n_chunks == 2);
    const auto x0 = Scene::Input(0, tag.round);
    CHECK(rs_data == std::vector<float>(x0.begin(), x0.begin() + 501));
    auto [ag, ag_data] = s.NextFromP0();
    CHECK(ag.type == MessageType::kAllGather);
    CHECK(ag.chunk == 1);
    REQUIRE(ag_data.size() == 500);
    CHECK(ag_data[0] == Scene::Input(0, tag.round)[501] + Scene::Input(1, tag.round)[501]);
  }

  // A piece of a round that is over is stale: dropped and counted, not logged.
  s.SendRound({0, 1}, RingPhase::kReduceScatter);
  s.SendRound({1, 0}, RingPhase::kReduceScatter);
  s.SendRound({1, 1}, RingPhase::kReduceScatter);
  s.SendRound({1, 1}, RingPhase::kAllGather);
  s.ExpectRound({1, 1});
  const CommStats stats = s.p0->stats();
  CHECK(stats.stale == 2);
  CHECK(stats.rejected == 0);
  CHECK(s.logs.empty());
}

TEST_CASE("a round that arrives before p0 begins it waits in the stash, even when a piece is near max_msg_bytes") {
  // Pieces of 501 floats (2,004 bytes) against a 2,048-byte message limit:
  // header and bookkeeping take each past it. A neighbour that starts the
  // first round while p0 is still waiting for its Hellos must not be dropped
  // for that (the stash used to allow one max-size message before any round).
  Scene s(/*max_msg_bytes=*/2048);
  REQUIRE(s.layout.n_pieces() == 2);
  s.SendRound({0, 0}, RingPhase::kReduceScatter);
  s.SendRound({0, 0}, RingPhase::kAllGather);
  s.Handshake();  // p0 files both pieces, then the Hello
  CHECK(s.p0->stats().rejected == 0);
  s.ExpectRound({0, 0});
  CHECK(s.logs.empty());
}

TEST_CASE("a peer that sends more than its rounds declare fills only its own stash budget, then is dropped") {
  Scene s(/*max_msg_bytes=*/2048);
  // Ten pieces alike but for the round, each declaring a round of two pieces:
  // p1 may hold twice such a round, four pieces; the other six are dropped.
  const auto p = s.layout.piece(1);
  std::vector<float> values(p.size, 1.0f);
  for (uint64_t round = 5; round < 15; ++round) {
    REQUIRE(s.SendHeader(s.Piece({0, round}, RingPhase::kReduceScatter, 1), values.data(), p.size * 4).ok());
  }
  s.Handshake();
  const CommStats stats = s.p0->stats();
  CHECK(stats.dropped_by_kind.at("stash_full") == 6);
  CHECK(stats.rejected == 6);
  REQUIRE(s.logs.size() == 1);  // once per peer per minute
  CHECK(s.logs[0].find("stash full") != std::string::npos);
  CHECK(s.logs[0].find("round 9") != std::string::npos);  // the fifth
}

TEST_CASE("bad messages are dropped, counted and logged once per peer; the round still completes") {
  Scene s;
  const RoundTag tag{0, 0};
  const auto p1 = s.layout.piece(1);
  std::vector<float> values(p1.size, 1.0f);

  // 1. Not msgpack at all.
  {
    OutgoingMessage msg;
    msg.header = "\xc1\xc1 not a header";
    REQUIRE(s.fake->Send("p0", std::move(msg), 5000ms).ok());
  }
  // 2. A NaN in the payload.
  std::vector<float> nan_values = values;
  nan_values[17] = std::nanf("");
  REQUIRE(s.SendHeader(s.Piece(tag, RingPhase::kReduceScatter, 1), nan_values.data(), p1.size * 4).ok());
  // 3. A payload shorter than n_elems says.
  REQUIRE(s.SendHeader(s.Piece(tag, RingPhase::kReduceScatter, 1), values.data(), (p1.size - 1) * 4).ok());
  // 4. A piece index past the number of pieces.
  {
    Header h = s.Piece(tag, RingPhase::kReduceScatter, 1);
    h.chunk = 2;
    REQUIRE(s.SendHeader(h, values.data(), p1.size * 4).ok());
  }
  // 5. A sender field that is not the routing id.
  {
    Header h = s.Piece(tag, RingPhase::kReduceScatter, 1);
    h.sender = "p0";
    REQUIRE(s.SendHeader(h, values.data(), p1.size * 4).ok());
  }
  // 6. A wire version from the future.
  {
    Header h = s.Piece(tag, RingPhase::kReduceScatter, 1);
    h.version = 9;
    REQUIRE(s.SendHeader(h, values.data(), p1.size * 4).ok());
  }
  // 7. A duplicate of a good piece (the first copy is the one used).
  s.SendRound(tag, RingPhase::kReduceScatter);
  s.SendRound(tag, RingPhase::kReduceScatter);
  s.SendRound(tag, RingPhase::kAllGather);

  s.ExpectRound(tag);
  const CommStats stats = s.p0->stats();
  CHECK(stats.rejected == 7);
  REQUIRE(s.logs.size() == 1);  // one line per peer per minute
  CHECK_MESSAGE(s.logs[0].find("dropped a message from p1") != std::string::npos, s.logs[0]);
}

TEST_CASE("a non-finite marker makes that piece NaN and travels on as a marker") {
  Scene s;
  const RoundTag tag{0, 0};
  REQUIRE(s.SendHeader(s.Piece(tag, RingPhase::kReduceScatter, 1, /*non_finite=*/true), nullptr, 0).ok());
  s.SendRound(tag, RingPhase::kAllGather);
  auto buf = Scene::Input(0, 0);
  REQUIRE(s.p0->AllreduceSum(buf, {"p0", "p1"}, 0, 0).ok());
  const auto x1 = Scene::Input(1, 0);
  for (size_t i = 0; i < 501; ++i) REQUIRE(buf[i] == Scene::Input(0, 0)[i] + x1[i]);
  for (size_t i = 501; i < kLen; ++i) REQUIRE(std::isnan(buf[i]));

  s.NextFromP0();  // p0's reduce-scatter piece
  auto [ag, data] = s.NextFromP0();
  CHECK(ag.type == MessageType::kAllGather);
  CHECK(ag.n_elems == 0);
  CHECK(data.empty());
  const auto extra = DecodePieceExtra(ag.extra);
  REQUIRE(extra.has_value());
  CHECK(extra->non_finite);
  CHECK(s.p0->stats().rejected == 0);
}

TEST_CASE("a peer that is a round ahead does not confuse one that is behind") {
  // p1 sends round 1's reduce-scatter piece before round 0's all-gather piece,
  // as a fast peer does when it has finished round 0 already.
  Scene s;
  s.SendRound({0, 0}, RingPhase::kReduceScatter);
  s.SendRound({0, 1}, RingPhase::kReduceScatter);
  s.SendRound({0, 0}, RingPhase::kAllGather);
  s.ExpectRound({0, 0});
  s.SendRound({0, 1}, RingPhase::kAllGather);
  s.ExpectRound({0, 1});
  CHECK(s.p0->stats().rejected == 0);
  CHECK(s.p0->stats().stale == 0);
}
