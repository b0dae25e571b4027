// Compressed ring all-reduce over real sockets on 127.0.0.1 (one PeerGroup
// per thread): every codec gives bit-identical buffers on every peer, close to
// the exact sum; the transport's byte counters drop by the codec's factor; a
// peer configured differently is named; bad arguments are refused.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "meshtrain/transport.h"
#include "meshtrain/wire.h"
#include "sync/ring_messages.h"
#include "test_sync_cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

float Value(size_t rank, size_t i, uint64_t round) {
  uint64_t x = (rank + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xBF58476D1CE4E5B9ull ^ (round + 1) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  return static_cast<float>(x & 0xFFFFFF) / static_cast<float>(1 << 24) - 0.5f;
}

CodecSpec Spec(Compression c, double ratio = 0.01) {
  CodecSpec spec;
  spec.compression = c;
  spec.topk_ratio = ratio;
  return spec;
}

struct Run {
  std::vector<std::vector<float>> results;  // per rank, last round
  std::vector<uint64_t> bytes_sent;         // per rank, over all rounds
};

// `rounds` all-reduces of `len` floats (the last 2 exact) on a fresh 4-peer cluster.
Run AllreduceOnCluster(const CodecSpec& codec, size_t len, uint64_t rounds, bool feedback) {
  const size_t n = 4;
  LocalCluster c = StartCluster(n, n, 20000, 64 << 10);
  const std::vector<std::string> ring = c.ids();
  Run run;
  run.results.resize(n);
  run.bytes_sent.resize(n);
  auto statuses = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
    PeerGroup& g = *c.groups[rank];
    MESHTRAIN_RETURN_IF_ERROR(g.WaitForPeers(10s));
    const uint64_t before = g.stats().bytes_sent;
    std::vector<float> residual(feedback ? len - 2 : 0, 0.0f);
    for (uint64_t round = 0; round < rounds; ++round) {
      std::vector<float> buf(len);
      for (size_t i = 0; i < len; ++i) buf[i] = Value(rank, i, round);
      buf[len - 2] = 64;
      buf[len - 1] = static_cast<float>(rank);
      if (codec.compression == Compression::kNone) {
        MESHTRAIN_RETURN_IF_ERROR(g.AllreduceSum(buf, ring, 0, round));
      } else {
        CompressedReduce how;
        how.codec = codec;
        how.exact_tail = 2;
        how.residual = residual;
        MESHTRAIN_RETURN_IF_ERROR(g.AllreduceSumCompressed(buf, how, ring, 0, round));
      }
      run.results[rank] = std::move(buf);
    }
    run.bytes_sent[rank] = g.stats().bytes_sent - before;
    g.Shutdown();
    return Status::OK();
  });
  for (const Status& st : statuses) REQUIRE_MESSAGE(st.ok(), st.ToString());
  return run;
}

}  // namespace

TEST_CASE("4 peers: every codec gives bit-identical sums close to the exact one, in fewer bytes") {
  const size_t len = 300002;  // about the Fashion MLP's gradient, cut into several pieces per chunk
  const uint64_t rounds = 3;
  const Run f32 = AllreduceOnCluster(Spec(Compression::kNone), len, rounds, false);
  struct Case {
    CodecSpec codec;
    double bytes_low, bytes_high;  // expected bytes sent relative to f32
    double tolerance;              // on |result - exact sum|, the 4 inputs being in [-0.5, 0.5)
  };
  // int8: each of the 4 encodes a value goes through errs by at most half a step of
  // max|partial| / 127 <= 2 / 127. topk 1%: between 2% (all peers pick the same
  // entries) and 6% (all differ) of the f32 bytes; its result is a sparse sum.
  const std::vector<Case> cases = {
      {Spec(Compression::kFP16), 0.49, 0.51, 4 * 2 * 0x1.0p-11},
      {Spec(Compression::kBF16), 0.49, 0.51, 4 * 2 * 0x1.0p-8},
      {Spec(Compression::kInt8), 0.24, 0.26, 4 * 0.5 * 2.0 / 127},
      {Spec(Compression::kTopK), 0.02, 0.061, 2.0},
  };
  for (const Case& k : cases) {
    CAPTURE(std::string(ToString(k.codec.compression)));
    const Run r = AllreduceOnCluster(k.codec, len, rounds, false);
    for (size_t rank = 1; rank < 4; ++rank) {
      REQUIRE(std::memcmp(r.results[rank].data(), r.results[0].data(), len * sizeof(float)) == 0);
    }
    double worst = 0;
    for (size_t i = 0; i + 2 < len; ++i) {
      double exact = 0;
      for (size_t rank = 0; rank < 4; ++rank) exact += Value(rank, i, rounds - 1);
      worst = std::max(worst, std::fabs(r.results[0][i] - exact));
    }
    CHECK(worst <= k.tolerance);
    CHECK(r.results[0][len - 2] == 256.0f);  // exact: the sample count
    CHECK(r.results[0][len - 1] == 6.0f);
    for (size_t rank = 0; rank < 4; ++rank) {
      const double ratio = static_cast<double>(r.bytes_sent[rank]) / static_cast<double>(f32.bytes_sent[rank]);
      CAPTURE(rank);
      CHECK(ratio >= k.bytes_low);
      CHECK(ratio <= k.bytes_high);
    }
  }
}

