// The pure parts of membership: message codecs, the failure detector on a
// driven clock, view agreement between simulated peers, the reconciliation
// plan, the state transfer's assembly, and epoch plans.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "membership/member_table.h"
#include "membership/membership_messages.h"
#include "membership/state_fetch.h"
#include "membership/view_agreement.h"
#include "meshtrain/membership.h"
#include "meshtrain/membership_epochs.h"

using namespace meshtrain;
using namespace meshtrain::membership_internal;
using namespace std::chrono_literals;

namespace {

View MakeView(uint64_t id, std::vector<std::pair<std::string, uint64_t>> members) {
  View v;
  v.id = id;
  for (auto& [name, inc] : members) v.members.push_back({name, inc});
  std::sort(v.members.begin(), v.members.end());
  return v;
}

Heartbeat SampleHeartbeat() {
  Heartbeat hb;
  hb.incarnation = 1700000000123ULL;
  hb.endpoint = "tcp://127.0.0.1:5555";
  hb.started = true;
  hb.step = 42;
  hb.installed = MakeView(3, {{"p0", 7}, {"p1", 9}});
  hb.proposal = MakeView(4, {{"p0", 7}, {"p1", 9}, {"p2", 11}});
  hb.report = {3, 41, 0xdeadbeefcafeULL, Lineage{2, {"p0", "p1", "p2"}, true}};
  hb.table = {{"p0", "tcp://127.0.0.1:5555", 7, MemberState::kAlive, 42},
              {"p2", "tcp://127.0.0.1:5557", 11, MemberState::kDead, 40}};
  return hb;
}

// A simulated cluster for the agreement: each peer's installed view and
// proposal, exchanged "by heartbeat" in rounds, with its own live set.
struct SimPeer {
  std::string id;
  uint64_t incarnation = 1;
  View installed, proposal;
  std::vector<std::string> sees;  // ids it considers live (not itself)
};

void ExchangeRound(std::vector<SimPeer>& peers) {
  const std::vector<SimPeer> before = peers;  // everyone sees the others' last heartbeats
  for (SimPeer& p : peers) {
    AgreementInput in;
    in.self = p.id;
    in.self_incarnation = p.incarnation;
    in.installed = p.installed;
    in.previous_proposal = p.proposal;
    for (const SimPeer& q : before) {
      if (std::find(p.sees.begin(), p.sees.end(), q.id) == p.sees.end()) continue;
      in.live[q.id] = PeerViews{q.incarnation, q.installed, q.proposal};
    }
    AgreementResult r = Agree(in);
    p.proposal = r.proposal;
    if (r.install) p.installed = *r.install;
  }
}

std::vector<std::string> Others(const std::vector<std::string>& all, const std::string& self) {
  std::vector<std::string> out;
  for (const auto& id : all) {
    if (id != self) out.push_back(id);
  }
  return out;
}

}  // namespace

TEST_CASE("a heartbeat survives encoding, and damaged ones are refused") {
  const Heartbeat hb = SampleHeartbeat();
  const std::string bytes = EncodeHeartbeat(hb);
  auto back = DecodeHeartbeat(bytes);
  REQUIRE(back.has_value());
  CHECK(*back == hb);

  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    CHECK_FALSE(DecodeHeartbeat(std::string_view(bytes).substr(0, cut)).has_value());
  }
  CHECK_FALSE(DecodeHeartbeat(bytes + "x").has_value());  // trailing bytes
  std::string wrong_format = bytes;
  wrong_format[0] = 9;
  CHECK_FALSE(DecodeHeartbeat(wrong_format).has_value());

  Heartbeat unsorted = hb;  // a view must be sorted and without duplicates
  std::swap(unsorted.installed.members[0], unsorted.installed.members[1]);
  CHECK_FALSE(DecodeHeartbeat(EncodeHeartbeat(unsorted)).has_value());
  Heartbeat bad_state = hb;
  std::string raw = EncodeHeartbeat(bad_state);
  raw[raw.size() - 9] = 7;  // the state byte of the last table entry
  CHECK_FALSE(DecodeHeartbeat(raw).has_value());
  Heartbeat unsorted_lineage = hb;  // a lineage's ids are sorted and unique too
  std::swap(unsorted_lineage.report.lineage.members[0], unsorted_lineage.report.lineage.members[2]);
  CHECK_FALSE(DecodeHeartbeat(EncodeHeartbeat(unsorted_lineage)).has_value());
}

