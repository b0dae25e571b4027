// The step loop of one peer: batches in, gradients out, combined with the
// cluster as the sync mode says, evaluated, checkpointed and reported.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "meshtrain/config.h"
#include "meshtrain/metrics.h"
#include "meshtrain/status.h"

namespace meshtrain {

struct TrainOutcome {
  int64_t steps = 0;
  double test_acc = 0;
  double test_loss = 0;
  // The run ended in a minority view: its model is a minority's (exit 3,
  // docs/faults.md "How a peer's run ends"); the detail says why.
  bool minority = false;
  std::string minority_detail;
};

class Trainer {
 public:
  virtual ~Trainer() = default;
  // Loads data, builds model and optimizer, and (with `resume`) restores the
  // newest valid checkpoint. Errors name the file or key at fault.
  // `observer` (optional) sees every metrics line as it is written.
  static Result<std::unique_ptr<Trainer>> Create(const Config& cfg, bool resume, MetricsObserver observer = {});
  // Trains to the end, or until *stop becomes true (then Aborted, after a checkpoint).
  virtual Status Run(const std::atomic<bool>* stop) = 0;
  virtual TrainOutcome outcome() const = 0;
};

// The seed with which peer `peer_index` (its place in the cluster list) shuffles
// its shard: distinct per peer, fixed by train.seed.
uint64_t SamplerSeed(uint64_t train_seed, size_t peer_index);

// `meshtrain eval`: test loss and accuracy of a checkpoint under `cfg`'s data and model.
Result<TrainOutcome> EvaluateCheckpoint(const Config& cfg, const std::string& checkpoint_path);

}  // namespace meshtrain