TEST_CASE("a peer without compression among compressing ones is named, not misread") {
  const size_t n = 3;
  LocalCluster c = StartCluster(n, n, 3000);
  const std::vector<std::string> ring = c.ids();
  auto statuses = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
    PeerGroup& g = *c.groups[rank];
    g.set_log_sink([](std::string_view) {});  // the drops are expected here
    MESHTRAIN_RETURN_IF_ERROR(g.WaitForPeers(10s));
    std::vector<float> buf(1000, 1.0f);
    Status st;
    if (rank == 0) {
      st = g.AllreduceSum(buf, ring, 0, 0);
    } else {
      CompressedReduce how;
      how.codec = Spec(Compression::kInt8);
      st = g.AllreduceSumCompressed(buf, how, ring, 0, 0);
    }
    g.Shutdown();
    return st;
  });
  // p1 receives from p0, which does not compress.
  REQUIRE(!statuses[1].ok());
  CHECK(statuses[1].code() == Status::Code::kInvalidArgument);
  CHECK_MESSAGE(statuses[1].message().find("sync.compression") != std::string::npos, statuses[1].message());
  CHECK_MESSAGE(statuses[1].message().find("p0") != std::string::npos, statuses[1].message());
  CHECK(!statuses[0].ok());  // p0 receives compressed pieces from p2 it cannot read
  CHECK(!statuses[2].ok());
}

TEST_CASE("bad arguments are refused before anything is sent") {
  LocalCluster c = StartCluster(2, 2);
  PeerGroup& g = *c.groups[0];
  std::vector<float> buf(10, 1.0f);
  std::vector<float> residual(5);
  CompressedReduce how;
  how.codec = Spec(Compression::kFP16);
  how.exact_tail = 11;
  Status st = g.AllreduceSumCompressed(buf, how, c.ids(), 0, 0);
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK(st.message().find("exact_tail") != std::string::npos);
  how.exact_tail = 2;
  how.residual = residual;
  st = g.AllreduceSumCompressed(buf, how, c.ids(), 0, 1);
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK(st.message().find("residual") != std::string::npos);
  how.residual = {};
  st = g.AllreduceSumCompressed(buf, how, {"p1", "p0"}, 0, 2);
  CHECK(st.code() == Status::Code::kInvalidArgument);  // not sorted
}

