// LoadConfig on good files: every key as written, defaults when absent, peer
// selection, cluster.size, derived paths, and the shipped configs/.
#include <doctest/doctest.h>

#include <filesystem>

#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::Config;
using meshtrain::LoadConfig;
using meshtrain::testing::TempDir;

namespace {

constexpr const char* kTwoPeers = R"(
[[cluster.peers]]
id = "p0"
endpoint = "tcp://127.0.0.1:7101"

[[cluster.peers]]
id = "p1"
endpoint = "tcp://127.0.0.1:7102"
)";

// Every key set to something other than its default.
constexpr const char* kEverything = R"(
[peer]
id = "b"

[cluster]
size = 2
bootstrap = ["tcp://10.0.0.1:9000", "tcp://[::1]:9001"]

[[cluster.peers]]
id = "a"
endpoint = "tcp://host-a.lan:7000"

[[cluster.peers]]
id = "b"
endpoint = "tcp://192.168.1.20:7001"

[[cluster.peers]]
id = "c"
endpoint = "tcp://[fe80::1]:7002"

[data]
format = "csv"
dir = "/data"
train_images = "ti"
train_labels = "tl"
test_images = "vi"
test_labels = "vl"
train_csv = "train.csv"
test_csv = "test.csv"
label_column = "3"
synthetic_train = 100
synthetic_test = 50
synthetic_features = 3
synthetic_noise = 0.5
synthetic_seed = 9
scaling = "standardize"
shard = "dirichlet"
alpha = 0.25
shard_seed = 77
train_limit = 1000
test_limit = 200

[model]
type = "mlp"
hidden = [64, 32, 16]
activation = "tanh"
init = "xavier"

[optim]
type = "adam"
lr = 0.003
momentum = 0.5
nesterov = true
weight_decay = 1e-4
beta1 = 0.8
beta2 = 0.99
eps = 1e-6
schedule = "step"
warmup_steps = 10
step_size = 500
gamma = 0.5
min_lr = 0.001
clip_norm = 5

[train]
epochs = 3
batch_size = 128
seed = 5
eval_every = 100
log_every = 10
max_steps = 999

[sync]
mode = "gossip"
every = 4
topology = "exponential"
async = true
compression = "int8"
timeout_ms = 2000
chunk_bytes = 65536
start_timeout_ms = 5000

[transport]
linger_ms = 0
sndhwm = 10
rcvhwm = 20
reconnect_ivl_ms = 50
reconnect_ivl_max_ms = 500
max_msg_bytes = 1048576
connect_timeout_ms = 600

[membership]
heartbeat_ms = 50
suspect_ms = 300
dead_ms = 900

[checkpoint]
dir = "ckpt/{id}"
every_steps = 250
keep = 5

[log]
metrics = "out/{id}.jsonl"
progress = "line"

[security]
mode = "curve"
secret_key_file = "keys/{id}.secret"
public_key_file = "keys/{id}.public"
authorized_keys = ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"]

[debug]
slowdown = 2.5
)";

Config MustLoad(const std::string& path, const std::string& id = "", const std::vector<std::string>& sets = {}) {
  auto cfg = LoadConfig(path, id, sets);
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
  return cfg.value();
}

}  // namespace

