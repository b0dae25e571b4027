// IDX files (the MNIST / Fashion-MNIST layout), plain or gzip: a 4-byte
// big-endian magic 00 00 08 <ndims> (08 = unsigned bytes), then ndims big-endian
// uint32 sizes, then the bytes. Images are idx3 (0x00000803: count, rows, cols),
// labels idx1 (0x00000801: count).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/data_file_reader.h"
#include "meshtrain/status.h"

namespace meshtrain {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;
inline constexpr int64_t kIdxLabelsHeaderBytes = 8;
inline constexpr int64_t kIdxImagesHeaderBytes = 16;
// Larger images than this are surely a corrupt header (and would exhaust memory).
inline constexpr int64_t kIdxMaxImageBytes = int64_t{1} << 24;

// Every label of an idx1 file (it is small), checked against its header count.
Result<std::vector<int32_t>> ReadIdxLabels(const std::string& path);

// An idx3 image file whose header has been read and checked; the pixels are
// streamed, so a peer keeps only the rows of its shard.
class IdxImageFile {
 public:
  // `buffer_bytes`: zlib's read buffer (DataFileReader::Open).
  static Result<IdxImageFile> Open(const std::string& path, unsigned buffer_bytes = 1u << 17);

  const std::string& path() const { return file_->path(); }
  int64_t count() const { return count_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  int64_t dim() const { return height_ * width_; }

  // Calls visit(row, pixels) for images 0 .. n-1 in file order (n <= count()),
  // read about `chunk_bytes` at a time. `pixels` (dim() bytes) is valid only
  // during the call.
  Status ForEachImage(int64_t n, const std::function<void(int64_t, const uint8_t*)>& visit,
                      int64_t chunk_bytes = int64_t{256} << 10);

 private:
  IdxImageFile() = default;
  std::unique_ptr<DataFileReader> file_;
  int64_t count_ = 0, height_ = 0, width_ = 0;
};

}  // namespace meshtrain
