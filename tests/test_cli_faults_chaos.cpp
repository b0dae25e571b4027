// scripts/chaos.sh end to end: it starts a local cluster, kills and pauses
// peers, restarts the killed one, waits for the run and reports what it saw.
#include <doctest/doctest.h>

#include "test_cli_faults_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

TEST_CASE("chaos.sh kills and pauses peers, restarts them, and reports detection, re-form and accuracy") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kFaultBody);
  const std::string run_dir = dir.File("chaos");
  const std::string script = std::string(MESHTRAIN_SOURCE_DIR) + "/scripts/chaos.sh";
  // The killed peer stays down 2 s, twice membership.dead_ms: under load a
  // restart 1 s later could beat the detector, and the kill would go unseen.
  const std::string command = "RUN_DIR='" + run_dir + "' MESHTRAIN='" + MESHTRAIN_BINARY + "' bash '" + script +
                              "' '" + config + "' --kill 1 --pause 1 --every 1.5 --down 2 --pause-for 2 --seed 3" +
                              " -- --set train.epochs=12 > '" + dir.File("chaos.out") + "' 2>&1";
  ChildProcess chaos({"/bin/sh", "-c", command}, dir.File("sh.log"));
  const std::optional<int> code = chaos.Wait(240s);
  REQUIRE_MESSAGE(code.has_value(), "chaos.sh still running");
  const std::string out = ReadFile(dir.File("chaos.out"));
  INFO("chaos.sh output:\n" << out);
  CHECK(*code == 0);

  const std::string log = ReadFile(run_dir + "/chaos.log");
  CHECK(log.find(" kill ") != std::string::npos);
  CHECK(log.find(" restart ") != std::string::npos);
  CHECK(log.find(" pause ") != std::string::npos);
  CHECK(log.find(" resume ") != std::string::npos);
  const std::string report = ReadFile(run_dir + "/chaos_report.txt");
  CHECK(report.find("detection latency (s): median") != std::string::npos);
  CHECK(report.find("re-form time (s):") != std::string::npos);
  CHECK(report.find("over 2 faults") != std::string::npos);
  // Every peer finished, with the same accuracy (they end with the same parameters).
  for (const char* id : {"p0", "p1", "p2"}) {
    const std::string metrics = ReadFile(run_dir + "/" + id + "/metrics.jsonl");
    const std::vector<EventLine> done = Events(metrics, "done");
    REQUIRE_MESSAGE(!done.empty(), id);
    CHECK(JsonNumber(done.back().line, "test_acc") ==
          doctest::Approx(JsonNumber(Events(ReadFile(run_dir + "/p0/metrics.jsonl"), "done").back().line, "test_acc")));
  }
}
