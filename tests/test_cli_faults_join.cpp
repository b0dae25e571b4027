// Peers that come from elsewhere: a new peer, not in the cluster's list,
// joins a running cluster through cluster.bootstrap; a peer killed while
// writing a checkpoint keeps its previous one and resumes from it; and a
// cluster whose every peer is killed resumes from its checkpoints.
// (docs/membership.md, docs/faults.md)
#include <doctest/doctest.h>

#include <filesystem>

#include "test_cli_faults_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

// The endpoint of peer `id` in a cluster file written by WriteClusterConfig.
std::string EndpointIn(const std::string& config_path, const std::string& id) {
  const std::string text = ReadFile(config_path);
  const size_t at = text.find("id = \"" + id + "\"");
  REQUIRE(at != std::string::npos);
  const std::string key = "endpoint = \"";
  const size_t begin = text.find(key, at) + key.size();
  return text.substr(begin, text.find('"', begin) - begin);
}

bool HasTempFile(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".tmp") return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a new peer joins a running cluster through bootstrap and trains with it to the end") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kFaultBody);
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2}, {"--set", "train.epochs=6"});
  // The newcomer's own file lists only itself, and where to knock.
  std::ostringstream newcomer;
  newcomer << "[cluster]\nbootstrap = [\"" << EndpointIn(config, "p1") << "\"]\n\n[[cluster.peers]]\nid = \"n9\"\n"
           << "endpoint = \"tcp://127.0.0.1:" << FreeLoopbackPort() << "\"\n" << kFaultBody;
  const std::string newcomer_config = dir.Write("newcomer.toml", newcomer.str());

  AwaitOrFail(120s, "p0 to reach step 60", [&] { return StepOf(peers[0]) >= 60; });
  const double joined_at = UnixNow();
  PeerRun joiner = StartPeer(dir, newcomer_config, "n9", {"--set", "train.epochs=6"});
  REQUIRE_MESSAGE(FinishPeer(joiner, 240s) == 0, joiner.log());
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 240s) == 0, p.id << ":\n" << p.log());

  const std::vector<std::string> four = {"n9", "p0", "p1", "p2"};
  const std::string metrics = joiner.metrics();
  INFO("n9 metrics:\n" << metrics);
  const std::vector<EventLine> syncs = Events(metrics, "state_sync");
  REQUIRE(syncs.size() == 1);
  // The state came from holders of the cluster, checksum-verified. Striping over every holder
  // needs their reconciliation reports to have arrived; on a loaded machine the first may come
  // alone, so the stripe width is recorded here and asserted in test_membership_service.
  const std::vector<std::string> sources = JsonStrings(syncs[0].line, "sources");
  REQUIRE_FALSE(sources.empty());
  for (const std::string& s : sources) CHECK((s == "p0" || s == "p1" || s == "p2"));
  MESSAGE("n9 fetched its state from " << sources.size() << " holder(s)");
  CHECK(syncs[0].step >= 60);
  const std::vector<EventLine> readies = Events(metrics, "view_ready");
  REQUIRE(!readies.empty());
  CHECK(readies[0].view == four);
  MESSAGE("n9 took part in a round " << readies[0].t - joined_at << " s after it was started");
  // From the next epoch on it holds a shard like everyone else.
  bool got_shard = false;
  for (const EventLine& e : Events(metrics, "reshard")) got_shard = got_shard || JsonStrings(e.line, "owners") == four;
  CHECK(got_shard);
  for (auto& p : peers) {
    INFO(p.id << " metrics:\n" << p.metrics());
    CHECK(HasEvent(p.metrics(), "peer_joined", "n9"));
  }
  CheckAllEqual({&peers[0], &peers[1], &peers[2], &joiner});
}

