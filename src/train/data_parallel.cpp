#include "meshtrain/data_parallel.h"

#include <algorithm>
#include <chrono>

#include "meshtrain/peer_group.h"

namespace meshtrain {

DataParallel::~DataParallel() = default;

Result<std::unique_ptr<DataParallel>> DataParallel::Create(const Config& cfg) {
  std::unique_ptr<DataParallel> dp(new DataParallel());
  dp->mode_ = cfg.sync.mode;
  dp->every_ = cfg.sync.every;
  dp->start_timeout_ms_ = cfg.sync.start_timeout_ms;
  for (const auto& p : cfg.cluster.peers) dp->view_.push_back(p.id);
  std::sort(dp->view_.begin(), dp->view_.end());
  // A cluster of one has no one to talk to: it trains like a local peer and opens no socket.
  if (dp->mode_ == "local" || cfg.cluster.peers.size() == 1) {
    dp->view_ = {cfg.self_id};
    return dp;
  }
  if (dp->mode_ != "ring") {
    return Status::InvalidArgument("sync.mode = \"" + dp->mode_ + "\" is not available in this build (use local or ring)");
  }
  auto group = PeerGroup::Create(cfg);
  if (!group.ok()) return group.status();
  dp->group_ = std::move(group.value());
  return dp;
}

Status DataParallel::Start() {
  if (!group_) return Status::OK();
  return group_->WaitForPeers(std::chrono::milliseconds(start_timeout_ms_));
}

Status DataParallel::AverageGradients(std::span<float> grads, int64_t rows, double* loss, uint64_t round) {
  if (!group_) return Status::OK();
  // One all-reduce carries [grad * rows, rows, loss * rows]: the weighted mean
  // needs the cluster's total rows, and the loss rides along for free.
  const size_t n = grads.size();
  buffer_.resize(n + 2);
  const float w = static_cast<float>(rows);
  for (size_t i = 0; i < n; ++i) buffer_[i] = grads[i] * w;
  buffer_[n] = w;
  buffer_[n + 1] = static_cast<float>(*loss * static_cast<double>(rows));
  MESHTRAIN_RETURN_IF_ERROR(group_->AllreduceSum(buffer_, view_, /*view_id=*/0, round));
  const float total = buffer_[n];
  const float inv = total > 0 ? 1.0f / total : 0.0f;
  for (size_t i = 0; i < n; ++i) grads[i] = buffer_[i] * inv;
  *loss = static_cast<double>(buffer_[n + 1]) * inv;
  return Status::OK();
}

Status DataParallel::AverageParameters(std::span<float> params, uint64_t round) {
  if (!group_) return Status::OK();
  buffer_.assign(params.begin(), params.end());
  MESHTRAIN_RETURN_IF_ERROR(group_->AllreduceSum(buffer_, view_, /*view_id=*/0, round));
  const float inv = 1.0f / static_cast<float>(view_.size());
  for (size_t i = 0; i < params.size(); ++i) params[i] = buffer_[i] * inv;
  return Status::OK();
}

void DataParallel::Shutdown() {
  if (group_) group_->Shutdown();
}

ReplicaStats DataParallel::stats() const {
  ReplicaStats out;
  if (!group_) return out;
  CommStats s = group_->stats();
  out.bytes_sent = s.bytes_sent;
  out.bytes_recv = s.bytes_recv;
  out.comm_seconds = s.comm_seconds;
  out.rejected = s.rejected;
  for (const auto& [peer, seconds] : s.wait_seconds_by_peer) out.wait_seconds_by_peer.emplace_back(peer, seconds);
  return out;
}

std::vector<std::string> DataParallel::view() const { return view_; }

}  // namespace meshtrain
