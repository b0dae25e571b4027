#include "endpoint.h"

#include <cstdint>
#include <string_view>

#include "lanes.h"

namespace meshtrain::transport_internal {

Status CheckTcpEndpoint(const std::string& endpoint, bool for_bind) {
  constexpr std::string_view kScheme = "tcp://";
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("endpoint '" + endpoint + "': " + why + " (expected tcp://host:port)");
  };
  if (endpoint.rfind(kScheme, 0) != 0) return bad("only tcp:// endpoints are supported");
  const std::string_view rest = std::string_view(endpoint).substr(kScheme.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return bad("missing port");
  const std::string_view host = rest.substr(0, colon);
  const std::string_view port = rest.substr(colon + 1);
  if (host.empty()) return bad("missing host");
  if (port == "*") return for_bind ? Status::OK() : bad("a wildcard port can only be bound");
  if (port.empty() || port.size() > 5) return bad("bad port '" + std::string(port) + "'");
  uint32_t value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("bad port '" + std::string(port) + "'");
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return bad("port " + std::string(port) + " out of range");
  if (value == 0 && !for_bind) return bad("port 0 can only be bound");
  return Status::OK();
}

Status CheckPeerId(const std::string& id) {
  if (id.empty() || id.size() > kMaxPeerIdBytes) {
    return Status::InvalidArgument("peer id '" + id + "' must be 1.." + std::to_string(kMaxPeerIdBytes) +
                                   " bytes, got " + std::to_string(id.size()));
  }
  if (id[0] == '\0') return Status::InvalidArgument("peer id may not start with a zero byte");
  if (id[0] == kControlLaneMark) {
    return Status::InvalidArgument("peer id may not start with byte 1 (it marks the control lane)");
  }
  return Status::OK();
}

}  // namespace meshtrain::transport_internal
