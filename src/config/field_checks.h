// Per-key rules (ranges, allowed values, formats) applied to the final values,
// after the file and every --set, blaming whichever of them set the value.
#pragma once

#include "config/load_state.h"
#include "config/schema.h"

namespace meshtrain::config_internal {

// Stores the value the file or a --set gave `spec` and remembers where.
void StoreField(const FieldSpec& spec, FieldValue value, const Origin& at, LoadState* state);

void CheckFields(LoadState* state);

}  // namespace meshtrain::config_internal
