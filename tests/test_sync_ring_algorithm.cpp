// The ring algorithm alone with the f32 codec, over in-memory links between threads: the layout
// arithmetic, exact sums for every small length and ring size, bit-identical
// results, the traffic each peer sends, and NaN handling. The same algorithm
// over real sockets is in test_sync_allreduce.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <thread>
#include <tuple>

#include "meshtrain/ring_allreduce.h"
#include "support/memory_ring_network.h"
#include "sync/ring_codecs.h"

using namespace meshtrain;

namespace {

using testing::MemoryLinks;
using MemoryNetwork = testing::MemoryRingNetwork;

// Runs one all-reduce over `inputs` (one buffer per rank) in threads.
std::vector<Status> RunRing(std::vector<std::vector<float>>& inputs, size_t segment,
                            std::vector<size_t>* floats_sent = nullptr) {
  const size_t n = inputs.size();
  MemoryNetwork net;
  std::vector<Status> results(n);
  std::vector<std::unique_ptr<MemoryLinks>> links;
  for (size_t r = 0; r < n; ++r) links.push_back(std::make_unique<MemoryLinks>(&net, r, n));
  std::vector<std::thread> threads;
  for (size_t r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      RingAllreduce ring(segment);
      F32RingCodec f32;
      results[r] = ring.Run(inputs[r], r, n, *links[r], f32);
    });
  }
  for (auto& t : threads) t.join();
  if (floats_sent) {
    floats_sent->clear();
    for (auto& l : links) floats_sent->push_back(l->payload_bytes_sent / sizeof(float));
  }
  return results;
}

}  // namespace

TEST_CASE("RingLayout cuts a buffer into near-equal chunks and bounded segments") {
  RingLayout layout(10, 3, 2);  // chunks 4, 3, 3
  CHECK(layout.chunk_begin(0) == 0);
  CHECK(layout.chunk_size(0) == 4);
  CHECK(layout.chunk_begin(1) == 4);
  CHECK(layout.chunk_size(1) == 3);
  CHECK(layout.chunk_begin(2) == 7);
  CHECK(layout.chunk_size(2) == 3);
  CHECK(layout.segments_in_chunk(0) == 2);
  CHECK(layout.segments_in_chunk(1) == 2);
  CHECK(layout.n_pieces() == 6);
  const auto p = layout.piece(3);
  CHECK(p.chunk == 1);
  CHECK(p.segment == 1);
  CHECK(p.offset == 6);
  CHECK(p.size == 1);

  // Fewer elements than chunks: the last chunks are empty and own no pieces.
  RingLayout tiny(2, 5, 4);
  CHECK(tiny.n_pieces() == 2);
  CHECK(tiny.chunk_size(4) == 0);
  CHECK(tiny.piece(1).chunk == 1);
  CHECK(tiny.piece(1).offset == 1);

  // Every element belongs to exactly one piece, in order.
  for (size_t total : {0, 1, 5, 17, 1000}) {
    for (size_t n : {1, 2, 3, 7}) {
      for (size_t seg : {1, 3, 64}) {
        RingLayout l(total, n, seg);
        size_t next = 0;
        for (size_t i = 0; i < l.n_pieces(); ++i) {
          const auto piece = l.piece(i);
          CHECK(piece.offset == next);
          CHECK(piece.size >= 1);
          CHECK(piece.size <= seg);
          CHECK(l.piece_index(piece.chunk, piece.segment) == i);
          next += piece.size;
        }
        CHECK(next == total);
      }
    }
  }
}