TEST_CASE("mutated heartbeats, requests, piece infos and plans never crash the decoders") {
  // Bytes from the network: every decoder must refuse or accept, never read past the end.
  const std::vector<std::string> seeds = {EncodeHeartbeat(SampleHeartbeat()), EncodeStateRequest({1000, 256, 3, 99}),
                                          EncodeStatePieceInfo({1000, 256, 77, "meta"}), EncodeEpochPlan(EpochPlan{})};
  std::mt19937 rng(12345);
  size_t accepted = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string bytes = seeds[static_cast<size_t>(i) % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 3) {
        case 0: bytes[at] = static_cast<char>(rng()); break;
        case 1: bytes.erase(at, 1 + rng() % 8); break;
        default: bytes.insert(at, 1 + rng() % 8, static_cast<char>(rng())); break;
      }
    }
    accepted += DecodeHeartbeat(bytes).has_value() + DecodeStateRequest(bytes).has_value() +
                DecodeStatePieceInfo(bytes).has_value() + DecodeEpochPlan(bytes).has_value();
  }
  MESSAGE(accepted << " of 4000 mutated inputs still decoded as something");
}

TEST_CASE("state requests, state piece info and epoch plans survive encoding") {
  StateRequest req{1000, 256, 3, 99};
  auto req_back = DecodeStateRequest(EncodeStateRequest(req));
  REQUIRE(req_back.has_value());
  CHECK(*req_back == req);
  CHECK_FALSE(DecodeStateRequest(EncodeStateRequest(StateRequest{1000, 256, 0, 99})).has_value());  // stride 0

  StatePieceInfo info{1000, 256, 77, std::string("meta\0bytes", 10)};
  auto info_back = DecodeStatePieceInfo(EncodeStatePieceInfo(info));
  REQUIRE(info_back.has_value());
  CHECK(*info_back == info);

  EpochPlan plan;
  plan.epoch = 3;
  plan.start_step = 300;
  plan.steps = 42;
  plan.shard_owners = {"p0", "p1", "p3"};
  plan.next_owners = {"p0", "p1", "p2", "p3"};
  plan.lr_peers = 4;
  plan.compat = "mlp 784-32-10";
  const std::string bytes = EncodeEpochPlan(plan);
  auto plan_back = DecodeEpochPlan(bytes);
  REQUIRE(plan_back.has_value());
  CHECK(*plan_back == plan);
  CHECK(plan_back->end_step() == 342);
  CHECK(plan_back->ShardIndexOf("p3") == 2);
  CHECK(plan_back->ShardIndexOf("p2") == -1);
  CHECK_FALSE(DecodeEpochPlan(bytes.substr(0, bytes.size() - 1)).has_value());
  CHECK(StatePieceCount(0, 256) == 1);
  CHECK(StatePieceCount(512, 256) == 2);
  CHECK(StatePieceCount(513, 256) == 3);
}

TEST_CASE("the failure detector suspects, then buries, a silent peer; a new incarnation comes back") {
  MemberTable table("p0");
  table.Add("p1", "tcp://127.0.0.1:1", true);
  const Clock::time_point t0 = Clock::time_point{} + 1000s;
  Heartbeat hb;
  hb.incarnation = 5;
  hb.endpoint = "tcp://127.0.0.1:1";
  bool evicted = false;
  auto changes = table.OnHeartbeat("p1", hb, t0, 1, &evicted);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == MemberChange::Kind::kJoined);
  CHECK_FALSE(changes[0].returning);
  CHECK(table.LiveViews().count("p1") == 1);

  CHECK(table.Tick(t0 + 400ms, 500ms, 1000ms).empty());
  auto suspect = table.Tick(t0 + 600ms, 500ms, 1000ms);
  REQUIRE(suspect.size() == 1);
  CHECK(suspect[0].kind == MemberChange::Kind::kSuspect);
  CHECK(table.LiveViews().count("p1") == 1);  // suspected peers stay in the view
  auto dead = table.Tick(t0 + 1100ms, 500ms, 1000ms);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].kind == MemberChange::Kind::kDead);
  CHECK(dead[0].silence_s == doctest::Approx(1.1));
  CHECK(table.LiveViews().empty());

  // The same incarnation cannot come back (a paused process must rejoin as a new one)...
  CHECK(table.OnHeartbeat("p1", hb, t0 + 1200ms, 1, &evicted).empty());
  CHECK(table.LiveViews().empty());
  // ...a new one can, and we know it is a return (reconnect to it).
  hb.incarnation = 6;
  auto back = table.OnHeartbeat("p1", hb, t0 + 1300ms, 1, &evicted);
  REQUIRE(back.size() == 1);
  CHECK(back[0].kind == MemberChange::Kind::kJoined);
  CHECK(back[0].returning);
  CHECK(table.LiveViews().at("p1").incarnation == 6);

  // A peer that says it leaves is gone at once.
  hb.leaving = true;
  auto left = table.OnHeartbeat("p1", hb, t0 + 1400ms, 1, &evicted);
  REQUIRE(left.size() == 1);
  CHECK(left[0].kind == MemberChange::Kind::kLeft);
  CHECK(table.LiveViews().empty());
}

