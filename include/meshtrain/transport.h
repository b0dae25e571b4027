// Transport: this peer's ZeroMQ sockets (docs/transport.md). One ROUTER bound
// at our endpoint receives from everyone; two DEALERs per peer we send to, one
// per Lane (routing id = our peer id, marked on the control lane, so the
// ROUTER's first frame names the sender and the lane).
// ZeroMQ sockets are not thread-safe, so a single communication thread owns
// and polls every socket; callers talk to it through queues. Every call is
// bounded by a timeout; nothing blocks forever. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "meshtrain/config.h"
#include "meshtrain/status.h"

namespace meshtrain {

// Which of a peer's two connections carries a message (docs/transport.md,
// "Two lanes"). Membership's heartbeats travel apart from bulk data so that a
// heartbeat never waits behind megabytes of gradients queued on a slow link.
enum class Lane : uint8_t {
  kData,     // gradients, ring and gossip pieces, state transfers: everything big
  kControl,  // the failure detector's small messages (heartbeats, goodbyes, state requests)
};

struct OutgoingMessage {
  Lane lane = Lane::kData;
  std::string header;                     // frame 0, already-encoded wire header
  const void* payload = nullptr;          // frame 1 (optional, present iff non-null), sent zero-copy
  size_t payload_bytes = 0;
  std::shared_ptr<const void> keepalive;  // held until ZeroMQ no longer needs `payload`
};

// Received payloads start at an address aligned to this, so a reducer may read
// them as floats in place (see docs/transport.md, "Receive path").
inline constexpr size_t kPayloadAlignment = alignof(float);

struct IncomingMessage {
  std::string from;        // sender's peer id (its routing id as seen by our ROUTER, lane marker removed)
  Lane lane = Lane::kData;  // the connection it came on
  zmq::message_t header;   // frame 0
  zmq::message_t payload;  // frame 1, size 0 if absent; data() is kPayloadAlignment-aligned
  bool has_payload = false;
};

// One link's share of TransportStats::bytes_sent and bytes_recv.
struct LinkBytes {
  uint64_t sent = 0;
  uint64_t recv = 0;
};

// Where TransportStats::bytes_by_peer counts messages from senders we hold no
// link to (a newcomer's first heartbeats, a stranger). Never a peer id: config
// ids are [A-Za-z0-9_.-]+ (docs/config.md).
inline constexpr const char kUnlinkedSender[] = "(other)";

struct TransportStats {
  uint64_t bytes_sent = 0;  // header + payload bytes handed to ZeroMQ (no TCP/ZMTP overhead)
  uint64_t bytes_recv = 0;  // header + payload bytes of well-formed received messages
  // The same bytes by peer id: every id we ever Connect()ed to (kept after
  // Disconnect, so each count only grows), plus kUnlinkedSender once anything
  // came from elsewhere. They sum to bytes_sent and bytes_recv exactly.
  std::map<std::string, LinkBytes> bytes_by_peer;
  uint64_t msgs_sent = 0;
  uint64_t msgs_recv = 0;
  uint64_t malformed = 0;   // received messages that were not [routing id, header(, payload)]
  uint64_t send_timeouts = 0;  // queued Send calls that failed (no connection or HWM until the timeout)
  // CURVE mode (docs/security.md): handshakes refused (key not authorized, plaintext
  // or wrong-mechanism client, failed crypto) plus messages dropped because the
  // sender's id is not one its key may speak for. None of them reach Receive().
  uint64_t auth_refused = 0;
};

// A public key allowed to connect to us, and the peer ids that may use it.
struct AuthorizedKey {
  std::string public_key;          // Z85, 40 characters
  // Peer ids (and tcp:// endpoints, used only to find the key of a peer we dial
  // by endpoint, e.g. cluster.bootstrap) bound to the key. Empty: an unbound key,
  // which any id in TransportSecurity::cluster_ids may use.
  std::vector<std::string> names;
};

// How the transport authenticates: nothing (plain TCP, ZeroMQ's NULL mechanism)
// or CurveZMQ with a ZAP allow-list. Built from [security] by LoadTransportSecurity.
struct TransportSecurity {
  bool curve = false;
  std::string secret_key;  // Z85: ours (the ROUTER's server key, every DEALER's client key)
  std::string public_key;  // Z85: ours
  std::vector<AuthorizedKey> authorized;
  std::vector<std::string> cluster_ids;  // the ids an unbound authorized key may speak for
};

// Reads the key files named by `cfg` (docs/security.md, "Key files"): our secret
// key (refused if group- or world-readable), our public key (must match it), and
// every authorized_keys entry (an inline "KEY [ID ...]" line or a file of them).
// mode "none" returns {curve = false} without touching any file. Errors are
// InvalidArgument and name the file and line.
Result<TransportSecurity> LoadTransportSecurity(const SecurityConfig& cfg, const std::vector<std::string>& cluster_ids);

class Transport {
 public:
  // Binds `bind_endpoint` ("tcp://host:port"; "tcp://host:0" or ":*" picks a free
  // port, see bound_endpoint()) and starts the communication thread. `self_id`
  // becomes our routing id on every DEALER (1..254 bytes, not starting with
  // byte 0 or 1: 1 marks the control lane).
  // Errors (address in use, bad endpoint, bad id) name the endpoint or id.
  // `security.curve`: every socket speaks CurveZMQ and a ZAP handler admits only
  // the authorized keys; a DEALER to peer X needs a key bound to X (or to its
  // endpoint). Without it, binding a non-loopback address prints a warning.
  static Result<std::unique_ptr<Transport>> Create(const TransportConfig& cfg, const std::string& self_id,
                                                   const std::string& bind_endpoint,
                                                   const TransportSecurity& security = {});
  // Stops the thread and closes every socket with linger (bounded by linger_ms);
  // unsent messages are dropped and their keepalives released.
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  const std::string& self_id() const;
  // The endpoint actually bound, with the real port ("tcp://127.0.0.1:41234").
  std::string bound_endpoint() const;

