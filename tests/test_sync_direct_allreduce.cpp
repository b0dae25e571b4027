// The direct all-reduce for small buffers (sync.direct_max_bytes): every peer
// sends its whole buffer to every other and adds the N buffers in rank order.
// Over real sockets on 127.0.0.1: exact sums, bit-identical results on every
// peer, the ring taking over just above the threshold, a non-finite buffer
// turning the sum NaN everywhere, and peers that disagree on the threshold
// failing with an error rather than mixing schedules.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "test_sync_cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kDirectMax = 64 << 10;  // sync.direct_max_bytes in these tests
constexpr size_t kDirectMaxFloats = kDirectMax / sizeof(float);

void CheckDirect(size_t n) {
  CAPTURE(n);
  LocalCluster c = StartCluster(n, n, 20000, 1 << 20, kDirectMax);
  const std::vector<std::string> ring = c.ids();
  // The last length is one float above the threshold: the ring runs it.
  const std::vector<size_t> lengths = {1, n - 1, n + 1, 1000, kDirectMaxFloats, kDirectMaxFloats + 1};
  std::vector<uint64_t> sent_before(n);
  uint64_t round = 0;
  for (size_t len : lengths) {
    CAPTURE(len);
    for (size_t rank = 0; rank < n; ++rank) sent_before[rank] = c.groups[rank]->stats().bytes_sent;
    std::vector<std::vector<float>> results(n);
    auto statuses = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
      PeerGroup& g = *c.groups[rank];
      if (round == 0) MESHTRAIN_RETURN_IF_ERROR(g.WaitForPeers(10s));
      std::vector<float> buf(len);
      for (size_t i = 0; i < len; ++i) buf[i] = RandomValue(rank, i, round);
      MESHTRAIN_RETURN_IF_ERROR(g.AllreduceSum(buf, ring, /*view_id=*/0, round));
      results[rank] = std::move(buf);
      return Status::OK();
    });
    for (const Status& st : statuses) REQUIRE_MESSAGE(st.ok(), st.ToString());

    bool all_close = true;
    for (size_t i = 0; i < len && all_close; ++i) {
      double exact = 0;
      for (size_t rank = 0; rank < n; ++rank) exact += RandomValue(rank, i, round);
      if (std::abs(results[0][i] - exact) > 1e-5 * exact) {
        all_close = false;
        FAIL_CHECK("element " << i << ": got " << results[0][i] << ", exact sum " << exact);
      }
    }
    CHECK(all_close);
    for (size_t rank = 1; rank < n; ++rank) {
      CHECK_MESSAGE(std::memcmp(results[rank].data(), results[0].data(), len * sizeof(float)) == 0,
                    "peer " << rank << " differs from peer 0");
    }
    // Direct: (N-1) whole buffers leave each peer; the ring: 2(N-1)/N of one.
    const double payload = static_cast<double>(len * sizeof(float));
    const double expected = len <= kDirectMaxFloats ? (n - 1) * payload : 2.0 * (n - 1) / n * payload;
    for (size_t rank = 0; rank < n; ++rank) {
      const double sent = static_cast<double>(c.groups[rank]->stats().bytes_sent - sent_before[rank]);
      CHECK(sent >= expected);
      if (len >= 1000) CHECK(sent <= expected * 1.05 + 4096);  // headers, and heartbeats of the start barrier
    }
    ++round;
  }
  for (auto& g : c.groups) {
    CHECK(g->stats().rounds == round);
    CHECK(g->stats().rejected == 0);
    g->Shutdown();
  }
}

}  // namespace

TEST_CASE("direct all-reduce, N = 2") { CheckDirect(2); }
TEST_CASE("direct all-reduce, N = 3") { CheckDirect(3); }
TEST_CASE("direct all-reduce, N = 4") { CheckDirect(4); }
TEST_CASE("direct all-reduce, N = 5") { CheckDirect(5); }

TEST_CASE("two peers take the direct exchange up to sync.pair_direct_max_bytes, "
          "three take the ring above sync.direct_max_bytes") {
  constexpr int64_t kPairMax = 1 << 20;
  constexpr size_t kPairMaxFloats = kPairMax / sizeof(float);
  for (size_t n : {size_t{2}, size_t{3}}) {
    CAPTURE(n);
    LocalCluster c = StartCluster(n, n, 20000, 1 << 20, kDirectMax,
                                  [](Config& cfg) { cfg.sync.pair_direct_max_bytes = kPairMax; });
    std::vector<std::unique_ptr<PeerGroup>>& groups = c.groups;
    const std::vector<std::string> ring = c.ids();
    // One buffer at the pair threshold, one just above it: two peers exchange
    // the first whole (one message each way) and ring the second; three ring both.
    // The start barrier and a warm-up round first: their messages are not counted.
    auto started = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
      MESHTRAIN_RETURN_IF_ERROR(groups[rank]->WaitForPeers(10s));
      std::vector<float> one(1, 1.0f);
      return groups[rank]->AllreduceSum(one, ring, 0, 0);
    });
    for (const Status& st : started) REQUIRE_MESSAGE(st.ok(), st.ToString());
    uint64_t round = 1;
    for (size_t len : {kPairMaxFloats, kPairMaxFloats + 1}) {
      CAPTURE(len);
      std::vector<uint64_t> msgs_before(n);
      for (size_t rank = 0; rank < n; ++rank) msgs_before[rank] = groups[rank]->stats().msgs_sent;
      auto statuses = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
        std::vector<float> buf(len, static_cast<float>(rank + 1));
        MESHTRAIN_RETURN_IF_ERROR(groups[rank]->AllreduceSum(buf, ring, 0, round));
        const float expected = static_cast<float>(n * (n + 1) / 2);
        for (float v : buf) {
          if (v != expected) return Status::Corruption("wrong sum " + std::to_string(v));
        }
        return Status::OK();
      });
      for (const Status& st : statuses) REQUIRE_MESSAGE(st.ok(), st.ToString());
      const bool direct = n == 2 && len <= kPairMaxFloats;
      for (size_t rank = 0; rank < n; ++rank) {
        const uint64_t msgs = groups[rank]->stats().msgs_sent - msgs_before[rank];
        // Direct: one message to each other peer. The ring: 2(N-1) steps, at least a piece each.
        if (direct) {
          CHECK(msgs == n - 1);
        } else {
          CHECK(msgs >= 2 * (n - 1));
        }
      }
      ++round;
    }
    for (auto& g : groups) g->Shutdown();
  }
}