TEST_CASE("after our own stall, silent peers get a grace period instead of a burial") {
  MemberTable table("p0");
  const Clock::time_point t0 = Clock::time_point{} + 1000s;
  Heartbeat hb;
  hb.incarnation = 5;
  hb.endpoint = "tcp://127.0.0.1:1";
  bool evicted = false;
  table.OnHeartbeat("p1", hb, t0, 1, &evicted);
  table.Grace(t0 + 3s);  // we were stopped for 3 s
  CHECK(table.Tick(t0 + 3s + 100ms, 500ms, 1000ms).empty());
  CHECK(table.LiveViews().count("p1") == 1);
}

TEST_CASE("gossip discovers newcomers, and tells a peer that it was declared dead") {
  MemberTable table("p0");
  Heartbeat hb;
  hb.incarnation = 5;
  hb.endpoint = "tcp://127.0.0.1:1";
  hb.table = {{"p1", "tcp://127.0.0.1:1", 5, MemberState::kAlive, 0},
              {"p9", "tcp://127.0.0.1:9", 3, MemberState::kAlive, 0},
              {"p0", "tcp://127.0.0.1:0", 7, MemberState::kDead, 0}};
  bool evicted = false;
  auto changes = table.OnHeartbeat("p1", hb, Clock::now(), /*self_incarnation=*/7, &evicted);
  CHECK(evicted);
  const bool discovered_p9 = std::any_of(changes.begin(), changes.end(), [](const MemberChange& c) {
    return c.kind == MemberChange::Kind::kDiscovered && c.id == "p9";
  });
  CHECK(discovered_p9);
  REQUIRE(table.Find("p9") != nullptr);
  CHECK(table.Find("p9")->endpoint == "tcp://127.0.0.1:9");
  CHECK(table.LiveViews().count("p9") == 0);  // heard of, not heard from
  // Dead at an older incarnation: that was a previous life, not us.
  table.OnHeartbeat("p1", hb, Clock::now(), /*self_incarnation=*/8, &evicted);
  CHECK_FALSE(evicted);
}

TEST_CASE("any message from a live peer proves it alive, like a heartbeat") {
  // On a slow link a heartbeat waits behind the pieces queued ahead of it on
  // the same connection; each piece that arrives keeps the sender alive.
  MemberTable table("p0");
  const Clock::time_point t0 = Clock::time_point{} + 1000s;
  Heartbeat hb;
  hb.incarnation = 5;
  hb.endpoint = "tcp://127.0.0.1:1";
  bool evicted = false;
  table.OnHeartbeat("p1", hb, t0, 1, &evicted);
  CHECK(table.Tick(t0 + 600ms, 500ms, 1000ms).size() == 1);  // suspected
  table.OnTraffic("p1", t0 + 700ms);                          // a ring piece arrives
  CHECK(table.Find("p1")->state == MemberState::kAlive);
  CHECK(table.Tick(t0 + 1500ms, 500ms, 1000ms).size() == 1);  // suspected again, not dead
  CHECK(table.LiveViews().count("p1") == 1);
  // A peer we buried is not revived by stray traffic: it must come back as a new incarnation.
  CHECK(table.Tick(t0 + 1800ms, 500ms, 1000ms).size() == 1);
  table.OnTraffic("p1", t0 + 1900ms);
  CHECK(table.LiveViews().empty());
  table.OnTraffic("p9", t0 + 1900ms);  // a stranger: nothing to do
  CHECK(table.Find("p9") == nullptr);
}

TEST_CASE("peers spared while a state transfer to us is moving are not buried") {
  MemberTable table("p0");
  const Clock::time_point t0 = Clock::time_point{} + 1000s;
  Heartbeat hb;
  hb.incarnation = 5;
  hb.endpoint = "tcp://127.0.0.1:1";
  bool evicted = false;
  table.OnHeartbeat("p1", hb, t0, 1, &evicted);
  table.OnHeartbeat("p2", hb, t0, 1, &evicted);
  const auto changes = table.Tick(t0 + 1500ms, 500ms, 1000ms, /*spared=*/{"p1"});
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].id == "p2");
  CHECK(table.LiveViews().count("p1") == 1);
  CHECK(table.Tick(t0 + 1600ms, 500ms, 1000ms).size() == 1);  // the transfer stopped moving: buried
  CHECK(table.LiveViews().empty());
}

