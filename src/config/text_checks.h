// Checks of free-form strings: endpoints, peer ids, CURVE keys. Each returns
// what is wrong with the text ("" when it is fine), for a message that already
// names the key and quotes the value.
#pragma once

#include <string>
#include <string_view>

namespace meshtrain::config_internal {

// "tcp://host:port" with port 1..65535; host a name, an IPv4 address or a
// bracketed IPv6 address, never the wildcard '*' (peers must connect to it).
std::string EndpointProblem(std::string_view endpoint);

// A listen address "host:port" (log.prometheus): port 1..65535; host a name, an
// IPv4 address (0.0.0.0 = every interface) or a bracketed IPv6 address. "" is off.
std::string ListenAddressProblem(std::string_view address);

// Peer ids are non-empty [A-Za-z0-9_.-]+ (they end up in paths and metrics).
std::string PeerIdProblem(std::string_view id);

// A CURVE public key as ZeroMQ prints it: 40 characters of Z85.
std::string CurveKeyProblem(std::string_view key);

// An entry of security.authorized_keys written inline rather than naming a key
// file: any text with whitespace (a key line), or one 40-character Z85 key
// that is not also the name of an existing file.
bool IsInlineKeyEntry(std::string_view entry);

// An authorized_keys entry: an inline key line "KEY [PEER_ID|tcp://host:port ...]"
// (docs/security.md), or the path of an existing file (anything else).
std::string AuthorizedKeyProblem(std::string_view entry);

}  // namespace meshtrain::config_internal
