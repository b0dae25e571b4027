// Convolutional networks end to end through the real binary: a small CNN
// learns a slice of Fashion-MNIST, a run with dropout resumes after SIGKILL to
// the same bits, checkpoints record the layer list and are refused by a config
// of another architecture, and a layer that does not fit its input exits 2
// naming FILE:LINE. Small slices and a small network: the machine is shared.
#include <doctest/doctest.h>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

// conv 8 5x5 - relu - maxpool 2 - flatten - dropout - dense 10, on 2,000 images.
std::string SmallCnn(const std::string& filters = "8", const std::string& between = "") {
  return R"(
[data]
format = "idx"
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 2000
test_limit = 500

[optim]
type = "sgd"
lr = 0.05
momentum = 0.9

[train]
epochs = 3
batch_size = 32
seed = 7

[sync]
mode = "local"

[checkpoint]
every_steps = 20

[model]
[[model.layers]]
kind = "conv2d"
filters = )" + filters + R"(
kernel = 5
padding = 2

[[model.layers]]
kind = "relu"

[[model.layers]]
kind = "maxpool2d"
kernel = 2
)" + between + R"(
[[model.layers]]
kind = "flatten"

[[model.layers]]
kind = "dropout"
rate = 0.25

[[model.layers]]
kind = "dense"
units = 10
)";
}

Checkpoint FinalCheckpoint(const PeerRun& run) {
  auto c = LoadNewestCheckpoint(run.checkpoints(), nullptr);
  REQUIRE_MESSAGE(c.ok(), c.status().message() << "\nlog:\n" << run.log());
  return c.value();
}

// Runs the binary with `args`; returns its exit code, its output in *out.
int Run(const TempDir& dir, const std::string& name, std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), MESHTRAIN_BINARY);
  const std::string log = dir.File(name + ".txt");
  ChildProcess p(args, log);
  const int code = p.Wait(120s).value_or(-1);
  *out = ReadFile(log);
  return code;
}

// The 1-based line of the first line of `text` equal to `line`, after `from` lines.
int LineOf(const std::string& path, const std::string& line, int from = 0) {
  std::istringstream in(ReadFile(path));
  std::string l;
  for (int n = 1; std::getline(in, l); ++n) {
    if (n > from && l == line) return n;
  }
  return -1;
}

}  // namespace

TEST_CASE("a small CNN learns a 2,000-image slice of Fashion-MNIST to 0.70 in 3 epochs") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 1, SmallCnn());
  PeerRun run = StartPeer(dir, config, "p0");
  REQUIRE_MESSAGE(FinishPeer(run, 300s) == 0, run.log());
  const double acc = LastMetric(run.metrics(), "test_acc");
  MESSAGE("small CNN test_acc " << acc);
  CHECK(acc >= 0.70);

  // The checkpoint records the layer list; inspect prints it, eval reads it back.
  Checkpoint c = FinalCheckpoint(run);
  CHECK(c.header.format_version == 2);
  REQUIRE(c.header.layers.size() == 7);
  CHECK(c.header.layers[0] == "input 1x28x28");
  CHECK(c.header.layers[1] == "conv2d filters=8 kernel=5 stride=1 padding=2 -> 8x28x28, 208 params");
  CHECK(c.header.layers[5] == "dropout rate=0.25 -> 1568");
  const std::string path = ListCheckpoints(run.checkpoints()).front();
  std::string out;
  CHECK(Run(dir, "inspect", {"inspect", path}, &out) == 0);
  CHECK_MESSAGE(out.find("layers      input 1x28x28\n            conv2d filters=8") != std::string::npos, out);
  CHECK(Run(dir, "eval", {"eval", "--config", config, "--id", "p0", "--checkpoint", path}, &out) == 0);

  // Another architecture's config refuses the checkpoint, naming both.
  const std::string other = WriteClusterConfig(dir, 1, SmallCnn("6"), "other.toml");
  CHECK(Run(dir, "eval_other", {"eval", "--config", other, "--id", "p0", "--checkpoint", path}, &out) == 2);
  CHECK_MESSAGE(out.find("holds the model 'layers 1x28x28 conv2d(8,5x5,s1,p2)") != std::string::npos, out);
  CHECK_MESSAGE(out.find("but the config builds 'layers 1x28x28 conv2d(6,5x5,s1,p2)") != std::string::npos, out);
  CHECK(Run(dir, "resume_other",
            {"run", "--config", other, "--id", "p0", "--resume", "--set", "checkpoint.dir=" + run.checkpoints(),
             "--set", "log.metrics=" + dir.File("other.jsonl")},
            &out) == 2);
  CHECK_MESSAGE(out.find("but the config builds 'layers 1x28x28 conv2d(6,5x5,s1,p2)") != std::string::npos, out);
}