TEST_CASE("after a cut, the cut-off peer comes back; the larger side does not obey its verdicts") {
  // p0 is in the 3 of 4 that buried p3 (incarnation 9); p3, cut off alone, buried them too.
  const Clock::time_point t0 = Clock::time_point{} + 1000s;
  MemberTable table("p0");
  Heartbeat from_p3;
  from_p3.incarnation = 9;
  from_p3.endpoint = "tcp://127.0.0.1:3";
  bool evicted = false;
  table.OnHeartbeat("p3", from_p3, t0, /*self_incarnation=*/7, &evicted);
  REQUIRE(table.Tick(t0 + 1100ms, 500ms, 1000ms).size() == 1);  // p3 buried at incarnation 9
  from_p3.installed = View{4, {{"p3", 9}}};
  from_p3.table = {{"p3", "tcp://127.0.0.1:3", 9, MemberState::kAlive, 0},
                   {"p0", "tcp://127.0.0.1:0", 7, MemberState::kDead, 0}};
  // Its link is back: the buried incarnation, in a view of 1 against our 3, says we are dead.
  table.OnHeartbeat("p3", from_p3, t0 + 2s, 7, &evicted, /*self_view_size=*/3);
  CHECK_FALSE(evicted);
  CHECK(table.LiveViews().empty());
  // The same verdict from a view as large as ours (two halves of 4) is obeyed, as before.
  from_p3.installed = View{4, {{"p2", 4}, {"p3", 9}}};
  table.OnHeartbeat("p3", from_p3, t0 + 2s, 7, &evicted, /*self_view_size=*/2);
  CHECK(evicted);

  // p3's side: it buried p0, learns that it was buried itself, comes back and
  // withdraws its verdict, so that p0's current incarnation is admitted again.
  MemberTable cut_off("p3");
  Heartbeat from_p0;
  from_p0.incarnation = 7;
  from_p0.endpoint = "tcp://127.0.0.1:0";
  cut_off.OnHeartbeat("p0", from_p0, t0, 9, &evicted);
  REQUIRE(cut_off.Tick(t0 + 1100ms, 500ms, 1000ms).size() == 1);
  CHECK(cut_off.Entries({"p3", "tcp://127.0.0.1:3", 9, MemberState::kAlive, 0}).at(1).state == MemberState::kDead);
  CHECK(cut_off.WithdrawVerdicts() == std::vector<std::string>{"p0"});
  const auto published = cut_off.Entries({"p3", "tcp://127.0.0.1:3", 10, MemberState::kAlive, 0});
  CHECK(published.at(1).id == "p0");
  CHECK(published.at(1).state == MemberState::kSuspect);  // no longer tells p0 it is dead
  CHECK(cut_off.LiveViews().empty());                     // and not live until heard
  auto back = cut_off.OnHeartbeat("p0", from_p0, t0 + 2s, 10, &evicted);
  REQUIRE(back.size() == 1);
  CHECK(back[0].kind == MemberChange::Kind::kJoined);
  CHECK(cut_off.LiveViews().at("p0").incarnation == 7);
  CHECK(cut_off.WithdrawVerdicts().empty());
}

TEST_CASE("peers that see the same live set install the same view") {
  const std::vector<std::string> all = {"p0", "p1", "p2", "p3"};
  std::vector<SimPeer> peers;
  for (const auto& id : all) peers.push_back({id, 1, {}, {}, Others(all, id)});
  for (int i = 0; i < 3; ++i) ExchangeRound(peers);
  for (const SimPeer& p : peers) {
    CHECK(p.installed.members.size() == 4);
    CHECK(p.installed == peers[0].installed);
  }
  const uint64_t first = peers[0].installed.id;

  // p3 dies; the others notice at different rounds.
  peers.pop_back();
  const std::vector<std::string> survivors = {"p0", "p1", "p2"};
  peers[0].sees = Others(survivors, "p0");
  ExchangeRound(peers);
  CHECK(peers[0].installed.id == first);  // p0 alone proposes: nothing installed yet
  peers[1].sees = Others(survivors, "p1");
  peers[2].sees = Others(survivors, "p2");
  for (int i = 0; i < 3; ++i) ExchangeRound(peers);
  for (const SimPeer& p : peers) {
    CHECK(p.installed.ids() == survivors);
    CHECK(p.installed == peers[0].installed);
    CHECK(p.installed.id > first);
  }

  // p3 comes back as a new incarnation.
  peers.push_back({"p3", 2, {}, {}, Others(all, "p3")});
  for (SimPeer& p : peers) p.sees = Others(all, p.id);
  for (int i = 0; i < 4; ++i) ExchangeRound(peers);
  for (const SimPeer& p : peers) {
    CHECK(p.installed.members.size() == 4);
    CHECK(p.installed == peers[0].installed);
  }
  const auto it = std::find_if(peers[0].installed.members.begin(), peers[0].installed.members.end(),
                               [](const ViewMember& m) { return m.id == "p3"; });
  REQUIRE(it != peers[0].installed.members.end());
  CHECK(it->incarnation == 2);
}

