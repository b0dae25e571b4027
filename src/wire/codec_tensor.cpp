// Whole tensors: pick the element codec for a CodecSpec on the way out, and
// the decoder for a payload's dtype on the way in (after checking that the
// payload is the size its header says and fits the tensor it belongs to).
#include <bit>
#include <cassert>
#include <cstring>
#include <string>
#include <vector>

#include "meshtrain/codec.h"
#include "wire/codec_bytes.h"
#include "wire/codec_kernels.h"

namespace meshtrain {
namespace {

using wire_internal::LoadF32;
using wire_internal::StoreF32;

void EncodeF32(const float* src, size_t n, void* dst) {
  if constexpr (std::endian::native == std::endian::little) {
    if (n != 0) std::memcpy(dst, src, n * sizeof(float));
  } else {
    auto* out = static_cast<unsigned char*>(dst);
    for (size_t i = 0; i < n; ++i) StoreF32(out + 4 * i, src[i]);
  }
}

void DecodeF32(const void* src, size_t n, float* dst) {
  if constexpr (std::endian::native == std::endian::little) {
    if (n != 0) std::memcpy(dst, src, n * sizeof(float));
  } else {
    const auto* in = static_cast<const unsigned char*>(src);
    for (size_t i = 0; i < n; ++i) dst[i] = LoadF32(in + 4 * i);
  }
}

void Resize(EncodedTensor* out, DType dtype, uint64_t n_elems) {
  out->dtype = dtype;
  out->n_elems = n_elems;
  out->bytes.resize(PayloadBytes(dtype, n_elems));
}

// Size checks shared by DecodeTensor and AccumulateTensor.
Status CheckPayload(DType dtype, uint64_t n_elems, size_t payload_bytes, size_t tensor_elems) {
  const std::string what = std::string(ToString(dtype)) + " payload of " + std::to_string(n_elems) + " elements";
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kI8:
      if (n_elems != tensor_elems) {
        return Status::Corruption(what + " for a tensor of " + std::to_string(tensor_elems) + " elements");
      }
      break;
    case DType::kTopK:
      if (n_elems > tensor_elems) {
        return Status::Corruption(what + " (kept entries) for a tensor of " + std::to_string(tensor_elems) +
                                  " elements");
      }
      break;
    case DType::kNone:
    default:
      return Status::Corruption("dtype " + std::to_string(static_cast<int>(dtype)) + " does not carry a tensor");
  }
  if (payload_bytes != PayloadBytes(dtype, n_elems)) {
    return Status::Corruption(what + " is " + std::to_string(payload_bytes) + " bytes, expected " +
                              std::to_string(PayloadBytes(dtype, n_elems)));
  }
  return Status::OK();
}

}  // namespace

void EncodeTensor(const CodecSpec& spec, std::span<const float> values, uint64_t seed, EncodedTensor* out) {
  const size_t n = values.size();
  switch (spec.compression) {
    case Compression::kNone:
      Resize(out, DType::kF32, n);
      EncodeF32(values.data(), n, out->bytes.data());
      return;
    case Compression::kFP16:
      Resize(out, DType::kF16, n);
      EncodeF16(values.data(), n, out->bytes.data());
      return;
    case Compression::kBF16:
      Resize(out, DType::kBF16, n);
      EncodeBF16(values.data(), n, out->bytes.data());
      return;
    case Compression::kInt8:
      Resize(out, DType::kI8, n);
      EncodeI8(values.data(), n, spec.rounding, seed, out->bytes.data());
      return;
    case Compression::kTopK: {
      const size_t k = TopKCount(n, spec.topk_ratio);
      Resize(out, DType::kTopK, k);
      EncodeTopK(values.data(), n, k, out->bytes.data());
      return;
    }
  }
}

void EncodeNonZeros(std::span<const float> values, EncodedTensor* out) {
  const size_t n = values.size();
  size_t nonzero = 0;
  for (float v : values) nonzero += v != 0.0f;
  if (PayloadBytes(DType::kTopK, nonzero) >= PayloadBytes(DType::kF32, n)) {
    Resize(out, DType::kF32, n);
    EncodeF32(values.data(), n, out->bytes.data());
    return;
  }
  Resize(out, DType::kTopK, nonzero);
  unsigned char* index_out = reinterpret_cast<unsigned char*>(out->bytes.data());
  unsigned char* value_out = index_out + 4 * nonzero;
  size_t j = 0;
  for (size_t i = 0; i < n; ++i) {
    if (values[i] == 0.0f) continue;
    wire_internal::StoreLittle<uint32_t>(index_out + 4 * j, static_cast<uint32_t>(i));
    StoreF32(value_out + 4 * j, values[i]);
    ++j;
  }
}

void EncodeWithFeedback(const CodecSpec& spec, std::span<const float> values, std::span<float> residual,
                        uint64_t seed, EncodedTensor* out) {
  const size_t n = values.size();
  for (size_t i = 0; i < n; ++i) residual[i] += values[i];  // residual now holds what we want to send
  EncodeTensor(spec, residual, seed, out);
  if (out->dtype == DType::kTopK) {
    // Kept entries travel exactly: nothing of them is left over.
    const auto* index_in = reinterpret_cast<const unsigned char*>(out->bytes.data());
    for (size_t j = 0; j < out->n_elems; ++j) residual[wire_internal::LoadLittle<uint32_t>(index_in + 4 * j)] = 0.0f;
    return;
  }
  std::vector<float> sent(n);
  const Status st = DecodeTensor(out->dtype, out->n_elems, out->bytes.data(), out->bytes.size(), sent);
  assert(st.ok());  // we just encoded it
  (void)st;
  for (size_t i = 0; i < n; ++i) residual[i] -= sent[i];
}

Status DecodeTensor(DType dtype, uint64_t n_elems, const void* payload, size_t payload_bytes, std::span<float> out) {
  MESHTRAIN_RETURN_IF_ERROR(CheckPayload(dtype, n_elems, payload_bytes, out.size()));
  const auto n = static_cast<size_t>(n_elems);
  switch (dtype) {
    case DType::kF32: DecodeF32(payload, n, out.data()); break;
    case DType::kF16: DecodeF16(payload, n, out.data()); break;
    case DType::kBF16: DecodeBF16(payload, n, out.data()); break;
    case DType::kI8: DecodeI8(payload, n, out.data()); break;
    case DType::kTopK: return DecodeTopK(payload, n, out.data(), out.size());
    case DType::kNone: break;  // refused by CheckPayload
  }
  return Status::OK();
}

Status AccumulateTensor(DType dtype, uint64_t n_elems, const void* payload, size_t payload_bytes,
                        std::span<float> acc) {
  MESHTRAIN_RETURN_IF_ERROR(CheckPayload(dtype, n_elems, payload_bytes, acc.size()));
  const auto n = static_cast<size_t>(n_elems);
  switch (dtype) {
    case DType::kF32: wire_internal::AccumulateF32(payload, n, acc.data()); break;
    case DType::kF16: wire_internal::AccumulateF16(payload, n, acc.data()); break;
    case DType::kBF16: wire_internal::AccumulateBF16(payload, n, acc.data()); break;
    case DType::kI8: wire_internal::AccumulateI8(payload, n, acc.data()); break;
    case DType::kTopK: return wire_internal::AccumulateTopK(payload, n, acc.data(), acc.size());
    case DType::kNone: break;
  }
  return Status::OK();
}

namespace wire_internal {

void AccumulateF32(const void* src, size_t n, float* acc) {
  const auto* in = static_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) acc[i] += LoadF32(in + 4 * i);
}

}  // namespace wire_internal
}  // namespace meshtrain
