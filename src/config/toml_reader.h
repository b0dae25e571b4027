// TOML document -> Config fields: every section and key checked against the
// schema, every value against its type. Ranges are checked later, on the
// final values (after --set), by field_checks.
#pragma once

#include <toml++/toml.h>

#include "config/load_state.h"

namespace meshtrain::config_internal {

// Copies the values of `root` into state->config, recording their origins and
// adding a diagnostic for each unknown name or wrongly typed value.
void ReadToml(const toml::table& root, LoadState* state);

}  // namespace meshtrain::config_internal
