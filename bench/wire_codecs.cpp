// Codec throughput (codec.h): encode, decode and accumulate (decode + add
// into fp32, what a ring hop does), in GB/s of fp32 input, for every codec and
// a few tensor sizes; plus the payload size relative to f32. Single thread.
// Usage: bench_wire_codecs [--elems N] (default: 64 Ki, 1 Mi and 16 Mi floats)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "meshtrain/codec.h"

using namespace meshtrain;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Gradient-like values: mostly small, a few large.
std::vector<float> Values(size_t n) {
  std::vector<float> x(n);
  uint64_t s = 88172645463325252ull;
  for (auto& v : x) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    const float u = static_cast<float>(s & 0xFFFFFF) / static_cast<float>(1 << 24) - 0.5f;
    v = (s >> 60) == 0 ? u : u * 0.01f;
  }
  return x;
}

// Best of `reps` timings of fn(), in seconds (the machine is shared: the best
// run is the one least disturbed).
template <typename Fn>
double Best(int reps, Fn fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, Seconds(Clock::now() - t0));
  }
  return best;
}

struct Row {
  const char* name;
  CodecSpec spec;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {size_t{64} << 10, size_t{1} << 20, size_t{16} << 20};
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--elems") == 0) sizes = {static_cast<size_t>(std::strtoull(argv[i + 1], nullptr, 10))};
  }
  std::vector<Row> rows;
  auto add = [&](const char* name, Compression c, Rounding r = Rounding::kNearest, double ratio = 0.01) {
    CodecSpec spec;
    spec.compression = c;
    spec.rounding = r;
    spec.topk_ratio = ratio;
    rows.push_back({name, spec});
  };
  add("f32 (none)", Compression::kNone);
  add("fp16", Compression::kFP16);
  add("bf16", Compression::kBF16);
  add("int8 nearest", Compression::kInt8);
  add("int8 stochastic", Compression::kInt8, Rounding::kStochastic);
  add("topk 1%", Compression::kTopK, Rounding::kNearest, 0.01);
  add("topk 10%", Compression::kTopK, Rounding::kNearest, 0.10);

  std::printf("GB/s of fp32 input (best of several runs, one thread)\n");
  std::printf("%-16s %10s %8s %10s %10s %10s\n", "codec", "floats", "size", "encode", "decode", "accumulate");
  double sink = 0;
  for (size_t n : sizes) {
    const std::vector<float> x = Values(n);
    std::vector<float> out(n), acc(n, 0.0f);
    const int reps = static_cast<int>(std::clamp<size_t>((size_t{256} << 20) / (n * 4), 3, 200));
    const double gb = static_cast<double>(n) * 4 / 1e9;
    for (const Row& row : rows) {
      EncodedTensor e;
      EncodeTensor(row.spec, x, 1, &e);  // warm-up, and sizes the payload once
      uint64_t seed = 0;
      const double enc = Best(reps, [&] { EncodeTensor(row.spec, x, ++seed, &e); });
      const double dec = Best(reps, [&] {
        if (!DecodeTensor(e.dtype, e.n_elems, e.bytes.data(), e.bytes.size(), out).ok()) std::abort();
      });
      const double accum = Best(reps, [&] {
        if (!AccumulateTensor(e.dtype, e.n_elems, e.bytes.data(), e.bytes.size(), acc).ok()) std::abort();
      });
      sink += out[n / 2] + acc[n / 3];
      std::printf("%-16s %10zu %8.4f %10.2f %10.2f %10.2f\n", row.name, n,
                  static_cast<double>(e.bytes.size()) / (static_cast<double>(n) * 4), gb / enc, gb / dec, gb / accum);
    }
  }
  std::printf("(size: payload bytes / f32 bytes; sink %g)\n", sink);
  return 0;
}
