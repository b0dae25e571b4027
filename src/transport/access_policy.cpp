#include "access_policy.h"

#include <algorithm>
#include <array>

#include <zmq.h>

#include "curve_keys.h"

namespace meshtrain::transport_internal {

Result<AccessPolicy> AccessPolicy::Create(const TransportSecurity& security) {
  AccessPolicy policy;
  policy.cluster_ids_.insert(security.cluster_ids.begin(), security.cluster_ids.end());
  for (const AuthorizedKey& entry : security.authorized) {
    if (!IsZ85Key(entry.public_key)) {
      return Status::InvalidArgument("authorized key '" + KeyPrefix(entry.public_key) +
                                     "' is not 40 characters of Z85");
    }
    std::vector<std::string>& names = policy.names_by_key_[entry.public_key];
    for (const std::string& name : entry.names) {
      auto [it, fresh] = policy.key_by_name_.emplace(name, entry.public_key);
      if (!fresh && it->second != entry.public_key) {
        return Status::InvalidArgument("security.authorized_keys: '" + name + "' is bound to two keys (" +
                                       KeyPrefix(it->second) + " and " + KeyPrefix(entry.public_key) +
                                       "); a peer has one key pair");
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return policy;
}

std::string AccessPolicy::AuthorizedUser(std::string_view binary_key) const {
  if (binary_key.size() != 32) return "";
  std::array<char, kZ85KeyChars + 1> z85{};
  if (zmq_z85_encode(z85.data(), reinterpret_cast<const uint8_t*>(binary_key.data()), 32) == nullptr) return "";
  std::string key(z85.data(), kZ85KeyChars);
  return names_by_key_.count(key) != 0 ? key : "";
}

bool AccessPolicy::MaySpeakAs(const std::string& z85_key, const std::string& routing_id) const {
  auto it = names_by_key_.find(z85_key);
  if (it == names_by_key_.end()) return false;
  if (it->second.empty()) return cluster_ids_.count(routing_id) != 0;
  return std::find(it->second.begin(), it->second.end(), routing_id) != it->second.end();
}

std::string AccessPolicy::ServerKeyFor(const std::string& peer_id, const std::string& endpoint) const {
  if (auto it = key_by_name_.find(peer_id); it != key_by_name_.end()) return it->second;
  if (auto it = key_by_name_.find(endpoint); it != key_by_name_.end()) return it->second;
  return "";
}

}  // namespace meshtrain::transport_internal
