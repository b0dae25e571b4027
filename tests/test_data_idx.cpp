// IDX loading: plain and gzip round trips, limits, scaling, and every kind of
// broken file coming back as a Status that names the file and the position.
#include <doctest/doctest.h>

#include <cmath>

#include "data/idx_reader.h"
#include "meshtrain/data.h"
#include "test_data_fixtures.h"

using namespace meshtrain;
using namespace meshtrain::testing;

namespace {

// The status message, checked to contain every piece.
void CheckError(const Status& st, Status::Code code, const std::vector<std::string>& pieces) {
  REQUIRE_FALSE(st.ok());
  CHECK_MESSAGE(st.code() == code, st.ToString());
  for (const auto& piece : pieces)
    CHECK_MESSAGE(st.message().find(piece) != std::string::npos, st.message() << "\n  lacks: " << piece);
}

Status LoadStatus(const DataConfig& cfg) {
  auto data = LoadShardedData(cfg, 1, 0);
  return data.ok() ? Status::OK() : data.status();
}

}  // namespace

TEST_CASE("IDX round trip, plain and gzip") {
  for (bool gzip : {false, true}) {
    CAPTURE(gzip);
    TempDir dir;
    const DataConfig cfg = WriteIdxSet(dir, 40, 12, 3, 2, 5, gzip);
    auto data = LoadShardedData(cfg, 1, 0);
    REQUIRE_MESSAGE(data.ok(), data.status().ToString());
    const Dataset& train = data->train;
    CHECK(train.rows == 40);
    CHECK(train.dim == 6);
    CHECK(train.num_classes == 5);
    CHECK(train.values.empty());
    REQUIRE(train.bytes.size() == 40 * 6);
    REQUIRE(train.labels.size() == 40);
    const auto labels = CyclicLabels(40, 5);
    for (uint32_t i = 0; i < 40; ++i) {
      CHECK(train.labels[i] == labels[i]);
      for (uint32_t j = 0; j < 6; ++j) CHECK(train.bytes[i * 6 + j] == IdPixel(i, j));
    }
    CHECK(data->shard_sizes == std::vector<int64_t>{40});
    CHECK(data->total_train_rows == 40);
    CHECK(data->test.rows == 12);
    CHECK(data->test.num_classes == 5);
    // The test images are not held: they are read again at each evaluation.
    CHECK(data->test.streamed);
    CHECK(data->test.bytes.empty());
    std::vector<int64_t> window_sizes;
    std::vector<uint8_t> pixels;
    std::vector<int32_t> test_labels;
    REQUIRE(ForEachWindow(data->test, 5, [&](const Dataset& w) {
              window_sizes.push_back(w.rows);
              pixels.insert(pixels.end(), w.bytes.begin(), w.bytes.end());
              test_labels.insert(test_labels.end(), w.labels.begin(), w.labels.end());
              CHECK(w.scale == data->test.scale);
            }).ok());
    CHECK(window_sizes == std::vector<int64_t>{5, 5, 2});
    CHECK(test_labels == data->test.labels);
    REQUIRE(pixels.size() == 12 * 6);
    for (uint32_t i = 0; i < 12; ++i) {
      for (uint32_t j = 0; j < 6; ++j) CHECK(pixels[i * 6 + j] == IdPixel(i, j));
    }
    CHECK(data->true_weights.empty());
  }
}

TEST_CASE("a streamed test set is read from its file at each pass; a file changed since is an error naming it") {
  TempDir dir;
  DataConfig cfg = WriteIdxSet(dir, 20, 9, 2, 3, 4, true);
  cfg.test_limit = 7;
  auto data = LoadShardedData(cfg, 2, 1);
  REQUIRE_MESSAGE(data.ok(), data.status().ToString());
  REQUIRE(data->test.streamed);
  int64_t rows = 0;
  for (int pass = 0; pass < 2; ++pass) {
    REQUIRE(ForEachWindow(data->test, 4, [&](const Dataset& w) { rows += w.rows; }).ok());
  }
  CHECK(rows == 14);
  // Now 3 images: fewer than the 7 loaded.
  dir.Write(cfg.test_images, IdxImages(3, 2, 3, IdPixel));
  const Status changed = ForEachWindow(data->test, 4, [](const Dataset&) {});
  CHECK(changed.code() == Status::Code::kCorruption);
  CHECK(changed.message().find(data->test.source) != std::string::npos);
  CHECK(changed.message().find("changed since it was loaded") != std::string::npos);
}

