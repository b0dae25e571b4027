// Ring all-reduce over real sockets on 127.0.0.1: N = 1..5 peers (one
// PeerGroup per thread) and buffer lengths 1, N-1, N+1 and 10^6, several
// consecutive rounds each: exact sums of integer-valued floats, random floats
// within 1e-5, and bit-identical results on every peer.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "test_sync_cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

float IntegerValue(size_t rank, size_t i) { return static_cast<float>(static_cast<int>((i * 7 + rank * 13) % 1000) - 500); }

// Runs rounds 0, 1, 2 (integers, random, integers) of every length on an
// n-peer cluster and checks each result on every peer.
void CheckCluster(size_t n) {
  CAPTURE(n);
  LocalCluster c = StartCluster(n, n);
  const std::vector<std::string> ring = c.ids();
  std::vector<size_t> lengths = {1, n - 1, n + 1, 1'000'000};

  std::vector<std::vector<std::vector<float>>> results(n);  // [rank][round] -> buffer
  uint64_t round = 0;
  for (size_t len : lengths) {
    CAPTURE(len);
    const uint64_t first_round = round;
    for (size_t r = 0; r < n; ++r) results[r].clear();
    auto statuses = OnEachPeer(AllRanks(n), [&](size_t rank) -> Status {
      PeerGroup& g = *c.groups[rank];
      if (first_round == 0) MESHTRAIN_RETURN_IF_ERROR(g.WaitForPeers(10s));
      for (uint64_t k = 0; k < 3; ++k) {
        std::vector<float> buf(len);
        for (size_t i = 0; i < len; ++i) buf[i] = k == 1 ? RandomValue(rank, i, first_round + k) : IntegerValue(rank, i);
        MESHTRAIN_RETURN_IF_ERROR(g.AllreduceSum(buf, ring, /*view_id=*/0, first_round + k));
        results[rank].push_back(std::move(buf));
      }
      return Status::OK();
    });
    for (const Status& st : statuses) REQUIRE_MESSAGE(st.ok(), st.ToString());
    round += 3;

    for (uint64_t k = 0; k < 3; ++k) {
      CAPTURE(k);
      bool all_close = true;
      for (size_t i = 0; i < len; ++i) {
        double exact = 0;
        for (size_t rank = 0; rank < n; ++rank) {
          exact += k == 1 ? RandomValue(rank, i, first_round + k) : IntegerValue(rank, i);
        }
        const float got = results[0][k][i];
        if (k == 1 ? std::abs(got - exact) > 1e-5 * std::abs(exact) : got != static_cast<float>(exact)) {
          all_close = false;
          FAIL_CHECK("element " << i << ": got " << got << ", exact sum " << exact);
          break;
        }
      }
      CHECK(all_close);
      for (size_t rank = 1; rank < n; ++rank) {
        CHECK_MESSAGE(std::memcmp(results[rank][k].data(), results[0][k].data(), len * sizeof(float)) == 0,
                      "peer " << rank << " differs from peer 0");
      }
    }
  }
  for (auto& g : c.groups) {
    const CommStats s = g->stats();
    CHECK(s.rounds == round);
    CHECK(s.rejected == 0);
    g->Shutdown();
  }
}

}  // namespace

TEST_CASE("N = 1: a cluster of one opens no socket and the sum is the buffer itself") { CheckCluster(1); }
TEST_CASE("N = 2") { CheckCluster(2); }
TEST_CASE("N = 3") { CheckCluster(3); }
TEST_CASE("N = 4") { CheckCluster(4); }
TEST_CASE("N = 5") { CheckCluster(5); }

TEST_CASE("a cluster of one has no endpoint and never waits") {
  LocalCluster c = StartCluster(1, 1);
  CHECK(c.groups[0]->bound_endpoint().empty());
  CHECK(c.groups[0]->WaitForPeers(0ms).ok());
  std::vector<float> buf = {1.5f, -2.0f};
  REQUIRE(c.groups[0]->AllreduceSum(buf, {"p0"}, 0, 0).ok());
  CHECK(buf == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("a sub-ring of the cluster reduces among its members only") {
  LocalCluster c = StartCluster(3, 3);
  const std::vector<std::string> ring = {"p0", "p2"};
  auto statuses = OnEachPeer({0, 2}, [&](size_t rank) -> Status {
    std::vector<float> buf(10, static_cast<float>(rank + 1));
    MESHTRAIN_RETURN_IF_ERROR(c.groups[rank]->AllreduceSum(buf, ring, 0, 0));
    if (buf != std::vector<float>(10, 4.0f)) return Status::Corruption("wrong sum on p" + std::to_string(rank));
    return Status::OK();
  });
  for (const Status& st : statuses) CHECK_MESSAGE(st.ok(), st.ToString());
}
