// Little-endian encoding of fixed-size fields, so a checkpoint written on one
// machine reads the same on any other (x86-64 and aarch64 alike).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace meshtrain {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  void Floats(std::span<const float> values) {
    for (float f : values) {
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      U32(bits);
    }
  }
  void Raw(const void* data, size_t n) { out_->append(static_cast<const char*>(data), n); }

 private:
  void Le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string* out_;
};

// Reads fields back; every read is bounds-checked and sets failed() instead of
// reading past the end.
class ByteReader {
 public:
  ByteReader(const char* data, size_t size) : data_(data), size_(size) {}
  bool failed() const { return failed_; }
  size_t position() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }
  int64_t I64() { return static_cast<int64_t>(Le(8)); }
  std::string Str(size_t max_len) {
    uint32_t n = U32();
    if (failed_ || n > max_len || n > remaining()) {
      failed_ = true;
      return {};
    }
    std::string s(data_ + pos_, n);
    pos_ += n;
    return s;
  }
  bool Floats(std::span<float> out) {
    if (failed_ || out.size() > remaining() / 4) {
      failed_ = true;
      return false;
    }
    for (float& f : out) {
      uint32_t bits = U32();
      std::memcpy(&f, &bits, 4);
    }
    return true;
  }

 private:
  uint64_t Le(int bytes) {
    if (failed_ || remaining() < static_cast<size_t>(bytes)) {
      failed_ = true;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += bytes;
    return v;
  }
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace meshtrain
