#include "cli/run_report.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "cli/http_endpoint.h"
#include "cli/json_fields.h"
#include "cli/status_page.h"
#include "meshtrain/metric_names.h"
#include "meshtrain/metrics.h"

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

namespace {

// Events marked on the status page's charts.
bool IsMarkedEvent(const std::string& name) {
  static const char* const kMarked[] = {
      events::kPeerDead,         events::kPeerLeft,         events::kPeerJoined,      events::kViewChange,
      events::kStateSync,        events::kQuorumLost,       events::kQuorumRegained,  events::kMinorityWait,
      events::kMinorityTraining, events::kMinorityRejoined, events::kMinorityEndWait, events::kMinorityStopped,
      events::kMinorityFinish,   events::kSyncFailed,       events::kStopped,         events::kResumed};
  for (const char* m : kMarked) {
    if (name == m) return true;
  }
  return false;
}

// Keeps every other point once the series is full (the first and newest stay).
// A value that is not a number (a non-finite loss is written as null) is left out.
void AddPoint(std::vector<SeriesPoint>* series, double t, double value) {
  if (std::isnan(value)) return;
  if (series->size() >= kMaxSeriesPoints) {
    size_t kept = 0;
    for (size_t i = 0; i < series->size(); i += 2) (*series)[kept++] = (*series)[i];
    series->resize(kept);
  }
  series->push_back({t, value});
}

std::vector<std::string> StringArray(const std::string& raw) {
  std::vector<std::string> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '"') continue;
    const size_t end = raw.find('"', i + 1);
    if (end == std::string::npos) break;
    out.push_back(raw.substr(i + 1, end - i - 1));
    i = end;
  }
  return out;
}

}  // namespace

void RunDirectory::RecordHistory(PeerRunState* peer, const JsonFields& fields) {
  const double t = NumberField(fields, metric::kTime, -1);
  if (t < 0) return;
  peer->last_t = std::max(peer->last_t, t);
  auto view = fields.find(metric::kView);
  if (view != fields.end()) peer->view = StringArray(view->second);
  auto event = fields.find(metric::kEvent);
  if (event == fields.end()) {
    if (fields.count(metric::kLoss)) AddPoint(&peer->loss_series, t, NumberField(fields, metric::kLoss, NAN));
    if (fields.count(metric::kTestAcc)) AddPoint(&peer->acc_series, t, NumberField(fields, metric::kTestAcc, NAN));
    return;
  }
  if (event->second == events::kViewChange)
    peer->view_id = static_cast<int64_t>(NumberField(fields, metric::kViewId, -1));
  if (!IsMarkedEvent(event->second)) return;
  if (peer->marks.size() >= kMaxMarks) peer->marks.erase(peer->marks.begin());
  auto about = fields.find(metric::kAbout);
  peer->marks.push_back({t, event->second, about == fields.end() ? std::string() : about->second});
}

void RunDirectory::RecordLinks(PeerRunState* peer, const JsonFields& fields) {
  auto nested = [&](const char* key) {
    auto it = fields.find(key);
    return it == fields.end() ? JsonFields{} : ParseJsonFields(it->second).value_or(JsonFields{});
  };
  const JsonFields sent = nested(metric::kBytesSentByPeer);
  const JsonFields recv = nested(metric::kBytesRecvByPeer);
  if (sent.empty() && recv.empty()) return;
  const double t = NumberField(fields, metric::kTime, -1);
  const double dt = peer->links_t >= 0 && t > peer->links_t ? t - peer->links_t : 0;
  auto update = [&](const JsonFields& counts, double LinkTraffic::*total, double LinkTraffic::*per_s) {
    for (const auto& [id, raw] : counts) {
      LinkTraffic& link = peer->links[id];
      const double now = NumberField(counts, id, link.*total);
      // A resumed peer (the same run, a new process) counts from 0 again.
      if (dt > 0) link.*per_s = std::max(0.0, (now - link.*total) / dt);
      link.*total = now;
    }
  };
  update(sent, &LinkTraffic::sent, &LinkTraffic::sent_per_s);
  update(recv, &LinkTraffic::recv, &LinkTraffic::recv_per_s);
  peer->links_t = t;
}

