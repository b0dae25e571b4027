// [[model.layers]] entries -> ModelConfig::layers: each entry's kind and the
// fields that kind takes (docs/models.md, "Layers"), with their types and
// ranges. Whether the shapes fit is known only with the data, so CreateModel
// checks that, naming the entry by the FILE:LINE:COL recorded here.
#pragma once

#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/load_state.h"

namespace meshtrain::config_internal {

// The layer kinds, in documentation order.
const std::vector<std::string_view>& LayerKinds();

// Reads the array of tables under model.layers (`at` is where the key was written).
void ReadLayers(const toml::node& node, const Origin& at, LoadState* state);

}  // namespace meshtrain::config_internal
