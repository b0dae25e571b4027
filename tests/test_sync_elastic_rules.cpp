// The rules the trainer used to hold, tested on their own now that they live
// in the sync layer: the epoch planner (reshard, missing shards, the run's
// length), the minority guard on a driven clock, and the quorum guard.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "sync/epoch_planner.h"
#include "sync/minority_guard.h"
#include "sync/quorum_guard.h"

using namespace meshtrain;
using namespace std::chrono_literals;

namespace {

// Remembers every event and console line.
struct RecordingSink final : EventSink {
  std::vector<SyncEvent> events;
  std::vector<std::string> said;
  void Record(const SyncEvent& event) override { events.push_back(event); }
  void Say(const std::string& text) override { said.push_back(text); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.name);
    return out;
  }
};

View MakeView(uint64_t id, const std::vector<std::string>& ids) {
  View v;
  v.id = id;
  for (const auto& name : ids) v.members.push_back({name, 1});
  return v;
}

template <typename T>
T FieldOf(const SyncEvent& e, const std::string& key) {
  for (const auto& f : e.fields) {
    if (f.key == key) return std::get<T>(f.value);
  }
  FAIL("no field " << key);
  return T{};
}

ReconcilePlan Reconciled(bool primary, uint64_t step, std::vector<std::string> members) {
  ReconcilePlan plan;
  plan.primary = primary;
  plan.target_step = step;
  plan.lineage.members = std::move(members);
  return plan;
}

}  // namespace

TEST_CASE("epoch planner: a static plan, epochs of equal length, the run's length") {
  RecordingSink sink;
  EpochPlanner planner({/*epochs=*/3, /*max_steps=*/0, /*batch_size=*/10, ReshardPolicy::kEpoch}, sink);
  planner.Begin({"p0", "p1", "p2"}, /*step=*/25, /*steps_per_epoch=*/10, /*lr_peers=*/3, "keys");
  CHECK(planner.plan().epoch == 2);
  CHECK(planner.plan().start_step == 20);
  CHECK(planner.plan().end_step() == 30);
  CHECK(planner.total_steps() == 30);

  EpochPlanner capped({3, /*max_steps=*/12, 10, ReshardPolicy::kEpoch}, sink);
  capped.Begin({"p0"}, 0, 10, 1, "");
  CHECK(capped.total_steps() == 12);
}

TEST_CASE("epoch planner: a dead peer's shard is counted, then the data is re-cut over the live peers") {
  RecordingSink sink;
  EpochPlanner planner({/*epochs=*/2, 0, /*batch_size=*/10, ReshardPolicy::kEpoch}, sink);
  planner.Begin({"p0", "p1", "p2"}, 0, /*steps_per_epoch=*/5, 3, "");
  const View without_p2 = MakeView(2, {"p0", "p1"});
  planner.PlanNextOwners(without_p2.ids());
  for (int i = 0; i < 3; ++i) planner.CountMissingShards(without_p2);
  CHECK(planner.missing_shard_steps() == 3);

  std::vector<EpochPlan> loaded;
  Status st = planner.StartNextEpoch([&](const EpochPlan& plan) -> Result<ShardFacts> {
    loaded.push_back(plan);
    return ShardFacts{true, /*largest_rows=*/75};
  });
  REQUIRE(st.ok());
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].shard_owners == std::vector<std::string>{"p0", "p1"});
  CHECK(sink.names() == std::vector<std::string>{"shard_missing", "reshard"});
  CHECK(FieldOf<int64_t>(sink.events[0], "samples") == 30);
  CHECK(sink.events[0].detail ==
        "epoch 0: p2's shard sat out 3 of 5 steps; about 30 samples not seen this epoch; the next epoch re-cuts "
        "the data over the live peers");
  CHECK(FieldOf<int64_t>(sink.events[1], "steps") == 8);  // ceil(75 / 10)
  CHECK(sink.events[1].detail == "epoch 1: the data is re-cut over 2 peers (p0,p1), 8 steps");
  CHECK(planner.plan().epoch == 1);
  CHECK(planner.plan().start_step == 5);
  CHECK(planner.total_steps() == 13);  // 5 + 8 x (2 - 1)
}

TEST_CASE("epoch planner: the same owners start the next epoch without a re-cut; a failed load fails it") {
  RecordingSink sink;
  EpochPlanner planner({2, 0, 10, ReshardPolicy::kEpoch}, sink);
  planner.Begin({"p0", "p1"}, 0, 5, 2, "");
  REQUIRE(planner.StartNextEpoch([](const EpochPlan&) -> Result<ShardFacts> { return ShardFacts{}; }).ok());
  CHECK(sink.events.empty());
  CHECK(planner.total_steps() == 10);
  Status failed = planner.StartNextEpoch(
      [](const EpochPlan&) -> Result<ShardFacts> { return Status::InvalidArgument("no such file"); });
  CHECK(failed.code() == Status::Code::kInvalidArgument);
}

TEST_CASE("epoch planner: a fetched plan sets the run's length") {
  RecordingSink sink;
  EpochPlanner planner({/*epochs=*/4, 0, 10, ReshardPolicy::kEpoch}, sink);
  planner.Begin({"p0", "p1"}, 0, 5, 2, "");
  EpochPlan theirs = planner.plan();
  theirs.epoch = 2;
  theirs.start_step = 11;
  theirs.steps = 7;
  planner.Adopt(theirs);
  CHECK(planner.total_steps() == 25);  // 11 + 7 x (4 - 2)
  CHECK(DecodeEpochPlan(planner.Encoded()) == theirs);
}

