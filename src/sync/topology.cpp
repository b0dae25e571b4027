#include "meshtrain/topology.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "common/eigen_core.h"

#include <Eigen/Eigenvalues>

namespace meshtrain {
namespace {

// SplitMix64: a tiny, well-mixed generator whose output is the same on every
// platform, so all peers draw the same random pairing from the same seed.
uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0, n) (n > 0), from one 64-bit draw; the bias is below 2^-32 for any n we meet.
size_t Below(uint64_t draw, size_t n) { return static_cast<size_t>((draw >> 11) % n); }

void Link(std::vector<std::set<size_t>>* adj, size_t a, size_t b) {
  if (a == b) return;
  (*adj)[a].insert(b);
  (*adj)[b].insert(a);
}

std::vector<std::set<size_t>> FixedGraph(TopologyKind kind, size_t n) {
  std::vector<std::set<size_t>> adj(n);
  if (n < 2) return adj;
  switch (kind) {
    case TopologyKind::kRing:
      for (size_t i = 0; i < n; ++i) Link(&adj, i, (i + 1) % n);
      break;
    case TopologyKind::kExponential:
      for (size_t i = 0; i < n; ++i) {
        for (size_t hop = 1; hop < n; hop *= 2) Link(&adj, i, (i + hop) % n);
      }
      break;
    case TopologyKind::kTorus: {
      size_t rows = 1;
      for (size_t r = 1; r * r <= n; ++r) {
        if (n % r == 0) rows = r;
      }
      const size_t cols = n / rows;
      for (size_t i = 0; i < n; ++i) {
        const size_t r = i / cols, c = i % cols;
        Link(&adj, i, r * cols + (c + 1) % cols);
        Link(&adj, i, ((r + 1) % rows) * cols + c);
      }
      break;
    }
    case TopologyKind::kRandom:
    case TopologyKind::kExplicit: break;
  }
  return adj;
}

bool Connected(const std::vector<std::vector<size_t>>& adj) {
  if (adj.empty()) return true;
  std::vector<bool> seen(adj.size(), false);
  std::vector<size_t> todo = {0};
  seen[0] = true;
  size_t count = 1;
  while (!todo.empty()) {
    const size_t at = todo.back();
    todo.pop_back();
    for (size_t next : adj[at]) {
      if (!seen[next]) {
        seen[next] = true;
        ++count;
        todo.push_back(next);
      }
    }
  }
  return count == adj.size();
}

// Edges that join the pieces of a graph: the lowest peer of each piece to the
// lowest of the next (pieces ordered by their lowest peer), so that everyone
// who sees the same graph adds the same edges.
std::vector<std::pair<size_t, size_t>> BridgeComponents(size_t n, const std::vector<std::pair<size_t, size_t>>& edges) {
  std::vector<size_t> parent(n);
  for (size_t i = 0; i < n; ++i) parent[i] = i;
  const auto find = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (const auto& [a, b] : edges) {
    if (a < n && b < n) parent[std::max(find(a), find(b))] = std::min(find(a), find(b));
  }
  std::vector<size_t> lowest;  // ascending: each piece's lowest peer, in order
  for (size_t i = 0; i < n; ++i) {
    if (find(i) == i) lowest.push_back(i);
  }
  std::vector<std::pair<size_t, size_t>> bridges;
  for (size_t k = 1; k < lowest.size(); ++k) bridges.emplace_back(lowest[k - 1], lowest[k]);
  return bridges;
}

}  // namespace

Result<Topology> Topology::Create(TopologyKind kind, size_t size, uint64_t seed,
                                  const std::vector<std::pair<size_t, size_t>>& edges) {
  if (size == 0) return Status::InvalidArgument("gossip topology: no peers");
  Topology t;
  t.kind_ = kind;
  t.size_ = size;
  t.seed_ = seed;
  if (kind != TopologyKind::kRandom) {
    std::vector<std::set<size_t>> adj = FixedGraph(kind, size);
    if (kind == TopologyKind::kExplicit) {
      for (const auto& [a, b] : edges) {
        if (a >= size || b >= size) {
          return Status::InvalidArgument("gossip topology: edge (" + std::to_string(a) + ", " + std::to_string(b) +
                                         ") names a peer beyond the " + std::to_string(size) + " of the cluster");
        }
        Link(&adj, a, b);
      }
    }
    for (const auto& s : adj) t.adjacency_.emplace_back(s.begin(), s.end());
    if (!Connected(t.adjacency_)) {
      return Status::InvalidArgument("gossip topology '" + std::string(ToString(kind)) +
                                     "': the neighbour graph is not connected, so some peers would never exchange "
                                     "parameters");
    }
    for (size_t i = 0; i < size; ++i) {
      std::vector<size_t> order = t.adjacency_[i];
      std::sort(order.begin(), order.end(),
                [&](size_t a, size_t b) { return (a + size - i) % size < (b + size - i) % size; });
      t.push_order_.push_back(std::move(order));
    }
  } else {
    for (size_t i = 0; i < size; ++i) {
      std::vector<size_t> others;
      for (size_t j = 1; j < size; ++j) others.push_back((i + j) % size);
      t.push_order_.push_back(std::move(others));
    }
  }
  t.ComputeContraction();
  return t;
}

namespace {

// The edges of cluster.peers[].neighbors between the listed ids, as indices into them.
std::vector<std::pair<size_t, size_t>> ExplicitEdges(const Config& cfg, const std::vector<std::string>& sorted_ids) {
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < sorted_ids.size(); ++i) index_of.emplace(sorted_ids[i], i);
  std::vector<std::pair<size_t, size_t>> edges;
  for (const PeerEntry& p : cfg.cluster.peers) {
    auto self = index_of.find(p.id);
    if (self == index_of.end()) continue;
    for (const std::string& n : p.neighbors) {
      auto other = index_of.find(n);
      if (other != index_of.end()) edges.emplace_back(self->second, other->second);
    }
  }
  return edges;
}

}  // namespace

Result<Topology> Topology::FromConfig(const Config& cfg, const std::vector<std::string>& sorted_ids) {
  const TopologyKind kind = cfg.sync.topology;
  if (kind != TopologyKind::kExplicit) return Create(kind, sorted_ids.size(), cfg.sync.gossip_seed);
  auto t = Create(kind, sorted_ids.size(), cfg.sync.gossip_seed, ExplicitEdges(cfg, sorted_ids));
  if (!t.ok()) return t.status().WithContext("sync.topology = 'explicit' (cluster.peers[].neighbors)");
  return t;
}

Result<Topology> Topology::ForMembers(const Config& cfg, const std::vector<std::string>& live_sorted_ids) {
  const TopologyKind kind = cfg.sync.topology;
  if (kind != TopologyKind::kExplicit) return Create(kind, live_sorted_ids.size(), cfg.sync.gossip_seed);
  std::vector<std::pair<size_t, size_t>> edges = ExplicitEdges(cfg, live_sorted_ids);
  // A view that lost peers may have cut the graph in pieces: join them up rather than refuse.
  for (const auto& bridge : BridgeComponents(live_sorted_ids.size(), edges)) edges.push_back(bridge);
  return Create(kind, live_sorted_ids.size(), cfg.sync.gossip_seed, edges);
}

std::vector<size_t> Topology::RandomPartners(uint64_t round) const {
  // Fisher-Yates with SplitMix64 keyed by (seed, round), then pair neighbours
  // in the shuffled order: a uniformly random perfect matching.
  std::vector<size_t> order(size_);
  for (size_t i = 0; i < size_; ++i) order[i] = i;
  uint64_t state = Mix64(seed_ ^ Mix64(round + 0x51ed27));
  for (size_t i = size_; i > 1; --i) {
    state = Mix64(state);
    std::swap(order[i - 1], order[Below(state, i)]);
  }
  std::vector<size_t> partner(size_);
  for (size_t i = 0; i < size_; ++i) partner[i] = i;
  for (size_t k = 0; k + 1 < size_; k += 2) {
    partner[order[k]] = order[k + 1];
    partner[order[k + 1]] = order[k];
  }
  return partner;
}

