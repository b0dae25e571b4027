// Ring all-reduce between peers that are separate processes on 127.0.0.1.
//
//   bench_sync_allreduce              table for N = 2 and 4, buffers 4 KB .. 64 MB (x4 steps)
//   bench_sync_allreduce --sweep      the same for several sync.chunk_bytes (to pick the default)
//   bench_sync_allreduce --curve      each cluster twice, plaintext and CurveZMQ, and the cost of CURVE
//   options: --peers 2,4  --chunk-bytes 1048576  --min-bytes 4096  --max-bytes 67108864
//            --direct-max-bytes 262144 (buffers up to it take the one-step direct exchange; 0 = ring only)
//            --pair-direct-max-bytes 1048576 (the same for two peers; docs/ring.md)
//            --membership (start membership as `meshtrain run` does, and reduce over its view)
//            --compression int8 (AllreduceSumCompressed with that codec, no error feedback; docs/compression.md)
//
// For each buffer size S: the median wall time t of one all-reduce (the
// slowest peer's median over many rounds), the bus bandwidth 2(N-1)/N*S/t,
// and the bytes each peer sent per round against the ideal 2(N-1)/N*S (the
// worst peer's ratio; headers make it slightly above 1). The benchmark starts
// its peers by fork/exec of itself with "--worker", and reaps every child.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.h>

#include "bench_support.h"

#include "meshtrain/codec.h"
#include "meshtrain/config.h"
#include "meshtrain/membership.h"
#include "meshtrain/peer_group.h"

using namespace meshtrain;
using namespace meshtrain::bench;

namespace {

// ---- one peer --------------------------------------------------------------

struct WorkerArgs {
  int rank = 0;
  std::vector<int64_t> ports;
  int64_t chunk_bytes = 1 << 20;
  std::vector<int64_t> sizes;
  std::string out_path;
  std::string key_dir;  // CURVE: p<i>.key, p<i>.pub and cluster.pub live here; empty = plaintext
  int64_t direct_max_bytes = 0;
  int64_t pair_direct_max_bytes = 0;
  bool membership = false;
  CodecSpec codec;  // kNone: AllreduceSum
};

// sync.direct_max_bytes of every cluster this run starts (--direct-max-bytes; the config default otherwise).
int64_t g_direct_max_bytes = SyncConfig{}.direct_max_bytes;
// sync.pair_direct_max_bytes of every cluster this run starts (--pair-direct-max-bytes).
int64_t g_pair_direct_max_bytes = SyncConfig{}.pair_direct_max_bytes;
// --membership: every cluster this run starts runs membership.
bool g_membership = false;
// --compression: the codec of every cluster this run starts ("none": the f32 AllreduceSum).
std::string g_compression = "none";

// A CURVE key pair per peer, as meshtrain keygen writes them, and the cluster's key list.
bool WriteClusterKeys(const std::filesystem::path& dir, int n) {
  std::ofstream cluster(dir / "cluster.pub");
  for (int i = 0; i < n; ++i) {
    char pub[41] = {}, sec[41] = {};
    if (zmq_curve_keypair(pub, sec) != 0) return false;
    const std::string id = "p" + std::to_string(i);
    const std::string secret_path = (dir / (id + ".key")).string();
    std::ofstream(secret_path) << sec << "\n";
    ::chmod(secret_path.c_str(), 0600);
    std::ofstream(dir / (id + ".pub")) << pub << " " << id << "\n";
    cluster << pub << " " << id << "\n";
  }
  return static_cast<bool>(cluster);
}

int RunWorker(const WorkerArgs& a) {
  Config cfg;
  for (size_t i = 0; i < a.ports.size(); ++i) {
    cfg.cluster.peers.push_back({"p" + std::to_string(i), "tcp://127.0.0.1:" + std::to_string(a.ports[i])});
  }
  cfg.self_id = "p" + std::to_string(a.rank);
  cfg.self_index = static_cast<size_t>(a.rank);
  cfg.sync.mode = SyncMode::kRing;
  cfg.sync.chunk_bytes = a.chunk_bytes;
  cfg.sync.direct_max_bytes = a.direct_max_bytes;
  cfg.sync.pair_direct_max_bytes = a.pair_direct_max_bytes;
  cfg.sync.timeout_ms = 60000;
  if (!a.key_dir.empty()) {
    const std::filesystem::path keys = a.key_dir;
    cfg.security.mode = SecurityMode::kCurve;
    cfg.security.secret_key_file = (keys / (cfg.self_id + ".key")).string();
    cfg.security.public_key_file = (keys / (cfg.self_id + ".pub")).string();
    cfg.security.authorized_keys = {(keys / "cluster.pub").string()};
  }
  auto group = PeerGroup::Create(cfg);
  if (!group.ok()) {
    std::fprintf(stderr, "%s: %s\n", cfg.self_id.c_str(), group.status().ToString().c_str());
    return 1;
  }
  PeerGroup& g = *group.value();
  Status st = g.WaitForPeers(std::chrono::milliseconds(30000));
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", cfg.self_id.c_str(), st.ToString().c_str());
    return 1;
  }
  std::vector<std::string> ring = g.peer_ids();
  uint64_t view_id = 0;
  if (a.membership) {  // as a training peer runs: every message passes the membership thread
    st = g.StartMembership();
    if (!st.ok() || !g.membership()->WaitForView(std::chrono::milliseconds(30000), [&](const View& v) {
          return v.members.size() == a.ports.size();
        })) {
      std::fprintf(stderr, "%s: no full view\n", cfg.self_id.c_str());
      return 1;
    }
    view_id = g.membership()->view().id;
  }
  std::ofstream out(a.out_path);
  uint64_t round = 0;
  for (int64_t bytes : a.sizes) {
    std::vector<float> buf(static_cast<size_t>(bytes) / sizeof(float));
    const int rounds = RoundsFor(bytes);
    const int warmup = kWarmupRounds;
    std::vector<double> seconds;
    uint64_t sent_before = 0;
    for (int k = 0; k < warmup + rounds; ++k) {
      std::fill(buf.begin(), buf.end(), 1.0f);  // sums would overflow if they compounded
      if (k == warmup) sent_before = g.stats().bytes_sent;
      const Clock::time_point t0 = Clock::now();
      if (a.codec.compression == Compression::kNone) {
        st = g.AllreduceSum(buf, ring, view_id, round++);
      } else {
        CompressedReduce how;
        how.codec = a.codec;
        st = g.AllreduceSumCompressed(buf, how, ring, view_id, round++);
      }
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      if (!st.ok()) {
        std::fprintf(stderr, "%s: %s\n", cfg.self_id.c_str(), st.ToString().c_str());
        return 1;
      }
      // A lossy codec may miss the sum by its quantization step.
      const float expected = static_cast<float>(ring.size());
      const float tolerance = a.codec.compression == Compression::kNone ? 0.0f : 0.01f * expected;
      if (std::abs(buf[0] - expected) > tolerance) {
        std::fprintf(stderr, "%s: wrong sum %g\n", cfg.self_id.c_str(), static_cast<double>(buf[0]));
        return 1;
      }
      if (k >= warmup) seconds.push_back(dt);
    }
    const double sent_per_round = static_cast<double>(g.stats().bytes_sent - sent_before) / rounds;
    out << bytes << ' ' << Median(seconds) << ' ' << sent_per_round << '\n';
  }
  g.Shutdown();
  return 0;
}