TEST_CASE("a file with every key parses with every value as written") {
  TempDir dir;
  const Config c = MustLoad(dir.Write("all.toml", kEverything));
  CHECK(c.source_path == dir.File("all.toml"));
  CHECK(c.self_id == "b");
  CHECK(c.self_index == 1);
  REQUIRE(c.cluster.peers.size() == 2);  // size = 2 keeps a and b
  CHECK(c.cluster.peers[0].id == "a");
  CHECK(c.cluster.peers[0].endpoint == "tcp://host-a.lan:7000");
  CHECK(c.cluster.peers[1].endpoint == "tcp://192.168.1.20:7001");
  CHECK(c.cluster.size == 2);
  CHECK(c.cluster.bootstrap == std::vector<std::string>{"tcp://10.0.0.1:9000", "tcp://[::1]:9001"});

  CHECK(c.data.format == meshtrain::DataFormat::kCsv);
  CHECK(c.data.dir == "/data");
  CHECK(c.data.train_images == "ti");
  CHECK(c.data.train_labels == "tl");
  CHECK(c.data.test_images == "vi");
  CHECK(c.data.test_labels == "vl");
  CHECK(c.data.train_csv == "train.csv");
  CHECK(c.data.test_csv == "test.csv");
  CHECK(c.data.label_column == "3");
  CHECK(c.data.synthetic_train == 100);
  CHECK(c.data.synthetic_test == 50);
  CHECK(c.data.synthetic_features == 3);
  CHECK(c.data.synthetic_noise == 0.5);
  CHECK(c.data.synthetic_seed == 9);
  CHECK(c.data.scaling == meshtrain::ScalingMode::kStandardize);
  CHECK(c.data.shard == meshtrain::ShardMode::kDirichlet);
  CHECK(c.data.alpha == 0.25);
  CHECK(c.data.shard_seed == 77);
  CHECK(c.data.train_limit == 1000);
  CHECK(c.data.test_limit == 200);

  CHECK(c.model.type == meshtrain::ModelType::kMlp);
  CHECK(c.model.hidden == std::vector<int64_t>{64, 32, 16});
  CHECK(c.model.activation == meshtrain::HiddenActivation::kTanh);
  CHECK(c.model.init == meshtrain::InitScheme::kXavier);

  CHECK(c.optim.type == meshtrain::OptimizerType::kAdam);
  CHECK(c.optim.lr == 0.003);
  CHECK(c.optim.momentum == 0.5);
  CHECK(c.optim.nesterov);
  CHECK(c.optim.weight_decay == 1e-4);
  CHECK(c.optim.beta1 == 0.8);
  CHECK(c.optim.beta2 == 0.99);
  CHECK(c.optim.eps == 1e-6);
  CHECK(c.optim.schedule == meshtrain::LrSchedule::kStep);
  CHECK(c.optim.warmup_steps == 10);
  CHECK(c.optim.step_size == 500);
  CHECK(c.optim.gamma == 0.5);
  CHECK(c.optim.min_lr == 0.001);
  CHECK(c.optim.clip_norm == 5.0);  // an integer is accepted for a float

  CHECK(c.train.epochs == 3);
  CHECK(c.train.batch_size == 128);
  CHECK(c.train.seed == 5);
  CHECK(c.train.eval_every == 100);
  CHECK(c.train.log_every == 10);
  CHECK(c.train.max_steps == 999);

  CHECK(c.sync.mode == meshtrain::SyncMode::kGossip);
  CHECK(c.sync.every == 4);
  CHECK(c.sync.topology == meshtrain::TopologyKind::kExponential);
  CHECK(c.sync.async);
  CHECK(c.sync.compression == meshtrain::Compression::kInt8);
  CHECK(c.sync.timeout_ms == 2000);
  CHECK(c.sync.chunk_bytes == 65536);
  CHECK(c.sync.start_timeout_ms == 5000);

  CHECK(c.transport.linger_ms == 0);
  CHECK(c.transport.sndhwm == 10);
  CHECK(c.transport.rcvhwm == 20);
  CHECK(c.transport.reconnect_ivl_ms == 50);
  CHECK(c.transport.reconnect_ivl_max_ms == 500);
  CHECK(c.transport.max_msg_bytes == 1048576);
  CHECK(c.transport.connect_timeout_ms == 600);

  CHECK(c.membership.heartbeat_ms == 50);
  CHECK(c.membership.suspect_ms == 300);
  CHECK(c.membership.dead_ms == 900);

  // {id} becomes this peer's id.
  CHECK(c.checkpoint.dir == "ckpt/b");
  CHECK(c.checkpoint.every_steps == 250);
  CHECK(c.checkpoint.keep == 5);
  CHECK(c.log.metrics == "out/b.jsonl");
  CHECK(c.log.progress == meshtrain::ProgressMode::kLine);
  CHECK(c.MetricsPath() == "out/b.jsonl");
  CHECK(c.CheckpointDir() == "ckpt/b");

  CHECK(c.security.mode == meshtrain::SecurityMode::kCurve);
  CHECK(c.security.secret_key_file == "keys/b.secret");
  CHECK(c.security.public_key_file == "keys/b.public");
  REQUIRE(c.security.authorized_keys.size() == 2);
  CHECK(c.security.authorized_keys[0] == "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");

  CHECK(c.debug.slowdown == 2.5);
}

