// Who may talk to us in CURVE mode (docs/security.md, "ZAP rules"), decided in
// two places because ZeroMQ splits the facts: the ZAP handler sees the client's
// public key but not its routing id (ZAP's "identity" frame is our own socket's
// id), and each received message carries both the routing id and the key the
// ZAP handler approved (as its "User-Id" property).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "meshtrain/status.h"
#include "meshtrain/transport.h"

namespace meshtrain::transport_internal {

class AccessPolicy {
 public:
  // Checks every key and that no name is bound to two different keys.
  static Result<AccessPolicy> Create(const TransportSecurity& security);

  // ZAP: the Z85 form of `binary_key` (32 bytes) if it is authorized, else "".
  std::string AuthorizedUser(std::string_view binary_key) const;
  // Message level: may a connection authenticated with `z85_key` send as `routing_id`?
  // A bound key speaks only for its names; an unbound one for any cluster id.
  bool MaySpeakAs(const std::string& z85_key, const std::string& routing_id) const;
  // The server key to dial `peer_id` at `endpoint`: the key bound to the id,
  // else to the endpoint; "" if neither.
  std::string ServerKeyFor(const std::string& peer_id, const std::string& endpoint) const;

 private:
  std::map<std::string, std::vector<std::string>> names_by_key_;  // Z85 key -> bound names
  std::map<std::string, std::string> key_by_name_;
  std::set<std::string> cluster_ids_;
};

}  // namespace meshtrain::transport_internal
