// Data-parallel replicas: how a peer's flat gradient or parameter buffer is
// combined with the other peers' (ring all-reduce), or not at all (local).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/aligned_buffer.h"
#include "meshtrain/config.h"
#include "meshtrain/status.h"

namespace meshtrain {

class PeerGroup;

struct ReplicaStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_recv = 0;
  double comm_seconds = 0;
  std::vector<std::pair<std::string, double>> wait_seconds_by_peer;
  uint64_t rejected = 0;
};

class DataParallel {
 public:
  ~DataParallel();
  // local mode needs no network; ring mode binds this peer's endpoint and connects to the cluster.
  static Result<std::unique_ptr<DataParallel>> Create(const Config& cfg);

  // Waits until every peer of the cluster is reachable (ring); immediate for local.
  Status Start();
  // True when gradients are all-reduced every step (ring, every = 1).
  bool averages_gradients() const { return mode_ == "ring" && every_ == 1; }
  // True when parameters are averaged after `step` (ring, every = k > 1).
  bool averages_parameters_after(int64_t step) const { return mode_ == "ring" && every_ > 1 && step % every_ == 0; }

  // Replaces `grads` (the mean over `rows` local samples) with the mean over all
  // samples of the cluster, weighting each peer by its rows; `loss` likewise.
  Status AverageGradients(std::span<float> grads, int64_t rows, double* loss, uint64_t round);
  // Replaces `params` with the mean of every peer's parameters.
  Status AverageParameters(std::span<float> params, uint64_t round);
  void Shutdown();

  ReplicaStats stats() const;
  std::vector<std::string> view() const;

 private:
  DataParallel() = default;
  std::string mode_;
  int64_t every_ = 1;
  int64_t start_timeout_ms_ = 0;
  std::vector<std::string> view_;
  std::unique_ptr<PeerGroup> group_;
  AlignedFloats buffer_;  // gradient/parameters plus the sample count and loss, reduced as one
};

}  // namespace meshtrain
