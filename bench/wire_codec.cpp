// Wire figures: header encode/decode cost and the Validate scan rate of an
// f32 payload (the NaN/Inf check every received tensor goes through).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "meshtrain/wire.h"

using namespace meshtrain;
using Clock = std::chrono::steady_clock;

namespace {
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

int main() {
  Header h;
  h.type = MessageType::kReduceScatter;
  h.sender = std::string("peer-17");
  h.view_id = 3;
  h.round = 123456;
  h.step = 987654;
  h.chunk = 2;
  h.n_chunks = 4;
  h.dtype = DType::kF32;
  h.n_elems = 262144;

  const int n = 1000000;
  std::string buf;
  size_t sink = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    h.round = static_cast<uint64_t>(i);
    EncodeHeaderTo(h, &buf);
    sink += buf.size();
  }
  const double enc = Seconds(Clock::now() - t0);
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    Result<Header> r = DecodeHeader(buf.data(), buf.size());
    sink += r.ok() ? r->sender.size() : 0;
  }
  const double dec = Seconds(Clock::now() - t0);
  std::printf("header: %zu bytes; encode %.0f ns, decode %.0f ns (sink %zu)\n", buf.size(), enc / n * 1e9,
              dec / n * 1e9, sink);

  ValidationRules rules;
  rules.known_senders = {"peer-17"};
  rules.max_elems = uint64_t{1} << 30;
  for (size_t elems : {size_t{1} << 10, size_t{1} << 18, size_t{16} << 20}) {
    std::vector<float> payload(elems, 0.25f);
    h.n_elems = elems;
    const int reps = static_cast<int>(std::max<size_t>(4, (size_t{1} << 30) / (elems * 4)));
    t0 = Clock::now();
    int ok = 0;
    for (int i = 0; i < reps; ++i) {
      ok += Validate(h, "peer-17", payload.data(), elems * 4, rules) == RejectReason::kNone;
    }
    const double s = Seconds(Clock::now() - t0);
    std::printf("Validate f32 %9zu elems: %.2f GB/s (%d/%d ok)\n", elems, reps * elems * 4.0 / s / 1e9, ok, reps);
  }
  return 0;
}
