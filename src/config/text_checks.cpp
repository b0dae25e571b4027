#include "config/text_checks.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

constexpr std::string_view kEndpointShape = "must be tcp://host:port with port 1..65535";

bool IsHostNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

std::string HostProblem(std::string_view host) {
  if (host.empty()) return "the host is missing";
  if (host == "*") return "'*' is a wildcard other peers cannot connect to; give this peer's address";
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return "an IPv6 host needs closing brackets, e.g. [::1]";
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return Quote(host) + " is not an IPv6 address";
      }
    }
    return "";
  }
  for (char c : host) {
    if (c == ':') return "an IPv6 host goes in brackets, e.g. tcp://[::1]:7000";
    if (!IsHostNameChar(c)) return "the host " + Quote(host) + " has a character that is not allowed";
  }
  return "";
}

std::string PortProblem(std::string_view port) {
  if (port.empty()) return "the port is missing";
  if (port.size() > 5) return "port " + std::string(port) + " is out of range";
  int value = 0;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return "port " + Quote(port) + " is not a number";
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) return "port " + std::string(port) + " is out of range";
  return "";
}

}  // namespace

std::string EndpointProblem(std::string_view endpoint) {
  constexpr std::string_view kScheme = "tcp://";
  auto shaped = [](const std::string& why) { return std::string(kEndpointShape) + " (" + why + ")"; };
  if (endpoint.substr(0, kScheme.size()) != kScheme) return shaped("it does not start with tcp://");
  std::string_view rest = endpoint.substr(kScheme.size());
  const size_t colon = rest.rfind(':');
  // A colon inside an unclosed IPv6 bracket is not the port separator.
  if (colon == std::string_view::npos || (rest.front() == '[' && rest.find(']') > colon)) {
    return shaped("the :port is missing");
  }
  if (std::string why = HostProblem(rest.substr(0, colon)); !why.empty()) return shaped(why);
  if (std::string why = PortProblem(rest.substr(colon + 1)); !why.empty()) return shaped(why);
  return "";
}

std::string ListenAddressProblem(std::string_view address) {
  if (address.empty()) return "";
  auto shaped = [](const std::string& why) { return "must be host:port with port 1..65535 (" + why + ")"; };
  if (address.substr(0, 7) == "http://") return shaped("no http://, just the address, e.g. 127.0.0.1:9464");
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || (address.front() == '[' && address.find(']') > colon)) {
    return shaped("the :port is missing");
  }
  const std::string_view host = address.substr(0, colon);
  if (host == "*") return shaped("'*' is not an address; 0.0.0.0 listens on every interface");
  if (std::string why = HostProblem(host); !why.empty()) {
    return shaped(why.find("tcp://") == std::string::npos ? why : "an IPv6 host goes in brackets, e.g. [::1]:9464");
  }
  if (std::string why = PortProblem(address.substr(colon + 1)); !why.empty()) return shaped(why);
  return "";
}

std::string PeerIdProblem(std::string_view id) {
  if (id.empty()) return "must not be empty";
  for (char c : id) {
    if (!IsHostNameChar(c)) return "may only contain letters, digits, '_', '.' and '-'";
  }
  return "";
}

namespace {

constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool IsZ85Text(std::string_view text) {
  return text.size() == 40 && text.find_first_not_of(kZ85) == std::string_view::npos;
}

}  // namespace

std::string CurveKeyProblem(std::string_view key) {
  const std::string shape = "must be a 40-character Z85 CURVE public key (as meshtrain keygen prints it)";
  if (key.size() != 40) return shape + "; this one has " + std::to_string(key.size()) + " characters";
  for (char c : key) {
    if (kZ85.find(c) == std::string_view::npos) return shape + "; " + Quote(std::string_view(&c, 1)) + " is not Z85";
  }
  return "";
}

bool IsInlineKeyEntry(std::string_view entry) {
  if (std::any_of(entry.begin(), entry.end(), IsSpace)) return true;
  // A path may happen to be 40 Z85 characters ("/tmp/x/keys/p0.pub" can be); an existing file wins.
  std::error_code ec;
  return IsZ85Text(entry) && !std::filesystem::is_regular_file(std::filesystem::path(entry), ec);
}

std::string AuthorizedKeyProblem(std::string_view entry) {
  if (entry.empty()) return "must be a key line 'KEY [PEER_ID ...]' or the path of a key file; got an empty string";
  if (!IsInlineKeyEntry(entry)) {  // the path of a key file; its keys are read when the peer starts
    std::error_code ec;
    if (std::filesystem::is_regular_file(std::filesystem::path(entry), ec)) return "";
    return "must be a 40-character Z85 CURVE public key (as meshtrain keygen prints it), optionally followed by "
           "peer ids, or the path of a key file; " + Quote(entry) + " is neither (no such file)";
  }
  std::vector<std::string_view> tokens;
  for (size_t i = 0; i < entry.size();) {
    while (i < entry.size() && IsSpace(entry[i])) ++i;
    const size_t start = i;
    while (i < entry.size() && !IsSpace(entry[i])) ++i;
    if (i > start) tokens.push_back(entry.substr(start, i - start));
  }
  if (tokens.empty()) return "must be a key line 'KEY [PEER_ID ...]' or the path of a key file; got only spaces";
  if (std::string why = CurveKeyProblem(tokens[0]); !why.empty()) {
    return "a key line is 'KEY [PEER_ID ...]': the KEY " + why;
  }
  for (size_t i = 1; i < tokens.size(); ++i) {
    if (tokens[i].rfind("tcp://", 0) == 0) {
      if (std::string why = EndpointProblem(tokens[i]); !why.empty()) return "endpoint " + Quote(tokens[i]) + " " + why;
    } else if (!PeerIdProblem(tokens[i]).empty()) {
      return "a key line is 'KEY [PEER_ID ...]': " + Quote(tokens[i]) + " is neither a peer id nor a tcp:// endpoint";
    }
  }
  return "";
}

}  // namespace meshtrain::config_internal
