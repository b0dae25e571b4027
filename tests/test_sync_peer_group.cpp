// PeerGroup over real sockets on 127.0.0.1: the start barrier, failures that
// must end a collective with a Status that names the peer (never a hang),
// traffic per round, argument checks and stats.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "test_sync_cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string Endpoint(const LocalCluster& c, size_t i) { return "tcp://127.0.0.1:" + std::to_string(c.ports[i]); }

// Runs `rounds` all-reduces of `len` floats on the listed ranks.
std::vector<Status> Rounds(LocalCluster& c, const std::vector<size_t>& ranks, uint64_t first_round, int rounds,
                           size_t len = 1000) {
  const std::vector<std::string> ring = c.ids();
  return OnEachPeer(ranks, [&](size_t rank) -> Status {
    for (int k = 0; k < rounds; ++k) {
      std::vector<float> buf(len, 1.0f);
      MESHTRAIN_RETURN_IF_ERROR(c.groups[rank]->AllreduceSum(buf, ring, 0, first_round + static_cast<uint64_t>(k)));
    }
    return Status::OK();
  });
}

void AllWaitForPeers(LocalCluster& c, size_t n) {
  for (const Status& st : OnEachPeer(AllRanks(n), [&](size_t r) { return c.groups[r]->WaitForPeers(10s); })) {
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
}

}  // namespace

TEST_CASE("WaitForPeers returns once everyone said Hello, whatever the start order") {
  LocalCluster c = StartCluster(3, 3);
  std::atomic<int> started{0};
  auto statuses = OnEachPeer(AllRanks(3), [&](size_t rank) -> Status {
    // Peers enter the barrier one after another, 150 ms apart.
    std::this_thread::sleep_for(std::chrono::milliseconds(150 * rank));
    ++started;
    return c.groups[rank]->WaitForPeers(10s);
  });
  for (const Status& st : statuses) CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(Rounds(c, AllRanks(3), 0, 2)[0].ok());
}

TEST_CASE("Hellos are answered in the middle of a collective") {
  // p0 skips the barrier and goes straight into a round; p1 comes late and
  // runs the barrier first, which only ends if p0 answers from inside the round.
  LocalCluster c = StartCluster(2, 2, /*timeout_ms=*/10000);
  auto statuses = OnEachPeer(AllRanks(2), [&](size_t rank) -> Status {
    if (rank == 1) {
      std::this_thread::sleep_for(300ms);
      MESHTRAIN_RETURN_IF_ERROR(c.groups[1]->WaitForPeers(10s));
    }
    std::vector<float> buf(3, 1.0f);
    MESHTRAIN_RETURN_IF_ERROR(c.groups[rank]->AllreduceSum(buf, c.ids(), 0, 0));
    return buf == std::vector<float>(3, 2.0f) ? Status::OK() : Status::Corruption("bad sum");
  });
  for (const Status& st : statuses) CHECK_MESSAGE(st.ok(), st.ToString());
}

TEST_CASE("a peer that never starts: WaitForPeers times out naming it and its endpoint") {
  LocalCluster c = StartCluster(3, 2);  // p2 never starts
  auto statuses = OnEachPeer({0, 1}, [&](size_t rank) { return c.groups[rank]->WaitForPeers(800ms); });
  for (const Status& st : statuses) {
    REQUIRE(st.code() == Status::Code::kTimeout);
    CHECK_MESSAGE(Contains(st.message(), "peers never heard from within 800 ms: p2 (" + Endpoint(c, 2) + ")"),
                  st.message());
    CHECK_FALSE(Contains(st.message(), "p1 ("));
  }
}

TEST_CASE("a peer that stops answering mid-way: the round times out, its right neighbour names it") {
  LocalCluster c = StartCluster(3, 3, /*timeout_ms=*/700);
  AllWaitForPeers(c, 3);
  for (const Status& st : Rounds(c, AllRanks(3), 0, 2)) REQUIRE(st.ok());
  // p1 is still up (sockets open, like a SIGSTOPped process) but never calls round 2.
  auto statuses = Rounds(c, {0, 2}, 2, 1);
  for (const Status& st : statuses) REQUIRE_MESSAGE(st.code() == Status::Code::kTimeout, st.ToString());
  CHECK_MESSAGE(Contains(statuses[1].message(), "from peer p1 (" + Endpoint(c, 1) + ") within 700 ms"),
                statuses[1].message());
  CHECK_MESSAGE(Contains(statuses[1].message(), "view 0, round 2"), statuses[1].message());
}