TEST_CASE("ForEachWindow copies a set held in memory out window by window") {
  Dataset d;
  d.rows = 5;
  d.dim = 2;
  d.values = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  d.targets = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f};
  d.offset = {0, 0};
  d.scale = {1, 1};
  std::vector<float> values, targets;
  std::vector<int64_t> sizes;
  REQUIRE(ForEachWindow(d, 2, [&](const Dataset& w) {
            sizes.push_back(w.rows);
            values.insert(values.end(), w.values.begin(), w.values.end());
            targets.insert(targets.end(), w.targets.begin(), w.targets.end());
          }).ok());
  CHECK(sizes == std::vector<int64_t>{2, 2, 1});
  CHECK(values == d.values);
  CHECK(targets == d.targets);
}

TEST_CASE("IDX limits keep the first rows; num_classes comes from the whole labels file") {
  TempDir dir;
  DataConfig cfg = WriteIdxSet(dir, 40, 12, 2, 2, 7, true);
  cfg.train_limit = 9;
  cfg.test_limit = 5;
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE_MESSAGE(data.ok(), data.status().ToString());
  CHECK(data->train.rows == 9);
  CHECK(data->total_train_rows == 9);
  CHECK(data->train.num_classes == 7);
  CHECK(data->test.rows == 5);
  CHECK(data->train.bytes[8 * 4] == IdPixel(8, 0));
  cfg.train_limit = 1000;  // more than the file: all of it
  data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  CHECK(data->train.rows == 40);
}

TEST_CASE("IDX scaling: unit divides pixels by 255, standardize uses train mean and std") {
  TempDir dir;
  DataConfig cfg = WriteIdxSet(dir, 30, 10, 2, 2, 3, false);
  cfg.scaling = ScalingMode::kUnit;
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  std::vector<float> row(4);
  data->train.FillRow(3, row.data());
  for (uint32_t j = 0; j < 4; ++j) CHECK(row[j] == doctest::Approx(IdPixel(3, j) / 255.0));
  // The test set's rows, read back from its file, are scaled the same way.
  REQUIRE(ForEachWindow(data->test, 10, [&](const Dataset& w) { w.FillRow(2, row.data()); }).ok());
  CHECK(row[2] == doctest::Approx(IdPixel(2, 2) / 255.0));

  cfg.scaling = ScalingMode::kStandardize;
  data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  for (uint32_t j = 0; j < 4; ++j) {
    double sum = 0, sum_sq = 0;
    for (uint32_t i = 0; i < 30; ++i) {
      sum += IdPixel(i, j);
      sum_sq += double(IdPixel(i, j)) * IdPixel(i, j);
    }
    const double mean = sum / 30, sd = std::sqrt(sum_sq / 30 - mean * mean);
    CHECK(data->train.offset[j] == doctest::Approx(mean));
    CHECK(data->train.scale[j] == doctest::Approx(sd > 0 ? 1 / sd : 1.0));  // pixel 1 is constant: std 0 -> 1
  }
  CHECK(data->test.offset == data->train.offset);
  CHECK(data->test.scale == data->train.scale);
  // Pixel bytes stay bytes: scaling is applied only when a row is filled.
  CHECK(data->train.bytes.size() == 30 * 4);
}

