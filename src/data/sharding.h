// Which peer holds which train row. Every row goes to exactly one peer and
// every peer gets at least one; all peers compute the same plan from the same
// inputs (portable RNG), so each can load only its rows yet know every shard's size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/status.h"

namespace meshtrain {

struct ShardPlan {
  std::vector<int32_t> owner;  // owner[row] = peer index
  std::vector<int64_t> sizes;  // sizes[peer] = rows it holds
};

// mode: contiguous (peer p gets rows [p*n/P, (p+1)*n/P)), strided (row r goes
// to peer r % P), dirichlet (label skew: for each class, proportions over peers
// drawn from Dirichlet(alpha), seeded by `seed`; small alpha = few classes per
// peer). `labels` (one per row, in [0, num_classes)) is needed only by dirichlet.
Result<ShardPlan> PlanShards(ShardMode mode, int num_peers, int64_t rows, const std::vector<int32_t>& labels,
                             int num_classes, double alpha, uint64_t seed);

}  // namespace meshtrain
