// Gloo's ring all-reduce between separate processes on 127.0.0.1, for
// comparison with bench_sync_allreduce (same sizes, rounds and columns).
//
//   bench_gloo_allreduce                 N = 2 and 4, buffers 4 KB .. 64 MB (x4 steps)
//   options: --peers 2,4  --min-bytes 4096  --max-bytes 67108864
//            --algo ring          gloo::allreduce, Algorithm::RING (default): reduce-scatter then
//                                 all-gather in segments of <= 1 MB, two in flight; 2(N-1)/N*S per peer
//                     ring_chunked  gloo::AllreduceRingChunked (the older bandwidth-optimal class)
//                     ring_naive    gloo::AllreduceRing: passes the whole buffer N-1 times, (N-1)*S
//
// The peers are this program re-run with "--worker" (fork/exec); they meet
// through a gloo::rendezvous::FileStore in a fresh temp dir and connect with
// Gloo's TCP transport on 127.0.0.1 only. Bytes sent are the kernel's count of
// TCP payload bytes (TCP_INFO), as Gloo keeps no counter of its own.
#include <gloo/allreduce.h>
#include <gloo/allreduce_ring.h>
#include <gloo/allreduce_ring_chunked.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compare_common.h"

using namespace meshtrain::compare;

namespace {

struct WorkerArgs {
  int rank = 0;
  int n = 0;
  std::string store_dir;
  std::string algo;
  std::vector<int64_t> sizes;
  std::string out_path;
};

// Returns a callable that runs one all-reduce (sum) of `buf` in place, built once per size.
std::function<void()> MakeAllreduce(const std::string& algo, const std::shared_ptr<gloo::Context>& ctx,
                                    std::vector<float>& buf) {
  const int count = static_cast<int>(buf.size());
  if (algo == "ring_naive") {
    auto op = std::make_shared<gloo::AllreduceRing<float>>(ctx, std::vector<float*>{buf.data()}, count);
    return [op] { op->run(); };
  }
  if (algo == "ring_chunked") {
    auto op = std::make_shared<gloo::AllreduceRingChunked<float>>(ctx, std::vector<float*>{buf.data()}, count);
    return [op] { op->run(); };
  }
  auto opts = std::make_shared<gloo::AllreduceOptions>(ctx);
  opts->setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
  opts->setOutput(buf.data(), buf.size());
  void (*sum)(void*, const void*, const void*, size_t) = &gloo::sum<float>;
  opts->setReduceFunction(sum);
  return [opts] { gloo::allreduce(*opts); };
}

int RunWorker(const WorkerArgs& a) {
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = "127.0.0.1";  // loopback only
    attr.ai_family = AF_INET;
    auto device = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(a.store_dir);
    auto ctx = std::make_shared<gloo::rendezvous::Context>(a.rank, a.n);
    ctx->setTimeout(std::chrono::seconds(60));
    ctx->connectFullMesh(store, device);

    std::ofstream out(a.out_path);
    for (int64_t bytes : a.sizes) {
      std::vector<float> buf(static_cast<size_t>(bytes) / sizeof(float));
      const std::function<void()> allreduce = MakeAllreduce(a.algo, ctx, buf);
      const int rounds = RoundsFor(bytes);
      std::vector<double> seconds;
      uint64_t sent_before = 0;
      for (int k = 0; k < kWarmupRounds + rounds; ++k) {
        std::fill(buf.begin(), buf.end(), 1.0f);  // sums would overflow if they compounded
        if (k == kWarmupRounds) sent_before = TcpBytesSent();
        const Clock::time_point t0 = Clock::now();
        allreduce();
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        if (buf.front() != static_cast<float>(a.n) || buf.back() != static_cast<float>(a.n)) {
          std::fprintf(stderr, "rank %d: wrong sum %g\n", a.rank, static_cast<double>(buf.front()));
          return 1;
        }
        if (k >= kWarmupRounds) seconds.push_back(dt);
      }
      const double sent_per_round = static_cast<double>(TcpBytesSent() - sent_before) / rounds;
      out << bytes << ' ' << Median(seconds) << ' ' << sent_per_round << '\n';
    }
  } catch (const std::exception& e) {  // gloo reports I/O errors and timeouts as exceptions
    std::fprintf(stderr, "rank %d: gloo: %s\n", a.rank, e.what());
    return 1;
  }
  return 0;
}

std::map<int64_t, Row> RunCluster(const std::string& self_exe, int n, const std::string& algo,
                                  const std::vector<int64_t>& sizes) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "meshtrain-gloo-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  const std::filesystem::path dir = tmpl;
  std::filesystem::create_directory(dir / "store");
  std::vector<std::vector<std::string>> argvs;
  std::vector<std::string> logs, outs;
  for (int r = 0; r < n; ++r) {
    outs.push_back((dir / ("rank" + std::to_string(r) + ".txt")).string());
    logs.push_back((dir / ("rank" + std::to_string(r) + ".log")).string());
    argvs.push_back({self_exe, "--worker", std::to_string(r), std::to_string(n), (dir / "store").string(), algo,
                     JoinList(sizes), outs.back()});
  }
  std::map<int64_t, Row> rows;
  if (RunChildren(argvs, logs, std::chrono::minutes(15))) {
    for (const std::string& path : outs) {
      std::ifstream in(path);
      PeerResult r;
      while (in >> r.bytes >> r.median_s >> r.sent_per_round) MergeInto(rows, n, r);
    }
  } else {
    std::fprintf(stderr, "gloo N=%d failed; peer logs:\n", n);
    PrintLogs(logs);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--worker") {
    if (args.size() != 7) return 2;
    WorkerArgs w;
    w.rank = std::stoi(args[1]);
    w.n = std::stoi(args[2]);
    w.store_dir = args[3];
    w.algo = args[4];
    w.sizes = ParseList(args[5]);
    w.out_path = args[6];
    return RunWorker(w);
  }

  std::vector<int64_t> peers = {2, 4};
  int64_t min_bytes = 4096, max_bytes = 64LL << 20;
  std::string algo = "ring";
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--peers" && has_value) {
      peers = ParseList(args[++i]);
    } else if (args[i] == "--min-bytes" && has_value) {
      min_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--max-bytes" && has_value) {
      max_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--algo" && has_value &&
               (args[i + 1] == "ring" || args[i + 1] == "ring_chunked" || args[i + 1] == "ring_naive")) {
      algo = args[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [--peers 2,4] [--min-bytes B] [--max-bytes B] [--algo ring|ring_chunked|ring_naive]\n",
                   argv[0]);
      return 2;
    }
  }
  const std::vector<int64_t> sizes = SizesBetween(min_bytes, max_bytes);
  const std::string self_exe = std::filesystem::canonical("/proc/self/exe").string();
  std::printf("gloo %s all-reduce (TCP transport), separate processes on 127.0.0.1 (%u hardware threads)\n",
              algo.c_str(), std::thread::hardware_concurrency());
  std::printf("time/op: slowest peer's median; bus bandwidth = 2(N-1)/N*S / time; sent/ideal = TCP bytes a peer\n"
              "sent per round over 2(N-1)/N*S, worst peer (kernel count, TCP_INFO)\n");
  int failures = 0;
  for (int64_t n : peers) {
    const auto rows = RunCluster(self_exe, static_cast<int>(n), algo, sizes);
    if (rows.empty()) ++failures;
    PrintTable(static_cast<int>(n), "gloo " + algo, sizes, rows);
  }
  return failures == 0 ? 0 : 1;
}
