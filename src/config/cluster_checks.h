// The cluster as a whole: peer ids and endpoints well-formed and unique,
// cluster.size within the list, and which peer this process is.
#pragma once

#include <string>

#include "config/load_state.h"

namespace meshtrain::config_internal {

// Checks [[cluster.peers]] and cluster.size; when they are sound, keeps the
// first cluster.size peers and sets self_id/self_index from `id_argument`
// (--id), else [peer] id, else the only peer.
void CheckClusterAndPickSelf(const std::string& id_argument, LoadState* state);

}  // namespace meshtrain::config_internal
