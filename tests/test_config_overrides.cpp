// --set section.key=value: typed by the schema, applied in order after the
// file, able to set keys the file leaves out, and named in every error.
#include <doctest/doctest.h>

#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::Config;
using meshtrain::LoadConfig;
using meshtrain::testing::TempDir;

namespace {

constexpr const char* kFile = R"(
[[cluster.peers]]
id = "p0"
endpoint = "tcp://127.0.0.1:7101"

[[cluster.peers]]
id = "p1"
endpoint = "tcp://127.0.0.1:7102"

[optim]
lr = 0.05

[train]
epochs = 10
)";

class Fixture {
 public:
  Fixture() : path_(dir_.Write("cfg.toml", kFile)) {}

  Config Load(const std::vector<std::string>& sets) {
    auto cfg = LoadConfig(path_, "p0", sets);
    REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
    return cfg.value();
  }
  std::string Error(const std::vector<std::string>& sets) {
    auto cfg = LoadConfig(path_, "p0", sets);
    REQUIRE_FALSE(cfg.ok());
    return cfg.status().message();
  }

 private:
  TempDir dir_;
  std::string path_;
};

}  // namespace

TEST_CASE("overrides of every type") {
  Fixture f;
  const Config c = f.Load({"train.epochs=3", "optim.lr=0.2", "optim.clip_norm=5", "optim.nesterov=true",
                           "sync.async=false", "sync.mode=ring", "log.metrics=\"/tmp/m p.jsonl\"",
                           "checkpoint.dir='ck'", "model.hidden=[256, 128]", "train.seed=18446744073709551615",
                           "cluster.bootstrap=tcp://a:1, \"tcp://b:2\"", "data.shard=strided", "train.batch_size=+32",
                           "optim.weight_decay=1e-4"});
  CHECK(c.train.epochs == 3);
  CHECK(c.optim.lr == 0.2);
  CHECK(c.optim.clip_norm == 5.0);  // an integer for a float
  CHECK(c.optim.nesterov);
  CHECK_FALSE(c.sync.async);
  CHECK(c.sync.mode == meshtrain::SyncMode::kRing);
  CHECK(c.log.metrics == "/tmp/m p.jsonl");
  CHECK(c.checkpoint.dir == "ck");
  CHECK(c.model.hidden == std::vector<int64_t>{256, 128});
  CHECK(c.train.seed == 18446744073709551615ULL);
  CHECK(c.cluster.bootstrap == std::vector<std::string>{"tcp://a:1", "tcp://b:2"});
  CHECK(c.data.shard == meshtrain::ShardMode::kStrided);
  CHECK(c.train.batch_size == 32);
  CHECK(c.optim.weight_decay == 1e-4);
}

TEST_CASE("list overrides: bracketed, bare, single and empty") {
  Fixture f;
  CHECK(f.Load({"model.hidden=128,64"}).model.hidden == std::vector<int64_t>{128, 64});
  CHECK(f.Load({"model.hidden = [ 32 ]"}).model.hidden == std::vector<int64_t>{32});
  CHECK(f.Load({"model.hidden=16"}).model.hidden == std::vector<int64_t>{16});
  CHECK(f.Load({"cluster.bootstrap=[]"}).cluster.bootstrap.empty());
  CHECK(f.Load({"cluster.bootstrap=['tcp://a:1','tcp://b:2']"}).cluster.bootstrap.size() == 2);
}

TEST_CASE("overrides apply in order after the file, and may set keys the file lacks") {
  Fixture f;
  CHECK(f.Load({}).optim.lr == 0.05);
  CHECK(f.Load({"optim.lr=0.3"}).optim.lr == 0.3);
  CHECK(f.Load({"optim.lr=0.3", "optim.lr=0.4"}).optim.lr == 0.4);
  CHECK(f.Load({"sync.timeout_ms=1234"}).sync.timeout_ms == 1234);  // absent from the file
  CHECK(f.Load({"log.metrics="}).MetricsPath() == "runs/p0/metrics.jsonl");  // empty string = default path
  CHECK(f.Load({"log.metrics=out/{id}.jsonl"}).MetricsPath() == "out/p0.jsonl");
  // A --set can repair a bad file value, and a pair of --set can move two related keys together.
  CHECK(f.Load({"membership.dead_ms=4000", "membership.suspect_ms=2000"}).membership.dead_ms == 4000);
  CHECK(f.Load({"peer.id=p1"}).self_id == "p0");  // --id beats [peer] id
}

