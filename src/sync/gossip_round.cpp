#include "sync/gossip_round.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace meshtrain {

std::shared_ptr<const std::vector<float>> GossipRound::Corrupt(std::shared_ptr<const std::vector<float>> values,
                                                               uint64_t round) const {
  auto bad = std::make_shared<std::vector<float>>(*values);
  if (s_.byzantine == ByzantineKind::kHuge) {
    // Finite, so the wire's NaN/Inf check lets it through: only the receiver's
    // aggregation can stop it.
    for (size_t i = 0; i < bad->size(); ++i) (*bad)[i] = (i % 2 == 0 ? 1e6f : -1e6f);
  } else if (s_.byzantine == ByzantineKind::kNoise) {
    std::mt19937_64 rng(round * 7919 + s_.self);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    for (float& v : *bad) v += noise(rng);
  }
  return bad;
}

Status GossipRound::Run(uint64_t view_id, uint64_t round, uint64_t step, std::span<float> params, double* weight,
                        bool exact) {
  GossipLinks& links = *s_.links;
  const MixingRow row = s_.topology->Row(s_.self, round);
  if (row.neighbors.empty()) {  // an odd one out of a random pairing sits the round out
    links.EndRound(view_id, round);
    return Status::OK();
  }
  const size_t n = params.size();
  const bool codec = s_.codec.compression != Compression::kNone;
  // Compressed rounds need the public copies of this view, set by an f32 round.
  // (Synchronous training only: Gossip::Create refuses a codec with push-sum, so w stays 1.)
  const bool compress = codec && !exact && copies_set_ && copies_view_ == view_id;
  // One copy serves every neighbour (zero-copy sends) and is the "before" z.
  auto mine = std::make_shared<const std::vector<float>>(params.begin(), params.end());
  std::shared_ptr<const std::vector<float>> shown =
      s_.byzantine == ByzantineKind::kNone ? mine : Corrupt(mine, round);
  GossipPayload payload;
  Header header = GossipHeader(links.self(), GossipKind::kRound, round, step, n, *weight, view_id);
  if (compress) {
    std::vector<float> change(n);
    for (size_t i = 0; i < n; ++i) change[i] = (*shown)[i] - public_self_[i];
    EncodeTensor(s_.codec, change, round * 0x9e3779b97f4a7c15ULL + s_.self, &encoded_);
    auto bytes = std::make_shared<const std::vector<std::byte>>(encoded_.bytes);
    MESHTRAIN_RETURN_IF_ERROR(
        AccumulateTensor(encoded_.dtype, encoded_.n_elems, bytes->data(), bytes->size(), public_self_));
    header.dtype = encoded_.dtype;
    header.n_elems = encoded_.n_elems;
    payload = GossipPayload{bytes->data(), bytes->size(), bytes};
  } else {
    payload = GossipPayload{shown->data(), n * sizeof(float), shown};
  }
  for (size_t j : row.neighbors) {
    const std::string& peer = (*s_.ids)[j];
    const auto t0 = std::chrono::steady_clock::now();
    Status st = links.Send(peer, header, payload, s_.timeout, view_id);
    waits_[peer] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) return st;
  }
  std::vector<RoundMessage> got;
  got.reserve(row.neighbors.size());
  for (size_t j : row.neighbors) {
    const std::string& peer = (*s_.ids)[j];
    Result<RoundMessage> m = links.ReceiveRound(peer, view_id, round, s_.timeout, &waits_[peer]);
    if (!m.ok()) return m.status();
    got.push_back(std::move(m).value());
  }
  links.EndRound(view_id, round);

  // What each neighbour shows: its parameters (f32), or our public copy of
  // them updated with the change it sent.
  const float* before = mine->data();
  std::vector<const float*> v(got.size());
  for (size_t k = 0; k < got.size(); ++k) {
    const RoundMessage& m = got[k];
    if (m.dtype == DType::kF32) {
      v[k] = m.data;
      if (codec) public_[m.sender].assign(m.data, m.data + n);
      continue;
    }
    auto copy = public_.find(m.sender);
    if (!compress || copy == public_.end()) {
      return Status::InvalidArgument("gossip round " + std::to_string(round) + ": " + links.Named(m.sender) +
                                     " sent a " + ToString(m.dtype) +
                                     " change before the f32 round that sets its copy (mismatched sync.compression?)");
    }
    const Status added = AccumulateTensor(m.dtype, m.n_elems, m.payload, m.payload_bytes, copy->second);
    if (!added.ok()) return Status::InvalidArgument("gossip round from " + links.Named(m.sender) + ": " + added.message());
    v[k] = copy->second.data();
  }
  if (codec && !compress) {  // an f32 round: every copy is now what was sent
    public_self_.assign(shown->begin(), shown->end());
    copies_view_ = view_id;
    copies_set_ = true;
    for (auto it = public_.begin(); it != public_.end();) {  // neighbours of an older graph
      const bool neighbour = std::any_of(got.begin(), got.end(), [&](const RoundMessage& m) { return m.sender == it->first; });
      it = neighbour ? std::next(it) : public_.erase(it);
    }
  }
  if (compress) ++compressed_rounds_;

  double dist_sq = 0, norm_sq = 0;
  for (size_t i = 0; i < n; ++i) norm_sq += static_cast<double>(before[i]) * before[i];
  for (const float* z : v) {
    for (size_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(before[i]) - z[i];
      dist_sq += d * d;
    }
  }
  consensus_ = norm_sq > 0 ? std::sqrt(dist_sq / static_cast<double>(got.size()) / norm_sq) : 0.0;

  if (compress || s_.robust.kind != RobustKind::kNone) {
    // x_i += combination of (v_j - u_i), u_i our public copy (or x_i itself).
    const float* u = compress ? public_self_.data() : before;
    const double gamma = compress ? s_.consensus_step : 1.0;
    if (s_.robust.kind == RobustKind::kTrimmedMean) {
      MixTrimmedMean(v, u, params, gamma);
    } else {
      MixDifferences(row, v, u, params, gamma);
    }
    return Status::OK();
  }

  double total = row.self * *weight;
  for (size_t k = 0; k < got.size(); ++k) total += row.weights[k] * got[k].weight;
  if (!(total > 0)) return Status::OK();  // every weight is zero: nothing to mix

  const auto a_self = static_cast<float>(row.self * *weight / total);
  float* out = params.data();
  for (size_t i = 0; i < n; ++i) out[i] = a_self * before[i];
  for (size_t k = 0; k < got.size(); ++k) {
    const auto a = static_cast<float>(row.weights[k] * got[k].weight / total);
    const float* z = got[k].data;
    for (size_t i = 0; i < n; ++i) out[i] += a * z[i];
  }
  *weight = total;
  return Status::OK();
}

