// ForEachWindow: a dataset's rows a window at a time, from memory or, for a
// streamed IDX test set, from its file (data.h, Dataset::streamed).
#include <algorithm>

#include "data/idx_reader.h"
#include "meshtrain/data.h"

namespace meshtrain {
namespace {

// An empty dataset shaped like `data`, to be filled with up to `rows` rows.
Dataset WindowOf(const Dataset& data, int64_t rows) {
  Dataset w;
  w.source = data.source;
  w.dim = data.dim;
  w.image_height = data.image_height;
  w.image_width = data.image_width;
  w.num_classes = data.num_classes;
  w.offset = data.offset;
  w.scale = data.scale;
  w.labels.reserve(static_cast<size_t>(rows));
  if (data.streamed || !data.bytes.empty()) w.bytes.reserve(static_cast<size_t>(rows * data.dim));
  if (!data.values.empty()) w.values.reserve(static_cast<size_t>(rows * data.dim));
  return w;
}

// Appends row `row`'s labels or targets to the window.
void AddTargets(const Dataset& data, int64_t row, Dataset* w) {
  if (!data.labels.empty()) w->labels.push_back(data.labels[static_cast<size_t>(row)]);
  if (!data.targets.empty()) w->targets.push_back(data.targets[static_cast<size_t>(row)]);
  ++w->rows;
}

void Flush(Dataset* w, const std::function<void(const Dataset&)>& visit) {
  if (w->rows > 0) visit(*w);
  w->rows = 0;
  w->bytes.clear();
  w->values.clear();
  w->labels.clear();
  w->targets.clear();
}

}  // namespace

Status ForEachWindow(const Dataset& data, int64_t window_rows, const std::function<void(const Dataset&)>& visit) {
  window_rows = std::max<int64_t>(window_rows, 1);
  Dataset w = WindowOf(data, std::min(window_rows, data.rows));
  if (!data.streamed) {
    const size_t dim = static_cast<size_t>(data.dim);
    for (int64_t row = 0; row < data.rows; ++row) {
      const size_t at = static_cast<size_t>(row) * dim;
      if (!data.bytes.empty()) w.bytes.insert(w.bytes.end(), data.bytes.begin() + at, data.bytes.begin() + at + dim);
      if (!data.values.empty()) {
        w.values.insert(w.values.end(), data.values.begin() + at, data.values.begin() + at + dim);
      }
      AddTargets(data, row, &w);
      if (w.rows == window_rows) Flush(&w, visit);
    }
    Flush(&w, visit);
    return Status::OK();
  }
  // Small buffers: this runs at every evaluation, next to the training's memory.
  constexpr unsigned kZlibBufferBytes = 16u << 10;
  constexpr int64_t kChunkBytes = int64_t{16} << 10;
  auto images = IdxImageFile::Open(data.source, kZlibBufferBytes);
  if (!images.ok()) return images.status();
  if (images->dim() != data.dim || images->count() < data.rows) {
    return Status::Corruption(data.source + ": changed since it was loaded (now " + std::to_string(images->count()) +
                              " images of " + std::to_string(images->height()) + "x" +
                              std::to_string(images->width()) + ")");
  }
  MESHTRAIN_RETURN_IF_ERROR(images->ForEachImage(data.rows, [&](int64_t row, const uint8_t* pixels) {
    w.bytes.insert(w.bytes.end(), pixels, pixels + data.dim);
    AddTargets(data, row, &w);
    if (w.rows == window_rows) Flush(&w, visit);
  }, kChunkBytes));
  Flush(&w, visit);
  return Status::OK();
}

}  // namespace meshtrain
