#include "exposure_warning.h"

#include <arpa/inet.h>

#include <cstdio>
#include <string_view>

namespace meshtrain::transport_internal {
namespace {

std::string HostOf(const std::string& endpoint) {
  std::string_view rest = endpoint;
  if (rest.rfind("tcp://", 0) == 0) rest.remove_prefix(6);
  const size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos) rest = rest.substr(0, colon);
  if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') rest = rest.substr(1, rest.size() - 2);
  return std::string(rest);
}

}  // namespace

bool IsLoopbackEndpoint(const std::string& endpoint) {
  const std::string host = HostOf(endpoint);
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

std::string ExposureWarning(const std::string& self_id, const std::string& endpoint) {
  if (IsLoopbackEndpoint(endpoint)) return "";
  const std::string p = "meshtrain[" + self_id + "]: ";
  const std::string rule = p + "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n";
  return rule +                                                                                  //
         p + "WARNING: security.mode = \"none\" and this peer listens on " + endpoint + ",\n" +  //
         p + "which is not a loopback address. Traffic is plaintext and unauthenticated:\n" +    //
         p + "anyone who can reach this port can read the model and inject updates.\n" +         //
         p + "Use security.mode = \"curve\" (meshtrain keygen; docs/security.md), or bind\n" +    //
         p + "127.0.0.1 for a one-machine demo.\n" +                                              //
         rule;
}

void WarnIfExposed(const std::string& self_id, const std::string& endpoint) {
  const std::string text = ExposureWarning(self_id, endpoint);
  if (!text.empty()) std::fputs(text.c_str(), stderr);
}

}  // namespace meshtrain::transport_internal