void GossipRound::MixDifferences(const MixingRow& row, const std::vector<const float*>& v, const float* u,
                                 std::span<float> x, double gamma) {
  const size_t n = x.size();
  std::vector<double> scale(v.size(), 1.0);
  if (s_.robust.kind == RobustKind::kClip) {
    std::vector<double> norms(v.size());
    for (size_t k = 0; k < v.size(); ++k) {
      double sq = 0;
      for (size_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(v[k][i]) - u[i];
        sq += d * d;
      }
      norms[k] = std::sqrt(sq);
    }
    double tau = s_.robust.clip;
    if (tau <= 0) {  // the lower median: honest as long as fewer than half the neighbours are not
      std::vector<double> sorted = norms;
      std::sort(sorted.begin(), sorted.end());
      tau = sorted[(sorted.size() - 1) / 2];
    }
    for (size_t k = 0; k < v.size(); ++k) {
      if (norms[k] > tau) {
        scale[k] = tau / norms[k];
        ++clipped_;
      }
    }
  }
  float* out = x.data();
  for (size_t k = 0; k < v.size(); ++k) {
    const auto a = static_cast<float>(gamma * row.weights[k] * scale[k]);
    const float* z = v[k];
    for (size_t i = 0; i < n; ++i) out[i] += a * (z[i] - u[i]);
  }
}

void GossipRound::MixTrimmedMean(const std::vector<const float*>& v, const float* u, std::span<float> x,
                                 double gamma) const {
  const size_t m = v.size() + 1;  // self and every neighbour
  const size_t trim = std::min(s_.robust.trim, (m - 1) / 2);
  const size_t kept = m - 2 * trim;
  std::vector<float> column(m);
  float* out = x.data();
  for (size_t i = 0; i < x.size(); ++i) {
    column[0] = u[i];
    for (size_t k = 0; k < v.size(); ++k) column[k + 1] = v[k][i];
    std::sort(column.begin(), column.end());
    double sum = 0;
    for (size_t k = trim; k < trim + kept; ++k) sum += column[k];
    out[i] += static_cast<float>(gamma * (sum / static_cast<double>(kept) - u[i]));
  }
}

}  // namespace meshtrain
