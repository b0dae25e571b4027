// Little-endian fields for membership messages (the `extra` bytes of a
// heartbeat, a state request or a state piece). Every read is bounds-checked:
// these bytes come from the network, so a short or lying message only makes
// the reader fail, never read past the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meshtrain::membership_internal {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  // Length-prefixed (u8): ids and endpoints are at most 255 bytes.
  void ShortStr(std::string_view s) {
    const size_t n = s.size() > 255 ? 255 : s.size();
    U8(static_cast<uint8_t>(n));
    out_->append(s.substr(0, n));
  }
  // Length-prefixed (u32), for opaque blobs.
  void Blob(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }

 private:
  void Le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  uint8_t U8() { return static_cast<uint8_t>(Le(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Le(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }
  std::string ShortStr() { return Take(U8()); }
  std::string Blob(size_t max_bytes) {
    const uint32_t n = U32();
    if (n > max_bytes) {
      failed_ = true;
      return {};
    }
    return Take(n);
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

}  // namespace meshtrain::membership_internal
