// PeerGroup: this peer's Transport plus its view of the cluster, and the
// collectives on top (docs/ring.md). It never opens a socket itself. Every
// incoming message is decoded and validated (wire.h) before use; a bad one is
// dropped, counted and logged at most once per peer per minute. Hello and Bye
// are answered whenever they arrive, also in the middle of a collective.
//
// Not thread-safe: one thread runs WaitForPeers, the collectives and Shutdown.
// stats() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "meshtrain/codec.h"
#include "meshtrain/config.h"
#include "meshtrain/status.h"
#include "meshtrain/transport.h"

namespace meshtrain {

class DropLog;
class GossipLinks;
struct Header;
class Mailbox;
class Membership;
class PeerTable;
class RingAllreduce;
class RingCodec;

struct CommStats {
  uint64_t bytes_sent = 0;   // header + payload bytes, every message type (transport counters)
  uint64_t bytes_recv = 0;
  std::map<std::string, LinkBytes> bytes_by_peer;  // the same by peer id (TransportStats::bytes_by_peer)
  uint64_t msgs_sent = 0;    // messages handed to the transport, every type
  double comm_seconds = 0;   // wall time inside collectives
  // Time blocked on that peer inside collectives: waiting for its pieces, or
  // for the transport to take pieces for it (slow peer, full queue).
  std::map<std::string, double> wait_seconds_by_peer;
  uint64_t rejected = 0;     // messages dropped as invalid (bad header, size, sender, NaN, ...)
  uint64_t stale = 0;        // messages of an older view/round, dropped as expected after an abort
  uint64_t unhandled = 0;    // valid messages of a type this layer does not handle (yet)
  uint64_t rounds = 0;       // collectives completed successfully
  // Every dropped message by kind (docs/protocol.md, "Rejection"; the metrics'
  // "rejected" object, docs/training.md): the mailbox's kinds ("bad_header",
  // "unknown_sender", "stale_round", ...; rejected + stale), plus
  // "malformed_frames" (the transport's `malformed`), "membership" (membership
  // messages it rejected) and "inbox_full" (messages membership could not pass
  // up). Every kind is present, zeros included.
  std::map<std::string, uint64_t> dropped_by_kind;
};

// How AllreduceSumCompressed treats the buffer (docs/compression.md).
struct CompressedReduce {
  CodecSpec codec;            // how the pieces travel
  size_t exact_tail = 0;      // the last floats (sample counts, loss) travel as exact f32, never through the codec
  std::span<float> residual;  // error feedback, buf.size() - exact_tail floats kept across rounds; empty = none
};

class PeerGroup {
 public:
  // Receives one line per dropped message (rate-limited per peer); the default
  // writes "meshtrain[<self>]: ..." to stderr.
  using LogSink = std::function<void(std::string_view line)>;

  // self = cfg.self_id; peers = cfg.cluster.peers (the first cluster.size of
  // them if the loader has not trimmed the list yet). Binds self's endpoint and
  // connects a DEALER to every other peer. A cluster of one opens no socket.
  // Uses only the Config structs (no Config member functions).
  static Result<std::unique_ptr<PeerGroup>> Create(const Config& cfg);
  ~PeerGroup();
  PeerGroup(const PeerGroup&) = delete;
  PeerGroup& operator=(const PeerGroup&) = delete;

  // Start barrier: sends Hello to every peer (again every 100 ms) and returns
  // once every peer has said Hello and answered ours, and our answers to
  // theirs are on the wire, or Timeout after at most `timeout`:
  // "peers never heard from within 3000 ms: p2, p3 (tcp://..., tcp://...)".
  Status WaitForPeers(std::chrono::milliseconds timeout);

  // Ring all-reduce (sum) of `buf` among `ring` (sorted peer ids incl. self),
  // tagged (view_id, round). Every member calls it with the same length. Each
  // single wait is bounded by sync.timeout_ms: Timeout names the peer waited
  // for. A peer that said Bye makes it return Aborted at once. On success buf
  // holds the sum, bit-identical on every member (a NaN/Inf anywhere in a piece
  // makes that piece NaN everywhere). Tags must increase from call to call
  // ((view, round) compared in that order), also after a failed call: a round
  // is redone under a new tag, never the old one.
  Status AllreduceSum(std::span<float> buf, const std::vector<std::string>& ring, uint64_t view_id,
                      uint64_t round);

  // The same collective with compressed pieces (docs/compression.md): same
  // ring, tags, timeouts and errors; every peer ends with bit-identical buf,
  // and the receiver always accumulates in fp32. With a residual, whatever a
  // lossy encode drops is added to it, and it is added back in next round
  // (error feedback); on failure it is partly updated (keep a copy to redo).
  // Every member must use the same codec, exact_tail and length.
  Status AllreduceSumCompressed(std::span<float> buf, const CompressedReduce& how,
                                const std::vector<std::string>& ring, uint64_t view_id, uint64_t round);

  // Tells every peer we are leaving (Bye) and closes the transport, flushing
  // within transport.linger_ms. Idempotent; collectives fail afterwards.
  void Shutdown();