TEST_CASE("a peer still on an old view of the same set moves on with the others") {
  // q installed (6, M) and never the (7, M') that p went through; both now see M.
  std::vector<SimPeer> peers = {{"p", 1, MakeView(7, {{"p", 1}}), {}, {"q"}},
                                {"q", 1, MakeView(6, {{"p", 1}, {"q", 1}}), {}, {"p"}}};
  peers[1].proposal = peers[1].installed;
  for (int i = 0; i < 3; ++i) ExchangeRound(peers);
  CHECK(peers[0].installed == peers[1].installed);
  CHECK(peers[0].installed.members.size() == 2);
  CHECK(peers[0].installed.id > 7);
}

TEST_CASE("views only move forward, and disagreement installs nothing") {
  std::vector<SimPeer> peers = {{"a", 1, {}, {}, {"b"}}, {"b", 1, {}, {}, {"a", "c"}}, {"c", 1, {}, {}, {"b"}}};
  for (int i = 0; i < 4; ++i) ExchangeRound(peers);
  // a sees {a,b}, b sees {a,b,c}, c sees {b,c}: no set is proposed by all its members.
  for (const SimPeer& p : peers) CHECK(p.installed.id == 0);
  peers[0].sees = {"b", "c"};
  peers[2].sees = {"a", "b"};
  for (int i = 0; i < 4; ++i) ExchangeRound(peers);
  for (const SimPeer& p : peers) CHECK(p.installed == peers[0].installed);
  CHECK(peers[0].installed.members.size() == 3);
}

ReplicaReport Report(uint64_t view, uint64_t step, uint64_t checksum, Lineage lineage = {}) {
  return ReplicaReport{view, step, checksum, std::move(lineage)};
}

const std::vector<std::string> kAllFour = {"p0", "p1", "p2", "p3"};

TEST_CASE("reconciliation picks the most advanced state, then the one most of its holders share") {
  const Lineage v1{1, kAllFour, false};
  std::map<std::string, ReplicaReport> reports = {{"p0", Report(5, 100, 0xA, v1)},
                                                  {"p1", Report(5, 101, 0xB, v1)},
                                                  {"p2", Report(5, 101, 0xB, v1)},
                                                  {"p3", Report(5, 99, 0xC, v1)}};
  ReconcilePlan plan = PlanReconcile(reports, "p0");
  CHECK(plan.target_step == 101);
  CHECK(plan.checksum == 0xB);
  CHECK(plan.sources == std::vector<std::string>{"p1", "p2"});
  CHECK(plan.behind);
  CHECK_FALSE(PlanReconcile(reports, "p2").behind);
  CHECK(plan.primary);  // the same members again: a primary view, one more than the last
  CHECK(plan.lineage == Lineage{2, kAllFour, false});

  // A lone newcomer at the same step (say step 0 with other metadata) does not
  // impose its state on the cluster, even with the lowest id.
  std::map<std::string, ReplicaReport> start = {
      {"a9", Report(2, 0, 0x1)}, {"p0", Report(2, 0, 0x2)}, {"p1", Report(2, 0, 0x2)}};
  ReconcilePlan joined = PlanReconcile(start, "a9");
  CHECK(joined.checksum == 0x2);
  CHECK(joined.behind);
  CHECK(joined.lineage == Lineage{1, {"a9", "p0", "p1"}, false});  // the first view of a fresh start is primary
  // Ties go to the lowest id's state.
  std::map<std::string, ReplicaReport> tie = {{"p0", Report(2, 7, 0x2)}, {"p1", Report(2, 7, 0x1)}};
  CHECK(PlanReconcile(tie, "p1").checksum == 0x2);
}

