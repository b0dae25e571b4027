// The network as gossip sees it (docs/gossip.md): sends gossip messages over
// the PeerGroup's Transport and files those that arrive, through the Mailbox's
// gossip handler, after the wire checks and its own (known kind, the model's
// length). Gossip is not lockstep, so it has its own inbox:
//   - round messages wait in a small store until their round runs; one of a
//     round already finished is late: counted, never mixed in;
//   - push-sum shares are summed the moment they arrive, in whatever order, so
//     none is lost however many come and they cost one buffer;
//   - done/alive notes (and every other message) tell when a peer was last
//     heard from and whether it has finished.
// Single-threaded, like the PeerGroup that owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "meshtrain/status.h"
#include "meshtrain/transport.h"
#include "meshtrain/wire.h"
#include "sync/gossip_messages.h"
#include "sync/mailbox.h"
#include "sync/peer_table.h"

namespace meshtrain {

class Membership;

// A round message taken from the store.
struct RoundMessage {
  std::string sender;
  uint64_t step = 0;
  double weight = 0;
  // f32 (the whole model): `data`, num_params aligned floats. Compressed rounds
  // (docs/gossip.md, "Compression"): `payload` of `dtype` with `n_elems`
  // (topk: entries kept), the encoded change of the sender's public copy;
  // `data` is then null. Valid while `owner` lives.
  const float* data = nullptr;
  DType dtype = DType::kF32;
  uint64_t n_elems = 0;
  const void* payload = nullptr;
  size_t payload_bytes = 0;
  std::shared_ptr<void> owner;
};

// A payload to send: `bytes` at `data`, kept alive by `keep` until sent.
struct GossipPayload {
  const void* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<const void> keep;
};

// Push-sum shares summed since the last TakePushes().
struct PushInbox {
  std::vector<float> weighted_sum;  // sum of share_j * z_j (empty when count == 0)
  double weight = 0;                // sum of share_j
  double weighted_sq_norm = 0;      // sum of share_j * |z_j|^2, for the consensus distance
  uint64_t count = 0;
};

struct PeerProgress {
  bool heard = false;  // anything at all since the start
  std::chrono::steady_clock::time_point last_heard{};
  bool done = false;   // it said it has taken its last step
  uint64_t step = 0;   // the latest step it reported
};

struct GossipCounters {
  uint64_t pushes_absorbed = 0;
  uint64_t out_of_order = 0;  // pushes numbered below one already absorbed from that sender (absorbed anyway)
  uint64_t late = 0;          // round messages of a round already finished (counted, not mixed)
  uint64_t rejected = 0;      // gossip messages that failed our checks (logged through the drop log)
};

class GossipLinks {
 public:
  GossipLinks(Transport* transport, Mailbox* mailbox, const PeerTable* peers, std::string self,
              size_t max_stored_rounds);

  // The model's length: parameter messages of another length are rejected.
  void set_num_params(size_t n) { num_params_ = n; }
  size_t num_params() const { return num_params_; }
  // Called by PeerGroup::Shutdown: nothing is sent after it.
  void set_transport(Transport* transport) { transport_ = transport; }
  // Gossip that follows membership views (docs/gossip.md, "Faults"): a peer
  // outside the installed view is gone, and a round of an older view ends.
  void set_membership(const Membership* membership) { membership_ = membership; }
  // The peer said Bye, or membership no longer has it in the installed view.
  bool Gone(const std::string& peer) const;
  // Why a round of view `view_id` cannot go on ("" while it can): membership
  // installed another view. Never for view 0 (gossip without membership).
  std::string Superseded(uint64_t view_id) const;

  // The Mailbox's gossip handler: checks and files one validated message.
  void File(Header header, IncomingMessage msg);

  // Sends `header` (+ `values`, zero-copy, kept alive until sent) to `peer`,
  // retried in short slices while answering what arrives, for at most
  // `timeout`. Aborted if the peer said Bye or left the view, or (view_id > 0)
  // once membership replaced view `view_id`; Timeout if the transport never
  // took it (then it never arrives: no duplicate, no half message).
  Status Send(const std::string& peer, const Header& header, std::shared_ptr<const std::vector<float>> values,
              std::chrono::milliseconds timeout, uint64_t view_id = 0);
  Status Send(const std::string& peer, const Header& header, const GossipPayload& payload,
              std::chrono::milliseconds timeout, uint64_t view_id = 0);
  // One attempt of at most `timeout`; true if the transport took the message.
  bool TrySend(const std::string& peer, const Header& header, std::shared_ptr<const std::vector<float>> values,
               std::chrono::milliseconds timeout);
  bool TrySend(const std::string& peer, const Header& header, const GossipPayload& payload,
               std::chrono::milliseconds timeout);

  // `peer`'s message of synchronous round `round` of view `view_id`, waiting
  // at most `timeout`. Aborted at once if the peer said Bye, and within 100 ms
  // once membership installs another view (the peer died, or came back);
  // the wait is added to *waited.
  Result<RoundMessage> ReceiveRound(const std::string& peer, uint64_t view_id, uint64_t round,
                                    std::chrono::milliseconds timeout, double* waited);
  Result<RoundMessage> ReceiveRound(const std::string& peer, uint64_t round, std::chrono::milliseconds timeout,
                                    double* waited) {
    return ReceiveRound(peer, 0, round, timeout, waited);
  }
  // Round `round` of view `view_id` is over: its messages and older ones
  // (older views included) are late from now on.
  void EndRound(uint64_t view_id, uint64_t round);
  void EndRound(uint64_t round) { EndRound(0, round); }

  // Waits at most `timeout` for a message, then files every queued one.
  void Poll(std::chrono::milliseconds timeout);
  // The shares summed so far; the inbox starts empty again.
  PushInbox TakePushes();

  PeerProgress Progress(const std::string& peer) const;
  bool Departed(const std::string& peer) const { return peers_->Departed(peer); }
  std::string Named(const std::string& peer) const;  // "p2 (tcp://127.0.0.1:5557)"
  const std::string& self() const { return self_; }
  GossipCounters counters() const { return counters_; }
  size_t stored_rounds() const { return rounds_.size(); }

 private:
  void Reject(const std::string& peer, const std::string& why);
  void AddPush(const Header& h, double share, const float* z);

  Transport* transport_;
  Mailbox* mailbox_;
  const PeerTable* peers_;
  std::string self_;
  size_t max_stored_rounds_;
  size_t num_params_ = 0;
  const Membership* membership_ = nullptr;
  using RoundKey = std::tuple<uint64_t, uint64_t, std::string>;       // (view, round, sender)
  std::map<RoundKey, RoundMessage> rounds_;
  std::optional<std::pair<uint64_t, uint64_t>> finished_round_;       // (view, round) of the last round ended
  PushInbox inbox_;
  std::map<std::string, uint64_t> last_push_;  // highest push number absorbed per sender
  std::map<std::string, PeerProgress> progress_;
  GossipCounters counters_;
};

}  // namespace meshtrain