TEST_CASE("a bad override is named in the error") {
  Fixture f;
  CHECK(f.Error({"optim.lr=abc"}) == "--set optim.lr=abc: optim.lr expects a float");
  CHECK(f.Error({"optim.lr=inf"}) == "--set optim.lr=inf: optim.lr must be a finite number");
  CHECK(f.Error({"train.epochs=1.5"}) == "--set train.epochs=1.5: train.epochs expects an integer");
  CHECK(f.Error({"train.epochs=99999999999999999999"}) ==
        "--set train.epochs=99999999999999999999: train.epochs expects an integer");
  CHECK(f.Error({"train.seed=-1"}) == "--set train.seed=-1: train.seed expects a non-negative integer");
  CHECK(f.Error({"sync.async=yes"}) == "--set sync.async=yes: sync.async expects a boolean (true or false)");
  CHECK(f.Error({"model.hidden=128,x"}) ==
        "--set model.hidden=128,x: model.hidden expects an array of integers ('x' is not an integer)");
  CHECK(f.Error({"model.hidden=[1,,2]"}) ==
        "--set model.hidden=[1,,2]: model.hidden expects an array of integers ('' is not an integer)");
  CHECK(f.Error({"model.hidden=[1,2"}) == "--set model.hidden=[1,2: model.hidden expects an array of integers (missing ']')");
  CHECK(f.Error({"optim.lr=-1"}) == "--set optim.lr=-1: optim.lr: must be > 0 (got -1)");
  CHECK(f.Error({"sync.mode=rnig"}) ==
        "--set sync.mode=rnig: sync.mode: must be one of 'local', 'ring', 'gossip' (got 'rnig'; did you mean 'ring'?)");
  CHECK(f.Error({"optim.lrr=1"}) == "--set optim.lrr=1: optim.lrr: unknown key; did you mean 'lr'?");
  CHECK(f.Error({"optimm.lr=1"}) == "--set optimm.lr=1: optimm: unknown section; did you mean 'optim'?");
  CHECK(f.Error({"lr=1"}).find("--set lr=1: lr: keys belong in a section") == 0);
  CHECK(f.Error({"lr=1"}).find("did you mean 'optim.lr'?") != std::string::npos);
  CHECK(f.Error({"optim.lr"}) == "--set optim.lr: expected section.key=value");
  CHECK(f.Error({"=3"}) == "--set =3: expected section.key=value");
  CHECK(f.Error({"cluster.peers=x"}).find("--set cluster.peers=x: cluster.peers: cannot be set with --set") == 0);
  CHECK(f.Error({"membership.dead_ms=400"}) ==
        "--set membership.dead_ms=400: membership.dead_ms: must be > membership.suspect_ms (500) (got 400)");
  CHECK(f.Error({"cluster.size=5"}) ==
        "--set cluster.size=5: cluster.size: must be <= 2, the number of [[cluster.peers]] listed (got 5)");
}

TEST_CASE("the keys scripts set with --set all exist") {
  Fixture f;
  const Config c = f.Load({"train.epochs=2", "train.batch_size=16", "train.seed=3", "optim.lr=0.01", "sync.mode=gossip",
                           "sync.every=2", "sync.topology=torus", "sync.async=true", "sync.compression=fp16",
                           "data.shard=dirichlet", "data.alpha=0.1", "checkpoint.dir=/tmp/ck",
                           "checkpoint.every_steps=10", "log.metrics=/tmp/m.jsonl", "membership.suspect_ms=200",
                           "membership.dead_ms=600", "security.mode=none"});
  CHECK(c.sync.topology == meshtrain::TopologyKind::kTorus);
  CHECK(c.data.alpha == 0.1);
  CHECK(c.membership.dead_ms == 600);
}
