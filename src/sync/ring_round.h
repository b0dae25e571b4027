// One ring collective as PeerGroup runs it, plain or compressed: the checked
// arguments (rank, layout) and the neighbour set-up its links are built on.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "meshtrain/peer_group.h"
#include "meshtrain/ring_allreduce.h"
#include "sync/ring_neighbours.h"

namespace meshtrain {

struct PeerGroup::RingRound {
  size_t rank = 0;
  std::optional<RingLayout> layout;
  RingNeighbours::Setup setup;  // setup.layout points at `*layout`: a RingRound is not copied
  std::chrono::steady_clock::time_point start;

  RingRound() = default;
  RingRound(const RingRound&) = delete;
  RingRound& operator=(const RingRound&) = delete;
};

// What a ring round's links spent waiting on its two neighbours.
inline std::vector<std::pair<std::string, double>> WaitsOf(const RingNeighbours& net) {
  return {{net.setup().left, net.left_wait_seconds()}, {net.setup().right, net.right_wait_seconds()}};
}

}  // namespace meshtrain