// ---- the coordinator -------------------------------------------------------

// Starts n workers, waits for them (bounded), and returns rows by size; empty on failure.
std::map<int64_t, Row> RunCluster(const std::string& self_exe, int n, int64_t chunk_bytes,
                                  const std::vector<int64_t>& sizes, bool curve) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "meshtrain-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  const std::filesystem::path dir = tmpl;
  if (curve && !WriteClusterKeys(dir, n)) {
    std::fprintf(stderr, "cannot make CURVE keys in %s\n", tmpl.c_str());
    return {};
  }
  std::vector<int64_t> ports;
  for (int i = 0; i < n; ++i) ports.push_back(FreeLoopbackPort());

  std::vector<std::vector<std::string>> argvs;
  std::vector<std::string> logs;
  for (int r = 0; r < n; ++r) {
    const std::string out = (dir / ("rank" + std::to_string(r) + ".txt")).string();
    logs.push_back((dir / ("rank" + std::to_string(r) + ".log")).string());
    argvs.push_back({self_exe, "--worker", std::to_string(r), JoinList(ports), std::to_string(chunk_bytes),
                     JoinList(sizes), out, curve ? dir.string() : std::string("-"), std::to_string(g_direct_max_bytes),
                     std::to_string(g_pair_direct_max_bytes), g_membership ? "membership" : "-", g_compression});
  }
  // At most 15 minutes; on any failure or the deadline the rest are killed.
  const bool failed = !RunChildren(argvs, logs, std::chrono::minutes(15));

  std::map<int64_t, Row> rows;
  if (failed) {
    std::fprintf(stderr, "N=%d chunk_bytes=%lld failed; peer logs:\n", n, static_cast<long long>(chunk_bytes));
    PrintLogs(logs);
  } else {
    const double factor = 2.0 * (n - 1) / n;
    for (int r = 0; r < n; ++r) {
      std::ifstream in(dir / ("rank" + std::to_string(r) + ".txt"));
      int64_t bytes = 0;
      double median = 0, sent = 0;
      while (in >> bytes >> median >> sent) {
        Row& row = rows[bytes];
        row.median_s = std::max(row.median_s, median);
        row.worst_ratio = std::max(row.worst_ratio, sent / (factor * static_cast<double>(bytes)));
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rows;
}

void PrintTable(int n, int64_t chunk_bytes, const std::vector<int64_t>& sizes, const std::map<int64_t, Row>& rows,
                bool curve) {
  bench::PrintTable(n,
                    "sync.chunk_bytes = " + HumanBytes(static_cast<double>(chunk_bytes)) +
                        ", sync.direct_max_bytes = " + HumanBytes(static_cast<double>(g_direct_max_bytes)) +
                        (n == 2 ? ", pair_direct_max_bytes = " +
                                      HumanBytes(static_cast<double>(g_pair_direct_max_bytes))
                                : std::string()) +
                        ", security.mode = " + (curve ? "curve" : "none") +
                        (g_membership ? ", membership on" : ""),
                    sizes, rows);
}

// Bus bandwidth with CURVE against plaintext, size by size.
void PrintCurveCost(int n, const std::vector<int64_t>& sizes, const std::map<int64_t, Row>& plain,
                    const std::map<int64_t, Row>& curve) {
  std::printf("\nN = %d peers: cost of CURVE\n%10s %14s %14s %10s\n", n, "buffer", "none", "curve", "curve/none");
  const double factor = 2.0 * (n - 1) / n;
  for (int64_t bytes : sizes) {
    auto p = plain.find(bytes), c = curve.find(bytes);
    if (p == plain.end() || c == curve.end()) continue;
    const double bus_plain = factor * static_cast<double>(bytes) / p->second.median_s / 1e6;
    const double bus_curve = factor * static_cast<double>(bytes) / c->second.median_s / 1e6;
    std::printf("%10s %9.1f MB/s %9.1f MB/s %10.2f\n", HumanBytes(static_cast<double>(bytes)).c_str(), bus_plain,
                bus_curve, bus_curve / bus_plain);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  meshtrain::TuneAllocatorForMessages();  // as the meshtrain binary does
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--worker") {
    if (args.size() != 11) return 2;
    WorkerArgs w;
    w.rank = std::stoi(args[1]);
    w.ports = ParseList(args[2]);
    w.chunk_bytes = std::stoll(args[3]);
    w.sizes = ParseList(args[4]);
    w.out_path = args[5];
    if (args[6] != "-") w.key_dir = args[6];
    w.direct_max_bytes = std::stoll(args[7]);
    w.pair_direct_max_bytes = std::stoll(args[8]);
    w.membership = args[9] == "membership";
    const std::optional<Compression> codec = ParseEnum<Compression>(args[10]);
    if (!codec) return 2;
    w.codec.compression = *codec;
    return RunWorker(w);
  }

  std::vector<int64_t> peers = {2, 4};
  std::vector<int64_t> chunk_list = {1 << 20};
  int64_t min_bytes = 4096, max_bytes = 64LL << 20;
  bool sweep = false, curve = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--sweep") {
      sweep = true;
    } else if (args[i] == "--curve") {
      curve = true;
    } else if (args[i] == "--peers" && has_value) {
      peers = ParseList(args[++i]);
    } else if (args[i] == "--chunk-bytes" && has_value) {
      chunk_list = ParseList(args[++i]);
    } else if (args[i] == "--min-bytes" && has_value) {
      min_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--max-bytes" && has_value) {
      max_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--direct-max-bytes" && has_value) {
      g_direct_max_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--pair-direct-max-bytes" && has_value) {
      g_pair_direct_max_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--compression" && has_value) {
      g_compression = args[++i];
      if (!ParseEnum<Compression>(g_compression)) {
        std::fprintf(stderr, "--compression: one of none, fp16, bf16, int8, topk\n");
        return 2;
      }
    } else if (args[i] == "--membership") {
      g_membership = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--sweep] [--curve] [--peers 2,4] [--chunk-bytes B,..] [--min-bytes B] "
                   "[--max-bytes B] [--direct-max-bytes B] [--pair-direct-max-bytes B] [--membership] "
                   "[--compression CODEC]\n",
                   argv[0]);
      return 2;
    }
  }
  if (sweep) chunk_list = {64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20};
  const std::vector<int64_t> sizes = SizesBetween(min_bytes, max_bytes);

  const std::string self_exe = std::filesystem::canonical("/proc/self/exe").string();
  std::printf("ring all-reduce, separate processes on 127.0.0.1 (%u hardware threads)\n",
              std::thread::hardware_concurrency());
  std::printf("time/op: slowest peer's median; bus bandwidth = 2(N-1)/N*S / time; sent/ideal = bytes a peer\n"
              "sent per round over 2(N-1)/N*S, worst peer (headers included)\n");
  int failures = 0;
  for (int64_t n : peers) {
    for (int64_t chunk_bytes : chunk_list) {
      const auto rows = RunCluster(self_exe, static_cast<int>(n), chunk_bytes, sizes, false);
      if (rows.empty()) ++failures;
      PrintTable(static_cast<int>(n), chunk_bytes, sizes, rows, false);
      if (!curve) continue;
      const auto curve_rows = RunCluster(self_exe, static_cast<int>(n), chunk_bytes, sizes, true);
      if (curve_rows.empty()) ++failures;
      PrintTable(static_cast<int>(n), chunk_bytes, sizes, curve_rows, true);
      PrintCurveCost(static_cast<int>(n), sizes, rows, curve_rows);
    }
  }
  return failures == 0 ? 0 : 1;
}
