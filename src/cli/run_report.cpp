#include "cli/run_report.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/json_fields.h"

namespace meshtrain {
namespace fs = std::filesystem;

void RunDirectory::Refresh() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const fs::path metrics = entry.path() / "metrics.jsonl";
    if (!entry.is_directory(ec) || !fs::exists(metrics, ec)) continue;
    const std::string id = entry.path().filename().string();
    auto it = std::find_if(peers_.begin(), peers_.end(), [&](const PeerRunState& p) { return p.id == id; });
    if (it == peers_.end()) {
      peers_.push_back(PeerRunState{});
      peers_.back().id = id;
      peers_.back().metrics_path = metrics.string();
      std::sort(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    }
  }
  for (PeerRunState& peer : peers_) {
    std::ifstream in(peer.metrics_path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(peer.read_offset));
    std::string line;
    // Only whole lines: a peer may be writing the last one right now.
    while (std::getline(in, line) && !in.eof()) {
      peer.read_offset += line.size() + 1;
      Apply(&peer, line);
    }
  }
}

void RunDirectory::Apply(PeerRunState* peer, const std::string& line) {
  auto fields = ParseJsonFields(line);
  if (!fields) return;
  auto run = fields->find("run");
  if (run != fields->end() && run->second != peer->run) {
    if (!peer->run.empty()) {
      PeerRunState fresh;
      fresh.id = peer->id;
      fresh.metrics_path = peer->metrics_path;
      fresh.read_offset = peer->read_offset;
      fresh.earlier_runs = peer->earlier_runs + 1;
      *peer = std::move(fresh);
    }
    peer->run = run->second;
  }
  peer->step = static_cast<int64_t>(NumberField(*fields, "step", static_cast<double>(peer->step)));
  peer->epoch = static_cast<int64_t>(NumberField(*fields, "epoch", static_cast<double>(peer->epoch)));
  peer->loss = NumberField(*fields, "loss", peer->loss);
  peer->test_acc = NumberField(*fields, "test_acc", peer->test_acc);
  peer->samples_per_s = NumberField(*fields, "samples_per_s", peer->samples_per_s);
  peer->bytes_sent = NumberField(*fields, "bytes_sent", peer->bytes_sent);
  peer->bytes_recv = NumberField(*fields, "bytes_recv", peer->bytes_recv);
  peer->comm_s = NumberField(*fields, "comm_s", peer->comm_s);
  peer->compute_s = NumberField(*fields, "compute_s", peer->compute_s);
  auto event = fields->find("event");
  if (event == fields->end()) return;
  if (event->second != "checkpoint") peer->last_event = event->second;
  if (event->second == "done") {
    peer->done = true;
    auto waits = fields->find("wait_s_by_peer");
    if (waits != fields->end()) {
      if (auto w = ParseJsonFields(waits->second)) {
        for (const auto& [id, raw] : *w) peer->wait_s_by_peer[id] = NumberField(*w, id, 0);
      }
    }
  }
}

namespace {

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string Accuracy(double acc) {
  if (acc < 0) return "-";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.4f", acc);
  return buf;
}

}  // namespace

