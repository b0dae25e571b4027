// Little-endian fields, so what one machine writes reads the same on any other
// (x86-64 and aarch64 alike): checkpoints (train) and the `extra` bytes of
// membership messages. Every read is bounds-checked: the bytes come from disk
// or the network, so a short or lying input only makes the reader fail
// (failed()), never read past the end. Header-only, shared by both layers.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace meshtrain {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  // Length-prefixed (u8): ids and endpoints are at most 255 bytes.
  void ShortStr(std::string_view s) {
    const size_t n = s.size() > 255 ? 255 : s.size();
    U8(static_cast<uint8_t>(n));
    out_->append(s.substr(0, n));
  }
  // Length-prefixed (u32): names and opaque blobs.
  void Str(std::string_view s) {
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

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  ByteReader(const char* data, size_t size) : in_(data, size) {}
  uint8_t U8() { return static_cast<uint8_t>(Le(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Le(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }
  int64_t I64() { return static_cast<int64_t>(Le(8)); }
  std::string ShortStr() { return Take(U8()); }
  // A u32-prefixed string of at most `max_bytes` (a longer claim fails).
  std::string Str(size_t max_bytes) {
    const uint32_t n = U32();
    if (n > max_bytes) {
      failed_ = true;
      return {};
    }
    return Take(n);
  }
  bool Floats(std::span<float> out) {
    if (failed_ || out.size() > remaining() / 4) {
      failed_ = true;
      return false;
    }
    for (float& f : out) {
      const uint32_t bits = U32();
      std::memcpy(&f, &bits, 4);
    }
    return true;
  }
  bool failed() const { return failed_; }
  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return failed_ ? 0 : in_.size() - pos_; }

 private:
  uint64_t Le(int bytes) {
    if (failed_ || in_.size() - pos_ < static_cast<size_t>(bytes)) {
      failed_ = true;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(bytes);
    return v;
  }
  std::string Take(size_t n) {
    if (failed_ || in_.size() - pos_ < n) {
      failed_ = true;
      return {};
    }
    std::string out(in_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace meshtrain
