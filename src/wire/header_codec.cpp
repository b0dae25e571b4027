// EncodeHeader / DecodeHeader: the 11-field msgpack array of frame 0.
// Decoding walks the bytes with msgpack's visitor parser instead of building a
// msgpack::object tree, so a hostile header costs no allocation: an array that
// claims four billion elements is refused at its first byte.
#include <limits>
#include <string>

#include <msgpack.hpp>

#include "meshtrain/wire.h"

namespace meshtrain {
namespace {

// packer<> writes through any type with write(const char*, size_t).
struct StringSink {
  std::string* out;
  void write(const char* data, size_t size) { out->append(data, size); }
};

enum class FieldKind { kUnsigned, kStr, kBin };

struct FieldSpec {
  const char* name;
  FieldKind kind;
  uint64_t max;  // for kUnsigned: largest value allowed
};

constexpr uint64_t kU8 = std::numeric_limits<uint8_t>::max();
constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kU64 = std::numeric_limits<uint64_t>::max();

// Index = position in the array (docs/protocol.md).
constexpr FieldSpec kFields[kHeaderFields] = {
    {"version", FieldKind::kUnsigned, kU32}, {"type", FieldKind::kUnsigned, kU8},
    {"sender", FieldKind::kStr, 0},          {"view_id", FieldKind::kUnsigned, kU64},
    {"round", FieldKind::kUnsigned, kU64},   {"step", FieldKind::kUnsigned, kU64},
    {"chunk", FieldKind::kUnsigned, kU32},   {"n_chunks", FieldKind::kUnsigned, kU32},
    {"dtype", FieldKind::kUnsigned, kU8},    {"n_elems", FieldKind::kUnsigned, kU64},
    {"extra", FieldKind::kBin, 0},
};

const char* KindName(FieldKind kind) {
  switch (kind) {
    case FieldKind::kUnsigned: return "an unsigned integer";
    case FieldKind::kStr: return "a string";
    case FieldKind::kBin: return "bin bytes";
  }
  return "?";
}

// Fills a Header field by field; the first problem stops the parse and is kept
// in `error`. Every visit_* returns false to stop.
class HeaderVisitor : public msgpack::null_visitor {
 public:
  explicit HeaderVisitor(Header* out) : out_(out) {}

  const std::string& error() const { return error_; }
  RejectReason reason() const { return reason_; }
  bool complete() const { return error_.empty() && done_; }

  bool visit_nil() { return WrongType("nil"); }
  bool visit_boolean(bool) { return WrongType("a boolean"); }
  bool visit_negative_integer(int64_t v) { return WrongType("negative integer " + std::to_string(v)); }
  bool visit_float32(float) { return WrongType("a float"); }
  bool visit_float64(double) { return WrongType("a float"); }
  bool visit_ext(const char*, uint32_t) { return WrongType("an ext value"); }
  bool start_map(uint32_t) { return WrongType("a map"); }

  bool start_array(uint32_t n) {
    if (depth_ != 0) return WrongType("an array");
    depth_ = 1;
    declared_ = n;
    if (n == 0) return Fail("header must be an array of 11 fields, got 0 fields");
    return true;
  }
  bool start_array_item() { return true; }
  bool end_array_item() {
    ++field_;
    // The version is checked before the shape, so that a later version with a
    // different field count reports as a version problem.
    if (field_ == 1 && declared_ != kHeaderFields) {
      return Fail("header must be an array of 11 fields, got " + std::to_string(declared_) + " fields");
    }
    return true;
  }
  bool end_array() {
    done_ = true;
    return true;
  }

  bool visit_positive_integer(uint64_t v) {
    if (!AtField()) return false;
    const FieldSpec& spec = kFields[field_];
    if (spec.kind != FieldKind::kUnsigned) return WrongType("an integer");
    if (v > spec.max) {
      return Fail("field " + std::to_string(field_) + " (" + spec.name + ") out of range: " + std::to_string(v) +
                  " > " + std::to_string(spec.max));
    }
    switch (field_) {
      case 0:
        if (v != kWireVersion) {
          reason_ = RejectReason::kBadVersion;
          return Fail("unsupported wire version " + std::to_string(v) + " (this build speaks " +
                      std::to_string(kWireVersion) + ")");
        }
        out_->version = static_cast<uint32_t>(v);
        break;
      case 1: out_->type = static_cast<MessageType>(v); break;
      case 3: out_->view_id = v; break;
      case 4: out_->round = v; break;
      case 5: out_->step = v; break;
      case 6: out_->chunk = static_cast<uint32_t>(v); break;
      case 7: out_->n_chunks = static_cast<uint32_t>(v); break;
      case 8: out_->dtype = static_cast<DType>(v); break;
      case 9: out_->n_elems = v; break;
      default: assert(false && "kFields and the switch disagree");
    }
    return true;
  }