std::string FormatRunReport(const std::vector<PeerRunState>& peers) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-8s %-9s %8s %10s %10s %9s %9s %6s  %s\n", "peer", "test_acc", "steps", "sent",
                "received", "compute", "comm", "comm%", "state");
  out += buf;
  std::map<std::string, double> waited_for;
  for (const auto& p : peers) {
    const double total = p.compute_s + p.comm_s;
    std::snprintf(buf, sizeof(buf), "%-8s %-9s %8lld %10s %10s %8.1fs %8.1fs %5.0f%%  %s\n", p.id.c_str(),
                  Accuracy(p.test_acc).c_str(), static_cast<long long>(p.step), HumanBytes(p.bytes_sent).c_str(),
                  HumanBytes(p.bytes_recv).c_str(), p.compute_s, p.comm_s, total > 0 ? 100 * p.comm_s / total : 0.0,
                  p.done ? "done" : (p.last_event.empty() ? "running/stopped" : p.last_event.c_str()));
    out += buf;
    for (const auto& [id, s] : p.wait_s_by_peer) waited_for[id] += s;
  }
  // In a synchronous ring every peer waits for the slowest one; it is the peer
  // whose own waiting is shortest, because the others' data is always ready for it.
  if (peers.size() > 1) {
    const PeerRunState* slowest = nullptr;
    for (const auto& p : peers) {
      if (!slowest || p.compute_s - p.comm_s > slowest->compute_s - slowest->comm_s) slowest = &p;
    }
    std::snprintf(buf, sizeof(buf), "straggler: %s (most compute, least waiting: %.1fs compute, %.1fs comm)\n",
                  slowest->id.c_str(), slowest->compute_s, slowest->comm_s);
    out += buf;
  }
  for (const auto& p : peers) {
    if (p.earlier_runs == 0) continue;
    std::snprintf(buf, sizeof(buf), "%s: latest run %s shown; %d earlier run(s) in %s\n", p.id.c_str(),
                  p.run.c_str(), p.earlier_runs, p.metrics_path.c_str());
    out += buf;
  }
  if (!waited_for.empty()) {
    auto most = std::max_element(waited_for.begin(), waited_for.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    std::snprintf(buf, sizeof(buf), "longest waits were on messages from: %s (%.1fs in total)\n", most->first.c_str(),
                  most->second);
    out += buf;
  }
  return out;
}

std::string FormatLiveView(const std::vector<PeerRunState>& peers) {
  std::string out;
  char buf[256];
  for (const auto& p : peers) {
    const double total = p.compute_s + p.comm_s;
    std::snprintf(buf, sizeof(buf), "%-6s step %7lld  epoch %3lld  loss %.4f  test_acc %-7s %7.0f samples/s  comm %3.0f%%  %s\n",
                  p.id.c_str(), static_cast<long long>(p.step), static_cast<long long>(p.epoch), p.loss,
                  Accuracy(p.test_acc).c_str(), p.samples_per_s, total > 0 ? 100 * p.comm_s / total : 0.0,
                  p.done ? "done" : p.last_event.c_str());
    out += buf;
  }
  return out;
}

namespace {

constexpr int kExitUsage = 2;

bool IsDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return true;
  std::fprintf(stderr, "meshtrain: %s: %s\n", dir.c_str(),
               fs::exists(dir, ec) ? "not a directory (expected a run directory such as runs/)"
                                   : "no such run directory");
  return false;
}

}  // namespace

int ReportCommand(const std::string& dir) {
  if (!IsDirectory(dir)) return kExitUsage;
  RunDirectory run(dir);
  run.Refresh();
  if (run.peers().empty()) {
    std::fprintf(stderr, "meshtrain: no */metrics.jsonl under %s\n", dir.c_str());
    return 1;
  }
  std::printf("%s", FormatRunReport(run.peers()).c_str());
  return 0;
}

int WatchCommand(const std::string& dir, int pid) {
  if (!IsDirectory(dir)) return kExitUsage;
  RunDirectory run(dir);
  const bool tty = ::isatty(STDOUT_FILENO);
  size_t drawn_lines = 0;
  auto last_plain = std::chrono::steady_clock::now() - std::chrono::hours(1);
  bool said_waiting = false;
  for (;;) {
    run.Refresh();
    if (run.peers().empty() && !said_waiting) {
      std::fprintf(stderr, "meshtrain: waiting for */metrics.jsonl under %s\n", dir.c_str());
      said_waiting = true;
    }
    const bool all_done = !run.peers().empty() &&
                          std::all_of(run.peers().begin(), run.peers().end(), [](const auto& p) { return p.done; });
    const bool owner_gone = pid > 0 && ::kill(pid, 0) != 0;
    const std::string view = FormatLiveView(run.peers());
    if (tty) {
      for (size_t i = 0; i < drawn_lines; ++i) std::printf("\033[1A\033[2K");
      std::printf("%s", view.c_str());
      drawn_lines = run.peers().size();
    } else if (std::chrono::steady_clock::now() - last_plain > std::chrono::seconds(10) || all_done || owner_gone) {
      std::printf("%s\n", view.c_str());
      last_plain = std::chrono::steady_clock::now();
    }
    std::fflush(stdout);
    if (all_done || owner_gone) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace meshtrain