TEST_CASE("IDX errors name the file and the position") {
  TempDir dir;
  DataConfig cfg = WriteIdxSet(dir, 20, 10, 2, 3, 4, false);
  const std::string images = dir.File(cfg.train_images);
  const std::string labels = dir.File(cfg.train_labels);
  const std::string good_images = IdxImages(20, 2, 3, IdPixel);

  SUBCASE("missing file") {
    cfg.train_labels = "nope";
    CheckError(LoadStatus(cfg), Status::Code::kIOError, {dir.File("nope"), "cannot open"});
  }
  SUBCASE("empty file") {
    dir.Write(cfg.train_images, "");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, "empty file"});
  }
  SUBCASE("a directory") {
    cfg.test_images = ".";
    CheckError(LoadStatus(cfg), Status::Code::kIOError, {"is a directory"});
  }
  SUBCASE("wrong magic: a labels file where images belong") {
    cfg.train_images = cfg.train_labels;
    CheckError(LoadStatus(cfg), Status::Code::kCorruption,
               {labels, "byte 0", "wrong magic 0x00000801", "0x00000803", "label file"});
  }
  SUBCASE("wrong magic: garbage") {
    dir.Write(cfg.train_labels, "hello, world");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {labels, "byte 0", "wrong magic"});
  }
  SUBCASE("header shorter than its dims") {
    dir.Write(cfg.train_images, good_images.substr(0, 10));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, "truncated at byte 10", "IDX header"});
  }
  SUBCASE("zero dimension") {
    dir.Write(cfg.train_images, BigEndian32(0x803) + BigEndian32(20) + BigEndian32(0) + BigEndian32(3));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, "byte 8", "size 1 in the IDX header is 0"});
  }
  SUBCASE("implausible image size") {
    dir.Write(cfg.train_images, BigEndian32(0x803) + BigEndian32(20) + BigEndian32(1u << 16) + BigEndian32(1u << 16));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, "byte 8", "implausibly large"});
  }
  SUBCASE("image sizes whose product overflows int64 (found by fuzz_idx)") {
    dir.Write(cfg.train_images,
              BigEndian32(0x803) + BigEndian32(20) + BigEndian32(0xffffffffu) + BigEndian32(0xffffffffu));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption,
               {images, "byte 8", "4294967295x4294967295", "implausibly large"});
  }
  SUBCASE("images vs labels count") {
    dir.Write(cfg.train_images, IdxImages(19, 2, 3, IdPixel));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, labels, "byte 4", "19 images", "20 labels"});
  }
  SUBCASE("truncated image data") {
    dir.Write(cfg.train_images, good_images.substr(0, good_images.size() - 4));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption,
               {images, "truncated at byte " + std::to_string(good_images.size() - 4), "20 images of 2x3"});
  }
  SUBCASE("truncated labels") {
    dir.Write(cfg.train_labels, IdxLabels(CyclicLabels(20, 4)).substr(0, 20));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {labels, "truncated at byte 20", "header announces 20"});
  }
  SUBCASE("trailing data after the images") {
    dir.Write(cfg.train_images, good_images + "xx");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption,
               {images, "byte " + std::to_string(good_images.size()), "trailing data"});
  }
  SUBCASE("gzip cut short") {
    const std::string gz = Gzip(good_images);
    dir.Write(cfg.train_images, gz.substr(0, gz.size() / 2));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, "decompressed byte", "cut short"});
  }
  SUBCASE("gzip with a corrupt body") {
    std::string gz = Gzip(IdxImages(20, 2, 3, [](uint32_t i, uint32_t j) { return uint8_t((i * j * 13) ^ (i >> 1)); }));
    for (size_t k = 12; k < gz.size() - 8; k += 3) gz[k] = static_cast<char>(gz[k] ^ 0x5a);
    dir.Write(cfg.train_images, gz);
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images});
  }
  SUBCASE("gzip with a wrong CRC") {
    std::string gz = Gzip(good_images);
    gz[gz.size() - 6] = static_cast<char>(gz[gz.size() - 6] ^ 1);
    dir.Write(cfg.train_images, gz);
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, "gzip data corrupt"});
  }
  SUBCASE("gzip magic then garbage") {
    dir.Write(cfg.train_images, std::string("\x1f\x8b", 2) + "not really gzip at all, sorry");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {images, "gzip"});
  }
  SUBCASE("test label outside the train classes") {
    std::vector<uint8_t> test_labels = CyclicLabels(10, 4);
    test_labels[6] = 9;
    dir.Write(cfg.test_labels, IdxLabels(test_labels));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption,
               {dir.File(cfg.test_labels), "byte 14", "item 6", "label 9", "[0, 4)"});
  }
  SUBCASE("train and test image sizes differ") {
    dir.Write(cfg.test_images, IdxImages(10, 3, 2, IdPixel));
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {dir.File(cfg.test_images), images, "3x2", "2x3"});
  }
  SUBCASE("bad requests") {
    auto bad = LoadShardedData(cfg, 2, 2);
    CheckError(bad.status(), Status::Code::kInvalidArgument, {"peer index 2"});
  }
}

TEST_CASE("ReadIdxLabels and IdxImageFile read the header and stream rows") {
  TempDir dir;
  const std::string labels = dir.Write("l.gz", Gzip(IdxLabels({3, 1, 4, 1, 5})));
  auto read = ReadIdxLabels(labels);
  REQUIRE(read.ok());
  CHECK(*read == std::vector<int32_t>{3, 1, 4, 1, 5});

  const std::string images = dir.Write("i", IdxImages(5, 4, 3, IdPixel));
  auto file = IdxImageFile::Open(images);
  REQUIRE(file.ok());
  CHECK(file->count() == 5);
  CHECK(file->height() == 4);
  CHECK(file->width() == 3);
  std::vector<int64_t> seen;
  REQUIRE(file->ForEachImage(3,
                             [&](int64_t row, const uint8_t* px) {
                               seen.push_back(row);
                               CHECK(px[0] == IdPixel(static_cast<uint32_t>(row), 0));
                               CHECK(px[11] == IdPixel(static_cast<uint32_t>(row), 11));
                             })
              .ok());
  CHECK(seen == std::vector<int64_t>{0, 1, 2});
}
