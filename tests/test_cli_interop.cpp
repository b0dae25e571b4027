// The wire and the checkpoints are portable: an aarch64 build of meshtrain, run
// under qemu-aarch64 (Debian's qemu-user), trains as one peer next to x86-64
// peers on loopback (ring with an MLP and with a CNN, sync gossip, ring with
// each codec) and ends with the same model as an all-x86-64 cluster
// (docs/protocol.md, "Portability").
//
// Needs an aarch64 build: scripts/cross.sh aarch64 makes build-aarch64/meshtrain
// (scripts/test.sh does it before ctest). MESHTRAIN_AARCH64_BINARY points at
// another one, MESHTRAIN_QEMU_AARCH64 at another emulator. Without them the cases
// are skipped and the reason is printed on stderr.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

bool IsExecutable(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// `name` looked up in $PATH, as execv wants it: an absolute path, or "".
std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(begin, end - begin) + "/" + name;
    if (end > begin && IsExecutable(candidate)) return candidate;
    begin = end + 1;
  }
  return "";
}

struct Emulation {
  std::string qemu;    // absolute path of qemu-aarch64
  std::string binary;  // the aarch64 meshtrain
  std::string missing; // why the cases are skipped, or ""
};

Emulation FindEmulation() {
  Emulation e;
  const char* binary = std::getenv("MESHTRAIN_AARCH64_BINARY");
  e.binary = binary && *binary ? binary : std::string(MESHTRAIN_SOURCE_DIR) + "/build-aarch64/meshtrain";
  const char* qemu = std::getenv("MESHTRAIN_QEMU_AARCH64");
  e.qemu = qemu && *qemu ? qemu : FindInPath("qemu-aarch64");
  if (!IsExecutable(e.binary)) {
    e.missing = "no aarch64 build at " + e.binary +
                " (run scripts/cross.sh aarch64, or set MESHTRAIN_AARCH64_BINARY)";
  } else if (!IsExecutable(e.qemu)) {
    e.missing = "qemu-aarch64 not found (Debian package qemu-user; scripts/cross.sh aarch64 installs it)";
  }
  return e;
}

const Emulation kEmulation = FindEmulation();
const bool kSkip = [] {
  if (!kEmulation.missing.empty()) std::fprintf(stderr, "test_cli_interop: SKIPPED: %s\n", kEmulation.missing.c_str());
  return !kEmulation.missing.empty();
}();

// Tiny on purpose: the emulated peer runs at a fraction of native speed.
const std::string kTinyMlp = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 1500
test_limit = 300
shard = "strided"

[model]
type = "mlp"
hidden = [16]

[optim]
type = "sgd"
lr = 0.05
momentum = 0.9
weight_decay = 0.0001

[train]
epochs = 2
batch_size = 32
seed = 11
max_steps = 30

[sync]
every = 1
timeout_ms = 60000
start_timeout_ms = 120000

[checkpoint]
every_steps = 0
)";

// A small CNN with every layer kind whose arithmetic is our own (patches
// packed from one channel and from several at a stride, a relu done by the
// max pool above it, layer norm, dropout): the aarch64 peer computes its
// gradient with NEON, and ring replicas must still end bit-identical
// (docs/models.md, "Exact and repeatable").
const std::string kTinyCnn = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 960
test_limit = 200
shard = "strided"

[model]
init = "he"

[[model.layers]]
kind = "conv2d"
filters = 4
kernel = 3
padding = 1

[[model.layers]]
kind = "relu"

[[model.layers]]
kind = "maxpool2d"
kernel = 2

[[model.layers]]
kind = "conv2d"
filters = 6
kernel = 3
stride = 2
padding = 1

[[model.layers]]
kind = "layernorm"

[[model.layers]]
kind = "gelu"

[[model.layers]]
kind = "dropout"
rate = 0.2

[[model.layers]]
kind = "flatten"

[[model.layers]]
kind = "dense"
units = 10

[optim]
type = "sgd"
lr = 0.05
momentum = 0.9
weight_decay = 0.0001

[train]
epochs = 3
batch_size = 32
seed = 13
max_steps = 30

[sync]
every = 1
timeout_ms = 60000
start_timeout_ms = 120000

[checkpoint]
every_steps = 0
)";

