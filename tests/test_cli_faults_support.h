// Helpers for the fault tests (tests/test_cli_faults*.cpp): a ring cluster of
// real peer processes on loopback, and what their metrics files say (events,
// views, steps, accuracy). Every assertion reads the metrics and checkpoints,
// never a sleep-and-hope.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

namespace meshtrain::testing {

// Fashion-MNIST, a small MLP, cosine schedule (so the final accuracy settles
// and one run compares with another), default membership timings. The whole
// test set: on 2,000 images a kill cost 0.25-0.55 points against the fault-free
// run (a flake against the 1-point bound); on 10,000 it costs 0.17-0.21.
inline const std::string kFaultBody = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 12000
test_limit = 10000
shard = "strided"

[model]
type = "mlp"
hidden = [32]

[optim]
type = "sgd"
lr = 0.1
momentum = 0.9
schedule = "cosine"

[train]
epochs = 8
batch_size = 32
seed = 5
log_every = 5

[sync]
mode = "ring"
timeout_ms = 20000
start_timeout_ms = 30000

[debug]
step_delay_ms = 5
)";

// One metrics line of an event, with the fields the tests look at.
struct EventLine {
  std::string line;
  double t = 0;
  int64_t step = 0;
  std::string about;
  std::vector<std::string> view;
};

inline std::string JsonString(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return {};
  const size_t begin = at + needle.size();
  return line.substr(begin, line.find('"', begin) - begin);
}

inline double JsonNumber(const std::string& line, const std::string& key, double fallback = -1) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return fallback;
  return std::strtod(line.c_str() + at + needle.size(), nullptr);
}

inline std::vector<std::string> JsonStrings(const std::string& line, const std::string& key) {
  std::vector<std::string> out;
  const std::string needle = "\"" + key + "\":[";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return out;
  const size_t end = line.find(']', at);
  size_t pos = at + needle.size();
  while (pos < end) {
    const size_t open = line.find('"', pos);
    if (open == std::string::npos || open > end) break;
    const size_t close = line.find('"', open + 1);
    out.push_back(line.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
  return out;
}

// Every `name` event of a metrics file, oldest first.
inline std::vector<EventLine> Events(const std::string& metrics, const std::string& name) {
  std::vector<EventLine> out;
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (JsonString(line, "event") != name) continue;
    EventLine e;
    e.line = line;
    e.t = JsonNumber(line, "t");
    e.step = static_cast<int64_t>(JsonNumber(line, "step"));
    e.about = JsonString(line, "about");
    e.view = JsonStrings(line, "view");
    out.push_back(std::move(e));
  }
  return out;
}

inline bool HasEvent(const std::string& metrics, const std::string& name, const std::string& about = "") {
  for (const EventLine& e : Events(metrics, name)) {
    if (about.empty() || e.about == about) return true;
  }
  return false;
}

// The first of `events` at or after unix time `t`, or nullptr (points into `events`: keep it alive).
inline const EventLine* FirstAfter(const std::vector<EventLine>& events, double t) {
  for (const EventLine& e : events) {
    if (e.t >= t) return &e;
  }
  return nullptr;
}

// The highest step a peer's metrics mention so far.
inline int64_t StepOf(const PeerRun& run) {
  const double step = LastMetric(run.metrics(), "step");
  return step < 0 ? 0 : static_cast<int64_t>(step);
}

inline double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::vector<PeerRun> StartPeers(const TempDir& dir, const std::string& config, const std::vector<int>& ids,
                                       const std::vector<std::string>& extra = {}, const std::string& tag = "") {
  std::vector<PeerRun> peers;
  for (int i : ids) {
    std::string id = "p";
    id.append(std::to_string(i));
    peers.push_back(StartPeer(dir, config, id, extra, tag.empty() ? id : tag + "-" + id));
  }
  return peers;
}

inline Checkpoint FinalState(const PeerRun& run) {
  auto c = LoadNewestCheckpoint(run.checkpoints(), nullptr);
  REQUIRE_MESSAGE(c.ok(), run.id << ": " << c.status().ToString());
  return c.value();
}

// Every run ends at the same step with bit-identical parameters and optimizer state.
inline void CheckAllEqual(const std::vector<const PeerRun*>& runs) {
  REQUIRE(!runs.empty());
  const Checkpoint first = FinalState(*runs[0]);
  for (size_t k = 1; k < runs.size(); ++k) {
    const Checkpoint other = FinalState(*runs[k]);
    CHECK_MESSAGE(other.header.step == first.header.step, runs[k]->id << " ended at step " << other.header.step
                                                                     << ", " << runs[0]->id << " at "
                                                                     << first.header.step);
    CHECK_MESSAGE(other.params == first.params, runs[k]->id << " ends with other parameters than " << runs[0]->id);
    CHECK_MESSAGE(other.optimizer_state == first.optimizer_state,
                  runs[k]->id << " ends with another optimizer state than " << runs[0]->id);
  }
}

inline double FinalAccuracy(const PeerRun& run) {
  for (const EventLine& e : Events(run.metrics(), "done")) return JsonNumber(e.line, "test_acc");
  return -1;
}

// Waits until `pred` holds, polling every 5 ms; fails the test on timeout.
template <typename Pred>
void AwaitOrFail(std::chrono::milliseconds timeout, const std::string& what, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) FAIL("timed out waiting for " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace meshtrain::testing
