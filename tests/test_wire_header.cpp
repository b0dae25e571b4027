// Header encode/decode: every field round-trips, and every structural defect
// is refused with a message that says what is wrong.
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include <msgpack.hpp>

#include "meshtrain/wire.h"

using namespace meshtrain;

namespace {

Header FullHeader() {
  Header h;
  h.type = MessageType::kReduceScatter;
  h.sender = "peer-0.a_b";
  h.view_id = std::numeric_limits<uint64_t>::max();
  h.round = 1ull << 40;
  h.step = 123456789;
  h.chunk = std::numeric_limits<uint32_t>::max() - 1;
  h.n_chunks = std::numeric_limits<uint32_t>::max();
  h.dtype = DType::kBF16;
  h.n_elems = 1ull << 33;
  h.extra = std::string("\0\x01\xff binary", 10);
  return h;
}

// Packs an array of `fields` items using `fill` for each, to forge headers.
template <typename Fill>
std::string Forge(uint32_t fields, Fill fill) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(fields);
  for (uint32_t i = 0; i < fields; ++i) fill(pk, i);
  return std::string(buf.data(), buf.size());
}

// The standard field at position i (a valid hello from "a").
void PackValid(msgpack::packer<msgpack::sbuffer>& pk, uint32_t i) {
  switch (i) {
    case 0: pk.pack_uint32(kWireVersion); break;
    case 1: pk.pack_uint8(1); break;
    case 2: pk.pack(std::string("a")); break;
    case 10: pk.pack_bin(0); break;
    default: pk.pack_uint64(0);
  }
}

std::string DecodeError(const std::string& bytes, RejectReason* why = nullptr) {
  Result<Header> r = DecodeHeader(bytes.data(), bytes.size(), why);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kCorruption);
  return r.status().message();
}

}  // namespace

TEST_CASE("every field round-trips") {
  const Header h = FullHeader();
  const std::string bytes = EncodeHeader(h);
  RejectReason why = RejectReason::kBadEncoding;
  Result<Header> r = DecodeHeader(bytes.data(), bytes.size(), &why);
  REQUIRE(r.ok());
  CHECK(why == RejectReason::kNone);
  CHECK(r->version == kWireVersion);
  CHECK(r->type == h.type);
  CHECK(r->sender == h.sender);
  CHECK(r->view_id == h.view_id);
  CHECK(r->round == h.round);
  CHECK(r->step == h.step);
  CHECK(r->chunk == h.chunk);
  CHECK(r->n_chunks == h.n_chunks);
  CHECK(r->dtype == h.dtype);
  CHECK(r->n_elems == h.n_elems);
  CHECK(r->extra == h.extra);
}

TEST_CASE("small headers stay small and the encoder reuses its buffer") {
  Header h;
  h.type = MessageType::kHello;
  h.sender = "p1";
  std::string out = "garbage";
  EncodeHeaderTo(h, &out);
  CHECK(out == EncodeHeader(h));
  CHECK(out.size() == 15);  // array, 8 one-byte integers, 3-byte str "p1", 2-byte empty bin
  Result<Header> r = DecodeHeader(out.data(), out.size());
  REQUIRE(r.ok());
  CHECK(r->sender == "p1");
  CHECK(r->extra.empty());
}

TEST_CASE("every type and dtype round-trips") {
  for (uint8_t t = 1; t <= kMaxMessageType; ++t) {
    for (uint8_t d = 0; d <= kMaxDType; ++d) {
      Header h;
      h.type = static_cast<MessageType>(t);
      h.dtype = static_cast<DType>(d);
      h.sender = "x";
      const std::string bytes = EncodeHeader(h);
      Result<Header> r = DecodeHeader(bytes.data(), bytes.size());
      REQUIRE(r.ok());
      CHECK(r->type == h.type);
      CHECK(r->dtype == h.dtype);
    }
  }
}

TEST_CASE("bad msgpack bytes are refused") {
  SUBCASE("empty") { CHECK(DecodeError("").find("empty") != std::string::npos); }
  SUBCASE("reserved byte 0xc1") { CHECK(DecodeError("\x9b\xc1").find("malformed msgpack") != std::string::npos); }
  SUBCASE("truncated") {
    const std::string bytes = EncodeHeader(FullHeader());
    for (size_t n = 1; n < bytes.size(); ++n) {
      Result<Header> r = DecodeHeader(bytes.data(), n);
      CHECK_FALSE(r.ok());
    }
    CHECK(DecodeError(bytes.substr(0, bytes.size() - 3)).find("truncated") != std::string::npos);
  }
  SUBCASE("trailing bytes") {
    CHECK(DecodeError(EncodeHeader(FullHeader()) + "x").find("trailing") != std::string::npos);
  }
  SUBCASE("not an array") {
    CHECK(DecodeError("\x01").find("must be a msgpack array") != std::string::npos);
    CHECK(DecodeError("\x80").find("must be a msgpack array, got a map") != std::string::npos);
  }
  SUBCASE("an array claiming 4 billion fields costs nothing") {
    const std::string bytes("\xdd\xff\xff\xff\xff\x01", 6);
    RejectReason why = RejectReason::kNone;
    CHECK(DecodeError(bytes, &why).find("got 4294967295 fields") != std::string::npos);
    CHECK(why == RejectReason::kBadEncoding);
  }
}

TEST_CASE("wrong array length is refused") {
  for (uint32_t n : {0u, 1u, 10u, 12u}) {
    CAPTURE(n);
    const std::string bytes = Forge(n, PackValid);
    CHECK(DecodeError(bytes).find("array of 11 fields, got " + std::to_string(n)) != std::string::npos);
  }
}

