// Membership over real sockets on 127.0.0.1, several peers in one process
// (fast timings): views converge, a peer that vanishes is declared dead and
// the others re-form, an orderly leave re-forms at once, a newcomer joins
// through bootstrap, a peer that is behind fetches the state striped over
// its holders, and messages that are not membership's are passed up.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "meshtrain/membership.h"
#include "meshtrain/transport.h"
#include "meshtrain/wire.h"
#include "support/process.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 15s;  // generous bound for anything that should take well under a second

std::string PeerId(size_t i) {
  std::string id = "p";
  id.append(std::to_string(i));
  return id;
}

MembershipConfig FastTiming() {
  MembershipConfig t;
  t.heartbeat_ms = 20;
  t.suspect_ms = 150;
  t.dead_ms = 400;
  return t;
}

struct Node {
  std::unique_ptr<Transport> transport;
  std::unique_ptr<Membership> membership;
  std::string id;
  std::string endpoint;
};

// `n` peers on OS-chosen ports; the first `listed` know each other from the
// static list, the others only have `bootstrap` (the endpoint of peer 0).
struct TestCluster {
  std::vector<Node> nodes;

  explicit TestCluster(size_t n, size_t listed = 0) {
    if (listed == 0) listed = n;
    TransportConfig tc;
    tc.linger_ms = 50;
    for (size_t i = 0; i < n; ++i) {
      Node node;
      node.id = PeerId(i);
      auto t = Transport::Create(tc, node.id, "tcp://127.0.0.1:0");
      REQUIRE_MESSAGE(t.ok(), t.status().ToString());
      node.transport = std::move(t).value();
      node.endpoint = node.transport->bound_endpoint();
      nodes.push_back(std::move(node));
    }
    for (size_t i = 0; i < n; ++i) {
      MembershipOptions o;
      o.self_id = nodes[i].id;
      o.self_endpoint = nodes[i].endpoint;
      o.timing = FastTiming();
      o.state_piece_floats = 100;  // several pieces even for small states
      if (i < listed) {
        for (size_t j = 0; j < listed; ++j) o.peers.push_back({nodes[j].id, nodes[j].endpoint});
      } else {
        o.peers.push_back({nodes[i].id, nodes[i].endpoint});
        o.bootstrap.push_back(nodes[0].endpoint);
      }
      auto m = Membership::Start(nodes[i].transport.get(), o);
      REQUIRE_MESSAGE(m.ok(), m.status().ToString());
      nodes[i].membership = std::move(m).value();
    }
  }

  // Simulates kill -9: no goodbye; the sockets close.
  void Crash(size_t i) {
    nodes[i].membership.reset();
    nodes[i].transport.reset();
  }

  bool AllSee(const std::vector<size_t>& who, const std::vector<std::string>& ids) {
    for (size_t i : who) {
      const bool ok = nodes[i].membership->WaitForView(kWait, [&](const View& v) { return v.ids() == ids; });
      if (!ok) return false;
    }
    return true;
  }
};

std::vector<std::string> Names(const std::vector<size_t>& idx) {
  std::vector<std::string> out;
  for (size_t i : idx) out.push_back(PeerId(i));
  return out;
}

bool HasEvent(const std::vector<MembershipEvent>& events, const std::string& name, const std::string& peer) {
  return std::any_of(events.begin(), events.end(),
                     [&](const MembershipEvent& e) { return e.name == name && e.peer == peer; });
}

}  // namespace

TEST_CASE("every peer installs the same view of everyone") {
  TestCluster c(4);
  REQUIRE(c.AllSee({0, 1, 2, 3}, Names({0, 1, 2, 3})));
  const View v = c.nodes[0].membership->view();
  for (auto& n : c.nodes) CHECK(n.membership->view() == v);
  CHECK(c.nodes[0].membership->NeverHeard().empty());
  CHECK_FALSE(c.nodes[0].membership->ClusterRunning());
  c.nodes[1].membership->SetProgress(5, true);
  CHECK(WaitUntil(kWait, [&] { return c.nodes[0].membership->ClusterRunning(); }));
}

