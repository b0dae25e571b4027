// The data layer: loads this peer's shard of the train set and the whole test
// set from IDX (MNIST layout), CSV or a synthetic generator, with feature
// scaling, and hands out mini-batches (BatchSampler, data_sampler.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/data_sampler.h"
#include "meshtrain/status.h"

namespace meshtrain {

// rows x dim samples, row-major, held as raw bytes (IDX pixels: 1 byte per
// feature) or floats (CSV, synthetic); exactly one of `bytes` / `values` is
// filled. The model sees (raw - offset[j]) * scale[j], applied as batches are filled.
struct Dataset {
  std::string source;  // where the rows came from, for messages
  int64_t rows = 0;
  int64_t dim = 0;
  int64_t image_height = 0;     // IDX: each row is a 1 x height x width image; 0: flat rows (CSV, synthetic)
  int64_t image_width = 0;
  int num_classes = 0;          // 0 = regression (targets); else labels in [0, num_classes)
  std::vector<uint8_t> bytes;   // rows * dim (IDX)
  std::vector<float> values;    // rows * dim (CSV, synthetic)
  std::vector<int32_t> labels;  // rows, classification
  std::vector<float> targets;   // rows, regression
  std::vector<float> offset;    // dim
  std::vector<float> scale;     // dim
  // An IDX test set is not held: its images stay in their file (`source`) and
  // are read again at each evaluation through ForEachWindow (7.8 MB a peer for
  // Fashion-MNIST; docs/data.md, "Memory"). bytes and values are empty then.
  bool streamed = false;

  // Writes row `row`'s dim scaled features to `out` (not for a streamed set).
  void FillRow(int64_t row, float* out) const;
};

// Calls visit(window) for consecutive windows of `data`'s rows in order, each
// of at most `window_rows` rows: `window` is a Dataset of those rows (same dim,
// classes and scaling), valid during the call. A streamed set is read from its
// file, which must still hold the rows it was loaded from (else IOError or
// Corruption naming it); a set in memory is copied out window by window.
Status ForEachWindow(const Dataset& data, int64_t window_rows, const std::function<void(const Dataset&)>& visit);

struct ShardedData {
  Dataset train;                     // this peer's shard, rows in file order
  Dataset test;                      // the whole test set (every peer evaluates on all of it); IDX: streamed
  std::vector<int64_t> shard_sizes;  // train rows held by each peer, by peer index
  int64_t total_train_rows = 0;      // the whole train set (after train_limit) = sum of shard_sizes
  std::vector<float> true_weights;   // synthetic only: the generating w (in unscaled feature units)
  float true_bias = 0;               // synthetic only: the generating b
};

// Loads peer `peer_index`'s shard (of `num_peers`) and the test set as `cfg`
// says. Only the shard's train rows are kept in memory, but scaling statistics
// come from the whole train set (after train_limit) and num_classes = max train
// label + 1, at least 2 (IDX: over the whole labels file; CSV: over the rows in
// use), so every peer agrees. A test label outside [0, num_classes) is an error.
// Errors name the file and position (byte offset, or line and field), or the
// config key; bad keys are InvalidArgument, bad files IOError or Corruption.
Result<ShardedData> LoadShardedData(const DataConfig& cfg, int num_peers, int peer_index);

}  // namespace meshtrain