TEST_CASE("wrong field types are refused, naming the field") {
  // Replace field `bad` of a valid header with a value of the wrong kind.
  const auto with = [](uint32_t bad, auto pack_bad) {
    return Forge(11, [&](msgpack::packer<msgpack::sbuffer>& pk, uint32_t i) {
      if (i == bad) {
        pack_bad(pk);
      } else {
        PackValid(pk, i);
      }
    });
  };
  CHECK(DecodeError(with(1, [](auto& pk) { pk.pack(std::string("hello")); }))
            .find("field 1 (type) must be an unsigned integer, got a string") != std::string::npos);
  CHECK(DecodeError(with(2, [](auto& pk) { pk.pack_uint8(7); }))
            .find("field 2 (sender) must be a string, got an integer") != std::string::npos);
  CHECK(DecodeError(with(3, [](auto& pk) { pk.pack_int64(-3); }))
            .find("field 3 (view_id) must be an unsigned integer, got negative integer -3") != std::string::npos);
  CHECK(DecodeError(with(4, [](auto& pk) { pk.pack_double(1.5); })).find("field 4 (round)") != std::string::npos);
  CHECK(DecodeError(with(5, [](auto& pk) { pk.pack_nil(); })).find("field 5 (step)") != std::string::npos);
  CHECK(DecodeError(with(6, [](auto& pk) { pk.pack_true(); })).find("field 6 (chunk)") != std::string::npos);
  CHECK(DecodeError(with(7, [](auto& pk) { pk.pack_array(0); })).find("field 7 (n_chunks)") != std::string::npos);
  CHECK(DecodeError(with(8, [](auto& pk) { pk.pack_map(0); })).find("field 8 (dtype)") != std::string::npos);
  CHECK(DecodeError(with(9, [](auto& pk) { pk.pack_ext(1, 3); pk.pack_ext_body("\0", 1); }))
            .find("field 9 (n_elems)") != std::string::npos);
  CHECK(DecodeError(with(10, [](auto& pk) { pk.pack(std::string("text")); }))
            .find("field 10 (extra) must be bin bytes, got a string") != std::string::npos);
}

TEST_CASE("out-of-range fields are refused") {
  const auto with = [](uint32_t bad, uint64_t value) {
    return Forge(11, [&](msgpack::packer<msgpack::sbuffer>& pk, uint32_t i) {
      if (i == bad) {
        pk.pack_uint64(value);
      } else {
        PackValid(pk, i);
      }
    });
  };
  CHECK(DecodeError(with(1, 256)).find("field 1 (type) out of range: 256 > 255") != std::string::npos);
  CHECK(DecodeError(with(6, 1ull << 32)).find("field 6 (chunk) out of range") != std::string::npos);
  CHECK(DecodeError(with(7, 1ull << 32)).find("field 7 (n_chunks) out of range") != std::string::npos);
  CHECK(DecodeError(with(8, 300)).find("field 8 (dtype) out of range") != std::string::npos);
  // A sender must be a usable routing id: 1..255 bytes.
  const auto sender = [](std::string s) {
    return Forge(11, [&](msgpack::packer<msgpack::sbuffer>& pk, uint32_t i) {
      if (i == 2) {
        pk.pack(s);
      } else {
        PackValid(pk, i);
      }
    });
  };
  CHECK(DecodeError(sender("")).find("field 2 (sender) must be 1..255 bytes, got 0") != std::string::npos);
  CHECK(DecodeError(sender(std::string(256, 'x'))).find("got 256") != std::string::npos);
  CHECK(DecodeHeader(sender(std::string(255, 'x')).data(), sender(std::string(255, 'x')).size()).ok());
}

TEST_CASE("the version is checked first") {
  Header h = FullHeader();
  h.version = 9;
  RejectReason why = RejectReason::kNone;
  CHECK(DecodeError(EncodeHeader(h), &why).find("unsupported wire version 9") != std::string::npos);
  CHECK(why == RejectReason::kBadVersion);
  // A future version with a different shape still reports as a version problem.
  const std::string v2 = Forge(14, [](msgpack::packer<msgpack::sbuffer>& pk, uint32_t i) {
    if (i == 0) {
      pk.pack_uint32(2);
    } else {
      pk.pack(std::string("future"));
    }
  });
  CHECK(DecodeError(v2, &why).find("unsupported wire version 2") != std::string::npos);
  CHECK(why == RejectReason::kBadVersion);
  // Version 0 is not ours either.
  h.version = 0;
  CHECK(DecodeError(EncodeHeader(h)).find("unsupported wire version 0") != std::string::npos);
}

TEST_CASE("arbitrary byte soup never crashes the decoder") {
  // A fixed-seed xorshift so the test is deterministic.
  uint64_t state = 0x9e3779b97f4a7c15ull;
  const auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::string valid = EncodeHeader(FullHeader());
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes = valid;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int f = 0; f < flips; ++f) bytes[next() % bytes.size()] = static_cast<char>(next());
    if (next() % 4 == 0) bytes.resize(next() % (bytes.size() + 1));
    Result<Header> r = DecodeHeader(bytes.data(), bytes.size());
    if (r.ok()) {
      ++accepted;
      CHECK(r->version == kWireVersion);
      CHECK(r->sender.size() >= 1);
    }
  }
  CHECK(accepted > 0);  // flips inside integers still decode
}
