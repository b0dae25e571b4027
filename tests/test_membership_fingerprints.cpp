// Replica fingerprints (docs/agreement.md, "Replica fingerprints"): the hash
// sees every bit, the ledger compares a view's fingerprints once all are in
// and finds the majority, heartbeats carry them, and a replica its owner found
// wrong is never the reference of a reconciliation.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <vector>

#include "membership/fingerprint_ledger.h"
#include "membership/membership_messages.h"
#include "meshtrain/membership.h"

using namespace meshtrain;
using namespace meshtrain::membership_internal;

namespace {

const std::vector<std::string> kFour = {"p0", "p1", "p2", "p3"};

void RecordAll(FingerprintLedger& ledger, uint64_t view, uint64_t step, const std::map<std::string, uint64_t>& values) {
  for (const auto& [peer, value] : values) ledger.Record(peer, {view, step, value});
}

}  // namespace

TEST_CASE("the fingerprint sees every bit of parameters and optimizer state, and where each ends") {
  std::vector<float> params(1001);
  std::iota(params.begin(), params.end(), 0.5f);
  std::vector<float> state(1001, 0.25f);
  const uint64_t base = StateFingerprint(params, state);
  CHECK(StateFingerprint(params, state) == base);
  for (size_t i : {size_t{0}, size_t{1}, size_t{7}, size_t{500}, size_t{1000}}) {
    for (uint32_t bit : {0u, 13u, 31u}) {
      std::vector<float> flipped = params;
      uint32_t bits;
      std::memcpy(&bits, &flipped[i], 4);
      bits ^= 1u << bit;
      std::memcpy(&flipped[i], &bits, 4);
      CHECK_MESSAGE(StateFingerprint(flipped, state) != base, "bit " << bit << " of parameter " << i);
      CHECK_MESSAGE(StateFingerprint(state, flipped) != StateFingerprint(state, params), "optimizer value " << i);
    }
  }
  // The same floats split differently between parameters and optimizer state differ.
  std::vector<float> both = params;
  both.insert(both.end(), state.begin(), state.end());
  CHECK(StateFingerprint(both, {}) != base);
  CHECK(StateFingerprint(std::span<const float>(both).first(1000), std::span<const float>(both).subspan(1000)) != base);
  // -0.0 and +0.0 compare equal as floats but are different replicas.
  std::vector<float> zero = {0.0f}, negative_zero = {-0.0f};
  CHECK(StateFingerprint(zero, {}) != StateFingerprint(negative_zero, {}));
}

TEST_CASE("the ledger judges a step once every member's fingerprint is in") {
  FingerprintLedger ledger;
  RecordAll(ledger, 3, 100, {{"p0", 7}, {"p1", 7}, {"p2", 7}});
  CHECK_FALSE(ledger.Judge(3, kFour).has_value());  // p3's is missing
  ledger.Record("p3", {3, 100, 7});
  std::optional<FingerprintVerdict> v = ledger.Judge(3, kFour);
  REQUIRE(v.has_value());
  CHECK(v->agree);
  CHECK(v->step == 100);
  CHECK(v->differing.empty());
  CHECK_FALSE(ledger.Judge(3, kFour).has_value());  // judged once
  CHECK(ledger.checks() == 1);
}

TEST_CASE("one replica that differs is outside the majority; two against two is no majority") {
  FingerprintLedger ledger;
  RecordAll(ledger, 3, 200, {{"p0", 7}, {"p1", 7}, {"p2", 9}, {"p3", 7}});
  std::optional<FingerprintVerdict> v = ledger.Judge(3, kFour);
  REQUIRE(v.has_value());
  CHECK_FALSE(v->agree);
  CHECK(v->majority == std::vector<std::string>{"p0", "p1", "p3"});
  CHECK(v->differing == std::vector<std::string>{"p2"});

  RecordAll(ledger, 3, 300, {{"p0", 7}, {"p1", 7}, {"p2", 9}, {"p3", 9}});
  v = ledger.Judge(3, kFour);
  REQUIRE(v.has_value());
  CHECK_FALSE(v->agree);
  CHECK(v->majority.empty());
  CHECK(v->differing == kFour);

  // Three different states among three peers: no majority either.
  FingerprintLedger three;
  RecordAll(three, 1, 10, {{"a", 1}, {"b", 2}, {"c", 3}});
  v = three.Judge(1, {"a", "b", "c"});
  REQUIRE(v.has_value());
  CHECK(v->majority.empty());
}