std::vector<size_t> Topology::Neighbors(size_t i, uint64_t round) const {
  if (kind_ != TopologyKind::kRandom) return adjacency_[i];
  const size_t p = RandomPartners(round)[i];
  return p == i ? std::vector<size_t>{} : std::vector<size_t>{p};
}

MixingRow Topology::Row(size_t i, uint64_t round) const {
  MixingRow row;
  if (kind_ == TopologyKind::kRandom) {
    const size_t p = RandomPartners(round)[i];
    if (p != i) {
      row.neighbors = {p};
      row.weights = {0.5};
      row.self = 0.5;
    }
    return row;
  }
  row.neighbors = adjacency_[i];
  const size_t deg_i = adjacency_[i].size();
  double sum = 0;
  for (size_t j : row.neighbors) {
    const double w = 1.0 / (1.0 + static_cast<double>(std::max(deg_i, adjacency_[j].size())));
    row.weights.push_back(w);
    sum += w;
  }
  row.self = 1.0 - sum;
  return row;
}

std::vector<double> Topology::Matrix(uint64_t round) const {
  std::vector<double> m(size_ * size_, 0.0);
  for (size_t i = 0; i < size_; ++i) {
    const MixingRow row = Row(i, round);
    m[i * size_ + i] = row.self;
    for (size_t k = 0; k < row.neighbors.size(); ++k) m[i * size_ + row.neighbors[k]] = row.weights[k];
  }
  return m;
}

void Topology::ComputeContraction() {
  const auto n = static_cast<Eigen::Index>(size_);
  if (n < 2) {
    contraction_ = 0;
    return;
  }
  Eigen::MatrixXd w(n, n);
  if (kind_ == TopologyKind::kRandom) {
    // E[W] over uniformly random pairings: a peer is left out with probability
    // 1/N when N is odd; otherwise it averages with one of the N-1 others.
    const double nd = static_cast<double>(size_);
    const double matched = size_ % 2 == 0 ? 1.0 : 1.0 - 1.0 / nd;
    const double off = matched / (2.0 * (nd - 1.0));
    w.setConstant(off);
    w.diagonal().setConstant(1.0 - matched / 2.0);
  } else {
    const std::vector<double> m = Matrix(0);
    for (Eigen::Index r = 0; r < n; ++r) {
      for (Eigen::Index c = 0; c < n; ++c) w(r, c) = m[static_cast<size_t>(r * n + c)];
    }
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(w, Eigen::EigenvaluesOnly);
  const Eigen::VectorXd ev = solver.eigenvalues();  // ascending; ev[n-1] = 1 for a connected graph
  const double second = std::max(std::abs(ev[0]), std::abs(ev[n - 2]));
  contraction_ = kind_ == TopologyKind::kRandom ? std::sqrt(std::max(second, 0.0)) : second;
}

size_t Topology::PushTarget(size_t i, uint64_t k) const {
  if (size_ < 2) return i;
  if (kind_ == TopologyKind::kRandom) {
    const uint64_t draw = Mix64(seed_ ^ Mix64((static_cast<uint64_t>(i) << 40) ^ k ^ 0x9a55u));
    return (i + 1 + Below(draw, size_ - 1)) % size_;
  }
  const auto& order = push_order_[i];
  return order[k % order.size()];
}

std::vector<size_t> Topology::PushTargets(size_t i) const { return push_order_[i]; }

std::string Topology::Describe() const {
  size_t max_degree = kind_ == TopologyKind::kRandom ? (size_ > 1 ? 1 : 0) : 0;
  for (const auto& a : adjacency_) max_degree = std::max(max_degree, a.size());
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%s over %zu peers (degree up to %zu), contraction %.3f per round", ToString(kind_).data(),
                size_, max_degree, contraction_);
  return buf;
}

}  // namespace meshtrain