TEST_CASE("hostile compressed pieces end the round with an error naming the sender") {
  // p0 is a real PeerGroup; p1 a bare Transport that sends hand-made pieces.
  // With 1001 floats (2 exact) in a ring of two, p0 waits for reduce-scatter
  // piece 1: floats 501..1000, 498 through the codec and 2 exact.
  constexpr size_t kLen = 1001;
  std::vector<int> ports;
  std::unique_ptr<PeerGroup> p0;
  std::unique_ptr<Transport> fake;
  for (int attempt = 0; attempt < 5 && !fake; ++attempt) {
    ports = {FreeLoopbackPort(), FreeLoopbackPort()};
    auto t = Transport::Create(TransportConfig{}, "p1", "tcp://127.0.0.1:" + std::to_string(ports[1]));
    if (!t.ok()) continue;
    auto g = PeerGroup::Create(TestPeerConfig(ports, 0, /*timeout_ms=*/20000));
    if (!g.ok()) continue;
    fake = std::move(t.value());
    p0 = std::move(g.value());
  }
  REQUIRE(fake != nullptr);
  REQUIRE(fake->Connect("p0", "tcp://127.0.0.1:" + std::to_string(ports[0])).ok());
  p0->set_log_sink([](std::string_view) {});
  const RingLayout layout = RingAllreduce(1 << 18).LayoutFor(kLen, 2);

  struct Case {
    const char* name;
    DType dtype;
    std::vector<uint32_t> indices;  // topk entries (value 1 each); empty for int8
    std::vector<float> tail;
    uint32_t exact_tail;
    bool uncompressed;
    const char* expect;  // in the error message
  };
  const float nan = std::nanf("");
  const std::vector<Case> cases = {
      {"topk index past the piece", DType::kTopK, {3, 498}, {1, 2}, 2, false, "outside"},
      {"too few exact values", DType::kTopK, {3}, {1}, 2, false, "exact ones"},
      {"a NaN exact value", DType::kTopK, {3}, {1, nan}, 2, false, "non-finite"},
      {"another exact tail", DType::kTopK, {3}, {1, 2, 3}, 3, false, "exact"},
      {"int8 of the wrong length", DType::kI8, {}, {1, 2}, 2, false, "500 i8 values"},
      {"no compression", DType::kF32, {}, {}, 0, true, "sync.compression"},
  };
  uint64_t round = 0;
  for (const Case& c : cases) {
    CAPTURE(std::string(c.name));
    Header h = PieceHeader("p1", RoundTag{0, round}, RingPhase::kReduceScatter, 1, 2, 0, PieceExtra{});
    std::vector<std::byte> payload;
    if (c.uncompressed) {
      h.dtype = DType::kF32;
      h.n_elems = 500;
      payload.resize(500 * 4);
      h.extra = EncodePieceExtra(PieceExtra{kLen, layout.segment_elems(), false});
    } else {
      PieceExtra extra;
      extra.compressed = true;
      extra.total_elems = kLen;
      extra.segment_elems = layout.segment_elems();
      extra.exact_tail = c.exact_tail;
      extra.tail = c.tail;
      h.extra = EncodePieceExtra(extra);
      h.dtype = c.dtype;
      if (c.dtype == DType::kTopK) {
        h.n_elems = c.indices.size();
        payload.resize(8 * c.indices.size());
        for (size_t j = 0; j < c.indices.size(); ++j) {
          const float one = 1.0f;
          std::memcpy(payload.data() + 4 * j, &c.indices[j], 4);
          std::memcpy(payload.data() + 4 * c.indices.size() + 4 * j, &one, 4);
        }
      } else {
        h.n_elems = 500;  // the piece has 498 compressed floats
        payload.assign(4 + 500, std::byte{1});
        const float scale = 0.5f;
        std::memcpy(payload.data(), &scale, 4);
      }
    }
    OutgoingMessage msg;
    msg.header = EncodeHeader(h);
    msg.payload = payload.data();
    msg.payload_bytes = payload.size();
    REQUIRE(fake->Send("p0", std::move(msg), 5000ms).ok());  // no keepalive: the transport copies

    std::vector<float> buf(kLen, 1.0f);
    CompressedReduce how;
    how.codec = Spec(Compression::kTopK);
    how.exact_tail = 2;
    const Status st = p0->AllreduceSumCompressed(buf, how, {"p0", "p1"}, 0, round);
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CHECK_MESSAGE(st.message().find("peer p1") != std::string::npos, st.message());
    CHECK_MESSAGE(st.message().find(c.expect) != std::string::npos, st.message());
    ++round;
  }
  CHECK(p0->stats().rejected == cases.size());
}