TEST_CASE("after a partition heals, the majority's state wins over a peer that trained alone") {
  // p3 was cut off from view 1 = all four. It reconciled a view of its own
  // (1 of 4: not a primary view) and raced ahead to step 33; p0..p2 formed a
  // primary view of 3 and reached step 14.
  std::map<std::string, ReplicaReport> alone = {{"p3", Report(2, 14, 0xC, Lineage{1, kAllFour, false})}};
  const ReconcilePlan cut_off = PlanReconcile(alone, "p3");
  CHECK_FALSE(cut_off.primary);
  CHECK(cut_off.lineage == Lineage{1, kAllFour, true});
  std::map<std::string, ReplicaReport> three;
  for (const char* id : {"p0", "p1", "p2"}) three[id] = Report(2, 12, 0xA, Lineage{1, kAllFour, false});
  const ReconcilePlan majority = PlanReconcile(three, "p0");
  CHECK(majority.primary);
  CHECK(majority.lineage == Lineage{2, {"p0", "p1", "p2"}, false});

  std::map<std::string, ReplicaReport> healed;
  for (const char* id : {"p0", "p1", "p2"}) healed[id] = Report(5, 14, 0xA, majority.lineage);
  healed["p3"] = Report(5, 33, 0xD, cut_off.lineage);
  const ReconcilePlan plan = PlanReconcile(healed, "p3");
  CHECK(plan.target_step == 14);
  CHECK(plan.checksum == 0xA);
  CHECK(plan.sources == std::vector<std::string>{"p0", "p1", "p2"});
  CHECK(plan.behind);
  CHECK_FALSE(PlanReconcile(healed, "p0").behind);
  CHECK(plan.lineage == Lineage{3, kAllFour, false});

  // The link came back before the three had reconciled a view without p3:
  // they are still at view 1's lineage, p3 left it for a minority view, so
  // its solo steps still lose.
  std::map<std::string, ReplicaReport> early;
  for (const char* id : {"p0", "p1", "p2"}) early[id] = Report(3, 12, 0xA, Lineage{1, kAllFour, false});
  early["p3"] = Report(3, 20, 0xD, cut_off.lineage);
  CHECK(PlanReconcile(early, "p3").checksum == 0xA);
  CHECK(PlanReconcile(early, "p3").target_step == 12);

  // Two halves of four: neither is primary; the merge still picks one state,
  // the same on every member (the most advanced, then the lowest id).
  std::map<std::string, ReplicaReport> halves = {{"p0", Report(6, 30, 0x1, Lineage{1, kAllFour, true})},
                                                 {"p1", Report(6, 30, 0x1, Lineage{1, kAllFour, true})},
                                                 {"p2", Report(6, 31, 0x2, Lineage{1, kAllFour, true})},
                                                 {"p3", Report(6, 31, 0x2, Lineage{1, kAllFour, true})}};
  CHECK(PlanReconcile(halves, "p0").checksum == 0x2);
  CHECK(PlanReconcile(halves, "p0").lineage == Lineage{2, kAllFour, false});
}

TEST_CASE("a paused or restarted peer's stale state never wins over the peers that went on") {
  // p3 was paused in view 1 (all four); the others went on in a primary view
  // of three, then of two (p2 died): the chain of majorities supersedes view 1
  // even though p3's last view was bigger and its step (say a checkpoint) higher.
  const Lineage v3{3, {"p0", "p1"}, false};
  std::map<std::string, ReplicaReport> back = {{"p0", Report(9, 500, 0xA, v3)},
                                               {"p1", Report(9, 500, 0xA, v3)},
                                               {"p3", Report(9, 600, 0xB, Lineage{1, kAllFour, false})}};
  ReconcilePlan plan = PlanReconcile(back, "p3");
  CHECK(plan.target_step == 500);
  CHECK(plan.behind);
  CHECK(plan.lineage == Lineage{4, {"p0", "p1", "p3"}, false});

  // A restarted peer (or a newcomer) brings no lineage: the running cluster's
  // state wins, even from a peer left alone (not primary) by three kills.
  std::map<std::string, ReplicaReport> restart = {{"p0", Report(4, 80, 0xA, Lineage{1, kAllFour, true})},
                                                  {"p1", Report(4, 95, 0xB)}};
  plan = PlanReconcile(restart, "p1");
  CHECK(plan.target_step == 80);
  CHECK(plan.behind);
  CHECK_FALSE(plan.primary);  // 2 of view 1's 4
  CHECK(plan.lineage == Lineage{1, kAllFour, true});
  // ... and once a majority of view 1 is back, the view is primary again.
  restart["p2"] = Report(5, 70, 0xC);
  restart["p0"].lineage = Lineage{1, kAllFour, true};
  CHECK(PlanReconcile(restart, "p2").primary);
  CHECK(PlanReconcile(restart, "p2").lineage == Lineage{2, {"p0", "p1", "p2"}, false});

  // Every peer restarted from its checkpoint: no lineage anywhere, the most advanced checkpoint wins.
  std::map<std::string, ReplicaReport> all_restarted = {
      {"p0", Report(1, 40, 0x1)}, {"p1", Report(1, 60, 0x2)}, {"p2", Report(1, 50, 0x3)}};
  CHECK(PlanReconcile(all_restarted, "p0").target_step == 60);

  // Partial completion within one lineage: those who finished the round are ahead.
  std::map<std::string, ReplicaReport> partial = {{"p0", Report(7, 21, 0x5, Lineage{2, {"p0", "p1", "p2"}, false})},
                                                  {"p2", Report(7, 20, 0x4, Lineage{2, {"p0", "p1", "p2"}, false})}};
  CHECK(PlanReconcile(partial, "p2").target_step == 21);
  CHECK(PlanReconcile(partial, "p2").primary);  // 2 of 3
}

