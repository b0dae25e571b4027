#include "sync/push_sum.h"

#include <algorithm>
#include <cmath>
#include <memory>

namespace meshtrain {

using Clock = std::chrono::steady_clock;

namespace {
// How long one "done"/"alive" note may wait for the transport; it is tiny.
constexpr std::chrono::milliseconds kNoteTimeout{20};
}  // namespace

PushSum::PushSum(Setup setup) : s_(setup) {}

void PushSum::Absorb(std::span<float> params, double* weight) {
  s_.links->Poll(std::chrono::milliseconds(0));
  const PushInbox in = s_.links->TakePushes();
  if (in.count == 0 || !(in.weight > 0)) return;
  const size_t n = params.size();
  float* z = params.data();
  // Weighted mean squared distance to the shares: |z|^2 - 2 z.A/S + Q/S.
  double norm_sq = 0, dot = 0;
  for (size_t i = 0; i < n; ++i) {
    norm_sq += static_cast<double>(z[i]) * z[i];
    dot += static_cast<double>(z[i]) * in.weighted_sum[i];
  }
  const double mean_sq = norm_sq - 2.0 * dot / in.weight + in.weighted_sq_norm / in.weight;
  consensus_ = norm_sq > 0 ? std::sqrt(std::max(mean_sq, 0.0) / norm_sq) : 0.0;

  const double total = *weight + in.weight;
  const auto keep = static_cast<float>(*weight / total);
  const auto scale = static_cast<float>(1.0 / total);
  const float* acc = in.weighted_sum.data();
  for (size_t i = 0; i < n; ++i) z[i] = keep * z[i] + scale * acc[i];
  *weight = total;
}

void PushSum::Mix(uint64_t step, std::span<float> params, double* weight) {
  Absorb(params, weight);
  SayAlive(step);
  // The next target in the topology's order that has not left; if all have,
  // keep everything. Peers that have finished still take shares: a straggler's
  // weight, piled up while it pushed less often than it received, flows back
  // to them, so what it learns alone on its shard after they finished does not
  // dominate the final average.
  const size_t tries = std::max<size_t>(s_.topology->PushTargets(s_.self).size(), 1);
  for (size_t t = 0; t < tries; ++t) {
    const size_t target = s_.topology->PushTarget(s_.self, pushes_++);
    const std::string& peer = (*s_.ids)[target];
    if (target == s_.self || s_.links->Gone(peer)) continue;  // left, or dead: its share stays here
    const double share = *weight / 2.0;
    auto z = std::make_shared<const std::vector<float>>(params.begin(), params.end());
    const Header header = GossipHeader(s_.links->self(), GossipKind::kPush, pushes_, step, params.size(), share);
    if (s_.links->TrySend(peer, header, std::move(z), s_.push_timeout)) {
      *weight -= share;
      ++sent_;
    } else {
      ++kept_;  // not sent, so it never arrives: the share simply stays here
    }
    return;
  }
}

void PushSum::SayAlive(uint64_t step) {
  if (s_.alive_interval.count() <= 0) return;
  const Clock::time_point now = Clock::now();
  if (now - last_alive_ < s_.alive_interval) return;
  last_alive_ = now;
  const Header header = GossipHeader(s_.links->self(), GossipKind::kAlive, 0, step, 0, 0.0);
  for (const std::string& peer : *s_.ids) {
    if (peer != s_.links->self() && !s_.links->Gone(peer)) s_.links->TrySend(peer, header, nullptr, kNoteTimeout);
  }
}

Status PushSum::FinishAndDrain(uint64_t step, std::span<float> params, double* weight) {
  // "done" goes out after our last push on the same connection, so a peer that
  // has it has every share we sent it.
  const Header done = GossipHeader(s_.links->self(), GossipKind::kDone, 0, step, 0, 0.0);
  for (const std::string& peer : *s_.ids) {
    if (peer == s_.links->self() || s_.links->Gone(peer)) continue;
    MESHTRAIN_RETURN_IF_ERROR(s_.links->Send(peer, done, nullptr, s_.timeout).WithContext("telling it we are done"));
  }
  const Clock::time_point wait_start = Clock::now();
  for (;;) {
    Absorb(params, weight);
    std::vector<std::string> silent;
    bool waiting = false;
    const Clock::time_point now = Clock::now();
    for (const std::string& peer : *s_.ids) {
      if (peer == s_.links->self() || s_.links->Gone(peer)) continue;  // a dead peer sends nothing more
      const PeerProgress p = s_.links->Progress(peer);
      if (p.done) continue;
      waiting = true;
      const Clock::time_point since = p.heard ? std::max(p.last_heard, wait_start) : wait_start;
      if (now - since >= s_.timeout) silent.push_back(s_.links->Named(peer));
    }
    if (!waiting) break;
    if (!silent.empty()) {
      std::string names;
      for (const auto& s : silent) names += (names.empty() ? "" : ", ") + s;
      return Status::Timeout("push-sum: waiting for every peer to finish training, no word from " + names + " for " +
                             std::to_string(s_.timeout.count()) + " ms");
    }
    s_.links->Poll(std::chrono::milliseconds(50));
  }
  Absorb(params, weight);
  return Status::OK();
}

}  // namespace meshtrain