TEST_CASE("keys absent from the file keep the documented defaults") {
  TempDir dir;
  const Config c = MustLoad(dir.Write("min.toml", "[[cluster.peers]]\nid = \"solo\"\nendpoint = \"tcp://127.0.0.1:7000\"\n"));
  const Config d;  // the defaults of config.h
  CHECK(c.self_id == "solo");  // the only peer is picked without --id
  CHECK(c.self_index == 0);
  CHECK(c.cluster.size == 0);
  CHECK(c.cluster.bootstrap.empty());
  CHECK(c.data.format == d.data.format);
  CHECK(c.data.dir == d.data.dir);
  CHECK(c.data.train_images == d.data.train_images);
  CHECK(c.data.shard == meshtrain::ShardMode::kContiguous);
  CHECK(c.data.alpha == d.data.alpha);
  CHECK(c.model.type == meshtrain::ModelType::kMlp);
  CHECK(c.model.hidden == std::vector<int64_t>{128});
  CHECK(c.optim.type == meshtrain::OptimizerType::kSgd);
  CHECK(c.optim.lr == d.optim.lr);
  CHECK(c.optim.momentum == d.optim.momentum);
  CHECK(c.optim.eps == d.optim.eps);
  CHECK(c.train.epochs == d.train.epochs);
  CHECK(c.train.batch_size == d.train.batch_size);
  CHECK(c.train.seed == d.train.seed);
  CHECK(c.sync.mode == meshtrain::SyncMode::kLocal);
  CHECK(c.sync.chunk_bytes == d.sync.chunk_bytes);
  CHECK(c.transport.max_msg_bytes == d.transport.max_msg_bytes);
  CHECK(c.membership.dead_ms == d.membership.dead_ms);
  CHECK(c.checkpoint.keep == d.checkpoint.keep);
  CHECK(c.log.progress == meshtrain::ProgressMode::kAuto);
  CHECK(c.security.mode == meshtrain::SecurityMode::kNone);
  CHECK(c.debug.slowdown == 1.0);
  // Derived paths: runs/<id>/..., relative to the current directory.
  CHECK(c.MetricsPath() == "runs/solo/metrics.jsonl");
  CHECK(c.CheckpointDir() == "runs/solo/checkpoints");
  CHECK(c.Hash() == MustLoad(dir.File("min.toml")).Hash());
}

TEST_CASE("the peer is --id, else [peer] id, else the only one") {
  TempDir dir;
  const std::string two = dir.Write("two.toml", kTwoPeers);
  CHECK(MustLoad(two, "p1").self_index == 1);
  CHECK(MustLoad(two, "p0").self_id == "p0");

  const std::string with_peer = dir.Write("peer.toml", std::string("[peer]\nid = \"p1\"\n") + kTwoPeers);
  CHECK(MustLoad(with_peer).self_id == "p1");
  CHECK(MustLoad(with_peer, "p0").self_id == "p0");  // --id wins over [peer] id
  CHECK(MustLoad(two, "", {"peer.id=p1"}).self_id == "p1");

  // cluster.size = 1 leaves one peer, which needs no --id.
  const Config one = MustLoad(two, "", {"cluster.size=1"});
  CHECK(one.self_id == "p0");
  CHECK(one.cluster.peers.size() == 1);
}

TEST_CASE("cluster.size keeps the first N peers; 0 keeps all") {
  TempDir dir;
  const std::string two = dir.Write("two.toml", kTwoPeers);
  CHECK(MustLoad(two, "p1", {"cluster.size=0"}).cluster.peers.size() == 2);
  CHECK(MustLoad(two, "p1", {"cluster.size=2"}).cluster.peers.size() == 2);
  const Config one = MustLoad(two, "p0", {"cluster.size=1"});
  REQUIRE(one.cluster.peers.size() == 1);
  CHECK(one.cluster.peers[0].id == "p0");
  CHECK(one.cluster.size == 1);
}

TEST_CASE("inline tables and dotted keys are ordinary TOML") {
  TempDir dir;
  const Config c = MustLoad(dir.Write("inline.toml", R"(
cluster.peers = [{ id = "x", endpoint = "tcp://localhost:5000" }]
optim.lr = 0.5
model = { type = "softmax" }
)"));
  CHECK(c.self_id == "x");
  CHECK(c.optim.lr == 0.5);
  CHECK(c.model.type == meshtrain::ModelType::kSoftmax);
}

TEST_CASE("the shipped configs load for every peer") {
  const std::filesystem::path configs = std::filesystem::path(MESHTRAIN_SOURCE_DIR) / "configs";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(configs)) {
    if (entry.path().extension() != ".toml") continue;
    ++files;
    const std::string path = entry.path().string();
    auto first = LoadConfig(path, "p0", {});
    REQUIRE_MESSAGE(first.ok(), first.status().ToString());
    for (const auto& peer : first->cluster.peers) {
      auto cfg = LoadConfig(path, peer.id, {});
      CHECK_MESSAGE(cfg.ok(), path, ": ", cfg.status().ToString());
      if (cfg.ok()) CHECK(cfg->Hash() == first->Hash());  // every peer agrees on what a resume needs
    }
    CHECK(LoadConfig(path, "", {"cluster.size=1"}).ok());
  }
  CHECK(files >= 1);
}
