// [security] mode = "curve" end to end (docs/security.md): `meshtrain keygen`
// and its file modes, a secret key others can read refused at start, and a
// 3-peer CURVE ring that trains to exactly the parameters of a clean CURVE run
// while outsiders (unknown key, plaintext, a valid key with an id outside the
// cluster) hammer one of the peers. Real processes on 127.0.0.1.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <thread>

#include <zmq.hpp>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

#define CHECK_CONTAINS(text, part) CHECK_MESSAGE((text).find(part) != std::string::npos, (text))

const std::string kBody = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 1500
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
epochs = 2
batch_size = 32
seed = 11
max_steps = 30

[sync]
mode = "ring"
timeout_ms = 20000
start_timeout_ms = 30000
)";

struct Keygen {
  int code = -1;
  std::string out;  // stdout and stderr together
};

Keygen RunKeygen(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {MESHTRAIN_BINARY, "keygen"};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess child(argv, dir.File("keygen.log"));
  Keygen k;
  k.code = child.Wait(30s).value_or(-1);
  k.out = ReadFile(dir.File("keygen.log"));
  return k;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// The key on the first non-comment line of a key file.
std::string KeyIn(const std::string& path) {
  std::istringstream lines(ReadFile(path));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] != '#') return line.substr(0, 40);
  }
  return "";
}

// Key pairs for p0..p{n-1} under <dir>/keys, and the [security] section that uses them.
std::string CurveSection(const TempDir& dir, int n, const std::string& extra_key = "") {
  std::string cluster_keys;
  for (int i = 0; i < n; ++i) {
    const std::string id = "p" + std::to_string(i);
    Keygen k = RunKeygen(dir, {"--out", dir.File("keys"), "--name", id});
    REQUIRE_MESSAGE(k.code == 0, k.out);
    cluster_keys += ReadFile(dir.File("keys/" + id + ".pub"));
  }
  dir.Write("keys/cluster.pub", cluster_keys);
  std::string section = "\n[security]\nmode = \"curve\"\nsecret_key_file = \"" + dir.File("keys/{id}.key") +
                        "\"\npublic_key_file = \"" + dir.File("keys/{id}.pub") + "\"\nauthorized_keys = [\"" +
                        dir.File("keys/cluster.pub") + "\"";
  if (!extra_key.empty()) section += ", \"" + extra_key + "\"";
  return section + "]\n";
}

std::vector<float> FinalParams(PeerRun& p) {
  auto c = LoadNewestCheckpoint(p.checkpoints(), nullptr);
  REQUIRE_MESSAGE(c.ok(), p.id << ": " << c.status().ToString());
  return c->params;
}

std::vector<std::vector<float>> TrainCluster(const TempDir& dir, const std::string& config, int n,
                                             const std::string& run_name, std::vector<PeerRun>* out = nullptr) {
  std::vector<PeerRun> peers;
  for (int i = 0; i < n; ++i) {
    const std::string id = "p" + std::to_string(i);
    // A little delay per step keeps the run going while the outsiders try.
    peers.push_back(StartPeer(dir, config, id, {"--set", "debug.step_delay_ms=30"}, run_name + "-" + id));
  }
  std::vector<std::vector<float>> params;
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 180s) == 0, p.id << ":\n" << p.log());
  for (auto& p : peers) params.push_back(FinalParams(p));
  if (out != nullptr) *out = std::move(peers);
  return params;
}

// Outsiders hammering `endpoint` from this process until stopped: a CURVE
// client with an unknown key, a plaintext client, and one with an authorized
// key that claims an id outside the cluster. Each connects over and over.
class Hammer {
 public:
  Hammer(const std::string& endpoint, const std::string& server_key, const std::string& member_public,
         const std::string& member_secret)
      : thread_([=, this] { Run(endpoint, server_key, member_public, member_secret); }) {}
  ~Hammer() {
    stop_ = true;
    thread_.join();
  }
  uint64_t sent() const { return sent_.load(); }

