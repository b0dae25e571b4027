#include "membership/state_fetch.h"

#include <algorithm>
#include <cstring>

namespace meshtrain::membership_internal {

StateFetch::StateFetch(uint64_t view_id, const ReconcilePlan& plan, uint64_t n_values, uint64_t piece_floats)
    : view_id_(view_id),
      plan_(plan),
      n_values_(n_values),
      piece_floats_(std::max<uint64_t>(piece_floats, 1)),
      n_pieces_(static_cast<uint32_t>(StatePieceCount(n_values, std::max<uint64_t>(piece_floats, 1)))),
      values_(n_values),
      received_(n_pieces_, false) {}

StateRequest StateFetch::RequestFor() const {
  StateRequest r;
  r.n_values = n_values_;
  r.piece_floats = piece_floats_;
  r.stride = stride();
  r.checksum = plan_.checksum;
  return r;
}

StateFetch::Accept StateFetch::Add(const std::string& from, const Header& h, const float* data,
                                   const StatePieceInfo& info, std::string* why) {
  if (h.view_id != view_id_ || h.step != plan_.target_step || info.checksum != plan_.checksum) {
    return Accept::kNotOurs;  // an older transfer's piece, or another state altogether
  }
  if (std::find(plan_.sources.begin(), plan_.sources.end(), from) == plan_.sources.end()) {
    *why = "state piece from " + from + ", which holds no reference state in view " + std::to_string(view_id_);
    return Accept::kBad;
  }
  if (info.n_values != n_values_ || info.piece_floats != piece_floats_ || h.n_chunks != n_pieces_) {
    *why = "state of " + std::to_string(info.n_values) + " floats in pieces of " + std::to_string(info.piece_floats) +
           " from " + from + "; this peer holds " + std::to_string(n_values_) + " in pieces of " +
           std::to_string(piece_floats_) + " (a different model or optimizer?)";
    return Accept::kBad;
  }
  const uint64_t begin = static_cast<uint64_t>(h.chunk) * piece_floats_;
  const uint64_t expected = std::min<uint64_t>(piece_floats_, n_values_ > begin ? n_values_ - begin : 0);
  if (h.chunk >= n_pieces_ || h.n_elems != expected || (expected > 0 && data == nullptr)) {
    *why = "state piece " + std::to_string(h.chunk) + " of " + std::to_string(n_pieces_) + " from " + from +
           " holds " + std::to_string(h.n_elems) + " floats, expected " + std::to_string(expected);
    return Accept::kBad;
  }
  if (have_meta_ && info.meta != meta_) {
    *why = "state piece " + std::to_string(h.chunk) + " from " + from + " carries other metadata than the rest";
    return Accept::kBad;
  }
  if (received_[h.chunk]) return Accept::kDuplicate;
  if (expected > 0) std::memcpy(values_.data() + begin, data, expected * sizeof(float));
  received_[h.chunk] = true;
  ++received_count_;
  meta_ = info.meta;
  have_meta_ = true;
  return Accept::kTaken;
}

std::vector<std::string> StateFetch::Owing() const {
  std::vector<std::string> out;
  const size_t k = plan_.sources.size();
  for (size_t i = 0; i < k; ++i) {
    for (size_t p = i; p < n_pieces_; p += k) {
      if (!received_[p]) {
        out.push_back(plan_.sources[i]);
        break;
      }
    }
  }
  return out;
}

Result<StateSnapshot> StateFetch::Finish() {
  const uint64_t got = StateChecksum(values_, meta_);
  if (got != plan_.checksum) {
    return Status::Corruption("state of step " + std::to_string(plan_.target_step) + " assembled from " +
                              std::to_string(plan_.sources.size()) + " peer(s) has checksum " + std::to_string(got) +
                              ", they reported " + std::to_string(plan_.checksum));
  }
  StateSnapshot out;
  out.view_id = view_id_;
  out.step = plan_.target_step;
  out.checksum = got;
  out.values = std::move(values_);
  out.meta = std::move(meta_);
  return out;
}

}  // namespace meshtrain::membership_internal
