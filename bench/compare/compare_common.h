// Shared by the comparison benchmarks (Gloo, MPI), on top of bench_support.h
// (the sizes, rounds and table of bench/sync_allreduce.cpp, so the three tables
// can be laid side by side by scripts/bench.sh --compare): a byte counter that
// works for any library: the kernel's own count of TCP bytes sent by this
// process (TCP_INFO.tcpi_bytes_sent summed over every TCP socket we hold).
#pragma once

#include <dirent.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>

#include "../bench_support.h"

namespace meshtrain::compare {

using namespace meshtrain::bench;

// Bytes this process has sent over TCP so far, as the kernel counts them
// (payload only, no TCP/IP headers; the library's own framing is included).
// Sockets that are not TCP (pipes, unix sockets, eventfds) fail TCP_INFO and
// are skipped. Closed sockets drop out, so take differences over a period in
// which the library keeps its connections open.
inline uint64_t TcpBytesSent() {
  uint64_t total = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  const int own_fd = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (entry->d_name[0] == '.' || fd == own_fd) continue;
    tcp_info info{};
    socklen_t len = sizeof(info);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) continue;
    if (len >= offsetof(tcp_info, tcpi_bytes_sent) + sizeof(info.tcpi_bytes_sent)) total += info.tcpi_bytes_sent;
  }
  ::closedir(dir);
  return total;
}

// One measured size, as one peer saw it.
struct PeerResult {
  int64_t bytes = 0;
  double median_s = 0;
  double sent_per_round = 0;
};

inline void MergeInto(std::map<int64_t, Row>& rows, int n, const PeerResult& r) {
  const double ideal = 2.0 * (n - 1) / n * static_cast<double>(r.bytes);
  Row& row = rows[r.bytes];
  row.median_s = std::max(row.median_s, r.median_s);
  row.worst_ratio = std::max(row.worst_ratio, r.sent_per_round / ideal);
}

}  // namespace meshtrain::compare