TEST_CASE("a peer killed while writing a checkpoint keeps the previous one, and resumes from it") {
  TempDir dir;
  // A bigger model, so a checkpoint takes a while to write; the victim writes one every step.
  // Half the rows and two epochs (about 125 steps), so that the run stays short on 2 loaded cores.
  std::string body = kFaultBody;
  body.replace(body.find("hidden = [32]"), 13, "hidden = [512, 256]");
  body.replace(body.find("train_limit = 12000"), 19, "train_limit = 6000");
  const std::string config = WriteClusterConfig(dir, 3, body);
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1}, {"--set", "train.epochs=2"});
  peers.push_back(StartPeer(dir, config, "p2", {"--set", "train.epochs=2", "--set", "checkpoint.every_steps=1"}));
  const std::string checkpoints = peers[2].checkpoints();

  AwaitOrFail(120s, "p2 to have written checkpoints", [&] { return ListCheckpoints(checkpoints).size() >= 2; });
  // Kill it the moment a write is under way (its temp file exists).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!HasTempFile(checkpoints) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  REQUIRE(HasTempFile(checkpoints));
  peers[2].process->Signal(SIGKILL);
  CHECK(peers[2].process->Wait(10s).value_or(-1) == 128 + SIGKILL);
  const std::string left_behind = HasTempFile(checkpoints) ? "a torn temp file was left" : "the write had just ended";
  MESSAGE("killed mid-write: " << left_behind);

  std::vector<std::string> skipped;
  auto previous = LoadNewestCheckpoint(checkpoints, &skipped);
  REQUIRE_MESSAGE(previous.ok(), previous.status().ToString());  // the last complete one is intact
  CHECK(skipped.empty());

  const int64_t kept_step = previous->header.step;
  PeerRun resumed = StartPeer(dir, config, "p2", {"--set", "train.epochs=2", "--resume"});  // the same run dir
  REQUIRE_MESSAGE(FinishPeer(resumed, 240s) == 0, resumed.log());
  for (int i : {0, 1}) REQUIRE_MESSAGE(FinishPeer(peers[i], 240s) == 0, peers[i].id << ":\n" << peers[i].log());
  const std::string metrics = resumed.metrics();
  INFO("resumed p2 metrics:\n" << metrics);
  const std::vector<EventLine> resumes = Events(metrics, "resumed");
  REQUIRE(resumes.size() == 1);
  CHECK(resumes[0].step == kept_step);
  const std::vector<EventLine> syncs = Events(metrics, "state_sync");
  REQUIRE(!syncs.empty());
  CHECK(JsonNumber(syncs.back().line, "from_step") == static_cast<double>(kept_step));
  CheckAllEqual({&peers[0], &peers[1], &resumed});
}

TEST_CASE("every peer killed and restarted: each resumes from its checkpoint and the run completes") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kFaultBody);
  const std::vector<std::string> opts = {"--set", "train.epochs=4", "--set", "checkpoint.every_steps=20"};
  std::vector<PeerRun> first = StartPeers(dir, config, {0, 1, 2}, opts);
  AwaitOrFail(120s, "two checkpoints on every peer", [&] {
    for (auto& p : first) {
      if (ListCheckpoints(p.checkpoints()).size() < 2) return false;
    }
    return true;
  });
  for (auto& p : first) p.process->Signal(SIGKILL);
  for (auto& p : first) CHECK(p.process->Wait(10s).value_or(-1) == 128 + SIGKILL);

  std::vector<std::string> resume = opts;
  resume.push_back("--resume");
  std::vector<PeerRun> second;
  for (auto& p : first) second.push_back(StartPeer(dir, config, p.id, resume));  // the same run dirs
  for (auto& p : second) REQUIRE_MESSAGE(FinishPeer(p, 240s) == 0, p.id << ":\n" << p.log());
  for (auto& p : second) {
    INFO(p.id << " metrics:\n" << p.metrics());
    CHECK(HasEvent(p.metrics(), "resumed"));
    CHECK(FinalState(p).header.step == 4 * 125);  // 12000 rows / 3 peers / 32 per batch = 125 steps an epoch
  }
  CheckAllEqual({&second[0], &second[1], &second[2]});
}
