// Validate: one test per rejection reason, plus the acceptable cases.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "meshtrain/wire.h"

using namespace meshtrain;

namespace {

ValidationRules Rules() {
  ValidationRules r;
  r.known_senders = {"a", "b", "c"};
  r.max_elems = 1000;
  r.current_view = 5;
  return r;
}

Header Tensor(MessageType type, DType dtype, uint64_t n) {
  Header h;
  h.type = type;
  h.sender = std::string("a");  // (GCC 12 -Wrestrict false positive on assign(const char*))
  h.view_id = 5;
  h.chunk = 1;
  h.n_chunks = 3;
  h.dtype = dtype;
  h.n_elems = n;
  return h;
}

Header Control(MessageType type) {
  Header h;
  h.type = type;
  h.sender = std::string("a");  // (GCC 12 -Wrestrict false positive on assign(const char*))
  return h;
}

RejectReason Check(const Header& h, const std::vector<unsigned char>& payload, const ValidationRules& rules = Rules(),
                   const std::string& from = "a") {
  return Validate(h, from, payload.empty() ? nullptr : payload.data(), payload.size(), rules);
}

std::vector<unsigned char> F32(std::vector<float> v) {
  std::vector<unsigned char> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());  // this suite runs on little-endian hosts
  return out;
}

std::vector<unsigned char> U16(std::vector<uint16_t> v) {
  std::vector<unsigned char> out(v.size() * 2);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

}  // namespace

TEST_CASE("well-formed messages pass") {
  CHECK(Check(Tensor(MessageType::kReduceScatter, DType::kF32, 3), F32({1, 2, 3})) == RejectReason::kNone);
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kF32, 0), {}) == RejectReason::kNone);  // empty chunk
  CHECK(Check(Tensor(MessageType::kState, DType::kF16, 2), U16({0x3C00, 0xBC00})) == RejectReason::kNone);
  CHECK(Check(Tensor(MessageType::kGossip, DType::kBF16, 2), U16({0x3F80, 0x0000})) == RejectReason::kNone);
  std::vector<unsigned char> i8 = F32({0.5f});
  i8.insert(i8.end(), {1, 0xff, 0x80});
  CHECK(Check(Tensor(MessageType::kReduceScatter, DType::kI8, 3), i8) == RejectReason::kNone);
  for (MessageType t : {MessageType::kHello, MessageType::kBye, MessageType::kHeartbeat, MessageType::kStateRequest}) {
    CHECK(Check(Control(t), {}) == RejectReason::kNone);
  }
  // A message from a newer view is not stale: the sync layer holds it briefly.
  Header newer = Tensor(MessageType::kAllGather, DType::kF32, 1);
  newer.view_id = 6;
  CHECK(Check(newer, F32({1})) == RejectReason::kNone);
}

TEST_CASE("bad version") {
  Header h = Control(MessageType::kHello);
  h.version = 2;
  CHECK(Check(h, {}) == RejectReason::kBadVersion);
}

TEST_CASE("unknown type") {
  for (uint8_t t : {0, 9, 255}) {
    Header h = Control(static_cast<MessageType>(t));
    CHECK(Check(h, {}) == RejectReason::kUnknownType);
  }
}

TEST_CASE("sender mismatch: the header lies about who sent it") {
  CHECK(Check(Control(MessageType::kHeartbeat), {}, Rules(), "b") == RejectReason::kSenderMismatch);
}

TEST_CASE("unknown sender") {
  Header h = Control(MessageType::kHeartbeat);
  h.sender = "mallory";
  CHECK(Check(h, {}, Rules(), "mallory") == RejectReason::kUnknownSender);
  // A hello from a stranger is a join request...
  h.type = MessageType::kHello;
  CHECK(Check(h, {}, Rules(), "mallory") == RejectReason::kNone);
  // ...unless joins are closed.
  ValidationRules closed = Rules();
  closed.allow_unknown_hello = false;
  CHECK(Check(h, {}, closed, "mallory") == RejectReason::kUnknownSender);
}

