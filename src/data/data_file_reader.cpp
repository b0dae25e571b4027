#include "data/data_file_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace meshtrain {
namespace {

constexpr unsigned kReadChunk = 1u << 30;  // gzread takes an unsigned length

std::string Where(const DataFileReader& file) {
  return file.path() + ": " + (file.compressed() ? "decompressed byte " : "byte ") + std::to_string(file.offset());
}

}  // namespace

Result<std::unique_ptr<DataFileReader>> DataFileReader::Open(const std::string& path, unsigned buffer_bytes) {
  // Sniff the magic ourselves: it tells "empty" from "bad gzip" and lets errors say
  // whether offsets are into decompressed data. zlib reads plain files transparently.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::IOError(path + ": is a directory, expected a file");
  std::FILE* sniff = std::fopen(path.c_str(), "rb");
  if (sniff == nullptr) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  const size_t got = std::fread(magic, 1, 2, sniff);
  std::fclose(sniff);
  if (got == 0) return Status::Corruption(path + ": empty file");
  const bool compressed = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;

  gzFile handle = gzopen(path.c_str(), "rb");
  if (handle == nullptr) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  gzbuffer(handle, buffer_bytes);
  return std::unique_ptr<DataFileReader>(new DataFileReader(path, handle, compressed));
}

DataFileReader::DataFileReader(std::string path, void* handle, bool compressed)
    : path_(std::move(path)), handle_(handle), compressed_(compressed) {}

DataFileReader::~DataFileReader() { gzclose(static_cast<gzFile>(handle_)); }

Result<size_t> DataFileReader::ReadUpTo(void* out, size_t n) {
  gzFile handle = static_cast<gzFile>(handle_);
  auto* dst = static_cast<unsigned char*>(out);
  size_t total = 0;
  while (total < n) {
    const unsigned want = static_cast<unsigned>(std::min<size_t>(n - total, kReadChunk));
    const int got = gzread(handle, dst + total, want);
    int err = Z_OK;
    std::string message = gzerror(handle, &err);
    if (message.starts_with(path_ + ": ")) message.erase(0, path_.size() + 2);  // zlib prefixes the path
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
      offset_ += static_cast<int64_t>(total + static_cast<size_t>(std::max(got, 0)));
      const std::string why = err == Z_BUF_ERROR ? "gzip stream cut short (unexpected end of compressed data)"
                              : err == Z_ERRNO   ? std::string("read failed: ") + std::strerror(errno)
                                                 : "gzip data corrupt: " + message;
      return Status::Corruption(Where(*this) + ": " + why);
    }
    total += static_cast<size_t>(got);
    if (static_cast<unsigned>(got) < want) break;  // end of data
  }
  offset_ += static_cast<int64_t>(total);
  return total;
}

Status DataFileReader::ReadExactly(void* out, size_t n, const std::string& what) {
  const int64_t start = offset_;
  auto got = ReadUpTo(out, n);
  if (!got.ok()) return got.status();
  if (*got < n) {
    return Status::Corruption(path_ + ": truncated at " + (compressed_ ? "decompressed byte " : "byte ") +
                              std::to_string(offset_) + ": expected " + std::to_string(n) + " bytes of " + what +
                              " from byte " + std::to_string(start) + ", got " + std::to_string(*got));
  }
  return Status::OK();
}

}  // namespace meshtrain