TEST_CASE("membership.quorum as a count") {
  CHECK(QuorumSize("off", 4).value() == 0);
  CHECK(QuorumSize("0", 4).value() == 0);
  CHECK(QuorumSize("majority", 4).value() == 3);
  CHECK(QuorumSize("majority", 3).value() == 2);
  CHECK(QuorumSize("majority", 1).value() == 1);
  CHECK(QuorumSize("2", 8).value() == 2);
  for (const char* bad : {"", "half", "-1", "3 ", "2.5"}) {
    auto q = QuorumSize(bad, 4);
    REQUIRE_FALSE(q.ok());
    CHECK(q.status().message().find("membership.quorum") != std::string::npos);
  }
}

TEST_CASE("a cut-off minority waits the grace, then trains alone or stops; a primary view trains at once") {
  // The views the issue's cut produces (docs/faults.md, "A cut-off minority
  // waits"): p3 alone is no majority of view 1's four; p0..p2 are.
  std::map<std::string, ReplicaReport> alone = {{"p3", Report(2, 14, 0xC, Lineage{1, kAllFour, false})}};
  const bool p3_primary = PlanReconcile(alone, "p3").primary;
  CHECK_FALSE(p3_primary);
  std::map<std::string, ReplicaReport> three;
  for (const char* id : {"p0", "p1", "p2"}) three[id] = Report(2, 12, 0xA, Lineage{1, kAllFour, false});
  CHECK(PlanReconcile(three, "p0").primary);
  // Crashes one at a time keep the survivors primary (3 of 4, then 2 of 3) ...
  std::map<std::string, ReplicaReport> two = {{"p0", Report(3, 20, 0xA, Lineage{2, {"p0", "p1", "p2"}, false})},
                                              {"p1", Report(3, 20, 0xA, Lineage{2, {"p0", "p1", "p2"}, false})}};
  const ReconcilePlan pair = PlanReconcile(two, "p0");
  CHECK(pair.primary);
  // ... but the last peer standing (1 of 2) is a minority: it cannot tell its
  // partner's crash from its own cable, so it waits like a cut-off peer.
  std::map<std::string, ReplicaReport> last = {{"p0", Report(4, 25, 0xA, pair.lineage)}};
  CHECK_FALSE(PlanReconcile(last, "p0").primary);

  const int64_t grace = 10000;
  CHECK(DecideMinority(true, 0, grace, true) == MinorityAction::kTrain);
  CHECK(DecideMinority(true, 50000, grace, false) == MinorityAction::kTrain);
  CHECK(DecideMinority(p3_primary, 0, grace, true) == MinorityAction::kWait);
  CHECK(DecideMinority(p3_primary, 9999, grace, true) == MinorityAction::kWait);
  CHECK(DecideMinority(p3_primary, 10000, grace, true) == MinorityAction::kTrainAlone);
  CHECK(DecideMinority(p3_primary, 10000, grace, false) == MinorityAction::kStop);
  // A grace of 0: the old rule, the minority trains on (or stops) at once.
  CHECK(DecideMinority(p3_primary, 0, 0, true) == MinorityAction::kTrainAlone);
  CHECK(DecideMinority(p3_primary, 0, 0, false) == MinorityAction::kStop);
}

TEST_CASE("membership.minority_grace_ms: auto follows the failure detector, a number is itself") {
  CHECK(AutoMinorityGraceMs(1000) == 10000);   // the defaults: rides out a 2 s cable pull with room to spare
  CHECK(AutoMinorityGraceMs(5000) == 25000);   // docs/edge.md's timers for busy boards
  CHECK(AutoMinorityGraceMs(100) == 10000);
  CHECK(MinorityMillis("membership.minority_grace_ms", "auto", 10000).value() == 10000);
  CHECK(MinorityMillis("membership.minority_grace_ms", "0", 10000).value() == 0);
  CHECK(MinorityMillis("membership.minority_grace_ms", "2500", 10000).value() == 2500);
  for (const char* bad : {"", "soon", "-1", "10 s", "1.5"}) {
    auto ms = MinorityMillis("membership.minority_end_wait_ms", bad, 10000);
    REQUIRE_FALSE(ms.ok());
    CHECK(ms.status().message().find("membership.minority_end_wait_ms") != std::string::npos);
  }
}