TEST_CASE("old view") {
  Header h = Tensor(MessageType::kReduceScatter, DType::kF32, 1);
  h.view_id = 4;
  CHECK(Check(h, F32({1})) == RejectReason::kStaleView);
  // Control messages are not tied to a view.
  Header hb = Control(MessageType::kHeartbeat);
  hb.view_id = 1;
  CHECK(Check(hb, {}) == RejectReason::kNone);
}

TEST_CASE("bad dtype") {
  CHECK(Check(Tensor(MessageType::kReduceScatter, static_cast<DType>(6), 1), F32({1})) == RejectReason::kBadDType);
  CHECK(Check(Tensor(MessageType::kReduceScatter, DType::kNone, 0), {}) == RejectReason::kBadDType);
  Header hello = Control(MessageType::kHello);
  hello.dtype = DType::kF32;
  CHECK(Check(hello, {}) == RejectReason::kBadDType);
}

TEST_CASE("size mismatch, per dtype") {
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kF32, 3), F32({1, 2})) == RejectReason::kBadSize);
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kF32, 2), F32({1, 2, 3})) == RejectReason::kBadSize);
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kF16, 3), U16({1, 2})) == RejectReason::kBadSize);
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kBF16, 1), U16({1, 2})) == RejectReason::kBadSize);
  // i8 carries a 4-byte scale: n bytes alone are too few.
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kI8, 4), {1, 2, 3, 4}) == RejectReason::kBadSize);
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kTopK, 2), F32({1, 2, 3})) == RejectReason::kBadSize);
  // Payload present where none belongs, and n_elems on a control message.
  CHECK(Check(Control(MessageType::kBye), {1}) == RejectReason::kBadSize);
  Header bye = Control(MessageType::kBye);
  bye.n_elems = 1;
  CHECK(Check(bye, {}) == RejectReason::kBadSize);
  // More elements than the model has, even with a matching payload.
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kF32, 1001), std::vector<unsigned char>(4004)) ==
        RejectReason::kBadSize);
  // A huge n_elems must not wrap around to match a small payload.
  ValidationRules unlimited = Rules();
  unlimited.max_elems = std::numeric_limits<uint64_t>::max();
  CHECK(Check(Tensor(MessageType::kAllGather, DType::kTopK, 1ull << 61), {}, unlimited) == RejectReason::kBadSize);
  CHECK(PayloadBytes(DType::kF32, std::numeric_limits<uint64_t>::max()) == std::numeric_limits<size_t>::max());
}

TEST_CASE("payload sizes per dtype") {
  CHECK(PayloadBytes(DType::kNone, 10) == 0);
  CHECK(PayloadBytes(DType::kF32, 10) == 40);
  CHECK(PayloadBytes(DType::kF16, 10) == 20);
  CHECK(PayloadBytes(DType::kBF16, 10) == 20);
  CHECK(PayloadBytes(DType::kI8, 10) == 14);
  CHECK(PayloadBytes(DType::kTopK, 10) == 80);
}

