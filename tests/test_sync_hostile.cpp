// Hostile input against a live PeerGroup (p0) on 127.0.0.1, with a
// hand-driven member (p1: a bare Transport that speaks the wire format) and
// an outsider (mallory: a raw DEALER, tests/support/hostile_client.h). What
// the CLI test (test_cli_hostile_input.cpp) can only see from outside is
// counted exactly here: every drop lands in CommStats::dropped_by_kind under
// its own kind, the rounds still complete with the exact sums, and only a
// member can make a piece non-finite (the "skip this step" marker).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "meshtrain/ring_allreduce.h"
#include "meshtrain/transport.h"
#include "meshtrain/wire.h"
#include "support/hostile_client.h"
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
  std::unique_ptr<Transport> p1;  // the member, driven by hand
  RingLayout layout = RingAllreduce(1 << 18).LayoutFor(kLen, 2);
  std::vector<std::string> logs;

  explicit Scene(int64_t timeout_ms = 20000) {
    for (int attempt = 0; attempt < 5 && !p1; ++attempt) {
      ports = {FreeLoopbackPort(), FreeLoopbackPort()};
      auto t = Transport::Create(TransportConfig{}, "p1", "tcp://127.0.0.1:" + std::to_string(ports[1]));
      if (!t.ok()) continue;
      auto g = PeerGroup::Create(TestPeerConfig(ports, 0, timeout_ms));
      if (!g.ok()) continue;
      p1 = std::move(t.value());
      p0 = std::move(g.value());
    }
    REQUIRE(p1 != nullptr);
    REQUIRE(p1->Connect("p0", endpoint()).ok());
    p0->set_log_sink([this](std::string_view line) { logs.emplace_back(line); });
  }

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(ports[0]); }

  static std::vector<float> Input(int peer, uint64_t round) {
    std::vector<float> v(kLen);
    for (size_t i = 0; i < kLen; ++i) v[i] = static_cast<float>((peer + 1) * 1000 + static_cast<int>(i) + 7 * static_cast<int>(round));
    return v;
  }

  void Send(const Header& h, const void* payload, size_t bytes) {
    OutgoingMessage msg;
    msg.header = EncodeHeader(h);
    msg.payload = payload;
    msg.payload_bytes = bytes;
    REQUIRE(p1->Send("p0", std::move(msg), 5000ms).ok());
  }

  Header Piece(RoundTag tag, RingPhase phase, size_t index, bool non_finite = false) const {
    PieceExtra extra{kLen, layout.segment_elems(), non_finite};
    return PieceHeader("p1", tag, phase, static_cast<uint32_t>(index), static_cast<uint32_t>(layout.n_pieces()),
                       layout.piece(index).size, extra);
  }

  // p1's part of a 2-ring round: its chunk 1, then the sum of chunk 0 it owns.
  void SendRound(RoundTag tag) {
    const auto x0 = Input(0, tag.round), x1 = Input(1, tag.round);
    const auto own = layout.piece(1);
    Send(Piece(tag, RingPhase::kReduceScatter, 1), x1.data() + own.offset, own.size * 4);
    const auto p = layout.piece(0);
    std::vector<float> sum(p.size);
    for (size_t i = 0; i < p.size; ++i) sum[i] = x0[p.offset + i] + x1[p.offset + i];
    Send(Piece(tag, RingPhase::kAllGather, 0), sum.data(), p.size * 4);
  }

  // Waits until p0's transport has received everything p1 sent (plus `others`
  // bytes from elsewhere), so that the next round files all of it before it
  // takes anything: the order of events is then fixed.
  void AwaitDelivery(uint64_t others = 0) {
    const uint64_t want = p1->stats().bytes_sent + others;
    REQUIRE(WaitUntil(10s, [&] { return p0->stats().bytes_recv >= want; }));
  }

  void ExpectRound(RoundTag tag) {
    auto buf = Input(0, tag.round);
    const Status st = p0->AllreduceSum(buf, {"p0", "p1"}, tag.view, tag.round);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    const auto x0 = Input(0, tag.round), x1 = Input(1, tag.round);
    for (size_t i = 0; i < kLen; ++i) REQUIRE(buf[i] == x0[i] + x1[i]);
  }

  uint64_t Count(const std::string& kind) const {
    const auto counts = p0->stats().dropped_by_kind;
    const auto it = counts.find(kind);
    REQUIRE_MESSAGE(it != counts.end(), "no counter named " << kind);
    return it->second;
  }
};

}  // namespace

