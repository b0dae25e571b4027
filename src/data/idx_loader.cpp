// IDX: labels are read whole (they are small) to plan the shards; the image
// file is then streamed and only this peer's rows are kept, as bytes. The test
// images are not kept at all: evaluation reads them again (Dataset::streamed).
#include <algorithm>
#include <filesystem>

#include "data/feature_scaling.h"
#include "data/idx_reader.h"
#include "data/loaders.h"
#include "data/sharding.h"

namespace meshtrain {
namespace {

// Pixels reserved ahead of reading them. The row count is backed by the labels
// actually read, but the image size is only the header's word until the pixels
// arrive: cap the reservation (all of Fashion-MNIST train is 47 MB) so a lying
// header fails as "truncated", not as an out-of-memory on a small board.
constexpr int64_t kMaxReserveBytes = int64_t{64} << 20;

std::string Resolve(const std::string& dir, const std::string& name) {
  const std::filesystem::path path(name);
  return path.is_absolute() || dir.empty() ? name : (std::filesystem::path(dir) / path).string();
}

// Opens an image file and checks it pairs with its labels file.
Result<IdxImageFile> OpenImagesFor(const std::string& images_path, const std::string& labels_path,
                                   int64_t label_count) {
  auto images = IdxImageFile::Open(images_path);
  if (!images.ok()) return images.status();
  if (images->count() != label_count) {
    return Status::Corruption(images_path + ": byte 4: header announces " + std::to_string(images->count()) +
                              " images but " + labels_path + " holds " + std::to_string(label_count) + " labels");
  }
  return images;
}

std::string LabelWhere(const std::string& path, size_t i) {
  return path + ": byte " + std::to_string(kIdxLabelsHeaderBytes + static_cast<int64_t>(i)) + " (item " +
         std::to_string(i) + ")";
}

Status LoadTest(const DataConfig& cfg, const Dataset& train, const IdxImageFile& train_images, Dataset* test) {
  const std::string labels_path = Resolve(cfg.dir, cfg.test_labels);
  const std::string images_path = Resolve(cfg.dir, cfg.test_images);
  auto labels = ReadIdxLabels(labels_path);
  if (!labels.ok()) return labels.status();
  MESHTRAIN_RETURN_IF_ERROR(CheckLabelsInRange(*labels, train.num_classes, Resolve(cfg.dir, cfg.train_labels),
                                               [&](size_t i) { return LabelWhere(labels_path, i); }));
  auto images = OpenImagesFor(images_path, labels_path, static_cast<int64_t>(labels->size()));
  if (!images.ok()) return images.status();
  if (images->height() != train_images.height() || images->width() != train_images.width()) {
    return Status::Corruption(images_path + ": byte 8: test images are " + std::to_string(images->height()) + "x" +
                              std::to_string(images->width()) + " but the train images " + train_images.path() +
                              " are " + std::to_string(train_images.height()) + "x" +
                              std::to_string(train_images.width()));
  }
  const int64_t rows = RowsToUse(images->count(), cfg.test_limit);
  test->source = images_path;
  test->rows = rows;
  test->dim = train.dim;
  test->image_height = train.image_height;
  test->image_width = train.image_width;
  test->num_classes = train.num_classes;
  test->labels.assign(labels->begin(), labels->begin() + rows);
  // The pixels are not kept (Dataset::streamed); reading them through once
  // now reports a damaged or cut-off file at start, as holding them did.
  test->streamed = true;
  MESHTRAIN_RETURN_IF_ERROR(images->ForEachImage(rows, [](int64_t, const uint8_t*) {}));
  test->offset = train.offset;
  test->scale = train.scale;
  return Status::OK();
}

}  // namespace

Result<ShardedData> LoadIdxShard(const DataConfig& cfg, const ShardRequest& request) {
  const std::string labels_path = Resolve(cfg.dir, cfg.train_labels);
  auto all_labels = ReadIdxLabels(labels_path);
  if (!all_labels.ok()) return all_labels.status();
  auto images =
      OpenImagesFor(Resolve(cfg.dir, cfg.train_images), labels_path, static_cast<int64_t>(all_labels->size()));
  if (!images.ok()) return images.status();

  ShardedData out;
  Dataset& train = out.train;
  train.source = images->path();
  train.dim = images->dim();
  train.image_height = images->height();
  train.image_width = images->width();
  train.num_classes = NumClassesOf(*all_labels);  // the whole file, whatever the limit
  out.total_train_rows = RowsToUse(images->count(), cfg.train_limit);
  all_labels->resize(static_cast<size_t>(out.total_train_rows));
  auto plan = PlanOwnShard(cfg, request, *all_labels, &out);
  if (!plan.ok()) return plan.status();
  const int64_t mine = train.rows;
  train.bytes.reserve(static_cast<size_t>(std::min(mine * train.dim, kMaxReserveBytes)));
  const bool need_stats = ScalingNeedsStats(cfg.scaling, /*pixels=*/true);
  FeatureStats stats(need_stats ? train.dim : 0);
  MESHTRAIN_RETURN_IF_ERROR(images->ForEachImage(out.total_train_rows, [&](int64_t row, const uint8_t* pixels) {
    if (need_stats) stats.Add(pixels);
    if (plan->owner[static_cast<size_t>(row)] != request.peer_index) return;
    train.bytes.insert(train.bytes.end(), pixels, pixels + train.dim);
    train.labels.push_back((*all_labels)[static_cast<size_t>(row)]);
  }));
  if (!need_stats) stats = FeatureStats(train.dim);
  FeatureScaling scaling = MakeScaling(cfg.scaling, /*pixels=*/true, stats);
  train.offset = std::move(scaling.offset);
  train.scale = std::move(scaling.scale);

  MESHTRAIN_RETURN_IF_ERROR(LoadTest(cfg, train, *images, &out.test));
  return out;
}

}  // namespace meshtrain
