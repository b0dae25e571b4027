// CSV: a first pass checks every cell and collects the labels and scaling
// statistics of the whole train file; the shards are planned from that; a second
// pass keeps only this peer's rows, as floats.
#include <optional>

#include "data/csv_reader.h"
#include "data/feature_scaling.h"
#include "data/loaders.h"
#include "data/sharding.h"

namespace meshtrain {
namespace {

struct TrainScan {
  CsvLayout layout;
  std::vector<int32_t> labels;
  std::optional<FeatureStats> stats;
};

Result<TrainScan> ScanTrain(const DataConfig& cfg) {
  TrainScan scan;
  auto layout = ScanCsv(cfg.train_csv, cfg.label_column, cfg.train_limit,
                        [&](int64_t, int32_t label, std::span<const float> features) {
                          scan.labels.push_back(label);
                          if (!scan.stats) scan.stats.emplace(static_cast<int64_t>(features.size()));
                          scan.stats->Add(features.data());
                        });
  if (!layout.ok()) return layout.status();
  scan.layout = std::move(layout.value());
  return scan;
}

// The test file must have the train file's features, by name and order.
Status CheckSameFeatures(const DataConfig& cfg, const CsvLayout& train, const CsvLayout& test) {
  if (test.feature_names.size() != train.feature_names.size()) {
    return Status::Corruption(cfg.test_csv + ": header: " + std::to_string(test.feature_names.size()) +
                              " feature columns, but the train file " + cfg.train_csv + " has " +
                              std::to_string(train.feature_names.size()));
  }
  for (size_t i = 0; i < train.feature_names.size(); ++i) {
    if (test.feature_names[i] != train.feature_names[i]) {
      return Status::Corruption(cfg.test_csv + ": header: feature " + std::to_string(i + 1) + " is '" +
                                test.feature_names[i] + "', but in the train file " + cfg.train_csv + " it is '" +
                                train.feature_names[i] + "'");
    }
  }
  return Status::OK();
}

Status LoadTest(const DataConfig& cfg, const Dataset& train, const CsvLayout& train_layout, Dataset* test) {
  test->source = cfg.test_csv;
  test->num_classes = train.num_classes;
  auto layout = ScanCsv(cfg.test_csv, cfg.label_column, cfg.test_limit,
                        [&](int64_t, int32_t label, std::span<const float> features) {
                          test->labels.push_back(label);
                          test->values.insert(test->values.end(), features.begin(), features.end());
                        });
  if (!layout.ok()) return layout.status();
  MESHTRAIN_RETURN_IF_ERROR(CheckSameFeatures(cfg, train_layout, *layout));
  // Data rows are counted after the header; blank lines are skipped, so name the row.
  MESHTRAIN_RETURN_IF_ERROR(CheckLabelsInRange(test->labels, train.num_classes, cfg.train_csv, [&](size_t i) {
    return cfg.test_csv + ": data row " + std::to_string(i + 1) + ", column '" + layout->columns[layout->label_index] +
           "'";
  }));
  test->rows = layout->rows;
  test->dim = train.dim;
  test->offset = train.offset;
  test->scale = train.scale;
  return Status::OK();
}

}  // namespace

Result<ShardedData> LoadCsvShard(const DataConfig& cfg, const ShardRequest& request) {
  if (cfg.train_csv.empty()) return Status::InvalidArgument("data.train_csv: required when data.format = \"csv\"");
  if (cfg.test_csv.empty()) return Status::InvalidArgument("data.test_csv: required when data.format = \"csv\"");
  auto scan = ScanTrain(cfg);
  if (!scan.ok()) return scan.status();

  ShardedData out;
  Dataset& train = out.train;
  train.source = cfg.train_csv;
  train.dim = static_cast<int64_t>(scan->layout.feature_names.size());
  train.num_classes = NumClassesOf(scan->labels);
  out.total_train_rows = scan->layout.rows;
  auto plan = PlanOwnShard(cfg, request, scan->labels, &out);
  if (!plan.ok()) return plan.status();
  const int64_t mine = train.rows;
  train.values.reserve(static_cast<size_t>(mine * train.dim));
  auto again =
      ScanCsv(cfg.train_csv, cfg.label_column, out.total_train_rows,
              [&](int64_t row, int32_t label, std::span<const float> features) {
                if (row >= out.total_train_rows || plan->owner[static_cast<size_t>(row)] != request.peer_index) {
                  return;
                }
                train.labels.push_back(label);
                train.values.insert(train.values.end(), features.begin(), features.end());
              });
  if (!again.ok()) return again.status();
  if (static_cast<int64_t>(train.labels.size()) != mine) {
    return Status::IOError(cfg.train_csv + ": the file changed while it was being read (" +
                           std::to_string(again->rows) + " rows on the second pass, " +
                           std::to_string(out.total_train_rows) + " on the first)");
  }
  FeatureScaling scaling = MakeScaling(cfg.scaling, /*pixels=*/false, *scan->stats);
  train.offset = std::move(scaling.offset);
  train.scale = std::move(scaling.scale);

  MESHTRAIN_RETURN_IF_ERROR(LoadTest(cfg, train, scan->layout, &out.test));
  return out;
}

}  // namespace meshtrain
