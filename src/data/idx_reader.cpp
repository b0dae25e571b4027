#include "data/idx_reader.h"

#include <algorithm>
#include <cstdio>

namespace meshtrain {
namespace {

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

uint32_t BigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Reads the magic and `ndims` sizes; a wrong magic says what the file looks like instead.
Result<std::vector<int64_t>> ReadIdxHeader(DataFileReader& file, uint32_t magic, const char* kind) {
  const size_t ndims = magic & 0xff;
  unsigned char header[4 * 4];
  MESHTRAIN_RETURN_IF_ERROR(file.ReadExactly(header, 4 * (1 + ndims), std::string("IDX header of ") + kind));
  const uint32_t got = BigEndian32(header);
  if (got != magic) {
    std::string hint;
    if (got == kIdxImagesMagic) hint = " (this is an image file)";
    if (got == kIdxLabelsMagic) hint = " (this is a label file)";
    if (header[0] == 0x1f && header[1] == 0x8b) hint = " (gzip inside gzip?)";
    return Status::Corruption(file.path() + ": byte 0: wrong magic " + Hex32(got) + ", expected " + Hex32(magic) +
                              " (idx" + std::to_string(ndims) + " ubyte " + kind + ")" + hint);
  }
  std::vector<int64_t> dims;
  for (size_t i = 0; i < ndims; ++i) {
    const int64_t size = BigEndian32(header + 4 * (i + 1));
    if (size == 0) {
      return Status::Corruption(file.path() + ": byte " + std::to_string(4 * (i + 1)) + ": size " + std::to_string(i) +
                                " in the IDX header is 0 (the file holds no " + kind + ")");
    }
    dims.push_back(size);
  }
  return dims;
}

}  // namespace

Result<std::vector<int32_t>> ReadIdxLabels(const std::string& path) {
  auto file = DataFileReader::Open(path);
  if (!file.ok()) return file.status();
  auto dims = ReadIdxHeader(**file, kIdxLabelsMagic, "labels");
  if (!dims.ok()) return dims.status();
  const int64_t count = (*dims)[0];
  // Grow with the data actually present, so a lying header cannot demand 4 GB up front.
  std::vector<int32_t> labels;
  std::vector<uint8_t> chunk(size_t{1} << 16);
  while (static_cast<int64_t>(labels.size()) < count) {
    const size_t want = static_cast<size_t>(
        std::min<int64_t>(count - static_cast<int64_t>(labels.size()), static_cast<int64_t>(chunk.size())));
    MESHTRAIN_RETURN_IF_ERROR(
        (*file)->ReadExactly(chunk.data(), want, "labels (header announces " + std::to_string(count) + ")"));
    labels.insert(labels.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(want));
  }
  unsigned char extra;
  auto more = (*file)->ReadUpTo(&extra, 1);
  if (!more.ok()) return more.status();
  if (*more != 0) {
    return Status::Corruption(path + ": byte " + std::to_string(kIdxLabelsHeaderBytes + count) +
                              ": trailing data after the " + std::to_string(count) + " labels the header announces");
  }
  return labels;
}

Result<IdxImageFile> IdxImageFile::Open(const std::string& path, unsigned buffer_bytes) {
  auto file = DataFileReader::Open(path, buffer_bytes);
  if (!file.ok()) return file.status();
  auto dims = ReadIdxHeader(**file, kIdxImagesMagic, "images");
  if (!dims.ok()) return dims.status();
  IdxImageFile images;
  images.count_ = (*dims)[0];
  images.height_ = (*dims)[1];
  images.width_ = (*dims)[2];
  // Each size is below 2^32, so the product could overflow int64: bound them one at a time first.
  if (images.height_ > kIdxMaxImageBytes || images.width_ > kIdxMaxImageBytes || images.dim() > kIdxMaxImageBytes) {
    return Status::Corruption(path + ": byte 8: image size " + std::to_string(images.height_) + "x" +
                              std::to_string(images.width_) + " in the IDX header is implausibly large");
  }
  images.file_ = std::move(file.value());
  return images;
}

Status IdxImageFile::ForEachImage(int64_t n, const std::function<void(int64_t, const uint8_t*)>& visit,
                                  int64_t chunk_bytes) {
  // Read a few hundred KB at a time (by default): few calls into zlib, little memory.
  const int64_t rows_per_chunk = std::max<int64_t>(1, chunk_bytes / dim());
  std::vector<uint8_t> chunk(static_cast<size_t>(rows_per_chunk * dim()));
  for (int64_t first = 0; first < n; first += rows_per_chunk) {
    const int64_t rows = std::min(rows_per_chunk, n - first);
    MESHTRAIN_RETURN_IF_ERROR(file_->ReadExactly(
        chunk.data(), static_cast<size_t>(rows * dim()),
        "images " + std::to_string(first) + ".." + std::to_string(first + rows - 1) + " (header announces " +
            std::to_string(count_) + " images of " + std::to_string(height_) + "x" + std::to_string(width_) + ")"));
    for (int64_t r = 0; r < rows; ++r) visit(first + r, chunk.data() + r * dim());
  }
  if (n == count_) {
    // The whole file was wanted: anything after the last image means the header lies.
    unsigned char extra;
    auto more = file_->ReadUpTo(&extra, 1);
    if (!more.ok()) return more.status();
    if (*more != 0) {
      return Status::Corruption(path() + ": byte " + std::to_string(kIdxImagesHeaderBytes + count_ * dim()) +
                                ": trailing data after the " + std::to_string(count_) + " images the header announces");
    }
  }
  return Status::OK();
}

}  // namespace meshtrain
