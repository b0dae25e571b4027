// A peer whose config differs from the cluster's in a key every peer must share
// (docs/agreement.md) is refused when it joins, told which key and both values,
// and exits 2; the others train on and end equal.
#include <doctest/doctest.h>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::string kFashionSoftmax = std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_softmax.toml";

const std::vector<std::string> kSmall = {"--set", "data.train_limit=3000", "--set", "data.test_limit=500",
                                         "--set", "train.max_steps=60", "--set", "train.log_every=10",
                                         "--set", "optim.warmup_steps=5"};

struct Case {
  std::string set;     // the odd peer's --set
  std::string needle;  // what its refusal must say
};

}  // namespace

TEST_CASE("a peer with another lr, momentum, codec or step count is refused at join; the others train on") {
  const std::vector<Case> cases = {
      {"optim.lr=0.5", "optim.lr = 0.5 here, 0.1 in the cluster (p0, p1)"},
      {"optim.momentum=0.5", "optim.momentum = 0.5 here, 0.9 in the cluster (p0, p1)"},
      {"sync.compression=fp16", "sync.compression = fp16 here, none in the cluster (p0, p1)"},
      {"train.max_steps=70", "train.max_steps = 70 here, 60 in the cluster (p0, p1)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.set);
    TempDir dir;
    const std::string softmax = ReadFile(kFashionSoftmax);
    const std::string config = WriteClusterConfig(dir, 3, softmax.substr(softmax.find("[data]")));
    std::vector<PeerRun> peers;
    for (int i = 0; i < 3; ++i) {
      std::vector<std::string> args = kSmall;
      if (i == 2) args.insert(args.end(), {"--set", c.set});
      peers.push_back(StartPeer(dir, config, "p" + std::to_string(i), args));
    }
    PeerRun& odd = peers[2];
    CHECK_MESSAGE(FinishPeer(odd, 120s) == 2, odd.log());
    CHECK_MESSAGE(odd.log().find(c.needle) != std::string::npos, odd.log());
    CHECK_MESSAGE(odd.metrics().find("\"event\":\"done\"") == std::string::npos, "the refused peer trained");
    for (int i = 0; i < 2; ++i) {
      CHECK_MESSAGE(FinishPeer(peers[i], 120s) == 0, peers[i].log());
      CHECK_MESSAGE(LastMetric(peers[i].metrics(), "step") == 60, peers[i].metrics());
    }
    auto a = LoadNewestCheckpoint(peers[0].checkpoints(), nullptr);
    auto b = LoadNewestCheckpoint(peers[1].checkpoints(), nullptr);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->header.step == 60);
    CHECK_MESSAGE(a->params == b->params, "p0 and p1 ended with different replicas");
  }
}