TEST_CASE("a peer that crashes mid-way: both survivors time out, the one that waits for it names it") {
  LocalCluster c = StartCluster(3, 3, /*timeout_ms=*/700);
  AllWaitForPeers(c, 3);
  for (const Status& st : Rounds(c, AllRanks(3), 0, 1)) REQUIRE(st.ok());
  c.groups[1].reset();  // gone without a Bye
  auto statuses = Rounds(c, {0, 2}, 1, 1);
  for (const Status& st : statuses) REQUIRE_MESSAGE(st.code() == Status::Code::kTimeout, st.ToString());
  CHECK_MESSAGE(Contains(statuses[1].message(), "peer p1"), statuses[1].message());
  // The survivors can still talk to each other afterwards, under a new tag.
  const std::vector<std::string> ring = {"p0", "p2"};
  auto again = OnEachPeer({0, 2}, [&](size_t rank) -> Status {
    std::vector<float> buf(5, 2.0f);
    MESHTRAIN_RETURN_IF_ERROR(c.groups[rank]->AllreduceSum(buf, ring, /*view_id=*/1, 1));
    return buf == std::vector<float>(5, 4.0f) ? Status::OK() : Status::Corruption("bad sum");
  });
  for (const Status& st : again) CHECK_MESSAGE(st.ok(), st.ToString());
  for (size_t r : {0, 2}) CHECK(c.groups[r]->stats().stale + c.groups[r]->stats().rejected < 100);
}

TEST_CASE("a peer that leaves with Bye ends the round at once with Aborted naming it") {
  LocalCluster c = StartCluster(2, 2, /*timeout_ms=*/20000);  // a hang would show as a 20 s test
  AllWaitForPeers(c, 2);
  for (const Status& st : Rounds(c, AllRanks(2), 0, 1)) REQUIRE(st.ok());
  c.groups[1]->Shutdown();
  std::vector<float> buf(100, 1.0f);
  Status st = c.groups[0]->AllreduceSum(buf, c.ids(), 0, 1);
  REQUIRE_MESSAGE(st.code() == Status::Code::kAborted, st.ToString());
  CHECK_MESSAGE(Contains(st.message(), "peer p1 (" + Endpoint(c, 1) + ") left the group (Bye)"), st.message());
  // After Shutdown, p1 itself refuses collectives and still reports stats.
  CHECK(c.groups[1]->AllreduceSum(buf, c.ids(), 0, 5).code() == Status::Code::kAborted);
  CHECK(c.groups[1]->stats().bytes_sent > 0);
  c.groups[1]->Shutdown();  // idempotent
}

TEST_CASE("each peer sends 2(N-1)/N of a 4 MB buffer per round, within 2%") {
  const size_t len = 1 << 20;  // 4 MB of floats
  for (size_t n : {2, 3, 4}) {
    CAPTURE(n);
    LocalCluster c = StartCluster(n, n);
    AllWaitForPeers(c, n);
    for (const Status& st : Rounds(c, AllRanks(n), 0, 1, len)) REQUIRE(st.ok());  // warm-up
    std::vector<CommStats> before;
    for (auto& g : c.groups) before.push_back(g->stats());
    const int rounds = 3;
    for (const Status& st : Rounds(c, AllRanks(n), 1, rounds, len)) REQUIRE(st.ok());
    const double ideal = 2.0 * static_cast<double>(n - 1) / static_cast<double>(n) * static_cast<double>(len * 4);
    for (size_t r = 0; r < n; ++r) {
      const CommStats after = c.groups[r]->stats();
      const double per_round = static_cast<double>(after.bytes_sent - before[r].bytes_sent) / rounds;
      const double recv_per_round = static_cast<double>(after.bytes_recv - before[r].bytes_recv) / rounds;
      CHECK_MESSAGE(std::abs(per_round / ideal - 1.0) < 0.02, "peer " << r << " sent " << per_round << " bytes, ideal " << ideal);
      CHECK(std::abs(recv_per_round / ideal - 1.0) < 0.02);
      CHECK(after.rounds == 1 + rounds);
      CHECK(after.comm_seconds > before[r].comm_seconds);
      CHECK(after.wait_seconds_by_peer.count(PeerId((r + n - 1) % n)) == 1);
    }
  }
}

