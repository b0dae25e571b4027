// Every kind of config error comes back as a Status whose message names the
// file, line, column and key, and says what is allowed.
#include <doctest/doctest.h>

#include "config/suggest.h"
#include "config/text_checks.h"
#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::LoadConfig;
using meshtrain::Status;
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

struct Failure {
  Status status;
  std::string message;  // with the temp dir stripped: "cfg.toml:2:1: ..."
};

// Loads `toml` as cfg.toml and returns the error it must produce.
Failure LoadFailure(const std::string& toml, const std::string& id = "p0", const std::vector<std::string>& sets = {}) {
  TempDir dir;
  const std::string path = dir.Write("cfg.toml", toml);
  auto cfg = LoadConfig(path, id, sets);
  REQUIRE_MESSAGE(!cfg.ok(), "expected an error for:\n", toml);
  std::string message = cfg.status().message();
  const std::string prefix = dir.path() + "/";
  for (size_t at = message.find(prefix); at != std::string::npos; at = message.find(prefix)) message.erase(at, prefix.size());
  return {cfg.status(), message};
}

// The message for a file made of `snippet` followed by two good peers.
std::string ErrorFor(const std::string& snippet, const std::string& id = "p0") {
  return LoadFailure(snippet + kTwoPeers, id).message;
}

bool Contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

#define CHECK_CONTAINS(haystack, needle) CHECK_MESSAGE(Contains(haystack, needle), "message: ", haystack, "\nwanted: ", needle)

}  // namespace

TEST_CASE("a missing or unreadable file is an IOError naming it") {
  TempDir dir;
  auto missing = LoadConfig(dir.File("nope.toml"), "", {});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kIOError);
  CHECK_CONTAINS(missing.status().message(), dir.File("nope.toml"));
  CHECK_CONTAINS(missing.status().message(), "No such file");

  auto directory = LoadConfig(dir.path(), "", {});
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.status().code() == Status::Code::kIOError);
  CHECK_CONTAINS(directory.status().message(), "is a directory");
}

TEST_CASE("TOML syntax errors carry toml++'s message and position") {
  Failure f = LoadFailure("[optim]\nlr = = 1\n");
  CHECK(f.status.code() == Status::Code::kInvalidArgument);
  CHECK_CONTAINS(f.message, "cfg.toml:2:");
  CHECK_CONTAINS(f.message, ": TOML syntax error: ");
  CHECK_CONTAINS(LoadFailure("[optim]\nlr = 1\nlr = 2\n").message, "cfg.toml:3:");
  CHECK_CONTAINS(LoadFailure("[optim\n").message, "TOML syntax error");
}

TEST_CASE("unknown sections and keys say where they are and what was meant") {
  CHECK_CONTAINS(ErrorFor("[optimm]\nlr = 0.1\n"), "cfg.toml:1:1: optimm: unknown section; did you mean 'optim'?");
  CHECK_CONTAINS(ErrorFor("[trian]\n"), "trian: unknown section; did you mean 'train'?");
  CHECK_CONTAINS(ErrorFor("[zzz]\n"), "zzz: unknown section; sections are 'peer', 'cluster', 'data'");
  CHECK_CONTAINS(ErrorFor("lr = 0.1\n"), "cfg.toml:1:1: lr: keys belong in a section such as [optim]; did you mean 'optim.lr'?");
  CHECK_CONTAINS(ErrorFor("mode = 'ring'\n"), "did you mean 'sync.mode' or 'security.mode'?");
  CHECK_CONTAINS(ErrorFor("[optim]\nlrr = 0.1\n"), "cfg.toml:2:1: optim.lrr: unknown key; did you mean 'lr'?");
  CHECK_CONTAINS(ErrorFor("[optim]\nclip_nrom = 1\n"), "optim.clip_nrom: unknown key; did you mean 'clip_norm'?");
  CHECK_CONTAINS(ErrorFor("[train]\nbatchsize = 1\n"), "train.batchsize: unknown key; did you mean 'batch_size'?");
  CHECK_CONTAINS(ErrorFor("[train]\nEpochs = 1\n"), "did you mean 'epochs'?");
  CHECK_CONTAINS(ErrorFor("[sync]\ntimeout = 1\n"), "sync.timeout: unknown key; did you mean 'timeout_ms'?");
  CHECK_CONTAINS(ErrorFor("[train]\nlr = 0.1\n"), "train.lr: unknown key in [train]; did you mean 'optim.lr'?");
  CHECK_CONTAINS(ErrorFor("[optim]\nfoo_bar = 1\n"), "optim.foo_bar: unknown key; keys of [optim] are 'type', 'lr',");
  CHECK_CONTAINS(ErrorFor("[optim.extra]\nx = 1\n"), "optim.extra: unknown key");
  CHECK_CONTAINS(ErrorFor("[peer]\nname = 'p0'\n"), "peer.name: unknown key");
  CHECK_CONTAINS(LoadFailure("[[cluster.peers]]\nid = 'p0'\nendpiont = 'tcp://a:1'\n").message,
                 "cfg.toml:3:1: cluster.peers[0].endpiont: unknown key; did you mean 'endpoint'?");
  CHECK_CONTAINS(ErrorFor("[[peers]]\nid = 'x'\n"), "did you mean 'cluster.peers'?");
}

