// The IDX readers on arbitrary bytes (plain or gzip): a truncated, lying or
// corrupt file comes back as a Status, never a crash or a giant allocation.
//
// Input: byte 0 picks what to run, the rest is the file (or files):
//   0: ReadIdxLabels;  1: IdxImageFile::Open + ForEachImage over every image;
//   2: the whole IDX loader (LoadShardedData): byte 1 chooses shard mode, scaling,
//      peers and limits; then a 4-byte little-endian length L, L bytes of the image
//      file, and the label file; the same pair serves as train and test set.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/idx_reader.h"
#include "data_checks.h"
#include "fuzz_support.h"
#include "meshtrain/data.h"

using meshtrain::Status;
using meshtrain::fuzz::ScratchDir;

namespace {

bool IsFileError(const Status& s) {
  return !s.ok() && !s.message().empty() &&
         (s.code() == Status::Code::kCorruption || s.code() == Status::Code::kIOError);
}

void FuzzLabels(std::string_view file) {
  auto labels = meshtrain::ReadIdxLabels(ScratchDir::Get().Write("labels.idx", file));
  meshtrain::fuzz::Note(labels.ok() ? "labels ok: " + std::to_string(labels->size()) : labels.status().ToString());
  if (!labels.ok()) {
    MESHTRAIN_FUZZ_CHECK(IsFileError(labels.status()));
    return;
  }
  MESHTRAIN_FUZZ_CHECK(!labels->empty());
  for (int32_t label : *labels) MESHTRAIN_FUZZ_CHECK(label >= 0 && label <= 255);
}

void FuzzImages(std::string_view file) {
  auto images = meshtrain::IdxImageFile::Open(ScratchDir::Get().Write("images.idx", file));
  if (!images.ok()) {
    meshtrain::fuzz::Note(images.status().ToString());
    MESHTRAIN_FUZZ_CHECK(IsFileError(images.status()));
    return;
  }
  MESHTRAIN_FUZZ_CHECK(images->count() >= 1 && images->dim() >= 1);
  int64_t seen = 0;
  uint32_t sum = 0;
  const Status st = images->ForEachImage(images->count(), [&](int64_t row, const uint8_t* pixels) {
    MESHTRAIN_FUZZ_CHECK(row == seen);
    ++seen;
    for (int64_t j = 0; j < images->dim(); ++j) sum += pixels[j];  // touch every byte handed out
  });
  meshtrain::fuzz::Note(st.ok() ? "images ok: " + std::to_string(seen) : st.ToString());
  MESHTRAIN_FUZZ_CHECK(st.ok() ? seen == images->count() : IsFileError(st));
  (void)sum;
}

void FuzzLoader(uint8_t knobs, std::string_view rest) {
  if (rest.size() < 4) return;
  const uint32_t images_bytes = static_cast<uint32_t>(static_cast<uint8_t>(rest[0])) |
                                static_cast<uint32_t>(static_cast<uint8_t>(rest[1])) << 8 |
                                static_cast<uint32_t>(static_cast<uint8_t>(rest[2])) << 16 |
                                static_cast<uint32_t>(static_cast<uint8_t>(rest[3])) << 24;
  rest.remove_prefix(4);
  if (images_bytes > rest.size()) return;
  const ScratchDir& dir = ScratchDir::Get();
  dir.Write("images.idx", rest.substr(0, images_bytes));
  dir.Write("labels.idx", rest.substr(images_bytes));

  meshtrain::DataConfig cfg;
  cfg.format = meshtrain::DataFormat::kIdx;
  cfg.dir = dir.File("");
  cfg.train_images = cfg.test_images = "images.idx";
  cfg.train_labels = cfg.test_labels = "labels.idx";
  cfg.shard = meshtrain::fuzz::ShardKnob(knobs);
  cfg.scaling = meshtrain::fuzz::ScalingKnob(knobs >> 2);
  cfg.alpha = 0.3;
  const int num_peers = 1 + ((knobs >> 4) & 3);
  const int peer_index = num_peers - 1;
  cfg.train_limit = (knobs & 0x40) ? 5 : 0;
  cfg.test_limit = (knobs & 0x80) ? 2 : 0;
  auto data = meshtrain::LoadShardedData(cfg, num_peers, peer_index);
  meshtrain::fuzz::Note(data.ok() ? "idx loader ok: " + std::to_string(data->train.rows) + " of " +
                                        std::to_string(data->total_train_rows) + " train rows"
                                  : data.status().ToString());
  if (!data.ok()) {
    const Status& s = data.status();
    // Too few rows for the peers is a request the config could have avoided: InvalidArgument.
    MESHTRAIN_FUZZ_CHECK(IsFileError(s) || (s.code() == Status::Code::kInvalidArgument && !s.message().empty()));
    return;
  }
  meshtrain::fuzz::CheckShardedData(data.value(), num_peers, peer_index, /*pixels=*/true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1 << 20)) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      FuzzLabels(rest);
      break;
    case 1:
      FuzzImages(rest);
      break;
    default:
      if (!rest.empty()) FuzzLoader(static_cast<uint8_t>(rest[0]), rest.substr(1));
      break;
  }
  return 0;
}
