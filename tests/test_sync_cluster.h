// Helpers for the sync tests: a cluster of PeerGroups on 127.0.0.1 with
// OS-chosen free ports, one thread per peer. Private to tests/test_sync_*.cpp.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/peer_group.h"
#include "support/process.h"

namespace meshtrain::testing {

// (append, not operator+: GCC 12 warns falsely about "p" + std::to_string at -O2.)
inline std::string PeerId(size_t i) {
  std::string id = "p";
  id.append(std::to_string(i));
  return id;
}

// The Config of peer `self` in a cluster listening on `ports`.
// sync.direct_max_bytes (and pair_direct_max_bytes) is 0 unless asked for: these tests are about the ring
// (test_sync_direct_allreduce.cpp covers the direct exchange).
inline Config TestPeerConfig(const std::vector<int>& ports, size_t self, int64_t timeout_ms = 20000,
                            int64_t chunk_bytes = 1 << 20, int64_t direct_max_bytes = 0) {
  Config cfg;
  for (size_t i = 0; i < ports.size(); ++i) {
    cfg.cluster.peers.push_back({PeerId(i), "tcp://127.0.0.1:" + std::to_string(ports[i])});
  }
  cfg.self_id = PeerId(self);
  cfg.self_index = self;
  cfg.sync.mode = SyncMode::kRing;
  cfg.sync.timeout_ms = timeout_ms;
  cfg.sync.chunk_bytes = chunk_bytes;
  cfg.sync.direct_max_bytes = direct_max_bytes;
  cfg.sync.pair_direct_max_bytes = direct_max_bytes;  // two peers too: the threshold asked for, nothing larger
  cfg.transport.linger_ms = 100;
  return cfg;
}

struct LocalCluster {
  std::vector<int> ports;
  std::vector<std::unique_ptr<PeerGroup>> groups;  // null for peers not started
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < ports.size(); ++i) out.push_back(PeerId(i));
    return out;
  }
};

// A deterministic value in [0.5, 1.5) for element i of `rank`'s buffer in `round`:
// sums of them are far from zero, so a relative tolerance means something.
inline float RandomValue(size_t rank, size_t i, uint64_t round) {
  uint64_t x = (rank + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xBF58476D1CE4E5B9ull ^ (round + 1) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  return 0.5f + static_cast<float>(x & 0xFFFFFF) / static_cast<float>(1 << 24);
}

// Creates peers 0..started-1 of an n-peer cluster (the others never start).
// Retries with new ports if one was taken between picking and binding.
// `adjust`, if given, changes each peer's Config before its group is created.
inline LocalCluster StartCluster(size_t n, size_t started, int64_t timeout_ms = 20000,
                                 int64_t chunk_bytes = 1 << 20, int64_t direct_max_bytes = 0,
                                 const std::function<void(Config&)>& adjust = nullptr) {
  for (int attempt = 0;; ++attempt) {
    LocalCluster c;
    for (size_t i = 0; i < n; ++i) c.ports.push_back(FreeLoopbackPort());
    bool ok = true;
    for (size_t i = 0; i < started && ok; ++i) {
      Config cfg = TestPeerConfig(c.ports, i, timeout_ms, chunk_bytes, direct_max_bytes);
      if (adjust) adjust(cfg);
      auto g = PeerGroup::Create(cfg);
      if (!g.ok()) {
        ok = false;
        if (attempt >= 4) FAIL(g.status().ToString());
        break;
      }
      c.groups.push_back(std::move(g.value()));
    }
    if (ok) {
      c.groups.resize(n);
      return c;
    }
  }
}

// Runs fn(rank) on one thread per listed rank and joins them all.
inline std::vector<Status> OnEachPeer(const std::vector<size_t>& ranks, const std::function<Status(size_t)>& fn) {
  std::vector<Status> results(ranks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ranks.size(); ++i) threads.emplace_back([&, i] { results[i] = fn(ranks[i]); });
  for (auto& t : threads) t.join();
  return results;
}

inline std::vector<size_t> AllRanks(size_t n) {
  std::vector<size_t> r;
  for (size_t i = 0; i < n; ++i) r.push_back(i);
  return r;
}

}  // namespace meshtrain::testing
