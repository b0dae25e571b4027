// meshtrain's public C++ API (docs/api.md): a peer of a meshtrain cluster
// inside your own training loop. Your program keeps its model, its gradient
// and its optimizer; meshtrain keeps the replicas of every peer in step, with
// the machinery `meshtrain run` uses (membership, re-forming after a death,
// state transfer to a peer that joins or falls behind, the ring all-reduce,
// parameter averaging, gossip).
//
//   auto peer = meshtrain::Peer::Open({"cluster.toml", "p0", {}, 1000});
//   (*peer)->Attach(params, optimizer_state);
//   (*peer)->Start();
//   while (!(*peer)->done()) {
//     if (!(*peer)->BeginStep().value()) continue;       // a view change: ask again
//     compute grads at params ...
//     if ((*peer)->AllReduce(grads, rows).value() == meshtrain::Round::kRedo) continue;
//     apply grads to params ...
//     (*peer)->EndStep();
//   }
//   (*peer)->Finish();
//
// Only this header and meshtrain/status.h are installed; link meshtrain::meshtrain.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain {

// Which cluster, and this peer's place in it.
struct PeerOptions {
  // A cluster file (docs/config.md), as `meshtrain run --config` reads it: the
  // peers and their endpoints, [sync] (ring or gossip, every, compression,
  // timeouts) and [membership]. Its [data], [model] and [optim] are not used.
  std::string config_file;
  // This peer's id in cluster.peers (`meshtrain run --id`).
  std::string id;
  // "section.key=value" overrides (`meshtrain run --set`).
  std::vector<std::string> overrides;
  // The run's length in steps, the same on every peer: the cluster's step
  // counter ends there (a peer that joins late continues the others' count).
  int64_t steps = 0;
};

// After AllReduce: use the reduced gradient, or redo this step (a peer died or
// came back during the round; the view is reconciled at the next BeginStep and
// the step is computed again, never applied twice nor lost).
enum class Round { kDone, kRedo };

// Something the cluster did, as `meshtrain run` logs it to metrics.jsonl
// (docs/training.md, "Metrics"): view_change, peer_dead, state_sync, ...
struct PeerEvent {
  std::string name;
  std::string detail;
  int64_t step = 0;  // this peer's step when it happened
};

class Peer {
 public:
  // Reads and checks the config (InvalidArgument names the key or file).
  static Result<std::unique_ptr<Peer>> Open(const PeerOptions& options);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // The buffers every peer keeps equal: the parameters and, optionally, the
  // optimizer state (momentum, Adam's moments), each one flat float buffer of
  // the same size on every peer, owned by the caller and alive until the Peer
  // is destroyed. A peer that joins or falls behind receives them from the
  // others (state transfer); so BeginStep may overwrite them. Binds this
  // peer's endpoint; nothing is sent before Start.
  Status Attach(std::span<float> params, std::span<float> optimizer_state = {});

  // Joins the cluster: waits until the config's peers are there (a fresh
  // start), or joins the running ones. Aborted as soon as *stop is set.
  Status Start(const std::atomic<bool>* stop = nullptr);

  // Before each step: follows who is alive. true: compute the step; false:
  // not now (a view change was reconciled and may have replaced the attached
  // buffers and step(), or the cluster is below its quorum): call again.
  // An error ends the run (the cluster is gone, the replicas disagree).
  Result<bool> BeginStep(const std::atomic<bool>* stop = nullptr);

  // sync.mode = "ring" with sync.every = 1: replaces `grads`, this peer's mean
  // gradient over `rows` samples, with the cluster's mean over all its samples
  // (each peer weighted by its rows), and `loss` (if given) likewise. Every
  // peer ends with the same bits, so equal replicas stay equal. Other modes
  // leave `grads` as they are.
  Result<Round> AllReduce(std::span<float> grads, int64_t rows = 1, double* loss = nullptr);

  // After your optimizer step: the step counts, and parameter averaging
  // (sync.every = k) or gossip mixing (sync.mode = "gossip") of the attached
  // parameters runs when it is due.
  Status EndStep();

  // True once step() has reached PeerOptions::steps.
  bool done() const;
  // Steps done. It jumps when BeginStep adopts the cluster's state.
  int64_t step() const;
  // The ids of the peers this one trains with now.
  std::vector<std::string> view() const;
  // The events since the last call, oldest first.
  std::vector<PeerEvent> DrainEvents();

  // After the last step: gossip's final agreement, then waits (bounded) for
  // the others to finish and says goodbye, serving the final state to a peer
  // that comes back meanwhile. The Peer can then be destroyed.
  Status Finish(const std::atomic<bool>* stop = nullptr);

 private:
  class Impl;
  explicit Peer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshtrain
