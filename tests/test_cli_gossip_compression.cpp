// Compressed gossip (docs/gossip.md, "Compression"; docs/compression.md):
// eight synchronous gossip peers send each round the int8 or topk encoding of
// the change of their public copy (CHOCO-SGD) instead of f32 parameters. They
// reach the accuracy of f32 gossip, and the transport's byte counters in the
// metrics drop by the codec's factor.
#include <doctest/doctest.h>

#include <sstream>

#include "test_cli_faults_support.h"
#include "test_cli_gossip_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

// Bytes p0 had sent by step 300 (of 320: before the f32 final rounds).
constexpr int64_t kByteStep = 300;

struct GossipRun {
  double test_acc = -1;
  double bytes = -1;
  double compressed_rounds = -1;
  double consensus = -1;
};

GossipRun RunGossip(const TempDir& dir, const std::string& config, const std::string& tag,
                    const std::vector<std::string>& extra) {
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2, 3, 4, 5, 6, 7}, extra, tag);
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 240s) == 0, p.id << ":\n" << p.log());
  GossipRun out;
  const std::string metrics = peers[0].metrics();
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (JsonNumber(line, "step") == kByteStep && line.find("\"bytes_sent\":") != std::string::npos) {
      out.bytes = JsonNumber(line, "bytes_sent");
    }
  }
  const std::vector<EventLine> done = Events(metrics, "done");
  REQUIRE(done.size() == 1);
  out.test_acc = JsonNumber(done[0].line, "test_acc");
  out.compressed_rounds = JsonNumber(done[0].line, "compressed_rounds");
  out.consensus = JsonNumber(done[0].line, "consensus");
  for (auto& p : peers) CHECK(FinalAccuracy(p) == doctest::Approx(out.test_acc).epsilon(0.002));  // agreed
  return out;
}

}  // namespace

TEST_CASE("gossip with int8 and topk 10% matches f32 gossip at a quarter and a fifth of the bytes") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 8, kGossipBody);
  const GossipRun f32 = RunGossip(dir, config, "f32", {});
  REQUIRE(f32.bytes > 0);
  CHECK(f32.compressed_rounds == 0);

  const GossipRun int8 = RunGossip(dir, config, "int8", {"--set", "sync.compression=int8"});
  const GossipRun topk =
      RunGossip(dir, config, "topk", {"--set", "sync.compression=topk", "--set", "sync.topk_ratio=0.1"});
  const double int8_ratio = int8.bytes / f32.bytes, topk_ratio = topk.bytes / f32.bytes;
  MESSAGE("f32: test_acc " << f32.test_acc << ", " << f32.bytes << " bytes by step " << kByteStep);
  MESSAGE("int8: test_acc " << int8.test_acc << ", bytes x " << int8_ratio << ", " << int8.compressed_rounds
                            << " compressed rounds");
  MESSAGE("topk 10%: test_acc " << topk.test_acc << ", bytes x " << topk_ratio << ", " << topk.compressed_rounds
                                << " compressed rounds");
  // Every round but the first of the view (f32, it sets the public copies).
  CHECK(int8.compressed_rounds >= kByteStep);
  CHECK(topk.compressed_rounds >= kByteStep);
  // int8: 1 byte a parameter plus a scale; topk: 8 bytes (index, value) for 10%
  // of them. Headers, heartbeats and the first f32 round add a little.
  CHECK(int8_ratio >= 0.24);
  CHECK(int8_ratio <= 0.28);
  CHECK(topk_ratio >= 0.19);
  CHECK(topk_ratio <= 0.23);
  CHECK(std::abs(int8.test_acc - f32.test_acc) <= 0.01);
  CHECK(std::abs(topk.test_acc - f32.test_acc) <= 0.015);
  // The final rounds travel in f32 and still agree.
  CHECK(int8.consensus < 1e-4);
  CHECK(topk.consensus < 1e-4);
}