  // Opens (or keeps) the DEALER to `peer_id` at `endpoint`. Idempotent: the same
  // endpoint again is a no-op; a different endpoint replaces the old connection.
  // Returns once the socket exists; the TCP connection comes up in the background.
  Status Connect(const std::string& peer_id, const std::string& endpoint);
  // Closes the DEALER to `peer_id` (pending sends to it fail). Unknown id: OK.
  Status Disconnect(const std::string& peer_id);
  // Peers we currently hold a DEALER to.
  std::vector<std::string> connected_peers() const;

  // Queues `msg` for `peer_id` and returns once the communication thread has
  // handed it to ZeroMQ. Never blocks longer than `timeout`: returns
  // Unavailable if the peer has no live connection or its queue is at the HWM
  // for that long (the message is then dropped, its keepalive released), and
  // NotFound if we never Connect()ed to `peer_id`. A Send that failed never
  // reaches the peer later, so retrying cannot duplicate. Messages to one peer
  // keep their order. A zero timeout always fails (the comm thread needs a moment).
  Status Send(const std::string& peer_id, OutgoingMessage msg, std::chrono::milliseconds timeout);

  // Send() for several messages at once: they reach the communication thread in
  // one hand-off and are waited for together, instead of one hand-off (two
  // thread wake-ups) each. One Status per message, in order, each with Send's
  // guarantees (a message that failed never reaches the wire later).
  struct Addressed {
    std::string peer_id;
    OutgoingMessage msg;
  };
  std::vector<Status> SendAll(std::vector<Addressed> msgs, std::chrono::milliseconds timeout);

  // Next message from anyone, waiting at most `timeout`; Status::Timeout if none.
  Result<IncomingMessage> Receive(std::chrono::milliseconds timeout);

  TransportStats stats() const;  // thread-safe snapshot

 private:
  class Impl;  // owns the sockets and the communication thread (src/transport/)
  explicit Transport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Call once at process start, before any thread: fixes glibc's malloc thresholds
// so that the megabyte-sized messages ZeroMQ allocates for every receive come
// from the reused heap rather than fresh mmaps (a page fault per 4 KB). This cut
// the all-reduce's CPU by a quarter at 1-16 MB (docs/benchmarks.md); and keeps
// every thread on one malloc arena, so freed message memory is not held once
// per thread (docs/edge.md, "Peak memory"). No-op elsewhere than glibc.
void TuneAllocatorForMessages();

}  // namespace meshtrain
