// What a flood of scrapes costs training (docs/observability.md, "How it is served"):
// two ring peers train Fashion-MNIST on loopback with log.prometheus on; over
// a 10 s window one client asks p0's /metrics 1,000 times a second (paced,
// keep-alive, cpp-httplib), or nobody asks. The figure is the ring's steps per
// second in the window, scraped against unscraped, over interleaved repeats.
//
//   bench_cli_metrics_scrape [--meshtrain PATH] [--repeats 3] [--rate 1000] [--seconds 10] [--paired]
//
// First, the CPU one request costs p0 when it is not training (p1 never comes).
// --paired: two clusters train at the same time and one's p0 is flooded, the
// roles swapped each repeat; the ratio of their steps/s is what the flood
// costs, and load from anything else on the machine hits both alike.
//
// PATH defaults to ../meshtrain next to this program (the build tree). Peers
// are started with fork/exec and always reaped. The scrape client runs on the
// same machine, so on a small board it also takes CPU from the peers: that is
// part of what is measured.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/http_endpoint.h"
#include "support/process.h"
#include "support/temp_dir.h"

using namespace meshtrain;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string meshtrain;
  int repeats = 3;
  int rate = 1000;
  int seconds = 10;
  bool paired = false;
};

const char* kBody = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
shard = "strided"

[model]
type = "mlp"
hidden = [256, 128]

[optim]
type = "sgd"
lr = 0.05
momentum = 0.9

[train]
epochs = 1000
batch_size = 64
log_every = 10
eval_every = 0

[sync]
mode = "ring"
start_timeout_ms = 60000
)";

// The step of the last line of a metrics file that has one (-1 if none).
int64_t LastStep(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return -1;
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 4096);
  in.seekg(from);
  std::string tail(static_cast<size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  const size_t at = tail.rfind("\"step\":");
  return at == std::string::npos ? -1 : std::strtoll(tail.c_str() + at + 7, nullptr, 10);
}

// CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field && i <= 15; ++i) {
    if (i == 14 || i == 15) ticks += std::strtod(field.c_str(), nullptr);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double OwnCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Window {
  double p0_cpu_s = 0;      // CPU p0 used in the window (training and serving)
  double client_cpu_s = 0;  // CPU the scrape client used
  double steps_per_s = 0;
  int64_t requests = 0;
  int64_t failed = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Asks `address`'s /metrics at o.rate per second until `end`.
void Flood(const Options& o, const std::string& address, Clock::time_point start, Clock::time_point end, Window* w) {
  HttpClient client(address);
  std::vector<double> latencies;
  const auto period = std::chrono::nanoseconds(1'000'000'000LL / o.rate);
  for (auto next = start; next < end; next += period) {
    std::this_thread::sleep_until(next);
    const auto t0 = Clock::now();
    auto body = client.Get("/metrics");
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    ++w->requests;
    if (!body.ok() || body->empty()) ++w->failed;
  }
  std::sort(latencies.begin(), latencies.end());
  if (!latencies.empty()) {
    w->p50_ms = latencies[latencies.size() / 2];
    w->p99_ms = latencies[latencies.size() * 99 / 100];
  }
}

// Two ring peers of their own (p0 with log.prometheus), in a temp dir; stopped
// and reaped when it goes. With `alone`, p1 never starts: p0 waits for it
// without training, so its CPU is what serving costs.
class Cluster {
 public:
  Cluster(const Options& o, bool alone) : address_("127.0.0.1:" + std::to_string(testing::FreeLoopbackPort())) {
    std::string toml;
    for (int i = 0; i < 2; ++i) {
      toml += "[[cluster.peers]]\nid = \"p" + std::to_string(i) + "\"\nendpoint = \"tcp://127.0.0.1:" +
              std::to_string(testing::FreeLoopbackPort()) + "\"\n\n";
    }
    const std::string config = dir_.Write("cluster.toml", toml + kBody);
    for (int i = 0; i < (alone ? 1 : 2); ++i) {
      const std::string id = "p" + std::to_string(i);
      std::vector<std::string> argv = {o.meshtrain, "run", "--config", config, "--id", id,
                                       "--set", "log.metrics=" + dir_.File(id + ".jsonl"),
                                       "--set", "checkpoint.dir=" + dir_.File(id + "-ckpt"),
                                       "--set", "log.progress=none"};
      if (i == 0) argv.insert(argv.end(), {"--set", "log.prometheus=" + address_});
      peers_.push_back(std::make_unique<testing::ChildProcess>(argv, dir_.File(id + ".log")));
    }
  }
  ~Cluster() {
    for (auto& p : peers_) p->Signal(SIGTERM);
    for (auto& p : peers_) {
      if (!p->Wait(std::chrono::seconds(60))) p->Signal(SIGKILL);
    }
  }
  // Waits until p0 trained `steps` steps (0: until its /metrics answers); exits the benchmark if it never does.
  void AwaitReady(int64_t steps) {
    auto ready = [&] {
      if (steps > 0) return Step() >= steps;
      HttpClient probe(address_);
      return probe.Get("/metrics").ok();
    };
    if (!testing::WaitUntil(std::chrono::seconds(120), ready)) {
      std::fprintf(stderr, "bench: p0 never got ready; its log:\n%s\n", testing::ReadFile(dir_.File("p0.log")).c_str());
      std::exit(1);
    }
  }
  int64_t Step() const { return LastStep(dir_.File("p0.jsonl")); }
  double P0Cpu() const { return CpuSeconds(peers_[0]->pid()); }
  const std::string& address() const { return address_; }

 private:
  testing::TempDir dir_;
  std::string address_;
  std::vector<std::unique_ptr<testing::ChildProcess>> peers_;
};

// Steps/s of `c` from `first` (its step at `start`) until now.
double StepsPerSecond(const Cluster& c, int64_t first, Clock::time_point start) {
  const int64_t last = std::max<int64_t>(c.Step(), first);
  return static_cast<double>(last - first) / std::chrono::duration<double>(Clock::now() - start).count();
}

// One cluster alone: a warm-up of 300 steps, then the window, scraped or not.
Window RunOnce(const Options& o, bool scraped, bool alone = false) {
  Cluster cluster(o, alone);
  cluster.AwaitReady(alone ? 0 : 300);
  Window w;
  const int64_t first = cluster.Step();
  const double p0_cpu_before = cluster.P0Cpu();
  const double client_cpu_before = OwnCpuSeconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(o.seconds);
  if (scraped) {
    Flood(o, cluster.address(), start, end, &w);
  } else {
    std::this_thread::sleep_until(end);
  }
  w.steps_per_s = StepsPerSecond(cluster, first, start);
  w.p0_cpu_s = cluster.P0Cpu() - p0_cpu_before;
  w.client_cpu_s = OwnCpuSeconds() - client_cpu_before;
  return w;
}

// Two clusters train at once, so whatever else loads the machine loads both;
// one is flooded. Returns {scraped steps/s, unscraped steps/s}.
std::pair<Window, double> RunPaired(const Options& o, bool flood_first) {
  Cluster a(o, false), b(o, false);
  a.AwaitReady(300);
  b.AwaitReady(300);
  Cluster& flooded = flood_first ? a : b;
  Cluster& quiet = flood_first ? b : a;
  Window w;
  const int64_t flooded_first = flooded.Step(), quiet_first = quiet.Step();
  const auto start = Clock::now();
  Flood(o, flooded.address(), start, start + std::chrono::seconds(o.seconds), &w);
  w.steps_per_s = StepsPerSecond(flooded, flooded_first, start);
  return {w, StepsPerSecond(quiet, quiet_first, start)};
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.meshtrain = (std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() / "meshtrain").string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--meshtrain") o.meshtrain = next();
    else if (a == "--repeats") o.repeats = std::atoi(next().c_str());
    else if (a == "--rate") o.rate = std::atoi(next().c_str());
    else if (a == "--seconds") o.seconds = std::atoi(next().c_str());
    else if (a == "--paired") o.paired = true;
    else {
      std::fprintf(stderr, "usage: bench_cli_metrics_scrape [--meshtrain PATH] [--repeats N] [--rate R] [--seconds S] [--paired]\n");
      return 2;
    }
  }
  if (!HttpEndpoint::Available()) {
    std::fprintf(stderr, "bench: this build has no cpp-httplib (libcpp-httplib-dev)\n");
    return 1;
  }
  if (o.repeats < 1 || o.rate < 1 || o.seconds < 1) {
    std::fprintf(stderr, "bench: --repeats, --rate and --seconds must be >= 1\n");
    return 2;
  }
  std::printf("2 ring peers (Fashion-MNIST, MLP 784-256-128-10, batch 64) on %u cores; window %d s; "
              "scraped = %d requests/s at p0's /metrics\n",
              std::thread::hardware_concurrency(), o.seconds, o.rate);
  {
    const Window idle = RunOnce(o, true, true);
    std::printf("serving alone (p0 not training): %lld requests, %lld failed, p50 %.3f ms, p99 %.3f ms; "
                "p0 CPU %.2f s = %.1f us per request (%.1f%% of a core at %d/s), client CPU %.2f s\n",
                static_cast<long long>(idle.requests), static_cast<long long>(idle.failed), idle.p50_ms, idle.p99_ms,
                idle.p0_cpu_s, 1e6 * idle.p0_cpu_s / std::max<int64_t>(idle.requests, 1),
                100 * idle.p0_cpu_s / o.seconds, o.rate, idle.client_cpu_s);
  }
  if (o.paired) {
    std::printf("paired: two 2-peer clusters train at once; one's p0 is flooded (the first, then the second)\n");
    std::printf("%-7s %16s %16s %8s %8s %8s\n", "repeat", "scraped steps/s", "other steps/s", "ratio", "p50 ms",
                "p99 ms");
    std::vector<double> ratios;
    for (int r = 0; r < o.repeats; ++r) {
      for (bool flood_first : {true, false}) {
        const auto [w, other] = RunPaired(o, flood_first);
        const double ratio = other > 0 ? w.steps_per_s / other : 0;
        ratios.push_back(ratio);
        std::printf("%-7d %16.1f %16.1f %8.3f %8.3f %8.3f\n", r + 1, w.steps_per_s, other, ratio, w.p50_ms,
                    w.p99_ms);
        std::fflush(stdout);
      }
    }
    std::printf("median scraped/unscraped steps/s: %.3f (%+.1f%%)\n", Median(ratios), 100 * (Median(ratios) - 1));
    return 0;
  }
  std::printf("%-7s %-10s %9s %9s %7s %8s %8s %11s %11s\n", "repeat", "run", "steps/s", "requests", "failed",
              "p50 ms", "p99 ms", "p0 CPU s", "client CPU s");
  std::vector<double> quiet, flooded;
  for (int r = 0; r < o.repeats; ++r) {
    for (bool scraped : {false, true}) {  // interleaved, so drift in the machine's load hits both
      const Window w = RunOnce(o, scraped);
      (scraped ? flooded : quiet).push_back(w.steps_per_s);
      std::printf("%-7d %-10s %9.1f %9lld %7lld %8.3f %8.3f %11.2f %11.2f\n", r + 1,
                  scraped ? "scraped" : "unscraped", w.steps_per_s, static_cast<long long>(w.requests),
                  static_cast<long long>(w.failed), w.p50_ms, w.p99_ms, w.p0_cpu_s, w.client_cpu_s);
      std::fflush(stdout);
    }
  }
  const double q = Median(quiet), f = Median(flooded);
  std::printf("median steps/s: unscraped %.1f, scraped %.1f: %+.1f%%\n", q, f, q > 0 ? 100 * (f - q) / q : 0.0);
  return 0;
}