constexpr int64_t kSteps = 30;
constexpr int kPeers = 3;
constexpr int kEmulatedPeer = 1;  // p1 runs the aarch64 build; p0 and p2 are native

// Like StartPeer, but peer `emulated` runs the aarch64 binary under qemu.
PeerRun StartMixedPeer(const TempDir& dir, const std::string& config, int index, bool emulated,
                       const std::string& run_name, const std::vector<std::string>& extra) {
  PeerRun run;
  run.id = "p" + std::to_string(index);
  run.dir = dir.File("runs/" + run_name + "/" + run.id);
  std::filesystem::create_directories(run.dir);
  std::vector<std::string> argv;
  if (emulated) {
    argv = {kEmulation.qemu, kEmulation.binary};
  } else {
    argv = {MESHTRAIN_BINARY};
  }
  const std::vector<std::string> args = {"run", "--config", config, "--id", run.id,
                                         "--set", "log.metrics=" + run.dir + "/metrics.jsonl",
                                         "--set", "checkpoint.dir=" + run.dir + "/checkpoints",
                                         "--set", "log.progress=line"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  run.process = std::make_unique<ChildProcess>(argv, run.dir + "/log.txt");
  return run;
}

// Runs the cluster to the end (peer `emulated` under qemu; -1: all native) and
// returns each peer's final checkpoint.
std::vector<Checkpoint> RunCluster(const TempDir& dir, const std::string& config, int emulated,
                                   const std::string& run_name, const std::vector<std::string>& extra,
                                   std::vector<PeerRun>* runs_out = nullptr) {
  std::vector<PeerRun> runs;
  for (int i = 0; i < kPeers; ++i) runs.push_back(StartMixedPeer(dir, config, i, i == emulated, run_name, extra));
  for (size_t i = 0; i < runs.size(); ++i) {
    PeerRun& r = runs[i];
    const std::string where = static_cast<int>(i) == emulated
                                  ? " (aarch64 build " + kEmulation.binary + "; stale? rerun scripts/cross.sh aarch64)"
                                  : "";
    REQUIRE_MESSAGE(FinishPeer(r, 300s) == 0, run_name << " " << r.id << where << ":\n" << r.log());
  }
  std::vector<Checkpoint> finals;
  for (auto& r : runs) {
    auto c = LoadNewestCheckpoint(r.checkpoints(), nullptr);
    REQUIRE_MESSAGE(c.ok(), run_name << " " << r.id << ": " << c.status().message());
    CHECK(c->header.step == kSteps);
    finals.push_back(std::move(c.value()));
  }
  if (runs_out) *runs_out = std::move(runs);
  return finals;
}

// Largest |a - b| over two equally long vectors.
float WorstAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// Largest |a - b| / max(|b|, 1e-2): the same yardstick as test_cli_ring.
double WorstRelDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(static_cast<double>(a[i]) - b[i]);
    worst = std::max(worst, diff / std::max(1e-2, std::abs(static_cast<double>(b[i]))));
  }
  return worst;
}

// |a - b| / |b|, Euclidean norms.
double RelativeNormDiff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("ring: an aarch64 peer under qemu and x86-64 peers end with identical parameters" *
          doctest::skip(kSkip)) {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, kPeers, kTinyMlp);
  // Fingerprints compared every 5 steps (docs/agreement.md): across the two
  // architectures too, replicas are found equal while they train.
  const std::vector<std::string> ring = {"--set", "sync.mode=ring", "--set", "sync.verify_every=5"};

  std::vector<PeerRun> runs;
  const std::vector<Checkpoint> mixed = RunCluster(dir, config, kEmulatedPeer, "mixed", ring, &runs);
  for (const PeerRun& r : runs) {
    const std::string metrics = r.metrics();
    CHECK_MESSAGE(metrics.find("\"replica_diverged\"") == std::string::npos, r.id << ":\n" << metrics);
    CHECK_MESSAGE(metrics.find("\"fingerprints\":6,") != std::string::npos, r.id << " took no fingerprints:\n" << metrics);
  }
  for (size_t k = 1; k < mixed.size(); ++k) {
    const float worst = WorstAbsDiff(mixed[k].params, mixed[0].params);
    MESSAGE("ring: p" << k << " vs p0, largest parameter difference " << worst);
    CHECK_MESSAGE(worst <= 1e-6f, "p" << k << " differs from p0 by " << worst);
    // Every float of the model comes out of the same all-reduce on every peer.
    CHECK_MESSAGE(BitEqual(mixed[k].params, mixed[0].params), "p" << k << " is not bit-identical to p0");
    CHECK(BitEqual(mixed[k].optimizer_state, mixed[0].optimizer_state));
  }
  // The emulated peer took part in the exchange (it is not a bystander that read the result).
  CHECK(LastMetric(runs[kEmulatedPeer].metrics(), "bytes_sent") > 0);
  CHECK(LastMetric(runs[kEmulatedPeer].metrics(), "bytes_recv") > 0);

  // Peers that agree could still agree on garbage (a byte-swapped gradient, say):
  // the same cluster with every peer native must reach the same model. The
  // aarch64 peer computes its own gradient with NEON instead of AVX2/FMA kernels,
  // so the two runs match to float rounding, not to the bit.
  const std::string config_native = WriteClusterConfig(dir, kPeers, kTinyMlp, "native.toml");
  const std::vector<Checkpoint> native = RunCluster(dir, config_native, -1, "native", ring);
  const double rel = WorstRelDiff(mixed[0].params, native[0].params);
  MESSAGE("ring: mixed cluster vs all-x86-64 cluster, largest relative difference " << rel);
  CHECK(rel <= 1e-4);
}