TEST_CASE("only fingerprints of the same view are compared, the newest complete step first") {
  FingerprintLedger ledger;
  // p3 trained alone in view 2 (cut off): its state differed there, legitimately.
  ledger.Record("p3", {2, 100, 99});
  RecordAll(ledger, 4, 100, {{"p0", 7}, {"p1", 7}, {"p2", 7}});
  CHECK_FALSE(ledger.Judge(4, kFour).has_value());  // p3's view-4 fingerprint is not in yet
  ledger.Record("p3", {4, 100, 7});
  std::optional<FingerprintVerdict> v = ledger.Judge(4, kFour);
  REQUIRE(v.has_value());
  CHECK(v->agree);

  // Peers a check apart: the newest step all have is judged, older ones skipped.
  RecordAll(ledger, 4, 110, {{"p0", 1}, {"p1", 1}, {"p2", 1}, {"p3", 1}});
  RecordAll(ledger, 4, 120, {{"p0", 2}, {"p1", 2}, {"p2", 2}, {"p3", 2}});
  v = ledger.Judge(4, kFour);
  REQUIRE(v.has_value());
  CHECK(v->step == 120);
  CHECK_FALSE(ledger.Judge(4, kFour).has_value());
  // An old view's fingerprint published late is never judged.
  RecordAll(ledger, 3, 500, {{"p0", 1}, {"p1", 2}, {"p2", 3}, {"p3", 4}});
  CHECK_FALSE(ledger.Judge(4, kFour).has_value());
}

TEST_CASE("the ledger keeps a bounded history per peer") {
  FingerprintLedger ledger(4);
  for (uint64_t step = 10; step <= 100; step += 10) ledger.Record("p0", {1, step, step});
  ledger.Record("p1", {1, 20, 20});  // p0 no longer holds step 20
  CHECK_FALSE(ledger.Judge(1, {"p0", "p1"}).has_value());
  ledger.Record("p1", {1, 90, 90});
  std::optional<FingerprintVerdict> v = ledger.Judge(1, {"p0", "p1"});
  REQUIRE(v.has_value());
  CHECK(v->step == 90);
  CHECK(v->agree);
}

TEST_CASE("a heartbeat carries the sender's fingerprint and its report's suspect flag") {
  Heartbeat hb;
  hb.incarnation = 5;
  hb.endpoint = "tcp://127.0.0.1:5555";
  hb.started = true;
  hb.report = {3, 41, 0xfeed, Lineage{2, {"p0", "p1"}, false}, /*suspect=*/true};
  hb.fingerprint = {3, 40, 0x0123456789abcdefULL};
  std::string bytes = EncodeHeartbeat(hb);
  std::optional<Heartbeat> back = DecodeHeartbeat(bytes);
  REQUIRE(back.has_value());
  CHECK(*back == hb);
  // A suspect flag other than 0 or 1 is not ours.
  const size_t flag_at = bytes.size() - 2 /* u16 table size */ - 3 * 8 /* fingerprint */ - 1;
  REQUIRE(static_cast<uint8_t>(bytes[flag_at]) == 1);
  bytes[flag_at] = 2;
  CHECK_FALSE(DecodeHeartbeat(bytes).has_value());
}

TEST_CASE("a replica marked suspect is never the reference, even one step ahead") {
  const Lineage lineage{1, kFour, false};
  auto report = [&](uint64_t step, uint64_t checksum, bool suspect) {
    return ReplicaReport{5, step, checksum, lineage, suspect};
  };
  // p2's replica differed; it completed the interrupted round alone.
  std::map<std::string, ReplicaReport> reports = {
      {"p0", report(40, 0xA, false)}, {"p1", report(40, 0xA, false)},
      {"p2", report(41, 0xB, true)},  {"p3", report(40, 0xA, false)}};
  ReconcilePlan plan = PlanReconcile(reports, "p2");
  CHECK(plan.target_step == 40);
  CHECK(plan.checksum == 0xA);
  CHECK(plan.sources == std::vector<std::string>{"p0", "p1", "p3"});
  CHECK(plan.behind);
  CHECK_FALSE(PlanReconcile(reports, "p0").behind);
}
