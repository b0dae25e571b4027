// Small IDX and CSV files for the data-layer tests, written into a TempDir
// (gzip through zlib).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "support/temp_dir.h"

namespace meshtrain::testing {

inline std::string BigEndian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// Image i's pixel j is pixel(i, j).
inline std::string IdxImages(uint32_t count, uint32_t height, uint32_t width,
                             const std::function<uint8_t(uint32_t, uint32_t)>& pixel) {
  std::string out = BigEndian32(0x00000803) + BigEndian32(count) + BigEndian32(height) + BigEndian32(width);
  for (uint32_t i = 0; i < count; ++i) {
    for (uint32_t j = 0; j < height * width; ++j) out.push_back(static_cast<char>(pixel(i, j)));
  }
  return out;
}

inline std::string IdxLabels(const std::vector<uint8_t>& labels) {
  std::string out = BigEndian32(0x00000801) + BigEndian32(static_cast<uint32_t>(labels.size()));
  out.append(labels.begin(), labels.end());
  return out;
}

// A complete gzip member (header, deflate, CRC trailer), as `gzip` writes.
inline std::string Gzip(const std::string& raw) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(raw.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Row i of an ID-coded image set: pixels 0 and 1 hold i (little-endian), the
// rest a pattern, so a loaded row tells which file row it was.
inline uint8_t IdPixel(uint32_t i, uint32_t j) {
  if (j == 0) return static_cast<uint8_t>(i & 0xff);
  if (j == 1) return static_cast<uint8_t>(i >> 8);
  return static_cast<uint8_t>((i * 31 + j * 7) % 256);
}

inline std::vector<uint8_t> CyclicLabels(uint32_t count, uint8_t classes) {
  std::vector<uint8_t> labels(count);
  for (uint32_t i = 0; i < count; ++i) labels[i] = static_cast<uint8_t>((i * 7 + i / 3) % classes);
  return labels;
}

// Writes a train/test pair of ID-coded IDX sets (gzipped or plain) into `dir`
// and returns a DataConfig for them, with scaling "none".
inline DataConfig WriteIdxSet(const TempDir& dir, uint32_t train_rows, uint32_t test_rows, uint32_t height,
                              uint32_t width, uint8_t classes, bool gzip) {
  auto maybe_gzip = [&](const std::string& raw) { return gzip ? Gzip(raw) : raw; };
  const std::string ext = gzip ? ".gz" : "";
  DataConfig cfg;
  cfg.format = DataFormat::kIdx;
  cfg.dir = dir.path();
  cfg.train_images = "train-images" + ext;
  cfg.train_labels = "train-labels" + ext;
  cfg.test_images = "test-images" + ext;
  cfg.test_labels = "test-labels" + ext;
  cfg.scaling = ScalingMode::kNone;
  dir.Write(cfg.train_images, maybe_gzip(IdxImages(train_rows, height, width, IdPixel)));
  dir.Write(cfg.train_labels, maybe_gzip(IdxLabels(CyclicLabels(train_rows, classes))));
  dir.Write(cfg.test_images, maybe_gzip(IdxImages(test_rows, height, width, IdPixel)));
  dir.Write(cfg.test_labels, maybe_gzip(IdxLabels(CyclicLabels(test_rows, classes))));
  return cfg;
}

}  // namespace meshtrain::testing