  // Membership (membership.h, docs/membership.md): starts heartbeating on its
  // own thread, which from now on owns the transport's receive side and
  // passes collective pieces, Hello and Bye up to the mailbox. Collectives
  // then follow its views: members of the current view may be in the ring
  // (also peers that joined after the start, or through cluster.bootstrap),
  // and a round whose view is replaced ends Aborted at once, to be redone in
  // the new view. Call once after Create, before any collective; not for a
  // cluster of one (InvalidArgument). Shutdown announces the leave first.
  Status StartMembership();
  Membership* membership() const { return membership_.get(); }

  CommStats stats() const;
  const std::vector<std::string>& peer_ids() const { return peer_ids_; }  // sorted ids of the cluster
  const std::string& self_id() const { return self_id_; }
  // The endpoint actually bound ("" for a cluster of one or after Shutdown).
  std::string bound_endpoint() const;
  void set_log_sink(LogSink sink);
  // The links gossip averaging runs over (gossip.h, docs/gossip.md): sends to
  // and receives from any peer over this group's transport. Null for a
  // cluster of one.
  GossipLinks* gossip_links() const { return gossip_links_.get(); }
  // Gossip follows membership views too (docs/gossip.md, "Faults"): makes the
  // members of view `view_id` known (peers back after a Bye, newcomers), as a
  // collective does before its round.
  void AdoptViewMembers(uint64_t view_id) { AdoptView(view_id); }

 private:
  PeerGroup();
  Status CheckRing(const std::vector<std::string>& ring, size_t* rank) const;
  void HandleControl(const Header& h);
  Status CheckTag(uint64_t view_id, uint64_t round) const;
  bool SendHello(const std::string& peer);
  void AnswerHellos();
  std::string DescribePeers(const std::vector<std::string>& ids) const;
  // Makes every member of the current view known to the table and the
  // mailbox (peers that joined later), once per view.
  void AdoptView(uint64_t view_id);
  // AllreduceSum and AllreduceSumCompressed: the ring with `codec` (or the
  // direct exchange, f32 only), named `what` in errors
  // (src/sync/peer_group_ring.cpp).
  Status AllreduceRing(std::span<float> buf, const std::vector<std::string>& ring, uint64_t view_id, uint64_t round,
                       const std::string& what, RingCodec& codec);
  // What every collective round shares (src/sync/ring_round.h).
  // BeginRingRound checks the arguments and the view and sets `out` up; it
  // returns false, with the round done and counted, when the ring is this peer
  // alone. RunRingRound opens the mailbox for the round, runs `exchange`, and
  // books its time and waits.
  struct RingRound;
  Result<bool> BeginRingRound(size_t buf_elems, const std::vector<std::string>& ring, uint64_t view_id,
                              uint64_t round, const std::string& what, RingRound* out);
  using PeerWaits = std::vector<std::pair<std::string, double>>;  // seconds spent waiting on each peer
  Status RunRingRound(const RingRound& r, size_t stash_bytes, const std::function<Status()>& exchange,
                      const std::function<PeerWaits()>& waits);
  // AllreduceSum for buffers up to DirectMaxBytes: one exchange step with
  // every peer instead of the ring's 2(N-1) (src/sync/direct_allreduce.cpp).
  Status AllreduceSumDirect(std::span<float> buf, const std::vector<std::string>& ring, uint64_t view_id,
                            uint64_t round);

  // The largest buffer (bytes) a ring of `ring_size` peers all-reduces by the
  // direct exchange: sync.direct_max_bytes, or pair_direct_max_bytes for two,
  // and never above transport.max_msg_bytes (the buffer is one frame).
  uint64_t DirectMaxBytes(size_t ring_size) const;

  std::string self_id_;
  std::vector<std::string> peer_ids_;  // sorted, including self
  SyncConfig sync_;
  TransportConfig transport_cfg_;

  // Destroyed bottom-up: the mailbox (which may hold received messages) before
  // the transport, the log after the mailbox that writes to it.
  std::unique_ptr<Transport> transport_;  // null for a cluster of one and after Shutdown (guarded by stats_mu_)
  // Reads the transport on its own thread: stopped before the transport closes.
  std::unique_ptr<Membership> membership_;
  std::vector<PeerEntry> cluster_;          // the static members (after cluster.size), for membership
  std::vector<std::string> bootstrap_;
  MembershipConfig membership_cfg_;
  std::string self_endpoint_;
  uint64_t adopted_view_ = 0;               // the last view whose members AdoptView made known
  std::unique_ptr<PeerTable> peers_;
  std::unique_ptr<DropLog> drop_log_;
  std::unique_ptr<Mailbox> mailbox_;
  std::unique_ptr<GossipLinks> gossip_links_;  // files the mailbox's gossip messages; destroyed before it
  std::unique_ptr<RingAllreduce> ring_;
  std::unique_ptr<RingCodec> f32_;  // AllreduceSum's codec, kept for its staging buffer
  bool shut_down_ = false;
  std::optional<std::pair<uint64_t, uint64_t>> last_tag_;  // (view, round) of the last collective

  mutable std::mutex stats_mu_;
  CommStats stats_;                 // our own counters; transport/mailbox ones are merged in stats()
  TransportStats final_transport_;  // snapshot taken when the transport closes
  uint64_t final_membership_rejected_ = 0;  // membership's counters, kept when it stops
  uint64_t final_inbox_dropped_ = 0;
};

}  // namespace meshtrain