TEST_CASE("a value of the wrong type names the expected and the found type") {
  CHECK_CONTAINS(ErrorFor("[optim]\nlr = \"0.1\"\n"), "cfg.toml:2:1: optim.lr: expects a float, found the string '0.1'");
  CHECK_CONTAINS(ErrorFor("[train]\nepochs = 1.5\n"), "cfg.toml:2:1: train.epochs: expects an integer, found a float");
  CHECK_CONTAINS(ErrorFor("[optim]\nnesterov = 1\n"), "optim.nesterov: expects a boolean (true or false), found an integer");
  CHECK_CONTAINS(ErrorFor("[data]\ndir = 3\n"), "data.dir: expects a string, found an integer");
  CHECK_CONTAINS(ErrorFor("[membership]\nquorum = 3\n"),
                 "membership.quorum: expects a string, found an integer; write it in quotes: \"3\"");
  CHECK_CONTAINS(ErrorFor("[model]\nhidden = 128\n"), "model.hidden: expects an array of integers, found an integer; write a list, e.g. [128]");
  CHECK_CONTAINS(ErrorFor("[model]\nhidden = [128, \"x\"]\n"), "cfg.toml:2:16: model.hidden[1]: expects an integer, found the string 'x'");
  CHECK_CONTAINS(ErrorFor("[cluster]\nbootstrap = [1]\n"), "cluster.bootstrap[0]: expects a string, found an integer");
  CHECK_CONTAINS(ErrorFor("[train]\nepochs = 1979-05-27\n"), "expects an integer, found a date");
  CHECK_CONTAINS(ErrorFor("optim = 3\n"), "cfg.toml:1:1: optim: expects a section ([optim]), found an integer");
  CHECK_CONTAINS(ErrorFor("[train]\nseed = -1\n"), "cfg.toml:2:1: train.seed: must be >= 0 (got -1)");
  CHECK_CONTAINS(ErrorFor("[optim]\nlr = inf\n"), "optim.lr: must be a finite number (got inf)");
  CHECK_CONTAINS(ErrorFor("[optim]\nlr = nan\n"), "optim.lr: must be a finite number (got nan)");
  CHECK_CONTAINS(LoadFailure("[cluster]\npeers = 3\n").message, "cluster.peers: expects an array of tables ([[cluster.peers]]");
  CHECK_CONTAINS(LoadFailure("[[cluster.peers]]\nid = 7\nendpoint = 'tcp://a:1'\n").message,
                 "cfg.toml:2:1: cluster.peers[0].id: expects a string, found an integer");
}

