// Runs real meshtrain peers for integration tests: writes a cluster config with
// OS-chosen loopback ports into a temp dir, starts peers, reads their results.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"

namespace meshtrain::testing {

// `body` is the TOML after the peer list ([data], [model], ...).
inline std::string WriteClusterConfig(const TempDir& dir, int n_peers, const std::string& body,
                                      const std::string& name = "cluster.toml") {
  std::ostringstream toml;
  for (int i = 0; i < n_peers; ++i) {
    toml << "[[cluster.peers]]\nid = \"p" << i << "\"\nendpoint = \"tcp://127.0.0.1:" << FreeLoopbackPort()
         << "\"\n\n";
  }
  toml << body << "\n";
  return dir.Write(name, toml.str());
}

struct PeerRun {
  std::string id;
  std::string dir;  // <tmp>/runs/<id>
  std::unique_ptr<ChildProcess> process;
  std::string log() const { return ReadFile(dir + "/log.txt"); }
  std::string metrics() const { return ReadFile(dir + "/metrics.jsonl"); }
  std::string checkpoints() const { return dir + "/checkpoints"; }
};

// Starts `meshtrain run` for peer `id` with its run files under <tmp>/runs/<name>
// (name defaults to the id; two runs of the same peer need two names).
inline PeerRun StartPeer(const TempDir& dir, const std::string& config, const std::string& id,
                         std::vector<std::string> extra = {}, const std::string& name = "") {
  PeerRun run;
  run.id = id;
  run.dir = dir.File("runs/" + (name.empty() ? id : name));
  std::filesystem::create_directories(run.dir);
  std::vector<std::string> argv = {MESHTRAIN_BINARY, "run", "--config", config, "--id", id,
                                   "--set", "log.metrics=" + run.dir + "/metrics.jsonl",
                                   "--set", "checkpoint.dir=" + run.dir + "/checkpoints",
                                   "--set", "log.progress=line"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  run.process = std::make_unique<ChildProcess>(argv, run.dir + "/log.txt");
  return run;
}

// Waits for the peer to exit and returns its exit code; fails the test (with
// the peer's log) if it is still running after `timeout`.
inline int FinishPeer(PeerRun& run, std::chrono::milliseconds timeout) {
  auto code = run.process->Wait(timeout);
  if (!code) {
    FAIL_CHECK("peer " << run.id << " still running after " << timeout.count() << " ms; log:\n" << run.log());
    run.process->Signal(SIGKILL);
    return run.process->Wait(std::chrono::seconds(10)).value_or(-1);
  }
  return *code;
}

// The value of "key" in the last metrics line that has it, or -1.
inline double LastMetric(const std::string& metrics, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  size_t pos = metrics.rfind(needle);
  if (pos == std::string::npos) return -1;
  return std::strtod(metrics.c_str() + pos + needle.size(), nullptr);
}

}  // namespace meshtrain::testing