TEST_CASE("ring with a CNN: an aarch64 peer under qemu and x86-64 peers end with identical parameters" *
          doctest::skip(kSkip)) {
  TempDir dir;
  const std::vector<std::string> ring = {"--set", "sync.mode=ring"};
  std::vector<PeerRun> runs;
  const std::vector<Checkpoint> mixed =
      RunCluster(dir, WriteClusterConfig(dir, kPeers, kTinyCnn), kEmulatedPeer, "cnn", ring, &runs);
  REQUIRE(mixed[0].header.layers.size() == 10);  // "input 1x28x28", then the nine layers
  for (size_t k = 1; k < mixed.size(); ++k) {
    MESSAGE("cnn: p" << k << " vs p0, largest parameter difference " << WorstAbsDiff(mixed[k].params, mixed[0].params));
    CHECK_MESSAGE(BitEqual(mixed[k].params, mixed[0].params), "p" << k << " is not bit-identical to p0");
    CHECK_MESSAGE(BitEqual(mixed[k].optimizer_state, mixed[0].optimizer_state),
                  "p" << k << " has another optimizer state than p0");
  }
  CHECK(LastMetric(runs[kEmulatedPeer].metrics(), "bytes_sent") > 0);
  // It learned: 30 steps of 96 samples take the loss on the test set below
  // that of a guess (ln 10 = 2.30).
  CHECK(LastMetric(runs[0].metrics(), "test_loss") < 2.0);
  // And the all-native cluster ends near the same model. The NEON peer's own
  // gradients differ in the last bits, and in a CNN such a difference can move
  // a max pool's choice or a relu's edge, so single weights may differ more
  // than float rounding: the check is on the whole parameter vector (measured:
  // largest single relative difference 2e-3, norm of the difference 7e-6 of the
  // norm of the parameters).
  const std::vector<Checkpoint> native =
      RunCluster(dir, WriteClusterConfig(dir, kPeers, kTinyCnn, "native.toml"), -1, "cnn-native", ring);
  MESSAGE("cnn: mixed vs all-x86-64, largest relative difference " << WorstRelDiff(mixed[0].params, native[0].params));
  const double rel_norm = RelativeNormDiff(mixed[0].params, native[0].params);
  MESSAGE("cnn: mixed vs all-x86-64, |difference| / |parameters| " << rel_norm);
  CHECK(rel_norm <= 1e-3);
}