  bool visit_str(const char* data, uint32_t size) {
    if (!AtField()) return false;
    if (kFields[field_].kind != FieldKind::kStr) return WrongType("a string");
    if (size == 0 || size > kMaxSenderBytes) {
      return Fail("field 2 (sender) must be 1.." + std::to_string(kMaxSenderBytes) + " bytes, got " +
                  std::to_string(size));
    }
    out_->sender.assign(data, size);
    return true;
  }

  bool visit_bin(const char* data, uint32_t size) {
    if (!AtField()) return false;
    if (kFields[field_].kind != FieldKind::kBin) return WrongType("bin bytes");
    out_->extra.assign(data, size);
    return true;
  }

  void parse_error(size_t, size_t error_offset) {
    Fail("malformed msgpack at byte " + std::to_string(error_offset));
  }
  void insufficient_bytes(size_t, size_t error_offset) {
    Fail("header truncated at byte " + std::to_string(error_offset));
  }

 private:
  // True if a scalar may be read here: inside the array, at a real field.
  bool AtField() {
    if (depth_ == 0) return WrongType("a scalar");
    return field_ < kHeaderFields || Fail("too many fields");
  }

  bool WrongType(const std::string& got) {
    if (depth_ == 0) return Fail("header must be a msgpack array, got " + got);
    const FieldSpec& spec = kFields[field_ < kHeaderFields ? field_ : 0];
    return Fail("field " + std::to_string(field_) + " (" + spec.name + ") must be " + KindName(spec.kind) +
                ", got " + got);
  }

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  Header* out_;
  std::string error_;
  RejectReason reason_ = RejectReason::kBadEncoding;
  int depth_ = 0;
  uint32_t declared_ = 0;
  size_t field_ = 0;
  bool done_ = false;
};

}  // namespace

void EncodeHeaderTo(const Header& h, std::string* out) {
  out->clear();
  out->reserve(48 + h.sender.size() + h.extra.size());
  StringSink sink{out};
  msgpack::packer<StringSink> pk(sink);
  pk.pack_array(kHeaderFields);
  pk.pack_uint32(h.version);
  pk.pack_uint8(static_cast<uint8_t>(h.type));
  pk.pack_str(static_cast<uint32_t>(h.sender.size()));
  pk.pack_str_body(h.sender.data(), static_cast<uint32_t>(h.sender.size()));
  pk.pack_uint64(h.view_id);
  pk.pack_uint64(h.round);
  pk.pack_uint64(h.step);
  pk.pack_uint32(h.chunk);
  pk.pack_uint32(h.n_chunks);
  pk.pack_uint8(static_cast<uint8_t>(h.dtype));
  pk.pack_uint64(h.n_elems);
  pk.pack_bin(static_cast<uint32_t>(h.extra.size()));
  pk.pack_bin_body(h.extra.data(), static_cast<uint32_t>(h.extra.size()));
}

std::string EncodeHeader(const Header& h) {
  std::string out;
  EncodeHeaderTo(h, &out);
  return out;
}

Result<Header> DecodeHeader(const void* data, size_t size, RejectReason* why) {
  if (why != nullptr) *why = RejectReason::kBadEncoding;
  if (data == nullptr || size == 0) return Status::Corruption("empty wire header");
  Header h;
  HeaderVisitor visitor(&h);
  size_t offset = 0;
  try {
    msgpack::parse(static_cast<const char*>(data), size, offset, visitor);
  } catch (const std::exception& e) {  // the parser may throw on limits; never let it escape
    return Status::Corruption(std::string("malformed wire header: ") + e.what());
  }
  if (!visitor.error().empty()) {
    if (why != nullptr) *why = visitor.reason();
    return Status::Corruption("bad wire header: " + visitor.error());
  }
  if (!visitor.complete()) return Status::Corruption("bad wire header: incomplete");
  if (offset != size) {
    return Status::Corruption("bad wire header: " + std::to_string(size - offset) + " trailing bytes after byte " +
                              std::to_string(offset));
  }
  if (why != nullptr) *why = RejectReason::kNone;
  return h;
}

}  // namespace meshtrain