void RunDirectory::Apply(PeerRunState* peer, const std::string& line) {
  auto fields = ParseJsonFields(line);
  if (!fields) return;
  auto run = fields->find(metric::kRun);
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
  peer->step = static_cast<int64_t>(NumberField(*fields, metric::kStep, static_cast<double>(peer->step)));
  peer->epoch = static_cast<int64_t>(NumberField(*fields, metric::kEpoch, static_cast<double>(peer->epoch)));
  peer->loss = NumberField(*fields, metric::kLoss, peer->loss);
  peer->test_acc = NumberField(*fields, metric::kTestAcc, peer->test_acc);
  peer->samples_per_s = NumberField(*fields, metric::kSamplesPerSecond, peer->samples_per_s);
  peer->bytes_sent = NumberField(*fields, metric::kBytesSent, peer->bytes_sent);
  peer->bytes_recv = NumberField(*fields, metric::kBytesRecv, peer->bytes_recv);
  peer->comm_s = NumberField(*fields, metric::kCommSeconds, peer->comm_s);
  peer->compute_s = NumberField(*fields, metric::kComputeSeconds, peer->compute_s);
  RecordHistory(peer, *fields);
  RecordLinks(peer, *fields);
  auto event = fields->find(metric::kEvent);
  if (event == fields->end()) return;
  if (event->second != events::kCheckpoint) peer->last_event = event->second;
  if (event->second == events::kMinorityFinish) peer->minority = true;
  if (event->second == events::kDone) {
    peer->done = true;
    auto waits = fields->find(metric::kWaitSecondsByPeer);
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

const PeerRunState* Straggler(const std::vector<PeerRunState>& peers) {
  if (peers.size() < 2) return nullptr;
  const PeerRunState* slowest = nullptr;
  for (const auto& p : peers) {
    if (!slowest || p.compute_s - p.comm_s > slowest->compute_s - slowest->comm_s) slowest = &p;
  }
  return slowest;
}

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
                  p.done ? (p.minority ? "done:minority" : "done")
                         : (p.last_event.empty() ? "running/stopped" : p.last_event.c_str()));
    out += buf;
    for (const auto& [id, s] : p.wait_s_by_peer) waited_for[id] += s;
  }
  // In a synchronous ring every peer waits for the slowest one; it is the peer
  // whose own waiting is shortest, because the others' data is always ready for it.
  if (const PeerRunState* slowest = Straggler(peers)) {
    std::snprintf(buf, sizeof(buf), "straggler: %s (most compute, least waiting: %.1fs compute, %.1fs comm)\n",
                  slowest->id.c_str(), slowest->compute_s, slowest->comm_s);
    out += buf;
  }
  for (const auto& p : peers) {
    if (p.earlier_runs == 0) continue;
    std::snprintf(buf, sizeof(buf), "%s: latest run %s shown; %d earlier run(s) in %s\n", p.id.c_str(), p.run.c_str(),
                  p.earlier_runs, p.metrics_path.c_str());
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
    std::snprintf(buf, sizeof(buf),
                  "%-6s step %7lld  epoch %3lld  loss %.4f  test_acc %-7s %7.0f samples/s  comm %3.0f%%  %s\n",
                  p.id.c_str(), static_cast<long long>(p.step), static_cast<long long>(p.epoch), p.loss,
                  Accuracy(p.test_acc).c_str(), p.samples_per_s, total > 0 ? 100 * p.comm_s / total : 0.0,
                  p.done ? (p.minority ? "done:minority" : "done") : p.last_event.c_str());
    out += buf;
  }
  return out;
}

namespace {

constexpr int kExitUsage = 2;

bool IsDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return true;
  std::fprintf(
      stderr, "meshtrain: %s: %s\n", dir.c_str(),
      fs::exists(dir, ec) ? "not a directory (expected a run directory such as runs/)" : "no such run directory");
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

namespace {

std::atomic<int> g_watch_signal{0};
void OnWatchSignal(int sig) { g_watch_signal.store(sig); }

// watch --http: the page and its JSON, the latter rebuilt by the watch loop
// after each refresh, so a request only copies a string.
class StatusServer {
 public:
  Status Start(const std::string& address) {
    http_.Handle("/", [] { return HttpReply{StatusPageHtml(), "text/html; charset=utf-8"}; });
    http_.Handle("/status.json", [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return HttpReply{json_, "application/json"};
    });
    return http_.Start(address);
  }
  void Publish(const std::vector<PeerRunState>& peers) {
    std::string json = StatusJson(peers, UnixSeconds());
    std::lock_guard<std::mutex> lock(mu_);
    json_ = std::move(json);
  }

 private:
  std::mutex mu_;
  std::string json_ = "{\"now\":0,\"view\":null,\"straggler\":null,\"peers\":[]}";
  HttpEndpoint http_;
};

}  // namespace

int WatchCommand(const std::string& dir, int pid, const std::string& http) {
  if (!IsDirectory(dir)) return kExitUsage;
  std::unique_ptr<StatusServer> server;
  if (!http.empty()) {
    server = std::make_unique<StatusServer>();
    Status st = server->Start(http);
    if (!st.ok()) {
      std::fprintf(stderr, "meshtrain: watch --http: %s\n", st.message().c_str());
      return st.code() == Status::Code::kInvalidArgument ? kExitUsage : 1;
    }
    // Serving ends with a signal: the page stays up after the run is done.
    std::signal(SIGINT, OnWatchSignal);
    std::signal(SIGTERM, OnWatchSignal);
    std::fprintf(stderr, "meshtrain: status page of %s at http://%s/\n", dir.c_str(), http.c_str());
  }
  RunDirectory run(dir);
  const bool tty = ::isatty(STDOUT_FILENO);
  size_t drawn_lines = 0;
  auto last_plain = std::chrono::steady_clock::now() - std::chrono::hours(1);
  bool said_waiting = false;
  bool said_final = false;  // watch --http goes on after the end; the last view is printed once
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
    } else if (std::chrono::steady_clock::now() - last_plain > std::chrono::seconds(10) ||
               ((all_done || owner_gone) && !said_final)) {
      said_final = all_done || owner_gone;
      std::printf("%s\n", view.c_str());
      last_plain = std::chrono::steady_clock::now();
    }
    std::fflush(stdout);
    if (server) {
      server->Publish(run.peers());
      if (g_watch_signal.load() != 0) return 128 + g_watch_signal.load();
      if (owner_gone) return 0;
    } else if (all_done || owner_gone) {
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace meshtrain
