// Per-key rules (ranges, allowed values, formats) applied to the final values,
// after the file and every --set, blaming whichever of them set the value.
#pragma once

#include "config/load_state.h"

namespace meshtrain::config_internal {

void CheckFields(LoadState* state);

}  // namespace meshtrain::config_internal