TEST_CASE("out-of-range values say the range and the value") {
  struct Case {
    const char* snippet;
    const char* message;
  };
  const Case cases[] = {
      {"[train]\nepochs = 0\n", "cfg.toml:2:1: train.epochs: must be >= 1 (got 0)"},
      {"[train]\nbatch_size = 0\n", "train.batch_size: must be in 1..1000000 (got 0)"},
      {"[train]\nbatch_size = 2000000\n", "train.batch_size: must be in 1..1000000 (got 2000000)"},
      {"[train]\nlog_every = 0\n", "train.log_every: must be >= 1 (got 0)"},
      {"[train]\nmax_steps = -1\n", "train.max_steps: must be >= 0 (got -1)"},
      {"[optim]\nlr = -1\n", "cfg.toml:2:1: optim.lr: must be > 0 (got -1)"},
      {"[optim]\nlr = 0\n", "optim.lr: must be > 0 (got 0)"},
      {"[optim]\nmomentum = 1\n", "optim.momentum: must be in [0, 1) (got 1)"},
      {"[optim]\nmomentum = -0.1\n", "optim.momentum: must be in [0, 1) (got -0.1)"},
      {"[optim]\nbeta1 = 1.0\n", "optim.beta1: must be in [0, 1) (got 1)"},
      {"[optim]\nbeta2 = 1.5\n", "optim.beta2: must be in [0, 1) (got 1.5)"},
      {"[optim]\neps = 0\n", "optim.eps: must be > 0 (got 0)"},
      {"[optim]\nweight_decay = -1e-4\n", "optim.weight_decay: must be >= 0 (got -1e-04)"},
      {"[optim]\nclip_norm = -1\n", "optim.clip_norm: must be >= 0 (got -1)"},
      {"[optim]\ngamma = 0\n", "optim.gamma: must be in (0, 1] (got 0)"},
      {"[optim]\nstep_size = 0\n", "optim.step_size: must be >= 1 (got 0)"},
      {"[optim]\nwarmup_steps = -5\n", "optim.warmup_steps: must be >= 0 (got -5)"},
      {"[sync]\nevery = 0\n", "sync.every: must be >= 1 (got 0)"},
      {"[sync]\ntimeout_ms = 0\n", "sync.timeout_ms: must be >= 1 (got 0)"},
      {"[sync]\nstart_timeout_ms = -1\n", "sync.start_timeout_ms: must be >= 1 (got -1)"},
      {"[sync]\nchunk_bytes = 2\n", "sync.chunk_bytes: must be >= 4 (got 2)"},
      {"[transport]\nmax_msg_bytes = 100\n", "transport.max_msg_bytes: must be >= 1024 (got 100)"},
      {"[transport]\nlinger_ms = -1\n", "transport.linger_ms: must be in 0..2147483647 (got -1)"},
      {"[transport]\nsndhwm = 3000000000\n", "transport.sndhwm: must be in 0..2147483647 (got 3000000000)"},
      {"[membership]\nheartbeat_ms = 0\n", "membership.heartbeat_ms: must be >= 1 (got 0)"},
      {"[data]\nalpha = 0\n", "data.alpha: must be > 0 (got 0)"},
      {"[data]\ntrain_limit = -1\n", "data.train_limit: must be >= 0 (got -1)"},
      {"[data]\nsynthetic_features = 0\n", "data.synthetic_features: must be in 1..1000000 (got 0)"},
      {"[data]\nsynthetic_noise = -1\n", "data.synthetic_noise: must be >= 0 (got -1)"},
      {"[data]\nlabel_column = ''\n", "data.label_column: must not be empty"},
      {"[model]\nhidden = [128, 0]\n", "cfg.toml:2:1: model.hidden[1]: must be in 1..1000000 (got 0)"},
      {"[checkpoint]\nkeep = 0\n", "checkpoint.keep: must be >= 1 (got 0)"},
      {"[checkpoint]\nevery_steps = -1\n", "checkpoint.every_steps: must be >= 0 (got -1)"},
      {"[debug]\nslowdown = 0.5\n", "debug.slowdown: must be >= 1 (got 0.5)"},
      {"[cluster]\nsize = -1\n", "cluster.size: must be >= 0 (got -1)"},
      {"[cluster]\nbootstrap = ['tcp://a:1', 'a:2']\n",
       "cluster.bootstrap[1]: must be tcp://host:port with port 1..65535 (it does not start with tcp://) (got 'a:2')"},
      {"[security]\nauthorized_keys = ['short']\n",
       "security.authorized_keys[0]: must be a 40-character Z85 CURVE public key"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.snippet);
    CHECK_CONTAINS(ErrorFor(c.snippet), c.message);
  }
}