TEST_CASE("every drop kind has a counter, zero in a clean round") {
  Scene s;
  s.SendRound({0, 0});
  s.ExpectRound({0, 0});
  const auto counts = s.p0->stats().dropped_by_kind;
  for (const char* kind : {"bad_header", "bad_version", "unknown_type", "sender_mismatch", "unknown_sender",
                           "stale_view", "stale_round", "bad_extra", "bad_dtype", "chunk_out_of_range", "bad_size",
                           "bad_index", "nonfinite", "duplicate", "stash_full", "unexpected_piece", "bad_piece",
                           "malformed_frames", "auth_refused", "membership", "inbox_full"}) {
    REQUIRE_MESSAGE(counts.count(kind) == 1, kind);
    CHECK_MESSAGE(counts.at(kind) == 0, kind);
  }
  CHECK(counts.size() == 21);
}

TEST_CASE("a member's bad pieces are dropped and counted by kind; the rounds complete with the exact sums") {
  Scene s;
  s.SendRound({0, 0});
  s.ExpectRound({0, 0});

  const RoundTag tag{1, 0};
  const auto own = s.layout.piece(1);
  std::vector<float> values(kLen, 1.0f);  // long enough for any piece (pieces 0 and 1 differ by one)
  const Header good = s.Piece(tag, RingPhase::kReduceScatter, 1);
  // Sizes that disagree with the header or the model.
  s.Send(good, values.data(), (own.size - 1) * 4);  // payload shorter than n_elems says
  s.Send(good, nullptr, 0);                          // no payload at all
  {
    Header h = good;
    h.n_elems = std::numeric_limits<uint64_t>::max();  // more than any model
    s.Send(h, values.data(), own.size * 4);
  }
  // NaN and Inf values (a member's non-finite piece travels as the marker, never as values).
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> v = values;
    v[own.size / 2] = bad;
    s.Send(good, v.data(), own.size * 4);
  }
  // A dtype the type cannot carry, a piece index past the count, an extra field past the cap.
  {
    Header h = good;
    h.dtype = DType::kNone;
    s.Send(h, values.data(), own.size * 4);
    h = good;
    h.chunk = 7;
    s.Send(h, values.data(), own.size * 4);
    h = good;
    h.extra.assign((1 << 20) + 1, 'x');
    s.Send(h, values.data(), own.size * 4);
  }
  // Pieces of an older view (the running one is view 1): stale, expected after a view change.
  s.Send(s.Piece({0, 0}, RingPhase::kReduceScatter, 1), values.data(), own.size * 4);
  s.Send(s.Piece({0, 9}, RingPhase::kAllGather, 0), values.data(), s.layout.piece(0).size * 4);
  // A piece of a later view waits in the stash (views disagree for a moment), and goes stale once passed.
  s.Send(s.Piece({2, 0}, RingPhase::kReduceScatter, 1), values.data(), own.size * 4);
  s.SendRound(tag);
  s.Send(s.Piece(tag, RingPhase::kReduceScatter, 1), values.data(), own.size * 4);  // a duplicate
  // A piece of this round that p0 never takes (p1 owns chunk 0, so it never sends chunk 1's all-gather).
  s.Send(s.Piece(tag, RingPhase::kAllGather, 1), values.data(), own.size * 4);
  s.AwaitDelivery();
  s.ExpectRound(tag);

  // A piece of the round that just completed: it arrives late, and is stale.
  s.Send(s.Piece(tag, RingPhase::kReduceScatter, 1), values.data(), own.size * 4);
  s.SendRound({1, 1});
  s.AwaitDelivery();
  s.ExpectRound({1, 1});
  // Round (3, 0) passes view 2: its early piece is dropped as stale, not used.
  s.SendRound({3, 0});
  s.ExpectRound({3, 0});

  const CommStats stats = s.p0->stats();
  CHECK(s.Count("bad_size") == 3);
  CHECK(s.Count("nonfinite") == 3);
  CHECK(s.Count("bad_dtype") == 1);
  CHECK(s.Count("chunk_out_of_range") == 1);
  CHECK(s.Count("bad_extra") == 1);
  CHECK(s.Count("stale_view") == 2);
  CHECK(s.Count("duplicate") == 1);
  CHECK(s.Count("unexpected_piece") == 1);
  CHECK(s.Count("stale_round") == 2);
  CHECK(s.Count("unknown_sender") == 0);
  CHECK(stats.rejected == 3 + 3 + 1 + 1 + 1 + 1 + 1);
  CHECK(stats.stale == 2 + 2);
  CHECK(stats.rounds == 4);
}