TEST_CASE("a buffer above transport.max_msg_bytes takes the ring even under sync.direct_max_bytes") {
  const size_t n = 3;
  constexpr int64_t kMaxMsg = 64 << 10;
  LocalCluster c = StartCluster(n, n, 20000, /*chunk_bytes=*/kMaxMsg, /*direct_max_bytes=*/256 << 10,
                                [](Config& cfg) { cfg.transport.max_msg_bytes = kMaxMsg; });
  std::vector<std::unique_ptr<PeerGroup>>& groups = c.groups;
  const std::vector<std::string> ring = c.ids();
  const size_t len = 100000 / sizeof(float);  // 100 KB: under direct_max_bytes, over one frame's limit
  auto statuses = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
    MESHTRAIN_RETURN_IF_ERROR(groups[rank]->WaitForPeers(10s));
    std::vector<float> buf(len, 1.0f);
    MESHTRAIN_RETURN_IF_ERROR(groups[rank]->AllreduceSum(buf, ring, 0, 0));
    for (float v : buf) {
      if (v != static_cast<float>(n)) return Status::Corruption("wrong sum " + std::to_string(v));
    }
    return Status::OK();
  });
  for (const Status& st : statuses) CHECK_MESSAGE(st.ok(), st.ToString());
  for (auto& g : groups) g->Shutdown();
}

TEST_CASE("a non-finite buffer on one peer makes the direct sum NaN on every peer, and the next round is clean") {
  const size_t n = 3;
  LocalCluster c = StartCluster(n, n, 20000, 1 << 20, kDirectMax);
  const std::vector<std::string> ring = c.ids();
  std::vector<std::vector<float>> results(n);
  auto statuses = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
    PeerGroup& g = *c.groups[rank];
    MESHTRAIN_RETURN_IF_ERROR(g.WaitForPeers(10s));
    std::vector<float> buf(100, 1.0f);
    if (rank == 1) buf[42] = std::numeric_limits<float>::infinity();
    MESHTRAIN_RETURN_IF_ERROR(g.AllreduceSum(buf, ring, 0, 0));
    for (float v : buf) {
      if (!std::isnan(v)) return Status::Corruption("peer " + std::to_string(rank) + " has a finite value");
    }
    std::vector<float> next(100, 2.0f);
    MESHTRAIN_RETURN_IF_ERROR(g.AllreduceSum(next, ring, 0, 1));
    results[rank] = std::move(next);
    return Status::OK();
  });
  for (const Status& st : statuses) CHECK_MESSAGE(st.ok(), st.ToString());
  for (size_t rank = 0; rank < n; ++rank) {
    REQUIRE(results[rank].size() == 100);
    CHECK(results[rank][42] == 6.0f);
  }
  for (auto& g : c.groups) {
    CHECK(g->stats().rejected == 0);  // the marker is not a rejection
    g->Shutdown();
  }
}

TEST_CASE("peers that disagree on sync.direct_max_bytes fail with an error naming the mismatch") {
  std::vector<int> ports = {FreeLoopbackPort(), FreeLoopbackPort()};
  std::vector<std::unique_ptr<PeerGroup>> groups;
  for (size_t i = 0; i < 2; ++i) {
    auto g = PeerGroup::Create(TestPeerConfig(ports, i, /*timeout_ms=*/2000, 1 << 20, i == 0 ? kDirectMax : 0));
    REQUIRE_MESSAGE(g.ok(), g.status().ToString());
    groups.push_back(std::move(g).value());
  }
  const std::vector<std::string> ring = {"p0", "p1"};
  auto statuses = OnEachPeer({0, 1}, [&](size_t rank) -> Status {
    MESHTRAIN_RETURN_IF_ERROR(groups[rank]->WaitForPeers(10s));
    std::vector<float> buf(1000, 1.0f);
    return groups[rank]->AllreduceSum(buf, ring, 0, 0);
  });
  CHECK_FALSE(statuses[0].ok());
  REQUIRE_FALSE(statuses[1].ok());
  // p1 runs the ring and gets p0's whole buffer where it expects its first ring piece.
  CHECK_MESSAGE(statuses[1].message().find("cuts the buffer differently") != std::string::npos, statuses[1].ToString());
  for (auto& g : groups) g->Shutdown();
}
