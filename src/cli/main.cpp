// meshtrain: one peer of a serverless training cluster.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <atomic>

#include "cli/command_line.h"
#include "cli/keygen.h"
#include "cli/prometheus_exporter.h"
#include "cli/run_report.h"
#include "meshtrain/checkpoint.h"
#include "meshtrain/config.h"
#include "meshtrain/trainer.h"
#include "meshtrain/transport.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitMinority = 3;  // finished in a minority view (docs/faults.md, "How a peer's run ends")

std::atomic<bool> g_stop{false};
std::atomic<int> g_stop_signal{0};

// First SIGINT/SIGTERM: finish the step, checkpoint, say goodbye. A second one
// falls through to the default action, so a stuck peer can still be stopped.
void OnStopSignal(int sig) {
  g_stop_signal.store(sig);
  g_stop.store(true);
  std::signal(sig, SIG_DFL);
}

// A stop we were asked for exits 128 + signal, the shell's convention for "ended
// by that signal", so scripts can tell it from a failure (1) and systemd units can
// list it under SuccessExitStatus (deploy/meshtrain@.service).
int StoppedBySignalExitCode() { return 128 + g_stop_signal.load(); }

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "meshtrain: %s\n", message.c_str());
  return code;
}

int ExitCodeFor(const meshtrain::Status& st) {
  return st.code() == meshtrain::Status::Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

// eval and inspect: a path that is missing, a directory or not a checkpoint at
// all is the user's mistake (2); a checkpoint that is damaged is a failure (1).
int CheckpointExitCode(const meshtrain::Status& st) {
  return st.code() == meshtrain::Status::Code::kNotFound ? kExitUsage : ExitCodeFor(st);
}

int Inspect(const std::string& path) {
  auto header = meshtrain::ReadCheckpointHeader(path);
  if (!header.ok()) return Fail(CheckpointExitCode(header.status()), header.status().message());
  const auto& h = header.value();
  std::printf("checkpoint  %s\nformat      %u\npeer        %s\nstep        %lld\nepoch       %lld\n"
              "model       %s\nparams      %llu\noptimizer   %llu values\nseed        %llu\nconfig_hash %016llx\n",
              path.c_str(), h.format_version, h.peer_id.c_str(), static_cast<long long>(h.step),
              static_cast<long long>(h.epoch), h.model.c_str(), static_cast<unsigned long long>(h.n_params),
              static_cast<unsigned long long>(h.n_optimizer_state), static_cast<unsigned long long>(h.seed),
              static_cast<unsigned long long>(h.config_hash));
  if (h.layers.empty()) {
    std::printf("layers      (not recorded: format version 1)\n");
  } else {
    for (size_t i = 0; i < h.layers.size(); ++i) std::printf("%s%s\n", i == 0 ? "layers      " : "            ", h.layers[i].c_str());
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  meshtrain::TuneAllocatorForMessages();
  std::signal(SIGPIPE, SIG_IGN);
  auto cmd = meshtrain::ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
  if (!cmd.ok()) {
    std::fprintf(stderr, "meshtrain: %s\n%s", cmd.status().message().c_str(), meshtrain::UsageText().c_str());
    return kExitUsage;
  }
  if (cmd->verb == "help") {
    std::printf("%s", meshtrain::UsageText().c_str());
    return kExitOk;
  }
  if (cmd->help) {
    std::printf("%s", meshtrain::CommandUsageText(cmd->verb).c_str());
    return kExitOk;
  }
  if (cmd->verb == "version") {
    std::printf("meshtrain 0.1.0\n");
    return kExitOk;
  }
  if (cmd->verb == "inspect") return Inspect(cmd->checkpoint_path);
  if (cmd->verb == "report") return meshtrain::ReportCommand(cmd->run_dir);
  if (cmd->verb == "watch") return meshtrain::WatchCommand(cmd->run_dir, cmd->watch_pid, cmd->watch_http);
  if (cmd->verb == "keygen") return meshtrain::KeygenCommand(cmd->keygen_dir, cmd->keygen_name);

  const std::string id = (cmd->verb == "peers" && cmd->id.empty()) ? meshtrain::kAnyPeerId : cmd->id;
  auto cfg = meshtrain::LoadConfig(cmd->config_path, id, cmd->overrides);
  if (!cfg.ok()) return Fail(kExitUsage, cfg.status().message());

  if (cmd->verb == "peers") {
    for (const auto& peer : cfg->cluster.peers) std::printf("%s %s\n", peer.id.c_str(), peer.endpoint.c_str());
    return kExitOk;
  }
  if (cmd->verb == "eval") {
    auto result = meshtrain::EvaluateCheckpoint(*cfg, cmd->checkpoint_path);
    if (!result.ok()) return Fail(CheckpointExitCode(result.status()), result.status().message());
    std::printf("{\"checkpoint\":\"%s\",\"step\":%lld,\"test_loss\":%.6f,\"test_acc\":%.6f}\n",
                cmd->checkpoint_path.c_str(), static_cast<long long>(result->steps), result->test_loss,
                result->test_acc);
    return kExitOk;
  }

  // A bad or exposed key file is a config error, reported before any data is loaded.
  if (cfg->security.mode == meshtrain::SecurityMode::kCurve) {
    std::vector<std::string> ids;
    for (const auto& peer : cfg->cluster.peers) ids.push_back(peer.id);
    auto security = meshtrain::LoadTransportSecurity(cfg->security, ids);
    if (!security.ok()) return Fail(kExitUsage, "peer " + cfg->self_id + ": " + security.status().message());
  }

  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  // log.prometheus listens before the data loads, and outlives the trainer that feeds it.
  std::unique_ptr<meshtrain::PrometheusExporter> exporter;
  if (!cfg->log.prometheus.empty()) {
    auto started = meshtrain::PrometheusExporter::Start(cfg->self_id, cfg->log.prometheus);
    if (!started.ok()) {
      return Fail(ExitCodeFor(started.status()), "peer " + cfg->self_id + ": log.prometheus: " + started.status().message());
    }
    exporter = std::move(started.value());
  }
  auto trainer =
      meshtrain::Trainer::Create(*cfg, cmd->resume, exporter ? exporter->Observer() : meshtrain::MetricsObserver{});
  if (!trainer.ok()) return Fail(ExitCodeFor(trainer.status()), trainer.status().message());
  meshtrain::Status st = trainer.value()->Run(&g_stop);
  if (!st.ok() && st.code() == meshtrain::Status::Code::kAborted && g_stop_signal.load() != 0) {
    return Fail(StoppedBySignalExitCode(), "peer " + cfg->self_id + ": " + st.message());
  }
  // A config the cluster refused (keys that differ, docs/agreement.md) is a config error too.
  if (!st.ok()) return Fail(ExitCodeFor(st), "peer " + cfg->self_id + ": " + st.message());
  if (const meshtrain::TrainOutcome out = trainer.value()->outcome(); out.minority) {
    return Fail(kExitMinority, "peer " + cfg->self_id + ": " + out.minority_detail);
  }
  return kExitOk;
}
