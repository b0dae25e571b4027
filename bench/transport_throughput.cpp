// Transport figures on loopback, two transports in one process: one-way
// throughput by payload size (zero-copy sends), header-only message rate, and
// round-trip latency. Prints a table; asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "meshtrain/transport.h"

using namespace meshtrain;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Transport> Make(const std::string& id) {
  Result<std::unique_ptr<Transport>> t = Transport::Create(TransportConfig{}, id, "tcp://127.0.0.1:0");
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(t).value();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Sends `count` messages of `bytes` from a to b on a thread; b receives them.
double OneWaySeconds(Transport& a, Transport& b, size_t bytes, int count) {
  auto buffer = std::make_shared<std::vector<char>>(bytes, 1);
  const auto start = Clock::now();
  std::thread sender([&] {
    for (int i = 0; i < count; ++i) {
      OutgoingMessage m;
      m.header = "bench";
      m.payload = buffer->data();
      m.payload_bytes = bytes;
      m.keepalive = buffer;
      if (!a.Send("b", std::move(m), 30s).ok()) std::fprintf(stderr, "send failed\n");
    }
  });
  for (int i = 0; i < count; ++i) {
    if (!b.Receive(30s).ok()) std::fprintf(stderr, "receive failed\n");
  }
  const double s = Seconds(Clock::now() - start);
  sender.join();
  return s;
}

}  // namespace

int main() {
  auto a = Make("a");
  auto b = Make("b");
  if (!a->Connect("b", b->bound_endpoint()).ok() || !b->Connect("a", a->bound_endpoint()).ok()) return 1;
  OneWaySeconds(*a, *b, 1024, 100);  // warm up the connection

  std::printf("one-way throughput, loopback, zero-copy sends\n");
  std::printf("%12s %8s %12s %12s\n", "payload", "msgs", "MB/s", "msgs/s");
  for (size_t bytes : {size_t{4} << 10, size_t{64} << 10, size_t{1} << 20, size_t{16} << 20, size_t{64} << 20}) {
    const int count = static_cast<int>(std::clamp<size_t>((size_t{512} << 20) / bytes, 8, 20000));
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) best = std::min(best, OneWaySeconds(*a, *b, bytes, count));
    std::printf("%10zu B %8d %12.0f %12.0f\n", bytes, count, count * static_cast<double>(bytes) / best / 1e6,
                count / best);
  }

  // Header-only message rate: bounded by the caller <-> comm-thread hand-off.
  {
    const int count = 50000;
    const double s = OneWaySeconds(*a, *b, 0, count);
    std::printf("header-only messages: %.0f msgs/s (%.1f us per Send+Receive pair)\n", count / s, s / count * 1e6);
  }

  // Round trip: a sends, b echoes, a receives.
  {
    const int count = 2000;
    std::vector<double> rtt_us;
    std::thread echo([&] {
      for (int i = 0; i < count; ++i) {
        Result<IncomingMessage> m = b->Receive(30s);
        OutgoingMessage reply;
        reply.header = "pong";
        if (!m.ok() || !b->Send("a", std::move(reply), 30s).ok()) std::fprintf(stderr, "echo failed\n");
      }
    });
    for (int i = 0; i < count; ++i) {
      OutgoingMessage ping;
      ping.header = "ping";
      const auto t0 = Clock::now();
      if (!a->Send("b", std::move(ping), 30s).ok() || !a->Receive(30s).ok()) std::fprintf(stderr, "ping failed\n");
      rtt_us.push_back(Seconds(Clock::now() - t0) * 1e6);
    }
    echo.join();
    std::sort(rtt_us.begin(), rtt_us.end());
    std::printf("round trip (header only): median %.0f us, p99 %.0f us\n", rtt_us[rtt_us.size() / 2],
                rtt_us[rtt_us.size() * 99 / 100]);
  }
  const TransportStats s = a->stats();
  std::printf("sender stats: %llu msgs, %llu bytes sent, %llu send timeouts\n",
              static_cast<unsigned long long>(s.msgs_sent), static_cast<unsigned long long>(s.bytes_sent),
              static_cast<unsigned long long>(s.send_timeouts));
  return 0;
}