TEST_CASE("enum keys list their allowed values and suggest the closest") {
  CHECK_CONTAINS(ErrorFor("[model]\nactivation = 'relue'\n"),
                 "cfg.toml:2:1: model.activation: must be one of 'relu', 'tanh' (got 'relue'; did you mean 'relu'?)");
  CHECK_CONTAINS(ErrorFor("[data]\nshard = 'dirichelt'\n"),
                 "data.shard: must be one of 'contiguous', 'strided', 'dirichlet' (got 'dirichelt'; did you mean 'dirichlet'?)");
  CHECK_CONTAINS(ErrorFor("[sync]\nmode = 'allreduce'\n"), "sync.mode: must be one of 'local', 'ring', 'gossip' (got 'allreduce')");
  const char* keys[][2] = {{"data", "format"},      {"data", "scaling"},    {"data", "shard"},
                           {"model", "type"},       {"model", "activation"}, {"model", "init"},
                           {"optim", "type"},       {"optim", "schedule"},  {"sync", "mode"},
                           {"sync", "topology"},    {"sync", "compression"}, {"log", "progress"},
                           {"security", "mode"}};
  for (const auto& key : keys) {
    const std::string name = std::string(key[0]) + "." + key[1];
    CAPTURE(name);
    std::string snippet = "[";  // built by appending: GCC 12 gives a false -Wrestrict on "[" + std::string
    snippet.append(key[0]).append("]\n").append(key[1]).append(" = 'bogus'\n");
    CHECK_CONTAINS(ErrorFor(snippet),
                   "cfg.toml:2:1: " + name + ": must be one of ");
  }
}

TEST_CASE("keys that contradict each other are reported where the last one was set") {
  CHECK_CONTAINS(ErrorFor("[membership]\ndead_ms = 400\n"),
                 "cfg.toml:2:1: membership.dead_ms: must be > membership.suspect_ms (500) (got 400)");
  CHECK_CONTAINS(ErrorFor("[membership]\nsuspect_ms = 50\n"),
                 "cfg.toml:2:1: membership.suspect_ms: must be > membership.heartbeat_ms (100) (got 50)");
  CHECK_CONTAINS(ErrorFor("[membership]\ndead_ms = 2000\nsuspect_ms = 3000\n"),
                 "cfg.toml:3:1: membership.suspect_ms: must be < membership.dead_ms (2000) (got 3000)");
  CHECK_CONTAINS(ErrorFor("[transport]\nreconnect_ivl_max_ms = 10\n"),
                 "transport.reconnect_ivl_max_ms: must be >= transport.reconnect_ivl_ms (100) (got 10)");
  // Removed keys say why and what replaces them, instead of a did-you-mean.
  CHECK_CONTAINS(ErrorFor("[transport]\nheartbeat_ivl_ms = 1000\n"),
                 "transport.heartbeat_ivl_ms: removed: ZMTP heartbeats can abort libzmq 4.3.4");
  CHECK_CONTAINS(ErrorFor("[transport]\nheartbeat_timeout_ms = 3000\n"), "transport.connect_timeout_ms bounds a connect");
  CHECK_CONTAINS(ErrorFor("[data]\nformat = 'csv'\ntrain_csv = 'a.csv'\n[model]\ntype = 'softmax'\n"),
                 "cfg.toml:2:1: data.test_csv: required when data.format = 'csv'");
  CHECK_CONTAINS(ErrorFor("[model]\nhidden = []\n"), "cfg.toml:2:1: model.hidden: model.type = 'mlp' needs at least one hidden layer");
  CHECK_CONTAINS(ErrorFor("[data]\nformat = 'synthetic'\n"),
                 "cfg.toml:2:1: data.format: model.type = 'mlp' does not fit data.format = 'synthetic' (a regression "
                 "target); use model.type = 'linear'");
  CHECK_CONTAINS(ErrorFor("[model]\ntype = 'linear'\n"),
                 "cfg.toml:2:1: model.type: model.type = 'linear' does not fit data.format = 'idx' (class labels)");
  CHECK_CONTAINS(ErrorFor("[optim]\nnesterov = true\nmomentum = 0.0\n"),
                 "cfg.toml:3:1: optim.momentum: optim.nesterov = true needs optim.momentum > 0");
  CHECK_CONTAINS(ErrorFor("[optim]\nschedule = 'cosine'\nlr = 0.01\nmin_lr = 0.1\n"),
                 "cfg.toml:4:1: optim.min_lr: must be <= optim.lr (0.01) (got 0.1)");
  const std::string curve = ErrorFor("[security]\nmode = 'curve'\n");
  CHECK_CONTAINS(curve, "cfg.toml:2:1: security.secret_key_file: required when security.mode = 'curve'");
  CHECK_CONTAINS(curve, "cfg.toml:2:1: security.public_key_file: required when");
  CHECK_CONTAINS(curve, "cfg.toml:2:1: security.authorized_keys: required when");
}