TEST_CASE("peers that pass different lengths get InvalidArgument, not a timeout") {
  LocalCluster c = StartCluster(2, 2, /*timeout_ms=*/20000);
  std::vector<std::string> logs[2];
  for (size_t r = 0; r < 2; ++r) c.groups[r]->set_log_sink([&logs, r](std::string_view line) { logs[r].emplace_back(line); });
  auto statuses = OnEachPeer(AllRanks(2), [&](size_t rank) -> Status {
    std::vector<float> buf(rank == 0 ? 100 : 101, 1.0f);
    return c.groups[rank]->AllreduceSum(buf, c.ids(), 0, 0);
  });
  for (const Status& st : statuses) {
    REQUIRE_MESSAGE(st.code() == Status::Code::kInvalidArgument, st.ToString());
    CHECK_MESSAGE(Contains(st.message(), "cuts the buffer differently"), st.message());
    CHECK(Contains(st.message(), "sync.chunk_bytes"));
  }
  CHECK(c.groups[0]->stats().rejected >= 1);
  REQUIRE(logs[0].size() == 1);
  CHECK_MESSAGE(Contains(logs[0][0], "meshtrain[p0]: dropped a message from p1: reduce-scatter piece"), logs[0][0]);
}

TEST_CASE("argument checks: ring membership and order, increasing tags") {
  LocalCluster c = StartCluster(2, 1);
  PeerGroup& g = *c.groups[0];
  std::vector<float> buf(4, 1.0f);
  Status st = g.AllreduceSum(buf, {"p1", "p0"}, 0, 0);
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK(Contains(st.message(), "sorted"));
  st = g.AllreduceSum(buf, {"p0", "p9"}, 0, 0);
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK(Contains(st.message(), "\"p9\" is not in the cluster (p0, p1)"));
  st = g.AllreduceSum(buf, {"p1"}, 0, 0);
  CHECK(Contains(st.message(), "this peer (p0) is not in the ring"));
  // A ring of just this peer is a no-op round, and tags must then increase.
  REQUIRE(g.AllreduceSum(buf, {"p0"}, 3, 7).ok());
  CHECK(buf == std::vector<float>(4, 1.0f));
  st = g.AllreduceSum(buf, {"p0"}, 3, 7);
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK(Contains(st.message(), "must come after the last one (view 3, round 7)"));
  CHECK(g.AllreduceSum(buf, {"p0"}, 2, 100).code() == Status::Code::kInvalidArgument);
  CHECK(g.AllreduceSum(buf, {"p0"}, 4, 0).ok());
  CHECK(g.peer_ids() == std::vector<std::string>{"p0", "p1"});
  CHECK(g.self_id() == "p0");
  CHECK(Contains(g.bound_endpoint(), std::to_string(c.ports[0])));
}

TEST_CASE("Create: errors name the peer, the id or the endpoint") {
  std::vector<int> ports = {FreeLoopbackPort(), FreeLoopbackPort()};
  Config cfg = TestPeerConfig(ports, 0);
  cfg.self_id = "stranger";
  auto g = PeerGroup::Create(cfg);
  REQUIRE_FALSE(g.ok());
  CHECK(Contains(g.status().message(), "\"stranger\" is not in the cluster (p0, p1)"));

  cfg = TestPeerConfig(ports, 0);
  cfg.cluster.peers[1].id = "p0";
  g = PeerGroup::Create(cfg);
  REQUIRE_FALSE(g.ok());
  CHECK(Contains(g.status().message(), "listed twice"));

  cfg = TestPeerConfig(ports, 0);
  cfg.cluster.peers[0].endpoint = "tcp://127.0.0.1";  // no port
  g = PeerGroup::Create(cfg);
  REQUIRE_FALSE(g.ok());
  CHECK(Contains(g.status().message(), "tcp://127.0.0.1"));

  // cluster.size keeps the first peers only.
  cfg = TestPeerConfig(ports, 0);
  cfg.cluster.size = 1;
  g = PeerGroup::Create(cfg);
  REQUIRE(g.ok());
  CHECK(g.value()->peer_ids() == std::vector<std::string>{"p0"});
}

TEST_CASE("two groups cannot bind the same endpoint") {
  LocalCluster c = StartCluster(2, 1);
  auto second = PeerGroup::Create(TestPeerConfig(c.ports, 0));
  REQUIRE_FALSE(second.ok());
  CHECK(Contains(second.status().message(), std::to_string(c.ports[0])));
}