TEST_CASE("NaN and Inf are refused") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(Check(Tensor(MessageType::kReduceScatter, DType::kF32, 3), F32({1, nan, 3})) == RejectReason::kNonFinite);
  CHECK(Check(Tensor(MessageType::kReduceScatter, DType::kF32, 3), F32({1, 2, -inf})) == RejectReason::kNonFinite);
  // The last element of a long payload (past the first scan block) is seen too.
  std::vector<float> big(10000, 1.0f);
  big.back() = inf;
  ValidationRules large = Rules();
  large.max_elems = big.size();
  CHECK(Check(Tensor(MessageType::kGossip, DType::kF32, big.size()), F32(big), large) == RejectReason::kNonFinite);
  // Subnormals and the largest finite float are fine.
  CHECK(Check(Tensor(MessageType::kGossip, DType::kF32, 2), F32({1e-45f, std::numeric_limits<float>::max()})) ==
        RejectReason::kNone);
  CHECK(Check(Tensor(MessageType::kState, DType::kF16, 2), U16({0x3C00, 0x7C00})) == RejectReason::kNonFinite);
  CHECK(Check(Tensor(MessageType::kState, DType::kF16, 1), U16({0xFE00})) == RejectReason::kNonFinite);
  CHECK(Check(Tensor(MessageType::kState, DType::kBF16, 1), U16({0x7FC0})) == RejectReason::kNonFinite);
  std::vector<unsigned char> i8 = F32({nan});
  i8.push_back(1);
  CHECK(Check(Tensor(MessageType::kState, DType::kI8, 1), i8) == RejectReason::kNonFinite);
  std::vector<unsigned char> topk = F32({0, 0});
  const uint32_t index = 7;
  std::memcpy(topk.data(), &index, 4);
  std::memcpy(topk.data() + 4, &inf, 4);
  CHECK(Check(Tensor(MessageType::kGossip, DType::kTopK, 1), topk) == RejectReason::kNonFinite);
  // Switching the scan off lets them through (for callers that check later).
  ValidationRules unchecked = Rules();
  unchecked.check_finite = false;
  CHECK(Check(Tensor(MessageType::kReduceScatter, DType::kF32, 1), F32({nan}), unchecked) == RejectReason::kNone);
}

TEST_CASE("chunk >= n_chunks") {
  Header h = Tensor(MessageType::kReduceScatter, DType::kF32, 1);
  h.chunk = 3;
  CHECK(Check(h, F32({1})) == RejectReason::kChunkOutOfRange);
  h.chunk = 0;
  h.n_chunks = 0;
  CHECK(Check(h, F32({1})) == RejectReason::kChunkOutOfRange);
  Header hb = Control(MessageType::kHeartbeat);
  hb.chunk = 1;
  CHECK(Check(hb, {}) == RejectReason::kChunkOutOfRange);
}

TEST_CASE("extra too long") {
  Header h = Control(MessageType::kHeartbeat);
  ValidationRules r = Rules();
  r.max_extra_bytes = 8;
  h.extra = std::string(8, 'x');
  CHECK(Check(h, {}, r) == RejectReason::kNone);
  h.extra += 'x';
  CHECK(Check(h, {}, r) == RejectReason::kBadExtra);
}

TEST_CASE("top-k indices in range and strictly increasing") {
  const auto topk = [](std::vector<uint32_t> idx) {
    std::vector<unsigned char> out(idx.size() * 8);
    std::memcpy(out.data(), idx.data(), idx.size() * 4);
    std::vector<float> values(idx.size(), 1.0f);
    std::memcpy(out.data() + idx.size() * 4, values.data(), idx.size() * 4);
    return out;
  };
  CHECK(Check(Tensor(MessageType::kGossip, DType::kTopK, 3), topk({0, 5, 999})) == RejectReason::kNone);
  CHECK(Check(Tensor(MessageType::kGossip, DType::kTopK, 2), topk({5, 1000})) == RejectReason::kBadIndex);
  CHECK(Check(Tensor(MessageType::kGossip, DType::kTopK, 2), topk({5, 5})) == RejectReason::kBadIndex);
  CHECK(Check(Tensor(MessageType::kGossip, DType::kTopK, 2), topk({6, 5})) == RejectReason::kBadIndex);
  ValidationRules dense = Rules();
  dense.topk_dense_elems = 10;
  CHECK(Check(Tensor(MessageType::kGossip, DType::kTopK, 1), topk({10}), dense) == RejectReason::kBadIndex);
}

TEST_CASE("every reason has a name") {
  for (int r = 0; r <= static_cast<int>(RejectReason::kBadIndex); ++r) {
    CHECK(std::string(ToString(static_cast<RejectReason>(r))) != "unknown reason");
  }
  CHECK(std::string(ToString(MessageType::kAllGather)) == "all_gather");
  CHECK(std::string(ToString(DType::kBF16)) == "bf16");
}
