// --set "section.key=value" overrides, typed by the schema: integers, floats
// (integers accepted), booleans (true/false), strings (quotes optional) and
// lists ("[128, 64]" or "128,64").
#pragma once

#include <string>
#include <vector>

#include "config/load_state.h"

namespace meshtrain::config_internal {

// Applies each override in order on top of state->config (later ones win),
// recording it as the origin of its key; a bad one adds a diagnostic naming it.
void ApplyOverrides(const std::vector<std::string>& overrides, LoadState* state);

}  // namespace meshtrain::config_internal
