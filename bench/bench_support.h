// What the all-reduce benchmarks share (bench_sync_allreduce, bench_sync_gossip,
// and the Gloo/MPI comparisons in compare/): the buffer sizes and round counts,
// the table scripts/bench.sh joins by (N, buffer), and starting and reaping the
// peer processes.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"  // FreeLoopbackPort

namespace meshtrain::bench {

using Clock = std::chrono::steady_clock;
using testing::FreeLoopbackPort;

inline std::vector<int64_t> ParseList(const std::string& csv) {
  std::vector<int64_t> out;
  std::stringstream ss(csv);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoll(item));
  return out;
}

inline std::string JoinList(const std::vector<int64_t>& values) {
  std::string out;
  for (int64_t v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

inline std::vector<int64_t> SizesBetween(int64_t min_bytes, int64_t max_bytes) {
  std::vector<int64_t> sizes;
  for (int64_t s = min_bytes; s <= max_bytes; s *= 4) sizes.push_back(s);
  return sizes;
}

// Same rule as bench_sync_allreduce: ~256 MB of traffic per size, 7..201 rounds.
inline int RoundsFor(int64_t bytes) { return static_cast<int>(std::clamp<int64_t>((256LL << 20) / bytes, 7, 201)); }
constexpr int kWarmupRounds = 2;

inline std::string HumanBytes(double bytes) {
  char buf[32];
  if (bytes >= (1 << 20)) {
    std::snprintf(buf, sizeof(buf), "%.0f MB", bytes / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f KB", bytes / (1 << 10));
  }
  return buf;
}

// One table row: the slowest peer's median and the worst peer's bytes ratio.
struct Row {
  double median_s = 0;
  double worst_ratio = 0;
};

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// The table format of bench_sync_allreduce, so scripts/bench.sh can join them by (N, buffer).
inline void PrintTable(int n, const std::string& what, const std::vector<int64_t>& sizes,
                       const std::map<int64_t, Row>& rows) {
  std::printf("\nN = %d peers, %s\n", n, what.c_str());
  std::printf("%10s %8s %12s %14s %12s\n", "buffer", "rounds", "time/op", "bus bandwidth", "sent/ideal");
  const double factor = 2.0 * (n - 1) / n;
  for (int64_t bytes : sizes) {
    auto it = rows.find(bytes);
    if (it == rows.end()) {
      std::printf("%10s   (failed)\n", HumanBytes(static_cast<double>(bytes)).c_str());
      continue;
    }
    const double t = it->second.median_s;
    const double bus = factor * static_cast<double>(bytes) / t;
    std::printf("%10s %8d %10.3f ms %10.1f MB/s %12.4f\n", HumanBytes(static_cast<double>(bytes)).c_str(),
                RoundsFor(bytes), t * 1e3, bus / 1e6, it->second.worst_ratio);
  }
  std::fflush(stdout);
}

// Starts one child per argv (stdout+stderr to the matching log path) and waits
// for all of them, at most `limit`. If one fails or time runs out, kills the
// rest. Every child is reaped. Returns true when all exited 0.
inline bool RunChildren(const std::vector<std::vector<std::string>>& argvs, const std::vector<std::string>& logs,
                        std::chrono::seconds limit) {
  std::vector<pid_t> pids;
  for (size_t i = 0; i < argvs.size(); ++i) {
    std::vector<std::string> argv = argvs[i];
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(logs[i].c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
      std::vector<char*> args;
      for (auto& s : argv) args.push_back(s.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::perror("execvp");
      ::_exit(127);
    }
    if (pid > 0) pids.push_back(pid);
  }
  bool failed = pids.size() != argvs.size();
  const Clock::time_point deadline = Clock::now() + limit;
  std::vector<bool> done(pids.size(), false);
  size_t running = pids.size();
  while (running > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      int status = 0;
      if (!done[i] && ::waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        done[i] = true;
        --running;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = true;
      }
    }
    if (running > 0 && (failed || Clock::now() >= deadline)) {
      // SIGTERM first: a launcher such as mpirun forwards it to the ranks it started.
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) ::kill(pids[i], SIGTERM);
      }
      const Clock::time_point grace = Clock::now() + std::chrono::seconds(5);
      while (running > 0 && Clock::now() < grace) {
        for (size_t i = 0; i < pids.size(); ++i) {
          if (!done[i] && ::waitpid(pids[i], nullptr, WNOHANG) == pids[i]) {
            done[i] = true;
            --running;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) ::kill(pids[i], SIGKILL);
      }
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) ::waitpid(pids[i], nullptr, 0);
      }
      failed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !failed;
}

inline void PrintLogs(const std::vector<std::string>& logs) {
  for (size_t i = 0; i < logs.size(); ++i) {
    std::ifstream log(logs[i]);
    for (std::string line; std::getline(log, line);) std::fprintf(stderr, "  [%zu] %s\n", i, line.c_str());
  }
}

}  // namespace meshtrain::bench