TEST_CASE("minority guard: waits the grace, then trains alone, and says when it is back") {
  RecordingSink sink;
  MinorityGuard guard({/*grace_ms=*/1000, /*end_wait_ms=*/500, /*train_after_grace=*/true}, sink);
  const auto t0 = MinorityGuard::Clock::time_point{} + 100s;
  const View alone = MakeView(5, {"p3"});
  std::string why;
  guard.Note(Reconciled(/*primary=*/true, 10, {"p0", "p1", "p2", "p3"}), t0);
  CHECK(guard.Check(alone, 10, t0, &why) == MinorityVerdict::kGo);
  CHECK(sink.events.empty());

  guard.Note(Reconciled(false, 12, {"p0", "p1", "p2", "p3"}), t0);
  CHECK(guard.in_minority());
  CHECK(guard.last_shared_step() == 12);
  CHECK(guard.Check(alone, 12, t0 + 200ms, &why) == MinorityVerdict::kWait);
  CHECK(guard.Check(alone, 12, t0 + 900ms, &why) == MinorityVerdict::kWait);  // said once
  CHECK(sink.names() == std::vector<std::string>{"minority_wait"});
  CHECK(sink.events[0].detail ==
        "view 5 [p3] holds no majority of the last primary view [p0, p1, p2, p3] (at step 12): no steps for up to "
        "membership.minority_grace_ms = 1000 ms while the others may come back");
  CHECK(guard.Check(alone, 12, t0 + 1000ms, &why) == MinorityVerdict::kGo);
  CHECK(sink.names().back() == "minority_training");
  // A later reconciliation in a minority view keeps the step it left the majority with.
  guard.Note(Reconciled(false, 30, {"p0", "p1", "p2", "p3"}), t0 + 2s);
  CHECK(guard.last_shared_step() == 12);

  guard.Note(Reconciled(true, 40, {"p0", "p1", "p2", "p3"}), t0 + 3s);
  CHECK(guard.Check(MakeView(6, {"p0", "p1", "p2", "p3"}), 40, t0 + 3s, &why) == MinorityVerdict::kGo);
  CHECK(sink.names().back() == "minority_rejoined");
  CHECK(sink.events.back().detail.find("again after 3.000000 s in minority views (trained alone)") !=
        std::string::npos);
  CHECK(sink.said.back().rfind("minority_rejoined: ", 0) == 0);
}

TEST_CASE("minority guard: membership.minority = stop, and a minority's end") {
  RecordingSink sink;
  MinorityGuard guard({/*grace_ms=*/0, /*end_wait_ms=*/500, /*train_after_grace=*/false}, sink);
  const auto t0 = MinorityGuard::Clock::time_point{} + 100s;
  const View pair = MakeView(7, {"p0", "p1"});
  guard.Note(Reconciled(false, 20, {"p0", "p1", "p2", "p3"}), t0);
  std::string why;
  CHECK(guard.Check(pair, 21, t0, &why) == MinorityVerdict::kStop);
  CHECK(guard.stopped());
  CHECK(why.find("membership.minority = \"stop\": stopping at step 21") != std::string::npos);
  CHECK(why.find("shared with the others at step 20, not the run's model") != std::string::npos);

  CHECK_FALSE(guard.ends_alone());
  guard.EndAlone();
  guard.WriteFinish(pair, 50);
  CHECK(guard.ends_alone());
  const SyncEvent& finish = sink.events.back();
  CHECK(finish.name == "minority_finish");
  CHECK(FieldOf<int64_t>(finish, "last_shared_step") == 20);
  CHECK(FieldOf<std::vector<std::string>>(finish, "last_primary_view") ==
        std::vector<std::string>{"p0", "p1", "p2", "p3"});
  CHECK(finish.detail == guard.finish_detail());
  CHECK(guard.finish_detail().rfind("finished the run (step 50) in a minority: view 7 [p0, p1]", 0) == 0);
  CHECK(sink.said.back() == "minority_finish: " + guard.finish_detail());
}

TEST_CASE("quorum guard: lost, regained, and a timeout") {
  RecordingSink sink;
  QuorumGuard guard(/*timeout_ms=*/2000, sink);
  const auto t0 = QuorumGuard::Clock::time_point{} + 100s;
  const View small = MakeView(3, {"p0"});
  Status timeout;
  CHECK(guard.Check(true, 2, small, t0, &timeout) == QuorumVerdict::kGo);
  CHECK(guard.Check(false, 2, small, t0, &timeout) == QuorumVerdict::kWait);
  CHECK(guard.Check(false, 2, small, t0 + 1s, &timeout) == QuorumVerdict::kWait);
  CHECK(sink.names() == std::vector<std::string>{"quorum_lost"});
  CHECK(sink.events[0].detail ==
        "view 3 [p0] has 1 of the 2 live members membership.quorum needs; no steps until it has them again");
  CHECK(guard.Check(true, 2, MakeView(4, {"p0", "p1"}), t0 + 1500ms, &timeout) == QuorumVerdict::kGo);
  CHECK(sink.events.back().detail == "view 4 [p0, p1] has the quorum of 2 after 1.500000 s without it");
  CHECK(guard.Check(false, 2, small, t0 + 3s, &timeout) == QuorumVerdict::kWait);
  CHECK(guard.Check(false, 2, small, t0 + 5s, &timeout) == QuorumVerdict::kTimeout);
  CHECK(timeout.code() == Status::Code::kTimeout);
  CHECK(timeout.message() ==
        "no quorum (2 live members) within membership.quorum_timeout_ms = 2000 ms; last view 3 [p0]");
}