TEST_CASE("a striped state transfer assembles, checks every piece, and verifies the checksum") {
  std::vector<float> truth(1000);
  for (size_t i = 0; i < truth.size(); ++i) truth[i] = static_cast<float>(i) * 0.5f;
  const std::string meta = "plan";
  ReconcilePlan plan;
  plan.target_step = 12;
  plan.checksum = StateChecksum(truth, meta);
  plan.sources = {"p1", "p2"};
  plan.behind = true;
  StateFetch fetch(/*view_id=*/4, plan, truth.size(), /*piece_floats=*/300);
  REQUIRE(fetch.n_pieces() == 4);
  CHECK(fetch.stride() == 2);

  const auto piece = [&](uint32_t index, const std::string& from, uint64_t view, uint64_t step) {
    Header h = StatePieceHeader(from, view, step, index, 4, std::min<uint64_t>(300, 1000 - index * 300),
                                StatePieceInfo{1000, 300, plan.checksum, meta});
    std::string why;
    return fetch.Add(from, h, truth.data() + index * 300, StatePieceInfo{1000, 300, plan.checksum, meta}, &why);
  };
  CHECK(piece(0, "p1", 3, 12) == StateFetch::Accept::kNotOurs);  // an older view's transfer
  CHECK(piece(0, "p3", 4, 12) == StateFetch::Accept::kBad);      // not a holder
  CHECK(piece(0, "p1", 4, 12) == StateFetch::Accept::kTaken);
  CHECK(piece(0, "p1", 4, 12) == StateFetch::Accept::kDuplicate);
  CHECK(fetch.Owing() == std::vector<std::string>{"p1", "p2"});
  CHECK(piece(2, "p1", 4, 12) == StateFetch::Accept::kTaken);
  CHECK(fetch.Owing() == std::vector<std::string>{"p2"});
  CHECK(piece(1, "p2", 4, 12) == StateFetch::Accept::kTaken);
  CHECK_FALSE(fetch.complete());
  CHECK(piece(3, "p2", 4, 12) == StateFetch::Accept::kTaken);
  REQUIRE(fetch.complete());
  auto got = fetch.Finish();
  REQUIRE(got.ok());
  CHECK(got->values == truth);
  CHECK(got->meta == meta);
  CHECK(got->step == 12);

  // A flipped bit anywhere fails the checksum.
  StateFetch corrupt(4, plan, truth.size(), 1000);
  std::vector<float> bad = truth;
  bad[777] = 1e9f;
  Header h = StatePieceHeader("p1", 4, 12, 0, 1, 1000, StatePieceInfo{1000, 1000, plan.checksum, meta});
  std::string why;
  REQUIRE(corrupt.Add("p1", h, bad.data(), StatePieceInfo{1000, 1000, plan.checksum, meta}, &why) ==
          StateFetch::Accept::kTaken);
  CHECK_FALSE(corrupt.Finish().ok());
}

TEST_CASE("the next epoch's shards follow the view, or stay put") {
  EpochPlan plan;
  plan.shard_owners = {"p0", "p1", "p2", "p3"};
  CHECK(NextShardOwners(plan, {"p0", "p1", "p3"}, ReshardPolicy::kEpoch) == std::vector<std::string>{"p0", "p1", "p3"});
  CHECK(NextShardOwners(plan, {"p0", "p1", "p3"}, ReshardPolicy::kNone) == plan.shard_owners);
  // The same set keeps the current order: a fault-free run never re-cuts.
  plan.shard_owners = {"p3", "p0", "p2", "p1"};
  CHECK(NextShardOwners(plan, {"p0", "p1", "p2", "p3"}, ReshardPolicy::kEpoch) == plan.shard_owners);
}

TEST_CASE("the state checksum sees every bit and the metadata") {
  std::vector<float> v = {1.0f, 2.0f, 3.0f};
  const uint64_t base = StateChecksum(v, "m");
  CHECK(StateChecksum(v, "m") == base);
  CHECK(StateChecksum(v, "n") != base);
  v[2] = std::nextafter(3.0f, 4.0f);
  CHECK(StateChecksum(v, "m") != base);
  v.pop_back();
  CHECK(StateChecksum(v, "m") != base);
}
