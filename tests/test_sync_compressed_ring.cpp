// The ring with the compression codecs (EncodedRingCodec) alone, over in-memory links between threads: every
// codec gives bit-identical results on every peer within the error its hops
// allow, the exact tail stays exact, error feedback loses nothing (what the
// rounds delivered plus what the residuals hold is what was put in), NaN
// pieces are contained, and the payload bytes shrink by the codec's factor.
// The same algorithm over real sockets is in test_sync_compressed_allreduce.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "support/memory_ring_network.h"
#include "sync/ring_codecs.h"

using namespace meshtrain;

namespace {

using testing::MemoryLinks;
using MemoryNetwork = testing::MemoryRingNetwork;

// One round of the ring with the compression codec `how`.
Status RunEncoded(std::span<float> buf, size_t segment, const CompressedReduce& how, uint64_t seed, size_t rank,
                  size_t n, RingLinks& links) {
  EncodedRingCodec codec(how, seed);
  return RingAllreduce(segment).Run(buf, rank, n, links, codec);
}

float Value(size_t rank, size_t i, uint64_t round) {
  uint64_t x = (rank + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xBF58476D1CE4E5B9ull ^ (round + 7) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  // Gradient-like: mostly small, a few larger ones.
  const float u = static_cast<float>(x & 0xFFFFFF) / static_cast<float>(1 << 24) - 0.5f;
  return (x >> 60) == 0 ? u : u * 0.01f;
}

struct Setup {
  size_t n = 4;
  size_t len = 1000;
  size_t segment = 1 << 18;
  CodecSpec codec;
  size_t exact_tail = 0;
  bool feedback = false;
};

struct Outcome {
  std::vector<std::vector<float>> results;    // per rank
  std::vector<std::vector<float>> residuals;  // per rank (empty without feedback)
  std::vector<size_t> payload_bytes;          // per rank, summed over the rounds
};

// Runs `rounds` rounds on n threads; inputs[r][round] is peer r's buffer.
Outcome RunRounds(const Setup& s, const std::vector<std::vector<std::vector<float>>>& inputs, size_t rounds) {
  Outcome o;
  o.results.resize(s.n);
  o.residuals.assign(s.n, std::vector<float>(s.feedback ? s.len - s.exact_tail : 0, 0.0f));
  o.payload_bytes.assign(s.n, 0);
  for (size_t round = 0; round < rounds; ++round) {
    MemoryNetwork net;
    std::vector<Status> statuses(s.n);
    std::vector<std::thread> threads;
    for (size_t r = 0; r < s.n; ++r) {
      threads.emplace_back([&, r] {
        MemoryLinks links(&net, r, s.n);
        o.results[r] = inputs[r][round];
        CompressedReduce how;
        how.codec = s.codec;
        how.exact_tail = s.exact_tail;
        how.residual = o.residuals[r];
        statuses[r] = RunEncoded(o.results[r], s.segment, how, round * 31 + 5, r, s.n, links);
        o.payload_bytes[r] += links.payload_bytes_sent;
      });
    }
    for (auto& t : threads) t.join();
    for (const Status& st : statuses) REQUIRE_MESSAGE(st.ok(), st.ToString());
    for (size_t r = 1; r < s.n; ++r) {
      REQUIRE(o.results[r].size() == s.len);
      REQUIRE_MESSAGE(std::memcmp(o.results[r].data(), o.results[0].data(), s.len * sizeof(float)) == 0,
                      "peer " << r << " differs from peer 0 in round " << round);
    }
  }
  return o;
}

std::vector<std::vector<std::vector<float>>> Inputs(const Setup& s, size_t rounds) {
  std::vector<std::vector<std::vector<float>>> in(s.n);
  for (size_t r = 0; r < s.n; ++r) {
    for (size_t k = 0; k < rounds; ++k) {
      std::vector<float> buf(s.len);
      for (size_t i = 0; i < s.len; ++i) buf[i] = Value(r, i, k);
      // The exact tail: sample counts and a loss-like value.
      for (size_t i = s.len - s.exact_tail; i < s.len; ++i) buf[i] = static_cast<float>(64 + r);
      in[r].push_back(std::move(buf));
    }
  }
  return in;
}

CodecSpec Spec(Compression c, Rounding r = Rounding::kNearest, double ratio = 0.01) {
  CodecSpec spec;
  spec.compression = c;
  spec.rounding = r;
  spec.topk_ratio = ratio;
  return spec;
}

std::string_view Name(const CodecSpec& c) {
  if (c.compression == Compression::kInt8 && c.rounding == Rounding::kStochastic) return "int8 stochastic";
  return ToString(c.compression);
}

}  // namespace

TEST_CASE("dense codecs: bit-identical on every peer, within the hops' error of the exact sum") {
  for (const CodecSpec& codec : {Spec(Compression::kNone), Spec(Compression::kFP16), Spec(Compression::kBF16),
                                 Spec(Compression::kInt8), Spec(Compression::kInt8, Rounding::kStochastic)}) {
    for (size_t n : {2, 3, 4, 5}) {
      for (size_t len : {size_t{1}, n - 1, n + 1, size_t{1000}, size_t{100003}}) {
        for (size_t tail : {size_t{0}, size_t{2}}) {
          if (tail > len) continue;
          CAPTURE(std::string(Name(codec)));
          CAPTURE(n);
          CAPTURE(len);
          CAPTURE(tail);
          Setup s;
          s.n = n;
          s.len = len;
          s.segment = 4096;  // several pieces per chunk for the long buffers
          s.codec = codec;
          s.exact_tail = tail;
          const auto in = Inputs(s, 1);
          const Outcome o = RunRounds(s, in, 1);
          // Each of the N encodes a value goes through (N-1 hops and the owner's)
          // errs by at most the codec's bound for the partial sum it carries.
          double sum_of_max = 0;  // int8: the scale of a partial sum is at most sum_r max|x_r| / 127
          for (size_t r = 0; r < n; ++r) {
            float m = 0;
            for (size_t i = 0; i + tail < len; ++i) m = std::max(m, std::fabs(in[r][0][i]));
            sum_of_max += m;
          }
          bool ok = true;
          for (size_t i = 0; i < len && ok; ++i) {
            double exact = 0, magnitude = 0;
            for (size_t r = 0; r < n; ++r) {
              exact += in[r][0][i];
              magnitude += std::fabs(in[r][0][i]);
            }
            const double err = std::fabs(o.results[0][i] - exact);
            double bound = 1e-6 * magnitude;  // fp32 rounding of the sums themselves
            if (i >= len - tail) {
              bound = 0;  // exact floats: small integers add exactly
            } else if (codec.compression == Compression::kFP16) {
              bound += n * (0x1.0p-11 * magnitude + 0x1.0p-25);
            } else if (codec.compression == Compression::kBF16) {
              bound += n * 0x1.0p-8 * magnitude;
            } else if (codec.compression == Compression::kInt8) {
              bound += n * (codec.rounding == Rounding::kNearest ? 0.5 : 1.0) * sum_of_max / 127 * (1 + 1e-5);
            }
            if (err > bound) {
              ok = false;
              FAIL_CHECK("element " << i << ": " << o.results[0][i] << " vs exact " << exact << " (bound " << bound
                                    << ")");
            }
          }
        }
      }
    }
  }
}

TEST_CASE("topk without feedback: the exact sum of every peer's largest entries") {
  for (size_t n : {2, 4}) {
    for (double ratio : {0.01, 0.3}) {
      CAPTURE(n);
      CAPTURE(ratio);
      Setup s;
      s.n = n;
      s.len = 20011;
      s.segment = 2048;
      s.codec = Spec(Compression::kTopK, Rounding::kNearest, ratio);
      s.exact_tail = 2;
      const auto in = Inputs(s, 1);
      const Outcome o = RunRounds(s, in, 1);
      const RingLayout layout = RingAllreduce(s.segment).LayoutFor(s.len, n);
      std::vector<double> expected(s.len, 0.0), magnitude(s.len, 0.0);
      for (size_t r = 0; r < n; ++r) {
        for (size_t p = 0; p < layout.n_pieces(); ++p) {
          const RingLayout::Piece piece = layout.piece(p);
          const size_t body = std::min(piece.size, s.len - s.exact_tail - std::min(piece.offset, s.len - s.exact_tail));
          std::vector<uint32_t> kept;
          SelectTopK(in[r][0].data() + piece.offset, body, TopKCount(body, ratio), &kept);
          for (uint32_t k : kept) {
            expected[piece.offset + k] += in[r][0][piece.offset + k];
            magnitude[piece.offset + k] += std::fabs(in[r][0][piece.offset + k]);
          }
        }
        for (size_t i = s.len - s.exact_tail; i < s.len; ++i) expected[i] += in[r][0][i];
      }
      size_t nonzero = 0;
      for (size_t i = 0; i < s.len; ++i) {
        REQUIRE(std::fabs(o.results[0][i] - expected[i]) <= 1e-6 * magnitude[i]);
        nonzero += o.results[0][i] != 0;
      }
      CHECK(nonzero > 0);
      CHECK(o.results[0][s.len - 1] == static_cast<float>(64 * n + n * (n - 1) / 2));
    }
  }
}

TEST_CASE("error feedback: delivered sums plus every residual equal everything put in") {
  for (const CodecSpec& codec : {Spec(Compression::kFP16), Spec(Compression::kBF16), Spec(Compression::kInt8),
                                 Spec(Compression::kInt8, Rounding::kStochastic),
                                 Spec(Compression::kTopK, Rounding::kNearest, 0.01)}) {
    CAPTURE(std::string(Name(codec)));
    Setup s;
    s.n = 4;
    s.len = 30002;
    s.segment = 4096;
    s.codec = codec;
    s.exact_tail = 2;
    s.feedback = true;
    const size_t rounds = 30;
    const auto in = Inputs(s, rounds);
    // Round by round, so the delivered sums can be added up.
    std::vector<double> delivered(s.len, 0.0), given(s.len, 0.0);
    {
      Outcome o;
      o.residuals.assign(s.n, std::vector<float>(s.len - s.exact_tail, 0.0f));
      for (size_t round = 0; round < rounds; ++round) {
        MemoryNetwork net;
        std::vector<std::vector<float>> results(s.n);
        std::vector<Status> statuses(s.n);
        std::vector<std::thread> threads;
        for (size_t r = 0; r < s.n; ++r) {
          threads.emplace_back([&, r] {
            MemoryLinks links(&net, r, s.n);
            results[r] = in[r][round];
            CompressedReduce how;
            how.codec = codec;
            how.exact_tail = s.exact_tail;
            how.residual = o.residuals[r];
            statuses[r] = RunEncoded(results[r], s.segment, how, round, r, s.n, links);
          });
        }
        for (auto& t : threads) t.join();
        for (const Status& st : statuses) REQUIRE(st.ok());
        for (size_t r = 1; r < s.n; ++r) REQUIRE(results[r] == results[0]);
        for (size_t i = 0; i < s.len; ++i) {
          delivered[i] += results[0][i];
          for (size_t r = 0; r < s.n; ++r) given[i] += in[r][round][i];
        }
      }
      double worst = 0, largest_residual = 0;
      for (size_t i = 0; i < s.len; ++i) {
        double held = 0;
        if (i < s.len - s.exact_tail) {
          for (size_t r = 0; r < s.n; ++r) {
            held += o.residuals[r][i];
            largest_residual = std::max(largest_residual, static_cast<double>(std::fabs(o.residuals[r][i])));
          }
        }
        worst = std::max(worst, std::fabs(delivered[i] + held - given[i]));
      }
      MESSAGE(Name(codec) << ": largest |delivered + residuals - given| " << worst << ", largest residual "
                          << largest_residual);
      CHECK(worst < 1e-4);
      CHECK(delivered[s.len - 1] == given[s.len - 1]);  // the exact tail
    }
  }
}

TEST_CASE("a NaN in one peer's piece makes that piece NaN everywhere and spares the residual") {
  Setup s;
  s.n = 3;
  s.len = 3000;
  s.segment = 256;
  s.codec = Spec(Compression::kInt8);
  s.exact_tail = 2;
  s.feedback = true;
  auto in = Inputs(s, 1);
  in[1][0][700] = std::nanf("");
  const Outcome o = RunRounds(s, in, 1);
  const RingLayout layout = RingAllreduce(s.segment).LayoutFor(s.len, s.n);
  size_t bad_piece = 0;
  for (size_t p = 0; p < layout.n_pieces(); ++p) {
    if (layout.piece(p).offset <= 700 && 700 < layout.piece(p).offset + layout.piece(p).size) bad_piece = p;
  }
  const RingLayout::Piece bad = layout.piece(bad_piece);
  for (size_t i = 0; i < s.len; ++i) {
    const bool inside = i >= bad.offset && i < bad.offset + bad.size;
    CHECK(std::isnan(o.results[0][i]) == inside);
  }
  // Peer 1 kept nothing for the NaN piece (it never went in); the others did send theirs.
  for (size_t i = bad.offset; i < bad.offset + bad.size; ++i) CHECK(o.residuals[1][i] == 0.0f);
  for (float r : o.residuals[1]) CHECK(std::isfinite(r));
}

TEST_CASE("payload bytes per peer shrink by the codec's factor") {
  Setup s;
  s.n = 4;
  s.len = 1 << 18;
  s.segment = 1 << 14;
  const auto run = [&](const CodecSpec& codec) {
    s.codec = codec;
    const auto in = Inputs(s, 1);
    const Outcome o = RunRounds(s, in, 1);
    return static_cast<double>(o.payload_bytes[0]);
  };
  const double f32 = run(Spec(Compression::kNone));
  CHECK(f32 == doctest::Approx(2.0 * 3 / 4 * s.len * 4));
  CHECK(run(Spec(Compression::kFP16)) / f32 == doctest::Approx(0.5));
  CHECK(run(Spec(Compression::kBF16)) / f32 == doctest::Approx(0.5));
  CHECK(run(Spec(Compression::kInt8)) / f32 == doctest::Approx(0.25).epsilon(0.001));
  // topk 1%: each peer's share is sparse; partial sums hold the union of up to
  // N peers' entries: between 2% (all peers pick the same) and 6% (all differ).
  const double topk = run(Spec(Compression::kTopK, Rounding::kNearest, 0.01)) / f32;
  MESSAGE("topk 1% payload ratio " << topk);
  CHECK(topk >= 0.02);
  CHECK(topk <= 0.06 + 1e-3);
}
