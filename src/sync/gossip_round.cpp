#include "sync/gossip_round.h"

#include <cmath>
#include <memory>

namespace meshtrain {

Status GossipRound::Run(uint64_t round, uint64_t step, std::span<float> params, double* weight) {
  GossipLinks& links = *s_.links;
  const MixingRow row = s_.topology->Row(s_.self, round);
  if (row.neighbors.empty()) {  // an odd one out of a random pairing sits the round out
    links.EndRound(round);
    return Status::OK();
  }
  // One copy serves every neighbour (zero-copy sends) and is the "before" z.
  auto mine = std::make_shared<const std::vector<float>>(params.begin(), params.end());
  const Header header =
      GossipHeader(links.self(), GossipKind::kRound, round, step, params.size(), *weight);
  for (size_t j : row.neighbors) {
    const std::string& peer = (*s_.ids)[j];
    const auto t0 = std::chrono::steady_clock::now();
    Status st = links.Send(peer, header, mine, s_.timeout);
    waits_[peer] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) return st;
  }
  std::vector<RoundMessage> got;
  got.reserve(row.neighbors.size());
  for (size_t j : row.neighbors) {
    const std::string& peer = (*s_.ids)[j];
    Result<RoundMessage> m = links.ReceiveRound(peer, round, s_.timeout, &waits_[peer]);
    if (!m.ok()) return m.status();
    got.push_back(std::move(m).value());
  }
  links.EndRound(round);

  double total = row.self * *weight;
  for (size_t k = 0; k < got.size(); ++k) total += row.weights[k] * got[k].weight;
  const size_t n = params.size();
  const float* before = mine->data();
  double dist_sq = 0, norm_sq = 0;
  for (size_t i = 0; i < n; ++i) norm_sq += static_cast<double>(before[i]) * before[i];
  for (const RoundMessage& m : got) {
    for (size_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(before[i]) - m.data[i];
      dist_sq += d * d;
    }
  }
  consensus_ = norm_sq > 0 ? std::sqrt(dist_sq / static_cast<double>(got.size()) / norm_sq) : 0.0;
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

}  // namespace meshtrain
