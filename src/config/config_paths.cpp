// Derived paths with their runs/<id>/ defaults. Relative paths are kept as
// written: they resolve against the current directory of the process, not the
// config file's directory (scripts start peers from the repo root).
#include "meshtrain/config.h"

namespace meshtrain {

std::string Config::MetricsPath() const {
  return log.metrics.empty() ? "runs/" + self_id + "/metrics.jsonl" : log.metrics;
}

std::string Config::CheckpointDir() const {
  return checkpoint.dir.empty() ? "runs/" + self_id + "/checkpoints" : checkpoint.dir;
}

}  // namespace meshtrain