// What each peer does with the reduced gradient must give the same bits on
// every CPU and build: Adam's moments (contractible a*b + c), its bias
// corrections and the step schedule (integer powers), the clipping norm (a sum
// whose order Eigen would pick by vector width). docs/protocol.md, "Portability".
TEST_CASE("ring with Adam, a step schedule and gradient clipping: the aarch64 peer stays bit-identical" *
          doctest::skip(kSkip)) {
  TempDir dir;
  const std::vector<std::string> adam = {"--set", "sync.mode=ring",      "--set", "optim.type=adam",
                                         "--set", "optim.lr=0.01",       "--set", "optim.schedule=step",
                                         "--set", "optim.step_size=7",   "--set", "optim.gamma=0.7",
                                         "--set", "optim.clip_norm=0.05"};
  const std::vector<Checkpoint> mixed =
      RunCluster(dir, WriteClusterConfig(dir, kPeers, kTinyMlp), kEmulatedPeer, "adam", adam);
  for (size_t k = 1; k < mixed.size(); ++k) {
    MESSAGE("adam: p" << k << " vs p0, largest parameter difference " << WorstAbsDiff(mixed[k].params, mixed[0].params));
    CHECK_MESSAGE(BitEqual(mixed[k].params, mixed[0].params), "p" << k << " is not bit-identical to p0");
    CHECK_MESSAGE(BitEqual(mixed[k].optimizer_state, mixed[0].optimizer_state),
                  "p" << k << " has another optimizer state than p0");
  }
}

TEST_CASE("gossip: an aarch64 peer under qemu mixes with x86-64 peers into the same model" * doctest::skip(kSkip)) {
  TempDir dir;
  const std::vector<std::string> gossip = {"--set", "sync.mode=gossip", "--set", "sync.topology=ring",
                                           "--set", "sync.async=false", "--set", "sync.final_rounds=10"};
  std::vector<PeerRun> runs;
  const std::vector<Checkpoint> mixed =
      RunCluster(dir, WriteClusterConfig(dir, kPeers, kTinyMlp), kEmulatedPeer, "mixed", gossip, &runs);
  const std::vector<Checkpoint> native =
      RunCluster(dir, WriteClusterConfig(dir, kPeers, kTinyMlp, "native.toml"), -1, "native", gossip);
  CHECK(LastMetric(runs[kEmulatedPeer].metrics(), "bytes_sent") > 0);
  for (int k = 0; k < kPeers; ++k) {
    // Synchronous gossip is deterministic: each peer of the mixed cluster ends
    // where the same peer of the native cluster does, to float rounding.
    const double rel = WorstRelDiff(mixed[k].params, native[k].params);
    MESSAGE("gossip: p" << k << " mixed vs native, largest relative difference " << rel);
    CHECK(rel <= 1e-4);
    // The final averaging rounds brought the peers together (measured: 6e-8).
    const float spread = WorstAbsDiff(mixed[k].params, mixed[0].params);
    MESSAGE("gossip: p" << k << " vs p0 after the final rounds, largest difference " << spread);
    CHECK(spread <= 1e-5f);
  }
}

// A lossy codec rounds each peer's gradient before the sum, so the last-bit
// differences between NEON and AVX2 gradients can move a value across a rounding
// boundary: mixed and native runs then differ by about one quantization step
// (measured: fp16 1e-3, bf16 5e-3, int8 2e-2, topk 2e-6). Replicas must still
// be bit-identical, whatever CPU encoded or decoded a chunk.
struct CodecCase {
  std::string codec;
  double tolerance;  // largest relative difference, mixed vs native
};

TEST_CASE("ring with each codec: an aarch64 peer under qemu and x86-64 peers stay bit-identical" *
          doctest::skip(kSkip)) {
  const CodecCase cases[] = {{"fp16", 1e-2}, {"bf16", 5e-2}, {"int8", 2e-1}, {"topk", 1e-4}};
  for (const CodecCase& c : cases) {
    CAPTURE(c.codec);
    TempDir dir;
    const std::vector<std::string> args = {"--set", "sync.mode=ring", "--set", "sync.compression=" + c.codec};
    const std::vector<Checkpoint> mixed =
        RunCluster(dir, WriteClusterConfig(dir, kPeers, kTinyMlp), kEmulatedPeer, "mixed", args);
    for (size_t k = 1; k < mixed.size(); ++k) {
      const float worst = WorstAbsDiff(mixed[k].params, mixed[0].params);
      CHECK_MESSAGE(BitEqual(mixed[k].params, mixed[0].params), c.codec << ": p" << k << " differs from p0 by " << worst);
    }
    const std::vector<Checkpoint> native =
        RunCluster(dir, WriteClusterConfig(dir, kPeers, kTinyMlp, "native.toml"), -1, "native", args);
    const double rel = WorstRelDiff(mixed[0].params, native[0].params);
    MESSAGE(c.codec << ": mixed vs native, largest relative difference " << rel);
    CHECK(rel <= c.tolerance);
  }
}
