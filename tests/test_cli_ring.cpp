// Peers training together by ring all-reduce, as separate processes over
// loopback TCP: equivalence with single-process SGD, accuracy, and a clear
// timeout for a peer that never comes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "meshtrain/checkpoint.h"
#include "meshtrain/config.h"
#include "meshtrain/data.h"
#include "meshtrain/model.h"
#include "meshtrain/optim.h"
#include "meshtrain/trainer.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::string kSmallMlp = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 2000
test_limit = 200
shard = "strided"

[model]
type = "mlp"
hidden = [16]

[optim]
type = "sgd"
lr = 0.05
momentum = 0.9

[train]
epochs = 3
batch_size = 32
seed = 5
max_steps = 40

[sync]
mode = "ring"
every = 1
timeout_ms = 20000
start_timeout_ms = 30000
)";

std::vector<PeerRun> StartCluster(const TempDir& dir, const std::string& config, int n,
                                  const std::vector<std::string>& extra = {}) {
  std::vector<PeerRun> peers;
  for (int i = 0; i < n; ++i) {
    std::string id = "p";
    id.append(std::to_string(i));
    peers.push_back(StartPeer(dir, config, id, extra));
  }
  return peers;
}

// What one process gets doing plain SGD on the union of the four peers' batches.
std::vector<float> SingleProcessReference(const std::string& config_path, int n_peers) {
  auto cfg = LoadConfig(config_path, "p0", {});
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().message());
  const int64_t batch = cfg->train.batch_size;
  std::vector<ShardedData> shards;
  std::vector<std::unique_ptr<BatchSampler>> samplers;
  for (int i = 0; i < n_peers; ++i) {
    auto d = LoadShardedData(cfg->data, n_peers, i);
    REQUIRE(d.ok());
    shards.push_back(std::move(d.value()));
  }
  int64_t largest = 0;
  for (auto& s : shards) largest = std::max(largest, s.train.rows);
  for (int i = 0; i < n_peers; ++i) {
    samplers.push_back(std::make_unique<BatchSampler>(shards[i].train, batch, SamplerSeed(cfg->train.seed, i)));
  }
  const int64_t dim = shards[0].train.dim;
  auto model = CreateModel(cfg->model, dim, shards[0].train.num_classes, batch * n_peers);
  REQUIRE(model.ok());
  (*model)->InitParams(cfg->train.seed);
  auto optimizer = CreateOptimizer(cfg->optim, (*model)->num_params());
  REQUIRE(optimizer.ok());

  const int64_t steps_per_epoch = (largest + batch - 1) / batch;
  const int64_t total = std::min(steps_per_epoch * cfg->train.epochs, cfg->train.max_steps);
  std::vector<float> x(static_cast<size_t>(batch * n_peers * dim));
  std::vector<int32_t> labels(static_cast<size_t>(batch * n_peers));
  for (int64_t step = 0; step < total; ++step) {
    int64_t rows = 0;
    for (int i = 0; i < n_peers; ++i) {
      Batch b = samplers[i]->Get(step / steps_per_epoch, step % steps_per_epoch);
      std::memcpy(x.data() + rows * dim, b.x, sizeof(float) * static_cast<size_t>(b.rows * dim));
      std::memcpy(labels.data() + rows, b.labels, sizeof(int32_t) * static_cast<size_t>(b.rows));
      rows += b.rows;
    }
    Batch all{x.data(), rows, dim, labels.data(), nullptr};
    (*model)->ForwardBackward(all);
    (*optimizer)->Step((*model)->params(), (*model)->grads(), ScheduledLearningRate(cfg->optim, step, total), step + 1);
  }
  auto p = (*model)->params();
  return std::vector<float>(p.begin(), p.end());
}

}  // namespace

TEST_CASE("4 ring peers end with equal parameters, equal to SGD on the union of their batches") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 4, kSmallMlp);
  std::vector<PeerRun> peers = StartCluster(dir, config, 4);
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 180s) == 0, p.id << ":\n" << p.log());

  std::vector<Checkpoint> finals;
  for (auto& p : peers) {
    auto c = LoadNewestCheckpoint(p.checkpoints(), nullptr);
    REQUIRE(c.ok());
    CHECK(c->header.step == 40);
    finals.push_back(c.value());
  }
  for (size_t k = 1; k < finals.size(); ++k) {
    REQUIRE(finals[k].params.size() == finals[0].params.size());
    float worst = 0;
    for (size_t i = 0; i < finals[0].params.size(); ++i) {
      worst = std::max(worst, std::abs(finals[k].params[i] - finals[0].params[i]));
    }
    CHECK_MESSAGE(worst <= 1e-6f, "peer p" << k << " differs from p0 by " << worst);
  }

  const std::vector<float> reference = SingleProcessReference(config, 4);
  REQUIRE(reference.size() == finals[0].params.size());
  double worst_rel = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double diff = std::abs(static_cast<double>(finals[0].params[i]) - reference[i]);
    worst_rel = std::max(worst_rel, diff / std::max(1e-2, std::abs(static_cast<double>(reference[i]))));
  }
  MESSAGE("largest relative difference to single-process SGD: " << worst_rel);
  CHECK(worst_rel <= 1e-4);

  // Every peer sent about 2(N-1)/N of the gradient per step.
  for (auto& p : peers) CHECK(LastMetric(p.metrics(), "bytes_sent") > 0);
}

TEST_CASE("4 ring peers reach 0.88 on Fashion-MNIST with the MLP") {
  TempDir dir;
  const std::string base = ReadFile(std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_mlp.toml");
  // The shipped config with OS-chosen ports instead of its fixed ones.
  const std::string body = base.substr(base.find("[data]"));
  const std::string config = WriteClusterConfig(dir, 4, body);
  std::vector<PeerRun> peers = StartCluster(dir, config, 4, {"--set", "checkpoint.every_steps=0"});
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 580s) == 0, p.id << ":\n" << p.log());
  for (auto& p : peers) {
    const double acc = LastMetric(p.metrics(), "test_acc");
    MESSAGE(p.id << " test_acc " << acc);
    CHECK(acc >= 0.88);
  }
}

TEST_CASE("a peer that never starts makes the others fail with a clear timeout") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 4, kSmallMlp);
  std::vector<PeerRun> peers = StartCluster(dir, config, 3, {"--set", "sync.start_timeout_ms=1500"});
  for (auto& p : peers) {
    const int code = FinishPeer(p, 30s);
    CHECK(code == 1);
    const std::string log = p.log();
    CHECK_MESSAGE(log.find("p3") != std::string::npos, log);
    CHECK_MESSAGE(log.find("1500 ms") != std::string::npos, log);
  }
}
