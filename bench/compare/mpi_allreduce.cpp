// MPI_Allreduce(MPI_SUM, float) between separate processes over TCP on the
// loopback interface, for comparison with bench_sync_allreduce (same sizes,
// rounds and columns).
//
//   bench_mpi_allreduce                  N = 2 and 4, buffers 4 KB .. 64 MB (x4 steps)
//   options: --peers 2,4  --min-bytes 4096  --max-bytes 67108864  [-- extra mpirun args]
//
// Run plainly, it is the coordinator: for each N it starts
//   mpirun -np N --oversubscribe --bind-to none --mca btl tcp,self --mca btl_tcp_if_include lo
//          --mca oob_tcp_if_include lo [--allow-run-as-root] <itself> --worker DIR SIZES
// (shared memory is excluded, so ranks talk over TCP like our peers do) and
// prints the table. Open MPI picks its own all-reduce algorithm per size
// (coll/tuned decision rules); that is what a user of MPI_Allreduce gets.
// Bytes sent are the kernel's count of TCP payload bytes (TCP_INFO).
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "compare_common.h"

#ifndef MESHTRAIN_MPIEXEC
#define MESHTRAIN_MPIEXEC "mpirun"
#endif

using namespace meshtrain::compare;

namespace {

std::string RankFile(const std::string& dir, int rank) { return dir + "/rank" + std::to_string(rank) + ".txt"; }

int RunWorker(const std::string& dir, const std::vector<int64_t>& sizes) {
  MPI_Init(nullptr, nullptr);
  int rank = 0, n = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  std::ofstream out(RankFile(dir, rank));
  int rc = 0;
  for (int64_t bytes : sizes) {
    std::vector<float> buf(static_cast<size_t>(bytes) / sizeof(float));
    const int count = static_cast<int>(buf.size());
    const int rounds = RoundsFor(bytes);
    std::vector<double> seconds;
    uint64_t sent_before = 0;
    for (int k = 0; k < kWarmupRounds + rounds; ++k) {
      std::fill(buf.begin(), buf.end(), 1.0f);  // sums would overflow if they compounded
      if (k == kWarmupRounds) sent_before = TcpBytesSent();
      const Clock::time_point t0 = Clock::now();
      MPI_Allreduce(MPI_IN_PLACE, buf.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      if (buf.front() != static_cast<float>(n) || buf.back() != static_cast<float>(n)) {
        std::fprintf(stderr, "rank %d: wrong sum %g\n", rank, static_cast<double>(buf.front()));
        rc = 1;
      }
      if (k >= kWarmupRounds) seconds.push_back(dt);
    }
    const double sent_per_round = static_cast<double>(TcpBytesSent() - sent_before) / rounds;
    out << bytes << ' ' << Median(seconds) << ' ' << sent_per_round << '\n';
  }
  out.close();
  MPI_Finalize();
  return rc;
}

std::map<int64_t, Row> RunCluster(const std::string& self_exe, int n, const std::vector<int64_t>& sizes,
                                  const std::vector<std::string>& extra) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "meshtrain-mpi-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  const std::string dir = tmpl;
  std::vector<std::string> argv = {MESHTRAIN_MPIEXEC, "-np", std::to_string(n), "--oversubscribe", "--bind-to",
                                   "none", "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo",
                                   "--mca", "oob_tcp_if_include", "lo"};
  if (::geteuid() == 0) {
    argv.push_back("--allow-run-as-root");
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {self_exe, "--worker", dir, JoinList(sizes)});
  const std::vector<std::string> logs = {dir + "/mpirun.log"};

  std::map<int64_t, Row> rows;
  if (RunChildren({argv}, logs, std::chrono::minutes(15))) {
    for (int r = 0; r < n; ++r) {
      std::ifstream in(RankFile(dir, r));
      PeerResult res;
      while (in >> res.bytes >> res.median_s >> res.sent_per_round) MergeInto(rows, n, res);
    }
  } else {
    std::fprintf(stderr, "mpi N=%d failed; mpirun output:\n", n);
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
    if (args.size() != 3) return 2;
    return RunWorker(args[1], ParseList(args[2]));
  }

  std::vector<int64_t> peers = {2, 4};
  int64_t min_bytes = 4096, max_bytes = 64LL << 20;
  std::vector<std::string> extra;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--peers" && has_value) {
      peers = ParseList(args[++i]);
    } else if (args[i] == "--min-bytes" && has_value) {
      min_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--max-bytes" && has_value) {
      max_bytes = std::stoll(args[++i]);
    } else if (args[i] == "--") {
      extra.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    } else {
      std::fprintf(stderr, "usage: %s [--peers 2,4] [--min-bytes B] [--max-bytes B] [-- extra mpirun args]\n",
                   argv[0]);
      return 2;
    }
  }
  const std::vector<int64_t> sizes = SizesBetween(min_bytes, max_bytes);
  const std::string self_exe = std::filesystem::canonical("/proc/self/exe").string();
  std::printf("MPI_Allreduce (Open MPI, btl tcp,self on lo), separate processes on 127.0.0.1 (%u hardware threads)\n",
              std::thread::hardware_concurrency());
  std::printf("time/op: slowest rank's median; bus bandwidth = 2(N-1)/N*S / time; sent/ideal = TCP bytes a rank\n"
              "sent per round over 2(N-1)/N*S, worst rank (kernel count, TCP_INFO)\n");
  int failures = 0;
  for (int64_t n : peers) {
    const auto rows = RunCluster(self_exe, static_cast<int>(n), sizes, extra);
    if (rows.empty()) ++failures;
    PrintTable(static_cast<int>(n), "mpi MPI_Allreduce", sizes, rows);
  }
  return failures == 0 ? 0 : 1;
}
