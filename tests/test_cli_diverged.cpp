// A run whose model blows up stops loudly (docs/training.md, "A run that
// diverges"): a `diverged` event, exit 1, and the newest checkpoint finite.
#include <doctest/doctest.h>

#include <cmath>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::string kFashionMlp = std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_mlp.toml";

// optim.lr = 50 sends the Fashion MLP's loss to infinity within 200 steps (on a
// small slice of the data it only stalls at chance, finite: the whole set it is).
const std::vector<std::string> kExploding = {"--set", "optim.lr=50", "--set", "train.max_steps=300",
                                             "--set", "data.test_limit=500", "--set", "checkpoint.every_steps=20",
                                             "--set", "train.log_every=5"};

void CheckDiverged(const PeerRun& run, int code) {
  CHECK_MESSAGE(code == 1, run.log());
  CHECK_MESSAGE(run.metrics().find("\"event\":\"diverged\"") != std::string::npos, run.metrics());
  CHECK_MESSAGE(run.metrics().find("\"event\":\"done\"") == std::string::npos, "a diverged run wrote done");
  CHECK_MESSAGE(run.log().find("diverged at step") != std::string::npos, run.log());
  // Whatever checkpoint is newest holds a finite model: the one to resume with a lower lr.
  auto newest = LoadNewestCheckpoint(run.checkpoints(), nullptr);
  if (newest.ok()) {
    size_t nonfinite = 0;
    for (float v : newest->params) nonfinite += !std::isfinite(v);
    for (float v : newest->optimizer_state) nonfinite += !std::isfinite(v);
    CHECK_MESSAGE(nonfinite == 0, "the newest checkpoint (step " << newest->header.step << ") holds " << nonfinite
                                                                 << " non-finite values");
  }
}

}  // namespace

TEST_CASE("a lone peer whose loss explodes stops with diverged, exit 1, and a finite newest checkpoint") {
  TempDir dir;
  std::vector<std::string> args = {"--set", "cluster.size=1", "--set", "sync.mode=local"};
  args.insert(args.end(), kExploding.begin(), kExploding.end());
  PeerRun run = StartPeer(dir, kFashionMlp, "p0", args);
  const int code = FinishPeer(run, 120s);
  CheckDiverged(run, code);
  CHECK_MESSAGE(LastMetric(run.metrics(), "step") < 300, "the run went on to its last step");

  // train.stop_after_nonfinite = 0: the old behaviour, skipping to the end.
  args.insert(args.end(), {"--set", "train.stop_after_nonfinite=0"});
  PeerRun lenient = StartPeer(dir, kFashionMlp, "p0", args, "lenient");
  CHECK_MESSAGE(FinishPeer(lenient, 120s) == 0, lenient.log());
  CHECK(lenient.metrics().find("\"event\":\"diverged\"") == std::string::npos);
}

TEST_CASE("four ring peers whose loss explodes all stop with diverged at the same step") {
  TempDir dir;
  const std::string mlp = ReadFile(kFashionMlp);
  const std::string config = WriteClusterConfig(dir, 4, mlp.substr(mlp.find("[data]")));
  std::vector<PeerRun> peers;
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> args = {"--set", "sync.mode=ring"};
    args.insert(args.end(), kExploding.begin(), kExploding.end());
    peers.push_back(StartPeer(dir, config, "p" + std::to_string(i), args));
  }
  std::vector<double> stopped_at;
  for (PeerRun& p : peers) {
    CAPTURE(p.id);
    CheckDiverged(p, FinishPeer(p, 180s));
    const std::string m = p.metrics();
    const size_t at = m.find("\"event\":\"diverged\"");
    if (at != std::string::npos) stopped_at.push_back(LastMetric(m.substr(0, m.find('\n', at)), "step"));
  }
  REQUIRE(stopped_at.size() == 4);
  for (double s : stopped_at) CHECK(s == stopped_at[0]);
}