TEST_CASE("LayoutFor caps the segments per chunk") {
  RingAllreduce ring(1);
  const RingLayout layout = ring.LayoutFor(1'000'000, 2);
  CHECK(layout.segments_in_chunk(0) <= RingAllreduce::kMaxSegmentsPerChunk);
  CHECK(layout.segment_elems() >= 500'000 / RingAllreduce::kMaxSegmentsPerChunk);
  CHECK(RingAllreduce(4096).LayoutFor(100, 3).segment_elems() == 4096);
}

TEST_CASE("exact integer sums for every small length and ring size, identical on every peer") {
  for (size_t n = 1; n <= 6; ++n) {
    for (size_t len = 0; len <= 3 * n + 2; ++len) {
      for (size_t segment : {1, 2, 5}) {
        CAPTURE(n);
        CAPTURE(len);
        CAPTURE(segment);
        std::vector<std::vector<float>> bufs(n, std::vector<float>(len));
        std::vector<float> expected(len, 0.0f);
        for (size_t r = 0; r < n; ++r) {
          for (size_t i = 0; i < len; ++i) {
            bufs[r][i] = static_cast<float>(static_cast<int>((i * 31 + r * 17) % 101) - 50);
            expected[i] += bufs[r][i];
          }
        }
        for (const Status& st : RunRing(bufs, segment)) REQUIRE_MESSAGE(st.ok(), st.ToString());
        for (size_t r = 0; r < n; ++r) CHECK(bufs[r] == expected);
      }
    }
  }
}

TEST_CASE("each peer sends 2(N-1)/N of the buffer") {
  for (size_t n : {2, 3, 4, 5}) {
    const size_t len = 60 * 1000;  // divisible by every n here
    std::vector<std::vector<float>> bufs(n, std::vector<float>(len, 1.0f));
    std::vector<size_t> sent;
    for (const Status& st : RunRing(bufs, 1000, &sent)) REQUIRE(st.ok());
    for (size_t r = 0; r < n; ++r) CHECK(sent[r] == 2 * (n - 1) * len / n);
  }
}

TEST_CASE("random floats: results are bit-identical on every peer and close to the exact sum") {
  std::vector<std::vector<float>> bufs(4, std::vector<float>(10'001));
  uint32_t state = 12345;
  for (auto& b : bufs) {
    for (float& x : b) {
      state = state * 1664525u + 1013904223u;
      x = 0.5f + static_cast<float>(state >> 8) / static_cast<float>(1u << 24);
    }
  }
  std::vector<double> exact(bufs[0].size(), 0.0);
  for (auto& b : bufs) {
    for (size_t i = 0; i < b.size(); ++i) exact[i] += b[i];
  }
  for (const Status& st : RunRing(bufs, 777)) REQUIRE(st.ok());
  for (size_t r = 1; r < bufs.size(); ++r) {
    CHECK(std::memcmp(bufs[r].data(), bufs[0].data(), bufs[0].size() * sizeof(float)) == 0);
  }
  for (size_t i = 0; i < exact.size(); ++i) CHECK(std::abs(bufs[0][i] - exact[i]) <= 1e-5 * std::abs(exact[i]));
}

TEST_CASE("a NaN or an overflow makes its piece NaN on every peer, and only that piece") {
  const size_t n = 3, len = 30, segment = 4;
  std::vector<std::vector<float>> bufs(n, std::vector<float>(len, 1.0f));
  bufs[1][2] = std::nanf("");                                     // piece of chunk 0
  bufs[0][15] = bufs[2][15] = std::numeric_limits<float>::max();  // overflows in the sum, chunk 1
  for (const Status& st : RunRing(bufs, segment)) REQUIRE(st.ok());
  const RingLayout layout(len, n, segment);
  for (size_t r = 0; r < n; ++r) {
    CHECK(std::memcmp(bufs[r].data(), bufs[0].data(), len * sizeof(float)) == 0);
    for (size_t i = 0; i < layout.n_pieces(); ++i) {
      const auto p = layout.piece(i);
      const bool poisoned = (p.offset <= 2 && 2 < p.offset + p.size) || (p.offset <= 15 && 15 < p.offset + p.size);
      for (size_t k = p.offset; k < p.offset + p.size; ++k) {
        if (poisoned) {
          CHECK(std::isnan(bufs[r][k]));
        } else {
          CHECK(bufs[r][k] == 3.0f);
        }
      }
    }
  }
}
