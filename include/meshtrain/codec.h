// Tensor codecs on the wire (config [sync] compression; docs/compression.md):
// pure functions of buffers, no sockets, no state. A sender encodes floats
// into a payload of one wire dtype (docs/protocol.md: f16, bf16, i8 = f32 scale
// then n int8, topk = n u32 indices then n f32 values; all little-endian); a
// receiver decodes any of them back to fp32, or adds them into an fp32
// accumulator. Decoding is exact arithmetic on the payload bytes, so every peer
// that decodes the same payload gets the same floats, bit for bit.
//
// Documented error of one encode/decode round trip, per element x:
//   fp16  round to nearest even: |x - d| <= 2^-11 |x| where 2^-14 <= |x| <= 65504,
//         <= 2^-25 below 2^-14 (subnormal spacing 2^-24); finite |x| > 65504
//         saturate to +-65504 (never Inf). NaN stays NaN, Inf stays Inf.
//   bf16  round to nearest even: |x - d| <= 2^-8 |x| for normal x; finite values
//         that would round past the largest bf16 saturate to it.
//   int8  one scale per payload, s = max|x| / 127, q in [-127, 127], d = s * q:
//         nearest:    |x - d| <= s / 2 (plus float rounding, < 2^-20 s);
//         stochastic: |x - d| <  s (plus the same), and E[d] = x (unbiased).
//   topk  keeps the k entries of largest |x| exactly (ties: the lower index);
//         the others decode as 0, so their error is |x| <= the k-th largest |x|.
//         Error feedback (EncodeWithFeedback) carries what was not sent into the
//         next round.
// Non-finite inputs are the caller's business (the ring sends a marker instead);
// int8 and topk assume finite inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/status.h"
#include "meshtrain/wire.h"

namespace meshtrain {

// Compression and Rounding are the config's enums (config.h): their names
// are the values of sync.compression and sync.int8_rounding (ToString, ParseEnum).

// Everything an encoder needs to know (sync.compression, sync.int8_rounding,
// sync.topk_ratio).
struct CodecSpec {
  Compression compression = Compression::kNone;
  Rounding rounding = Rounding::kNearest;  // int8 only
  double topk_ratio = 0.01;                // topk only: fraction of entries kept, in (0, 1]
};

// The dtype of a codec's payloads (kF32 for kNone).
DType WireDType(Compression compression);
// Entries topk keeps of n: ceil(ratio * n), at least 1 when n > 0, at most n.
size_t TopKCount(size_t n, double ratio);

// ---- element codecs. `dst` holds PayloadBytes(dtype, n) bytes (8k for topk);
// no alignment is required of any payload pointer. ----

void EncodeF16(const float* src, size_t n, void* dst);
void DecodeF16(const void* src, size_t n, float* dst);
void EncodeBF16(const float* src, size_t n, void* dst);
void DecodeBF16(const void* src, size_t n, float* dst);
// `seed` drives stochastic rounding (counter-based: the same seed gives the
// same bytes on every machine); nearest ignores it.
void EncodeI8(const float* src, size_t n, Rounding rounding, uint64_t seed, void* dst);
void DecodeI8(const void* src, size_t n, float* dst);
// Writes the k (<= n) entries of largest magnitude, indices ascending.
void EncodeTopK(const float* src, size_t n, size_t k, void* dst);
// The k largest-magnitude entries' indices, ascending (what EncodeTopK keeps).
void SelectTopK(const float* src, size_t n, size_t k, std::vector<uint32_t>* indices);
// Writes the dense vector of `n`: zeros except the `k` listed entries.
// Corruption if an index is >= n or the indices do not strictly increase.
Status DecodeTopK(const void* src, size_t k, float* dst, size_t n);
// The same checks alone, for a receiver that wants to refuse a piece before using it.
Status CheckTopK(const void* src, size_t k, size_t n);

// ---- whole tensors: what senders and receivers call ----

struct EncodedTensor {
  DType dtype = DType::kF32;
  uint64_t n_elems = 0;          // header n_elems: dense length, or topk's kept entries
  std::vector<std::byte> bytes;  // the payload, PayloadBytes(dtype, n_elems) long
};

// Encodes `values` as `spec` says (kNone: plain f32). Reuses out->bytes' capacity.
void EncodeTensor(const CodecSpec& spec, std::span<const float> values, uint64_t seed, EncodedTensor* out);
// Lossless sparse form for partial sums of sparse vectors: the nonzero entries
// as topk when that is smaller than f32, else plain f32. Exact either way,
// except that -0.0 travels as +0.0.
void EncodeNonZeros(std::span<const float> values, EncodedTensor* out);
// Error feedback: encodes values + residual, then leaves in `residual` what the
// payload fails to carry (values + residual - decoded), so it is sent later.
// `residual` has values.size() entries.
void EncodeWithFeedback(const CodecSpec& spec, std::span<const float> values, std::span<float> residual,
                        uint64_t seed, EncodedTensor* out);

// Decodes a payload of any tensor dtype (f32, f16, bf16, i8, topk) for a
// tensor of out.size() elements: `out` = decoded. Corruption (naming the
// problem) if the size does not match, or topk indices do not fit.
Status DecodeTensor(DType dtype, uint64_t n_elems, const void* payload, size_t payload_bytes, std::span<float> out);
// Same, but adds the decoded values into `acc` in fp32 (a receiver that
// reduces never materializes the decoded tensor).
Status AccumulateTensor(DType dtype, uint64_t n_elems, const void* payload, size_t payload_bytes,
                        std::span<float> acc);

}  // namespace meshtrain
