#include "config/cluster_checks.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "config/text_checks.h"
#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string IdList(const std::vector<PeerEntry>& peers) {
  std::vector<std::string> ids;
  for (const PeerEntry& p : peers) ids.push_back(p.id);
  return JoinQuoted(ids);
}

// Ids well-formed and unique, endpoints well-formed and unique. Returns whether all were.
bool CheckPeers(LoadState* state) {
  const auto& peers = state->config.cluster.peers;
  Diagnostics& diagnostics = state->diagnostics;
  const size_t errors_before = diagnostics.size();
  std::map<std::string, size_t> first_with_id, first_with_endpoint;
  for (size_t i = 0; i < peers.size(); ++i) {
    const PeerOrigin& origin = state->peer_origins[i];
    const std::string name = "cluster.peers[" + std::to_string(i) + "]";
    if (!origin.complete) continue;  // already reported by the reader
    if (std::string why = PeerIdProblem(peers[i].id); !why.empty()) {
      diagnostics.Add(origin.id, name + ".id: " + why + " (got " + Quote(peers[i].id) + ")");
    } else if (auto [it, added] = first_with_id.emplace(peers[i].id, i); !added) {
      diagnostics.Add(origin.id, name + ".id: duplicate peer id " + Quote(peers[i].id) + " (also cluster.peers[" +
                                     std::to_string(it->second) + "] at line " +
                                     std::to_string(state->peer_origins[it->second].id.line) + ")");
    }
    if (std::string why = EndpointProblem(peers[i].endpoint); !why.empty()) {
      diagnostics.Add(origin.endpoint, name + ".endpoint: " + why + " (got " + Quote(peers[i].endpoint) + ")");
    } else if (auto [it, added] = first_with_endpoint.emplace(Lower(peers[i].endpoint), i); !added) {
      diagnostics.Add(origin.endpoint, name + ".endpoint: duplicate endpoint " + Quote(peers[i].endpoint) +
                                           " (also cluster.peers[" + std::to_string(it->second) + "] '" +
                                           peers[it->second].id + "' at line " +
                                           std::to_string(state->peer_origins[it->second].endpoint.line) + ")");
    }
  }
  return diagnostics.size() == errors_before;
}

// Each neighbour names another peer of the list, at most once. Run on the list as written.
void CheckNeighborNames(LoadState* state) {
  const auto& peers = state->config.cluster.peers;
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < peers.size(); ++i) index_of.emplace(peers[i].id, i);
  for (size_t i = 0; i < peers.size(); ++i) {
    const std::string name = "cluster.peers[" + std::to_string(i) + "].neighbors";
    std::map<std::string, int> seen;
    for (const std::string& n : peers[i].neighbors) {
      const Origin& at = state->peer_origins[i].neighbors;
      if (n == peers[i].id) {
        state->diagnostics.Add(at, name + ": a peer cannot be its own neighbour (got " + Quote(n) + ")");
      } else if (index_of.count(n) == 0) {
        state->diagnostics.Add(at, name + ": " + Quote(n) + " is not in cluster.peers; ids are " + IdList(peers));
      } else if (++seen[n] == 2) {
        state->diagnostics.Add(at, name + ": " + Quote(n) + " is listed twice");
      }
    }
  }
}

// Gossip over sync.topology = "explicit": the peers kept by cluster.size, linked by
// every edge listed on either side (edges to peers not kept are dropped), must
// form one connected graph, or some peers would never exchange parameters.
void CheckExplicitGraph(LoadState* state) {
  const Config& c = state->config;
  if (c.sync.mode != SyncMode::kGossip || c.sync.topology != TopologyKind::kExplicit) return;
  if (c.cluster.peers.size() < 2) return;
  const auto& peers = c.cluster.peers;
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < peers.size(); ++i) index_of.emplace(peers[i].id, i);
  std::vector<std::vector<size_t>> adjacent(peers.size());
  for (size_t i = 0; i < peers.size(); ++i) {
    for (const std::string& n : peers[i].neighbors) {
      auto it = index_of.find(n);
      if (it == index_of.end()) continue;
      adjacent[i].push_back(it->second);
      adjacent[it->second].push_back(i);
    }
  }
  std::vector<bool> reached(peers.size(), false);
  std::vector<size_t> todo = {0};
  reached[0] = true;
  while (!todo.empty()) {
    const size_t at = todo.back();
    todo.pop_back();
    for (size_t next : adjacent[at]) {
      if (!reached[next]) {
        reached[next] = true;
        todo.push_back(next);
      }
    }
  }
  std::vector<std::string> cut_off;
  for (size_t i = 0; i < peers.size(); ++i) {
    if (!reached[i]) cut_off.push_back(peers[i].id);
  }
  if (cut_off.empty()) return;
  state->diagnostics.Add(state->OriginOf("sync.topology"),
                         "sync.topology = 'explicit': the neighbour graph of cluster.peers[*].neighbors is not "
                         "connected: " + JoinQuoted(cut_off) + " cannot reach " + Quote(peers[0].id) +
                         "; add neighbors that link them");
}