TEST_CASE("a peer that vanishes is declared dead and the others re-form without it") {
  TestCluster c(4);
  REQUIRE(c.AllSee({0, 1, 2, 3}, Names({0, 1, 2, 3})));
  for (auto& n : c.nodes) n.membership->SetProgress(1, true);
  const uint64_t before = c.nodes[0].membership->view_id();
  c.Crash(2);
  REQUIRE(c.AllSee({0, 1, 3}, Names({0, 1, 3})));
  for (size_t i : {0, 1, 3}) {
    CHECK(c.nodes[i].membership->view_id() > before);
    const auto events = c.nodes[i].membership->DrainEvents();
    CHECK(HasEvent(events, "peer_dead", "p2"));
    const auto dead = std::find_if(events.begin(), events.end(), [](const auto& e) { return e.name == "peer_dead"; });
    CHECK(dead->silence_s >= 0.4);  // dead_ms
  }
  CHECK(c.nodes[0].membership->view() == c.nodes[1].membership->view());
  CHECK(c.nodes[0].membership->view() == c.nodes[3].membership->view());
}

TEST_CASE("an orderly leave re-forms the view at once, without a death") {
  TestCluster c(3);
  REQUIRE(c.AllSee({0, 1, 2}, Names({0, 1, 2})));
  for (auto& n : c.nodes) n.membership->SetProgress(1, true);
  c.nodes[1].membership->Leave();
  REQUIRE(c.AllSee({0, 2}, Names({0, 2})));
  for (size_t i : {0, 2}) {
    const auto events = c.nodes[i].membership->DrainEvents();
    CHECK(HasEvent(events, "peer_left", "p1"));
    CHECK_FALSE(HasEvent(events, "peer_dead", "p1"));
  }
}

TEST_CASE("a restarted peer (new incarnation) is admitted again") {
  TestCluster c(3);
  REQUIRE(c.AllSee({0, 1, 2}, Names({0, 1, 2})));
  for (auto& n : c.nodes) n.membership->SetProgress(1, true);
  const std::string endpoint = c.nodes[2].endpoint;
  c.Crash(2);
  REQUIRE(c.AllSee({0, 1}, Names({0, 1})));

  TransportConfig tc;
  tc.linger_ms = 50;
  Result<std::unique_ptr<Transport>> t = Status::Unavailable("not yet");
  // The old process's port may take a moment to be free again.
  REQUIRE(WaitUntil(kWait, [&] {
    t = Transport::Create(tc, "p2", endpoint);
    return t.ok();
  }));
  c.nodes[2].transport = std::move(t).value();
  MembershipOptions o;
  o.self_id = "p2";
  o.self_endpoint = endpoint;
  o.timing = FastTiming();
  for (auto& n : c.nodes) o.peers.push_back({n.id, n.endpoint});
  auto m = Membership::Start(c.nodes[2].transport.get(), o);
  REQUIRE(m.ok());
  c.nodes[2].membership = std::move(m).value();
  REQUIRE(c.AllSee({0, 1, 2}, Names({0, 1, 2})));
  CHECK(c.nodes[2].membership->ClusterRunning());  // it joins a running cluster
  CHECK(HasEvent(c.nodes[0].membership->DrainEvents(), "peer_joined", "p2"));
}

TEST_CASE("a newcomer that knows only a bootstrap endpoint joins, and everyone learns its address") {
  TestCluster c(4, /*listed=*/3);
  REQUIRE(c.AllSee({0, 1, 2, 3}, Names({0, 1, 2, 3})));
  CHECK(c.nodes[1].membership->EndpointOf("p3") == c.nodes[3].endpoint);
}