TEST_CASE("only a member can mark a piece non-finite: an outsider's or a spoofed marker is refused") {
  Scene s;
  zmq::context_t ctx;
  HostileDealer mallory(ctx, "mallory", s.endpoint());
  REQUIRE(mallory.WaitHandshakes(1, 10s));

  const RoundTag tag{0, 0};
  const auto own = s.layout.piece(1);
  PieceExtra marker{kLen, s.layout.segment_elems(), true};
  // The marker for exactly the piece p0 waits for, from mallory as itself and in p1's name.
  const Header as_mallory = PieceHeader("mallory", tag, RingPhase::kReduceScatter, 1, 2, own.size, marker);
  REQUIRE(mallory.Send(as_mallory, nullptr, 5s));
  const Header as_p1 = s.Piece(tag, RingPhase::kReduceScatter, 1, /*non_finite=*/true);
  REQUIRE(mallory.Send(as_p1, nullptr, 5s));
  // The same with NaN values instead of the marker.
  const Header nan_piece = PlausiblePiece("mallory", 0, 0, own.size);
  const std::string nan = F32Payload(own.size, std::numeric_limits<float>::quiet_NaN());
  REQUIRE(mallory.Send(nan_piece, &nan, 5s));
  const uint64_t mallory_bytes =
      EncodeHeader(as_mallory).size() + EncodeHeader(as_p1).size() + EncodeHeader(nan_piece).size() + nan.size();
  s.SendRound(tag);
  s.AwaitDelivery(mallory_bytes);  // everything is filed before the round takes its first piece
  s.ExpectRound(tag);  // the exact, finite sum: no marker from outside took effect  // the exact, finite sum: no marker from outside took effect
  CHECK(s.Count("unknown_sender") == 2);
  CHECK(s.Count("sender_mismatch") == 1);

  // From p1 itself, the marker does what it is for: that piece becomes NaN (the step is skipped).
  const RoundTag next{0, 1};
  s.Send(s.Piece(next, RingPhase::kReduceScatter, 1, /*non_finite=*/true), nullptr, 0);
  const auto x0 = Scene::Input(0, 1), x1 = Scene::Input(1, 1);
  std::vector<float> sum(s.layout.piece(0).size);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = x0[i] + x1[i];
  s.Send(s.Piece(next, RingPhase::kAllGather, 0), sum.data(), sum.size() * 4);
  auto buf = Scene::Input(0, 1);
  REQUIRE(s.p0->AllreduceSum(buf, {"p0", "p1"}, next.view, next.round).ok());
  for (size_t i = 0; i < 501; ++i) REQUIRE(buf[i] == x0[i] + x1[i]);
  for (size_t i = 501; i < kLen; ++i) REQUIRE(std::isnan(buf[i]));
  CHECK(s.Count("nonfinite") == 0);  // the marker is not a rejection
}

TEST_CASE("the whole outsider catalogue against a live PeerGroup: each message counted under its kind") {
  Scene s;
  const std::vector<HostileMessage> catalogue = OutsiderCatalogue("mallory", "p1", s.layout.piece(1).size);
  std::map<std::string, uint64_t> sent;
  {
    zmq::context_t ctx;
    HostileDealer mallory(ctx, "mallory", s.endpoint());
    REQUIRE(mallory.WaitHandshakes(1, 10s));
    for (const HostileMessage& m : catalogue) {
      REQUIRE_MESSAGE(mallory.SendFrames(m.frames, 5s), m.name);
      // Without membership (which answers its own messages), its malformed
      // ones reach the mailbox: a heartbeat or state request from a stranger is an unknown sender.
      ++sent[m.counted_as == "membership" ? "unknown_sender" : m.counted_as];
    }
  }
  // Rounds pump everything that arrived; go on until every message is accounted for.
  uint64_t round = 0;
  const auto all_counted = [&] {
    for (const auto& [kind, n] : sent) {
      if (s.Count(kind) < n) return false;
    }
    return true;
  };
  for (; round < 50 && !all_counted(); ++round) {
    s.SendRound({0, round});
    s.ExpectRound({0, round});
  }
  for (const auto& [kind, n] : sent) {
    MESSAGE(kind << ": " << n << " sent, " << s.Count(kind) << " counted");
    CHECK(s.Count(kind) == n);
  }
  CHECK(s.logs.size() == 1);  // one line per sender per minute: mallory's first
}

TEST_CASE("a member's piece of another dtype is refused, not read past its end") {
  // The plain ring reads a piece as n_elems floats in place: an f16 piece of
  // the same n_elems (half the bytes, valid on the wire) must never get there.
  Scene s(/*timeout_ms=*/500);
  const RoundTag tag{0, 0};
  const auto own = s.layout.piece(1);
  for (DType dtype : {DType::kF16, DType::kBF16, DType::kI8}) {
    Header h = s.Piece(tag, RingPhase::kReduceScatter, 1);
    h.dtype = dtype;
    std::vector<unsigned char> bytes(PayloadBytes(dtype, own.size), 0);
    s.Send(h, bytes.data(), bytes.size());
  }
  s.SendRound(tag);
  s.AwaitDelivery();
  // The first of them takes the piece's place in the stash; the good ones that
  // follow are duplicates. So the round does not complete, but nothing is read.
  auto buf = Scene::Input(0, 0);
  const Status st = s.p0->AllreduceSum(buf, {"p0", "p1"}, tag.view, tag.round);
  CHECK(st.code() == Status::Code::kTimeout);
  CHECK(s.Count("bad_dtype") == 1);
  CHECK(s.Count("duplicate") == 3);
}
