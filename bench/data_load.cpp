// Loading and batching Fashion-MNIST: seconds to load the whole set and one
// peer's quarter, the resident memory each costs, and batches filled per second.
// Usage: bench_data_load [dir]   (default /usr/share/datasets/fashion-mnist)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "meshtrain/data.h"

using namespace meshtrain;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Resident set size in MB, from /proc/self/status (Linux); -1 elsewhere.
double RssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

bool Report(const char* what, const DataConfig& cfg, int peers, int peer) {
  const double rss_before = RssMb();
  const auto start = Clock::now();
  auto data = LoadShardedData(cfg, peers, peer);
  const double load_s = Seconds(start);
  if (!data.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, data.status().ToString().c_str());
    return false;
  }
  const double rss_after = RssMb();
  const double held_mb = static_cast<double>(data->train.bytes.size() + data->test.bytes.size() +
                                             4 * (data->train.labels.size() + data->test.labels.size())) /
                         1e6;
  std::printf("%-28s load %.2f s  train rows %lld  held %.1f MB  RSS +%.1f MB (now %.1f MB)\n", what, load_s,
              static_cast<long long>(data->train.rows), held_mb, rss_after - rss_before, rss_after);

  BatchSampler sampler(data->train, 64, 1);
  const int64_t batches = 20000;
  double checksum = 0;
  const auto fill_start = Clock::now();
  for (int64_t i = 0; i < batches; ++i)
    checksum += sampler.Get(i / sampler.batches_per_epoch(), i % sampler.batches_per_epoch()).x[0];
  const double fill_s = Seconds(fill_start);
  std::printf("%-28s %lld batches of 64 in %.2f s: %.0f batches/s, %.1f M samples/s (checksum %.1f)\n", "",
              static_cast<long long>(batches), fill_s, static_cast<double>(batches) / fill_s,
              static_cast<double>(batches * 64) / fill_s / 1e6, checksum);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  DataConfig cfg;
  if (argc > 1) cfg.dir = argv[1];
  std::printf("RSS at start: %.1f MB\n", RssMb());
  bool ok = Report("quarter (4 peers, contiguous)", cfg, 4, 0);
  cfg.shard = ShardMode::kDirichlet;
  ok = Report("quarter (4 peers, dirichlet)", cfg, 4, 0) && ok;
  cfg.shard = ShardMode::kContiguous;
  ok = Report("whole set (1 peer)", cfg, 1, 0) && ok;
  cfg.scaling = ScalingMode::kStandardize;
  ok = Report("whole set, standardize", cfg, 1, 0) && ok;
  return ok ? 0 : 1;
}
