// DecodeHeader + Validate (+ the tensor codecs' DecodeTensor/AccumulateTensor)
// on arbitrary bytes: a hostile or garbled message is rejected with a reason,
// never crashes the peer, never allocates what the frame does not hold. Decoded
// headers must survive an encode/decode round trip.
//
// Input: byte 0 = rule flags, byte 1 = the receiver's current view, bytes 2-3 =
// frame 0 length L (little-endian), then L bytes of frame 0 and the payload
// (frame 1) after it. The whole input is also decoded as one frame 0.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "meshtrain/codec.h"
#include "meshtrain/wire.h"

using meshtrain::Header;
using meshtrain::RejectReason;

namespace {

bool SameHeader(const Header& a, const Header& b) {
  return a.version == b.version && a.type == b.type && a.sender == b.sender && a.view_id == b.view_id &&
         a.round == b.round && a.step == b.step && a.chunk == b.chunk && a.n_chunks == b.n_chunks &&
         a.dtype == b.dtype && a.n_elems == b.n_elems && a.extra == b.extra;
}

// Decodes one frame; a success must re-encode to a header that decodes the same.
meshtrain::Result<Header> DecodeChecked(const uint8_t* frame, size_t size) {
  RejectReason why = RejectReason::kNone;
  auto decoded = meshtrain::DecodeHeader(frame, size, &why);
  meshtrain::fuzz::Note(decoded.ok() ? std::string("decoded ") + meshtrain::ToString(decoded->type)
                                     : decoded.status().ToString());
  if (!decoded.ok()) {
    MESHTRAIN_FUZZ_CHECK(why == RejectReason::kBadEncoding || why == RejectReason::kBadVersion);
    MESHTRAIN_FUZZ_CHECK(!decoded.status().message().empty());
    return decoded;
  }
  MESHTRAIN_FUZZ_CHECK(why == RejectReason::kNone);
  const Header& h = decoded.value();
  MESHTRAIN_FUZZ_CHECK(h.version == meshtrain::kWireVersion);
  MESHTRAIN_FUZZ_CHECK(!h.sender.empty() && h.sender.size() <= meshtrain::kMaxSenderBytes);
  MESHTRAIN_FUZZ_CHECK(h.extra.size() <= size);
  const std::string encoded = meshtrain::EncodeHeader(h);
  auto again = meshtrain::DecodeHeader(encoded.data(), encoded.size());
  MESHTRAIN_FUZZ_CHECK(again.ok() && SameHeader(again.value(), h));
  return decoded;
}

// The receiver's next step: decode (or accumulate) the tensor payload. The codec
// checks sizes and topk indices itself; what Validate accepts it must decode, to
// finite values when the finite check was on.
void FuzzDecodeTensor(const Header& h, const std::vector<uint8_t>& payload, const meshtrain::ValidationRules& rules,
                      RejectReason reason) {
  if (h.dtype == meshtrain::DType::kNone || !meshtrain::IsKnownDType(h.dtype)) return;
  const uint64_t topk_bound = rules.topk_dense_elems != 0 ? rules.topk_dense_elems : rules.max_elems;
  const uint64_t dense = h.dtype == meshtrain::DType::kTopK ? topk_bound : h.n_elems;
  if (dense > (1u << 16)) return;  // the decoder's output is ours to size; keep it small
  std::vector<float> out(dense, 0.0f);
  std::vector<float> acc(dense, 1.0f);
  const void* bytes = payload.empty() ? nullptr : payload.data();
  const meshtrain::Status decoded = meshtrain::DecodeTensor(h.dtype, h.n_elems, bytes, payload.size(), out);
  const meshtrain::Status added = meshtrain::AccumulateTensor(h.dtype, h.n_elems, bytes, payload.size(), acc);
  meshtrain::fuzz::Note("decode tensor: " + decoded.ToString());
  MESHTRAIN_FUZZ_CHECK(decoded.ok() == added.ok());
  if (!decoded.ok()) {
    MESHTRAIN_FUZZ_CHECK(decoded.code() == meshtrain::Status::Code::kCorruption && !decoded.message().empty());
  }
  if (reason != RejectReason::kNone) return;
  MESHTRAIN_FUZZ_CHECK(decoded.ok());
  if (!rules.check_finite) return;
  for (size_t i = 0; i < out.size(); ++i) {
    MESHTRAIN_FUZZ_CHECK(std::isfinite(out[i]));
    // acc = 1 + decoded, up to one rounding (the sum may be fused).
    const float expected = 1.0f + out[i];
    MESHTRAIN_FUZZ_CHECK(std::fabs(acc[i] - expected) <= 1e-6f * std::max(1.0f, std::fabs(expected)) ||
                         !std::isfinite(expected));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 20)) return 0;
  if (size > 0) (void)DecodeChecked(data, size);
  if (size < 4) return 0;

  const uint8_t flags = data[0];
  const size_t frame0 = static_cast<size_t>(data[2]) | static_cast<size_t>(data[3]) << 8;
  if (4 + frame0 > size) return 0;
  auto decoded = DecodeChecked(data + 4, frame0);
  if (!decoded.ok()) return 0;
  const Header& h = decoded.value();

  meshtrain::ValidationRules rules;
  if (flags & 1) rules.known_senders.push_back(h.sender);
  rules.known_senders.push_back("p0");
  rules.allow_unknown_hello = (flags & 2) != 0;
  rules.check_finite = (flags & 4) == 0;
  rules.max_elems = (flags & 8) ? 4096 : 64;
  rules.topk_dense_elems = (flags & 16) ? 100 : 0;
  rules.max_extra_bytes = (flags & 32) ? 8 : 1 << 20;
  rules.current_view = data[1];
  // Frame 1 in its own heap block, as ZeroMQ hands it over, so ASan sees any read past it.
  const std::vector<uint8_t> payload(data + 4 + frame0, data + size);
  const std::string routing_id = (flags & 64) ? std::string("p0") : h.sender;
  const RejectReason reason =
      meshtrain::Validate(h, routing_id, payload.empty() ? nullptr : payload.data(), payload.size(), rules);
  MESHTRAIN_FUZZ_CHECK(std::string(meshtrain::ToString(reason)).size() > 0);
  meshtrain::fuzz::Note(std::string("validate: ") + meshtrain::ToString(reason));
  if (reason == RejectReason::kNone) {
    MESHTRAIN_FUZZ_CHECK(payload.size() == meshtrain::PayloadBytes(h.dtype, h.n_elems));
    MESHTRAIN_FUZZ_CHECK(h.n_elems <= rules.max_elems || !meshtrain::CarriesTensor(h.type));
    MESHTRAIN_FUZZ_CHECK(h.sender == routing_id);
  }
  FuzzDecodeTensor(h, payload, rules, reason);
  return 0;
}
