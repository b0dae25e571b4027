// Sequential reads from a data file that may be gzip-compressed: the first two
// bytes (1f 8b) decide. Positions in messages are offsets into the decompressed
// bytes, i.e. the offsets of the IDX/CSV format itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "meshtrain/status.h"

namespace meshtrain {

class DataFileReader {
 public:
  // Opens `path`; a missing or unreadable file is an IOError, a zero-byte file Corruption.
  // zlib reads through a buffer of `buffer_bytes` (and inflates into twice that).
  static Result<std::unique_ptr<DataFileReader>> Open(const std::string& path, unsigned buffer_bytes = 1u << 17);
  ~DataFileReader();
  DataFileReader(const DataFileReader&) = delete;
  DataFileReader& operator=(const DataFileReader&) = delete;

  // Reads up to `n` bytes into `out`; fewer only at the end of the data. A damaged
  // or cut-off gzip stream is Corruption naming the file and offset.
  Result<size_t> ReadUpTo(void* out, size_t n);
  // Reads exactly `n` bytes or fails; `what` names the missing part in the error.
  Status ReadExactly(void* out, size_t n, const std::string& what);

  const std::string& path() const { return path_; }
  bool compressed() const { return compressed_; }
  // Bytes of (decompressed) data consumed so far.
  int64_t offset() const { return offset_; }

 private:
  DataFileReader(std::string path, void* handle, bool compressed);

  std::string path_;
  void* handle_;  // gzFile; zlib's own type stays out of this header
  bool compressed_;
  int64_t offset_ = 0;
};

}  // namespace meshtrain