TEST_CASE("peers: ids and endpoints well-formed and unique") {
  CHECK_CONTAINS(ErrorFor("[[cluster.peers]]\nid = 'p0'\nendpoint = 'tcp://127.0.0.1:7200'\n"),
                 "cfg.toml:6:1: cluster.peers[1].id: duplicate peer id 'p0' (also cluster.peers[0] at line 2)");
  CHECK_CONTAINS(ErrorFor("[[cluster.peers]]\nid = 'px'\nendpoint = 'tcp://127.0.0.1:7102'\n"),
                 "cfg.toml:11:1: cluster.peers[2].endpoint: duplicate endpoint 'tcp://127.0.0.1:7102' (also "
                 "cluster.peers[0] 'px' at line 3)");
  CHECK_CONTAINS(ErrorFor("[[cluster.peers]]\nid = 'p 9'\nendpoint = 'tcp://127.0.0.1:7200'\n"),
                 "cluster.peers[0].id: may only contain letters, digits, '_', '.' and '-' (got 'p 9')");
  struct Case {
    const char* endpoint;
    const char* why;
  };
  const Case bad[] = {
      {"127.0.0.1:7000", "it does not start with tcp://"},
      {"udp://127.0.0.1:7000", "it does not start with tcp://"},
      {"tcp://127.0.0.1", "the :port is missing"},
      {"tcp://127.0.0.1:", "the port is missing"},
      {"tcp://:7000", "the host is missing"},
      {"tcp://h:0", "port 0 is out of range"},
      {"tcp://h:65536", "port 65536 is out of range"},
      {"tcp://h:123456", "out of range"},
      {"tcp://h:7x", "port '7x' is not a number"},
      {"tcp://*:7000", "'*' is a wildcard"},
      {"tcp://::1:7000", "an IPv6 host goes in brackets"},
      {"tcp://[::1:7000", "the :port is missing"},
      {"tcp://[zz]:7000", "'[zz]' is not an IPv6 address"},
      {"tcp://a b:7000", "has a character that is not allowed"},
  };
  for (const Case& c : bad) {
    CAPTURE(c.endpoint);
    const std::string message =
        ErrorFor("[[cluster.peers]]\nid = 'px'\nendpoint = '" + std::string(c.endpoint) + "'\n");
    CHECK_CONTAINS(message, "cfg.toml:3:1: cluster.peers[0].endpoint: must be tcp://host:port with port 1..65535 (");
    CHECK_CONTAINS(message, c.why);
    CHECK_CONTAINS(message, "(got '" + std::string(c.endpoint) + "')");
  }
  for (const char* good : {"tcp://localhost:1", "tcp://10.1.2.3:65535", "tcp://[::1]:7000", "tcp://node-3.lan:80"}) {
    CAPTURE(good);
    CHECK(meshtrain::config_internal::EndpointProblem(good).empty());
  }
  const std::string missing = LoadFailure("[[cluster.peers]]\nid = 'p0'\n[[cluster.peers]]\nendpoint = 'tcp://a:1'\n").message;
  CHECK_CONTAINS(missing, "cfg.toml:1:1: cluster.peers[0]: missing key 'endpoint'");
  CHECK_CONTAINS(missing, "cfg.toml:3:1: cluster.peers[1]: missing key 'id'");
}

TEST_CASE("a cluster without peers, or without this peer, is an error listing the ids") {
  CHECK_CONTAINS(LoadFailure("[train]\nepochs = 1\n", "").message,
                 "cfg.toml: cluster.peers: no peers; list each as [[cluster.peers]] with id and endpoint");
  CHECK_CONTAINS(LoadFailure("[cluster]\npeers = []\n", "").message, "cfg.toml:2:1: cluster.peers: no peers");
  CHECK_CONTAINS(ErrorFor("", "p7"), "cfg.toml: --id p7 is not in cluster.peers; ids are 'p0', 'p1'");
  CHECK_CONTAINS(ErrorFor("", ""), "cfg.toml: no peer id: pass --id or set [peer] id; the cluster has 2 peers: 'p0', 'p1'");
  CHECK_CONTAINS(ErrorFor("[peer]\nid = 'p5'\n", ""), "cfg.toml:2:1: peer.id: 'p5' is not in cluster.peers; ids are 'p0', 'p1'");
  CHECK_CONTAINS(ErrorFor("[cluster]\nsize = 1\n", "p1"),
                 "--id p1 is not among the first 1 peers kept by cluster.size = 1: 'p0'");
  CHECK_CONTAINS(ErrorFor("[cluster]\nsize = 3\n"),
                 "cfg.toml:2:1: cluster.size: must be <= 2, the number of [[cluster.peers]] listed (got 3)");
}

