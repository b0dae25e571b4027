// The floor under any transport built on ZeroMQ: round-trip time of a plain
// ZMQ_PAIR ping-pong between two processes over TCP on 127.0.0.1, by payload
// size. Compare with bench_transport_throughput's "round trip" line (our
// transport adds its comm thread on each side) and with the small-buffer rows of
// bench_mpi_allreduce (one thread, no hand-offs).
//
//   bench_zmq_roundtrip [iterations=5000]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace {

constexpr size_t kSizes[] = {0, 4096, 65536, 1 << 20};
constexpr int kWarmup = 200;  // round trips per size before timing (connection and caches settle)

// The echoing side: sends back every message it gets, for every size.
int Echo(const std::string& endpoint, int iterations) {
  zmq::context_t ctx;
  zmq::socket_t socket(ctx, zmq::socket_type::pair);
  socket.set(zmq::sockopt::linger, 1000);
  socket.set(zmq::sockopt::rcvtimeo, 10000);  // never hang if the parent dies
  socket.connect(endpoint);
  for (size_t s = 0; s < std::size(kSizes); ++s) {
    for (int i = 0; i < kWarmup + iterations; ++i) {
      zmq::message_t msg;
      if (!socket.recv(msg)) return 1;
      socket.send(msg, zmq::send_flags::none);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::max(10, std::atoi(argv[1])) : 5000;
  zmq::context_t ctx;
  zmq::socket_t socket(ctx, zmq::socket_type::pair);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 10000);
  socket.bind("tcp://127.0.0.1:*");  // the OS picks a free port
  const std::string endpoint = socket.get(zmq::sockopt::last_endpoint);

  const pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) ::_exit(Echo(endpoint, iterations));  // a fresh context; the parent's is not touched

  std::printf("plain ZeroMQ PAIR ping-pong, two processes, TCP 127.0.0.1, %d round trips per size\n", iterations);
  std::printf("%10s %12s %12s %12s\n", "payload", "median us", "p10 us", "p90 us");
  bool ok = true;
  for (size_t size : kSizes) {
    std::vector<char> payload(size, 1);
    std::vector<double> micros;
    for (int i = 0; i < kWarmup + iterations && ok; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      socket.send(zmq::buffer(payload), zmq::send_flags::none);
      zmq::message_t reply;
      ok = socket.recv(reply).has_value() && reply.size() == size;
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      if (i >= kWarmup) micros.push_back(us);
    }
    if (!ok) break;
    std::sort(micros.begin(), micros.end());
    std::printf("%8zu B %12.1f %12.1f %12.1f\n", size, micros[micros.size() / 2], micros[micros.size() / 10],
                micros[micros.size() * 9 / 10]);
  }
  if (!ok) {
    std::fprintf(stderr, "no echo within 10 s\n");
    ::kill(child, SIGKILL);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