 private:
  void Run(const std::string& endpoint, const std::string& server_key, const std::string& member_public,
           const std::string& member_secret) {
    zmq::context_t context(1);
    std::array<char, 41> pub{}, sec{};
    zmq_curve_keypair(pub.data(), sec.data());
    while (!stop_) {
      // Fresh sockets each time: every attempt is a new handshake.
      zmq::socket_t unknown(context, zmq::socket_type::dealer), plain(context, zmq::socket_type::dealer),
          outsider(context, zmq::socket_type::dealer);
      for (zmq::socket_t* s : {&unknown, &plain, &outsider}) s->set(zmq::sockopt::linger, 0);
      unknown.set(zmq::sockopt::routing_id, "p1");
      unknown.set(zmq::sockopt::curve_serverkey, server_key);
      unknown.set(zmq::sockopt::curve_publickey, pub.data());
      unknown.set(zmq::sockopt::curve_secretkey, sec.data());
      plain.set(zmq::sockopt::routing_id, "p1");
      outsider.set(zmq::sockopt::routing_id, "mallory");
      outsider.set(zmq::sockopt::curve_serverkey, server_key);
      outsider.set(zmq::sockopt::curve_publickey, member_public);
      outsider.set(zmq::sockopt::curve_secretkey, member_secret);
      for (zmq::socket_t* s : {&unknown, &plain, &outsider}) s->connect(endpoint);
      for (int i = 0; i < 20 && !stop_; ++i) {
        for (zmq::socket_t* s : {&unknown, &plain, &outsider}) {
          if (s->send(zmq::buffer(std::string("forged")), zmq::send_flags::dontwait)) sent_.fetch_add(1);
        }
        std::this_thread::sleep_for(10ms);
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

std::string EndpointOf(const std::string& config, const std::string& id) {
  const std::string text = ReadFile(config);
  const size_t at = text.find("id = \"" + id + "\"");
  const size_t start = text.find("tcp://", at);
  return text.substr(start, text.find('"', start) - start);
}

}  // namespace

TEST_CASE("keygen writes a 0600 secret key and a public key bound to the name, and never overwrites") {
  TempDir dir;
  const std::string keys = dir.File("keys");
  Keygen k = RunKeygen(dir, {"--out", keys, "--name", "p0"});
  REQUIRE_MESSAGE(k.code == 0, k.out);
  CHECK(ModeOf(keys + "/p0.key") == 0600);
  CHECK(ModeOf(keys + "/p0.pub") == 0644);
  CHECK(ModeOf(keys) == 0700);  // created by keygen
  const std::string pub = KeyIn(keys + "/p0.pub");
  const std::string sec = KeyIn(keys + "/p0.key");
  REQUIRE(pub.size() == 40);
  REQUIRE(sec.size() == 40);
  CHECK_CONTAINS(k.out, pub);                                   // printed
  CHECK_CONTAINS(ReadFile(keys + "/p0.pub"), pub + " p0\n");    // bound to the name
  std::array<char, 41> derived{};
  REQUIRE(zmq_curve_public(derived.data(), sec.c_str()) == 0);
  CHECK(std::string(derived.data()) == pub);                    // a real pair

  Keygen again = RunKeygen(dir, {"--out", keys, "--name", "p0"});
  CHECK(again.code == 1);
  CHECK_CONTAINS(again.out, "already exists");
  CHECK(KeyIn(keys + "/p0.key") == sec);  // untouched

  CHECK(RunKeygen(dir, {"--out", keys, "--name", "bad/name"}).code == 2);
  CHECK(RunKeygen(dir, {"--name", "p1"}).code == 2);  // --out is required
}

TEST_CASE("a curve peer refuses to start with a secret key others can read, or a missing key file") {
  TempDir dir;
  std::string config = WriteClusterConfig(dir, 2, kBody + CurveSection(dir, 2));
  REQUIRE(::chmod(dir.File("keys/p0.key").c_str(), 0644) == 0);
  PeerRun p0 = StartPeer(dir, config, "p0");
  CHECK(FinishPeer(p0, 60s) == 2);
  CHECK_CONTAINS(p0.log(), dir.File("keys/p0.key"));
  CHECK_CONTAINS(p0.log(), "chmod 600 " + dir.File("keys/p0.key"));

  REQUIRE(::chmod(dir.File("keys/p0.key").c_str(), 0600) == 0);
  const std::string no_file = dir.File("keys/missing-cluster-keys.pub");
  PeerRun missing = StartPeer(dir, config, "p0", {"--set", "security.authorized_keys=" + no_file}, "missing");
  CHECK(FinishPeer(missing, 60s) == 2);
  CHECK_CONTAINS(missing.log(), "security.authorized_keys[0]");
  CHECK_CONTAINS(missing.log(), "no such file");
}

TEST_CASE("3 curve peers train to the same parameters with outsiders hammering p0, and let none in") {
  TempDir dir;
  // An authorized key that is not bound to any id: it may speak only for cluster ids.
  Keygen member = RunKeygen(dir, {"--out", dir.File("outsider"), "--name", "member"});
  REQUIRE_MESSAGE(member.code == 0, member.out);
  const std::string member_public = KeyIn(dir.File("outsider/member.pub"));
  const std::string member_secret = KeyIn(dir.File("outsider/member.key"));
  const std::string config = WriteClusterConfig(dir, 3, kBody + CurveSection(dir, 3, member_public));

  const std::vector<std::vector<float>> clean = TrainCluster(dir, config, 3, "clean");
  for (const auto& p : clean) CHECK(p == clean[0]);

  std::vector<PeerRun> attacked_peers;
  std::vector<std::vector<float>> attacked;
  uint64_t forged = 0;
  {
    Hammer hammer(EndpointOf(config, "p0"), KeyIn(dir.File("keys/p0.pub")), member_public, member_secret);
    attacked = TrainCluster(dir, config, 3, "attacked", &attacked_peers);
    forged = hammer.sent();
  }
  MESSAGE("outsiders queued " << forged << " messages for p0");
  REQUIRE(attacked.size() == clean.size());
  for (size_t k = 0; k < attacked.size(); ++k) {
    REQUIRE(attacked[k].size() == clean[k].size());
    float worst = 0;
    for (size_t i = 0; i < clean[k].size(); ++i) worst = std::max(worst, std::abs(attacked[k][i] - clean[k][i]));
    CHECK_MESSAGE(worst == 0.0f, "peer p" << k << " differs from the clean run by " << worst);
  }

  // Refused at the door, each kind reported; nothing reached the trainer (no rejected message).
  const std::string log = attacked_peers[0].log();
  CHECK_CONTAINS(log, "key not in security.authorized_keys");
  CHECK_CONTAINS(log, "does not speak CURVE");
  CHECK_CONTAINS(log, "claiming peer id 'mallory'");
  CHECK(LastMetric(attacked_peers[0].metrics(), "rejected_msgs") == 0);
  CHECK(log.find("dropped a message") == std::string::npos);
  // The refusals are counted in the metrics' "rejected" object of the done line.
  const std::string metrics = attacked_peers[0].metrics();
  const size_t at = metrics.rfind("\"auth_refused\":");
  REQUIRE_MESSAGE(at != std::string::npos, metrics);
  const double refused = std::strtod(metrics.c_str() + at + std::string("\"auth_refused\":").size(), nullptr);
  MESSAGE("p0 refused " << refused << " outsider connections or messages");
  CHECK(refused >= 3);
}
