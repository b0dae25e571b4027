// Who a gossip algorithm talks to (GossipRound, PushSum): the links, the
// neighbour graph over the view's ids and this peer's place in it, and how
// long it waits.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "meshtrain/topology.h"
#include "sync/gossip_links.h"

namespace meshtrain {

struct GossipPeers {
  GossipLinks* links = nullptr;
  const Topology* topology = nullptr;
  const std::vector<std::string>* ids = nullptr;  // sorted; ids[i] is topology peer i
  size_t self = 0;
  std::chrono::milliseconds timeout{10000};  // what it bounds is each algorithm's own (its Setup)
};

}  // namespace meshtrain