TEST_CASE("a peer that is behind fetches the most advanced state, striped over its holders") {
  TestCluster c(3);
  REQUIRE(c.AllSee({0, 1, 2}, Names({0, 1, 2})));
  const uint64_t view = c.nodes[0].membership->view_id();
  std::vector<float> ahead(1234), behind(1234, -1.0f), opt(66, 0.25f), opt_behind(66, 0.0f);
  for (size_t i = 0; i < ahead.size(); ++i) ahead[i] = static_cast<float>(i) / 7.0f;

  std::vector<Result<ReconcilePlan>> plans(3, Status::Unavailable("not run"));
  std::vector<StateSnapshot> fetched(3);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      const bool is_behind = i == 1;
      plans[i] = c.nodes[i].membership->Reconcile(view, is_behind ? 10 : 11, is_behind ? behind : ahead,
                                                  is_behind ? opt_behind : opt, is_behind ? "old" : "plan", kWait,
                                                  &fetched[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < 3; ++i) REQUIRE_MESSAGE(plans[i].ok(), plans[i].status().ToString());
  CHECK(plans[1]->behind);
  CHECK(plans[1]->target_step == 11);
  CHECK(plans[1]->sources == std::vector<std::string>{"p0", "p2"});
  CHECK_FALSE(plans[0]->behind);
  CHECK(fetched[0].values.empty());
  REQUIRE(fetched[1].values.size() == ahead.size() + opt.size());
  CHECK(std::equal(ahead.begin(), ahead.end(), fetched[1].values.begin()));
  CHECK(std::equal(opt.begin(), opt.end(), fetched[1].values.begin() + static_cast<std::ptrdiff_t>(ahead.size())));
  CHECK(fetched[1].meta == "plan");
  CHECK(fetched[1].step == 11);
  // 13 pieces of 100 floats, from both holders.
  CHECK(c.nodes[0].membership->stats().state_pieces_sent > 0);
  CHECK(c.nodes[2].membership->stats().state_pieces_sent > 0);
  CHECK(c.nodes[1].membership->stats().state_pieces_recv == 13);
}

TEST_CASE("reconciliation gives up when the view moves on, and when cancelled") {
  TestCluster c(3);
  REQUIRE(c.AllSee({0, 1, 2}, Names({0, 1, 2})));
  for (auto& n : c.nodes) n.membership->SetProgress(1, true);
  const uint64_t view = c.nodes[0].membership->view_id();
  std::vector<float> state(10, 1.0f);
  std::atomic<bool> cancel{false};
  StateSnapshot fetched;
  // Peer 2 never reports; then it dies, which replaces the view.
  std::thread killer([&] {
    std::this_thread::sleep_for(100ms);
    c.Crash(2);
  });
  auto plan = c.nodes[0].membership->Reconcile(view, 1, state, {}, "m", kWait, &fetched, &cancel);
  killer.join();
  CHECK(plan.status().code() == Status::Code::kAborted);

  REQUIRE(c.AllSee({0, 1}, Names({0, 1})));
  cancel = true;
  auto cancelled =
      c.nodes[0].membership->Reconcile(c.nodes[0].membership->view_id(), 1, state, {}, "m", kWait, &fetched, &cancel);
  CHECK(cancelled.status().code() == Status::Code::kAborted);
}

TEST_CASE("messages that are not membership's are passed up; heartbeats are not") {
  TestCluster c(2);
  REQUIRE(c.AllSee({0, 1}, Names({0, 1})));
  Header h;
  h.type = MessageType::kHello;
  h.sender = "p0";
  OutgoingMessage msg;
  msg.header = EncodeHeader(h);
  REQUIRE(c.nodes[0].transport->Send("p1", std::move(msg), 1s).ok());
  Result<IncomingMessage> got = Status::Timeout("none");
  REQUIRE(WaitUntil(kWait, [&] {
    got = c.nodes[1].membership->Receive(100ms);
    return got.ok();
  }));
  auto decoded = DecodeHeader(got->header.data(), got->header.size());
  REQUIRE(decoded.ok());
  CHECK(decoded->type == MessageType::kHello);
  CHECK(c.nodes[1].membership->stats().heartbeats_recv > 0);
  CHECK(c.nodes[1].membership->stats().forwarded >= 1);
}

TEST_CASE("Finish waits until the others reached the last step") {
  TestCluster c(2);
  REQUIRE(c.AllSee({0, 1}, Names({0, 1})));
  std::thread later([&] {
    std::this_thread::sleep_for(200ms);
    c.nodes[1].membership->SetProgress(50, true);
  });
  CHECK(c.nodes[0].membership->Finish(50, kWait));
  later.join();
  CHECK_FALSE(c.nodes[0].membership->Finish(60, 200ms));
}
