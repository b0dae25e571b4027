// The status page of `meshtrain watch RUN_DIR --http ADDR` (docs/observability.md):
// one self-contained HTML page (no external scripts or fonts: boards are often
// offline) that fetches /status.json from the same server every two seconds.
#pragma once

#include <string>
#include <vector>

#include "cli/run_report.h"

namespace meshtrain {

// What a peer is doing, as its own lines and the others' say: done, stopped,
// failed, dead (another peer declared it dead after its last line), silent (no
// line for a while), waiting (no quorum) or training.
std::string PeerState(const PeerRunState& peer, const std::vector<PeerRunState>& all, double now_unix);

// /status.json: every peer's row and history, the current view and the straggler.
std::string StatusJson(const std::vector<PeerRunState>& peers, double now_unix);

// The page served at /.
const std::string& StatusPageHtml();

}  // namespace meshtrain