TEST_CASE("every problem is reported at once, in file order") {
  Failure f = LoadFailure(std::string("[optim]\nlr = -1\nlrr = 2\n[train]\nepochs = 0\n[zzz]\n") + kTwoPeers, "p0",
                          {"sync.mode=ringg"});
  CHECK(f.status.code() == Status::Code::kInvalidArgument);
  const size_t lr = f.message.find("cfg.toml:2:1: optim.lr:");
  const size_t lrr = f.message.find("cfg.toml:3:1: optim.lrr:");
  const size_t epochs = f.message.find("cfg.toml:5:1: train.epochs:");
  const size_t section = f.message.find("cfg.toml:6:1: zzz:");
  const size_t set = f.message.find("--set sync.mode=ringg: sync.mode: must be one of");
  REQUIRE_MESSAGE(set != std::string::npos, f.message);
  CHECK(lr < lrr);
  CHECK(lrr < epochs);
  CHECK(epochs < section);
  CHECK(section < set);
  CHECK(f.message.find("did you mean 'ring'?") != std::string::npos);
}

TEST_CASE("suggestions come from edit distance, ignoring case") {
  using meshtrain::config_internal::ClosestMatch;
  using meshtrain::config_internal::EditDistance;
  CHECK(EditDistance("lr", "lr") == 0);
  CHECK(EditDistance("lrr", "lr") == 1);
  CHECK(EditDistance("nrom", "norm") == 1);  // a swap is one edit
  CHECK(EditDistance("EPOCHS", "epochs") == 0);
  CHECK(EditDistance("", "abc") == 3);
  const std::vector<std::string_view> keys = {"epochs", "batch_size", "seed"};
  CHECK(ClosestMatch("epoch", keys) == std::optional<std::string_view>("epochs"));
  CHECK(ClosestMatch("size", keys) == std::optional<std::string_view>("batch_size"));
  CHECK_FALSE(ClosestMatch("momentum", keys).has_value());
}

TEST_CASE("membership.minority_grace_ms and minority_end_wait_ms take \"auto\" or milliseconds, quoted or not") {
  TempDir dir;
  const std::string path = dir.Write("cfg.toml", "[membership]\nminority_grace_ms = 20000\nminority_end_wait_ms = \"0\"\n"
                                                 "minority = \"stop\"\n" + std::string(kTwoPeers));
  auto cfg = LoadConfig(path, "p0", {});
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().message());
  CHECK(cfg->membership.minority_grace_ms == "20000");
  CHECK(cfg->membership.minority_end_wait_ms == "0");
  CHECK(cfg->membership.minority == meshtrain::MinorityPolicy::kStop);
  auto defaults = LoadConfig(dir.Write("plain.toml", kTwoPeers), "p0", {"membership.minority_grace_ms=1500"});
  REQUIRE_MESSAGE(defaults.ok(), defaults.status().message());
  CHECK(defaults->membership.minority_grace_ms == "1500");
  CHECK(defaults->membership.minority_end_wait_ms == "auto");
  CHECK(defaults->membership.minority == meshtrain::MinorityPolicy::kTrain);
  CHECK_CONTAINS(ErrorFor("[membership]\nminority_grace_ms = \"soon\"\n"),
                 "membership.minority_grace_ms: must be \"auto\" or a number of milliseconds (0 = none)");
  CHECK_CONTAINS(ErrorFor("[membership]\nminority_grace_ms = -5\n"), "membership.minority_grace_ms: expects a string");
  CHECK_CONTAINS(ErrorFor("[membership]\nminority = \"wait\"\n"), "membership.minority");
  CHECK_CONTAINS(ErrorFor("[membership]\nminority_grace = 5000\n"), "minority_grace_ms");  // did you mean
}