TEST_CASE("a CNN with dropout killed with SIGKILL resumes to the same parameters") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 1, SmallCnn());
  const std::vector<std::string> small = {"--set", "train.epochs=1", "--set", "checkpoint.every_steps=10"};
  PeerRun straight = StartPeer(dir, config, "p0", small);
  REQUIRE_MESSAGE(FinishPeer(straight, 300s) == 0, straight.log());
  Checkpoint expected = FinalCheckpoint(straight);

  std::vector<std::string> slow = small;
  slow.insert(slow.end(), {"--set", "debug.step_delay_ms=20"});
  PeerRun victim = StartPeer(dir, config, "p0", slow, "victim");
  REQUIRE_MESSAGE(WaitUntil(120s, [&] { return ListCheckpoints(victim.checkpoints()).size() >= 2; }), victim.log());
  victim.process->Signal(SIGKILL);
  CHECK(victim.process->Wait(10s).value_or(-1) == 128 + SIGKILL);
  auto before = LoadNewestCheckpoint(victim.checkpoints(), nullptr);
  REQUIRE(before.ok());
  CHECK(before->header.step < expected.header.step);

  std::vector<std::string> resume = small;
  resume.insert(resume.end(), {"--resume"});
  PeerRun resumed = StartPeer(dir, config, "p0", resume, "victim");
  REQUIRE_MESSAGE(FinishPeer(resumed, 300s) == 0, resumed.log());
  CHECK(resumed.metrics().find("\"event\":\"resumed\"") != std::string::npos);
  Checkpoint got = FinalCheckpoint(resumed);
  CHECK(got.header.step == expected.header.step);
  CHECK(got.params == expected.params);
  CHECK(got.optimizer_state == expected.optimizer_state);
}

TEST_CASE("a layer that does not fit its input, or a bad layer entry, exits 2 naming FILE:LINE") {
  TempDir dir;
  // A dense layer straight after the pooling: its input is still an image.
  const std::string no_flatten = WriteClusterConfig(dir, 1, SmallCnn("8", "\n[[model.layers]]\nkind = \"dense\"\nunits = 32\n"), "shape.toml");
  const int line = LineOf(no_flatten, "kind = \"dense\"") - 1;  // the [[model.layers]] line
  std::string out;
  CHECK(Run(dir, "shape", {"run", "--config", no_flatten, "--id", "p0"}, &out) == 2);
  CHECK_MESSAGE(out.find(no_flatten + ":" + std::to_string(line) +
                         ":1: model.layers[3] (dense): gets a 8x14x14 image (channels x height x width); put a "
                         "flatten layer before it") != std::string::npos,
                out);

  std::string typo = SmallCnn();
  typo.replace(typo.find("\"maxpool2d\""), 11, "\"maxpool\"");
  const std::string bad_kind = WriteClusterConfig(dir, 1, typo, "kind.toml");
  CHECK(Run(dir, "kind", {"run", "--config", bad_kind, "--id", "p0"}, &out) == 2);
  CHECK_MESSAGE(out.find(bad_kind + ":" + std::to_string(LineOf(bad_kind, "kind = \"maxpool\"")) +
                         ":8: model.layers[2].kind: unknown layer kind 'maxpool'; did you mean 'maxpool2d'?") !=
                    std::string::npos,
                out);
}

TEST_CASE("ring replicas of a CNN with dropout and layer norm end bit-identical") {
  TempDir dir;
  // Each peer draws its own dropout masks (the key includes the peer); the
  // all-reduced gradient and the update are the same on all, so are the bits.
  std::string body = SmallCnn("8", "\n[[model.layers]]\nkind = \"layernorm\"\n");
  body.replace(body.find("mode = \"local\""), 14, "mode = \"ring\"");
  body.replace(body.find("epochs = 3"), 10, "epochs = 1");
  body.replace(body.find("train_limit = 2000"), 18, "train_limit = 1200");
  const std::string config = WriteClusterConfig(dir, 3, body);
  std::vector<PeerRun> peers;
  for (const char* id : {"p0", "p1", "p2"}) peers.push_back(StartPeer(dir, config, id));
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 300s) == 0, p.id << ":\n" << p.log());
  std::vector<Checkpoint> finals;
  for (auto& p : peers) finals.push_back(FinalCheckpoint(p));
  CHECK(finals[0].header.step == 13);  // 400 rows a peer, batch 32
  for (size_t k = 1; k < finals.size(); ++k) {
    CHECK(finals[k].header.step == finals[0].header.step);
    CHECK_MESSAGE(finals[k].params == finals[0].params, "p" << k << " differs from p0");
  }
}
