#include "zap_handler.h"

#include <array>
#include <string>
#include <vector>

#include "curve_keys.h"

namespace meshtrain::transport_internal {
namespace {

// ZAP request frames (RFC 27): version, request id, domain, address, identity,
// mechanism, then the mechanism's credentials (CURVE: the 32-byte client key).
enum ZapFrame : size_t { kVersion, kRequestId, kDomain, kAddress, kIdentity, kMechanism, kCredentials };

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, const AccessPolicy* policy, RefusalLog* log,
                       std::atomic<uint64_t>* refused)
    : socket_(context, zmq::socket_type::rep), policy_(policy), log_(log), refused_(refused) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void ZapHandler::ServePending() {
  for (;;) {
    std::vector<zmq::message_t> request;
    try {
      zmq::message_t frame;
      if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return;
      bool more = frame.more();
      request.push_back(std::move(frame));
      while (more) {
        zmq::message_t next;
        if (!socket_.recv(next, zmq::recv_flags::dontwait)) break;
        more = next.more();
        if (request.size() < 16) request.push_back(std::move(next));
      }
      Answer(request);
    } catch (const zmq::error_t&) {
      return;  // ETERM at shutdown
    }
  }
}

void ZapHandler::Answer(const std::vector<zmq::message_t>& request) {
  // A REP socket must answer every request it took; a malformed one (only
  // libzmq itself talks to us here) gets a 500.
  const std::string version = request.size() > kVersion ? request[kVersion].to_string() : "1.0";
  const std::string request_id = request.size() > kRequestId ? request[kRequestId].to_string() : "";
  std::string status = "500", text = "malformed ZAP request", user;
  if (request.size() > kCredentials && version == "1.0") {
    const std::string address = request[kAddress].to_string();
    const std::string mechanism = request[kMechanism].to_string();
    if (mechanism != "CURVE") {
      status = "400";
      text = "mechanism " + mechanism + " is not allowed (CURVE only)";
    } else {
      user = policy_->AuthorizedUser(request[kCredentials].to_string_view());
      status = user.empty() ? "400" : "200";
      text = user.empty() ? "key not in security.authorized_keys" : "OK";
    }
    if (status != "200") {
      refused_->fetch_add(1, std::memory_order_relaxed);
      std::string key;
      if (mechanism == "CURVE" && request[kCredentials].size() == 32) {
        std::array<char, kZ85KeyChars + 1> z85{};
        if (zmq_z85_encode(z85.data(), static_cast<const uint8_t*>(request[kCredentials].data()), 32) != nullptr) {
          key = "(key " + KeyPrefix(z85.data()) + ")";
        }
      }
      log_->Refused("connection from " + (address.empty() ? std::string("?") : address), text, key);
    }
  }
  const std::array<std::string, 6> reply = {version, request_id, status, text, user, ""};
  for (size_t i = 0; i < reply.size(); ++i) {
    socket_.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace meshtrain::transport_internal