void PickSelf(const std::string& id_argument, const std::vector<PeerEntry>& listed, LoadState* state) {
  Config& config = state->config;
  const auto& peers = config.cluster.peers;
  const bool from_argument = !id_argument.empty();
  std::string wanted = from_argument ? id_argument : config.self_id;
  if (id_argument == kAnyPeerId && !peers.empty()) wanted = peers[0].id;
  if (wanted.empty()) {
    if (peers.size() == 1) {
      config.self_id = peers[0].id;
      config.self_index = 0;
      return;
    }
    state->diagnostics.Add(Origin{}, "no peer id: pass --id or set [peer] id; the cluster has " +
                                         std::to_string(peers.size()) + " peers: " + IdList(peers));
    return;
  }
  auto is_wanted = [&](const PeerEntry& p) { return p.id == wanted; };
  if (auto it = std::find_if(peers.begin(), peers.end(), is_wanted); it != peers.end()) {
    config.self_id = wanted;
    config.self_index = static_cast<size_t>(it - peers.begin());
    return;
  }
  const Origin origin = from_argument ? Origin{} : state->OriginOf("peer.id");
  const std::string subject = from_argument ? "--id " + wanted : "peer.id: " + Quote(wanted);
  if (std::any_of(listed.begin(), listed.end(), is_wanted)) {
    state->diagnostics.Add(origin, subject + " is not among the first " + std::to_string(peers.size()) +
                                       " peers kept by cluster.size = " + std::to_string(config.cluster.size) +
                                       ": " + IdList(peers));
    return;
  }
  state->diagnostics.Add(origin, subject + " is not in cluster.peers; ids are " + IdList(peers));
}

// A numeric membership.quorum above the cluster's size could never be met: no
// view would ever train. Checked here, after cluster.size has cut the list, so
// that `meshtrain peers` refuses it as `meshtrain run` does. (A cluster that
// grows through cluster.bootstrap may reach it.)
void CheckQuorumFits(LoadState* state) {
  const Config& c = state->config;
  if (!c.cluster.bootstrap.empty()) return;
  const std::string& q = c.membership.quorum;
  if (q.empty() || !std::all_of(q.begin(), q.end(), ::isdigit) || q.size() > 9) return;  // words: checked by the schema
  const size_t needed = std::stoul(q);
  if (needed <= c.cluster.peers.size()) return;
  const Origin origin = state->OriginOf("membership.quorum").LaterThan(state->OriginOf("cluster.size"))
                            ? state->OriginOf("membership.quorum")
                            : state->OriginOf("cluster.size");
  state->diagnostics.Add(origin, "membership.quorum: " + q + " live peers needed, but the cluster has only " +
                                     std::to_string(c.cluster.peers.size()) + " (" + IdList(c.cluster.peers) +
                                     "): no view could ever reach it");
}

}  // namespace

void CheckClusterAndPickSelf(const std::string& id_argument, LoadState* state) {
  ClusterConfig& cluster = state->config.cluster;
  if (cluster.peers.empty()) {
    state->diagnostics.Add(state->OriginOf("cluster.peers"),
                           "cluster.peers: no peers; list each as [[cluster.peers]] with id and endpoint");
    return;
  }
  bool sound = CheckPeers(state);
  for (const PeerOrigin& origin : state->peer_origins) sound = sound && origin.complete;
  const auto listed = static_cast<int64_t>(cluster.peers.size());
  if (cluster.size > listed) {
    state->diagnostics.Add(state->OriginOf("cluster.size"),
                           "cluster.size: must be <= " + std::to_string(listed) +
                               ", the number of [[cluster.peers]] listed (got " + std::to_string(cluster.size) + ")");
    sound = false;
  }
  if (!sound || cluster.size < 0) return;
  CheckNeighborNames(state);
  const std::vector<PeerEntry> all = cluster.peers;
  if (cluster.size > 0) cluster.peers.resize(static_cast<size_t>(cluster.size));
  CheckExplicitGraph(state);
  CheckQuorumFits(state);
  PickSelf(id_argument, all, state);
}

}  // namespace meshtrain::config_internal
