// LoadTransportSecurity: [security] -> TransportSecurity, reading every key file
// once, at start, so a bad or exposed key stops the peer before any socket opens.
#include <map>

#include "curve_keys.h"
#include "meshtrain/transport.h"

namespace meshtrain {

using transport_internal::IsInlineKeyEntry;
using transport_internal::KeyLine;

namespace {

Result<std::string> ReadOwnPublicKey(const SecurityConfig& cfg, const std::string& secret_key) {
  const std::string what = "security.public_key_file";
  Result<std::vector<KeyLine>> lines = transport_internal::ReadKeyFile(cfg.public_key_file, what);
  if (!lines.ok()) return lines.status();
  if (lines->size() != 1) {
    return Status::InvalidArgument(what + ": " + cfg.public_key_file + " must hold exactly one key (this peer's)");
  }
  Result<std::string> derived = transport_internal::PublicKeyOf(secret_key);
  if (!derived.ok()) return derived.status().WithContext("security.secret_key_file " + cfg.secret_key_file);
  if (lines->front().key != derived.value()) {
    return Status::InvalidArgument(what + ": " + cfg.public_key_file + " does not belong to the secret key in " +
                                   cfg.secret_key_file + " (its public key is " + derived.value() +
                                   "); use the .pub and .key written together by meshtrain keygen");
  }
  return derived.value();
}

// Entries in order; the same key twice merges its names.
void AddKey(KeyLine line, std::vector<AuthorizedKey>* keys, std::map<std::string, size_t>* index) {
  auto [it, fresh] = index->emplace(line.key, keys->size());
  if (fresh) {
    keys->push_back(AuthorizedKey{std::move(line.key), std::move(line.names)});
    return;
  }
  std::vector<std::string>& names = (*keys)[it->second].names;
  names.insert(names.end(), line.names.begin(), line.names.end());
}

}  // namespace

Result<TransportSecurity> LoadTransportSecurity(const SecurityConfig& cfg,
                                                const std::vector<std::string>& cluster_ids) {
  TransportSecurity out;
  if (cfg.mode != SecurityMode::kCurve) return out;
  out.curve = true;
  out.cluster_ids = cluster_ids;
  Result<std::string> secret = transport_internal::ReadSecretKeyFile(cfg.secret_key_file, "security.secret_key_file");
  if (!secret.ok()) return secret.status();
  out.secret_key = secret.value();
  Result<std::string> pub = ReadOwnPublicKey(cfg, out.secret_key);
  if (!pub.ok()) return pub.status();
  out.public_key = pub.value();

  std::map<std::string, size_t> index;
  for (size_t i = 0; i < cfg.authorized_keys.size(); ++i) {
    const std::string& entry = cfg.authorized_keys[i];
    const std::string what = "security.authorized_keys[" + std::to_string(i) + "]";
    if (IsInlineKeyEntry(entry)) {
      Result<KeyLine> line = transport_internal::ParseKeyLine(entry);
      if (!line.ok()) return line.status().WithContext(what);
      AddKey(std::move(line).value(), &out.authorized, &index);
      continue;
    }
    Result<std::vector<KeyLine>> lines = transport_internal::ReadKeyFile(entry, what);
    if (!lines.ok()) return lines.status();
    for (KeyLine& line : lines.value()) AddKey(std::move(line), &out.authorized, &index);
  }
  if (out.authorized.empty()) {
    return Status::InvalidArgument("security.authorized_keys: no keys (mode 'curve' admits only listed keys)");
  }
  return out;
}

}  // namespace meshtrain
