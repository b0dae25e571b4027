// Rules between keys (dead_ms > suspect_ms > heartbeat_ms, csv needs its
// files, curve needs keys, ...). Run once every key is valid on its own; a
// problem is reported at whichever of the keys involved was set last.
#pragma once

#include "config/load_state.h"

namespace meshtrain::config_internal {

void CheckRelations(LoadState* state);

}  // namespace meshtrain::config_internal
