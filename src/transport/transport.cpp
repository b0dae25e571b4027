// The public Transport: a thin handle on Transport::Impl (transport_impl.h).
#include "meshtrain/transport.h"

#include "transport_impl.h"

namespace meshtrain {

Transport::Transport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transport::~Transport() = default;

Result<std::unique_ptr<Transport>> Transport::Create(const TransportConfig& cfg, const std::string& self_id,
                                                     const std::string& bind_endpoint,
                                                     const TransportSecurity& security) {
  Result<std::unique_ptr<Impl>> impl = Impl::Create(cfg, self_id, bind_endpoint, security);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Transport>(new Transport(std::move(impl).value()));
}

const std::string& Transport::self_id() const { return impl_->self_id(); }
std::string Transport::bound_endpoint() const { return impl_->bound_endpoint(); }
Status Transport::Connect(const std::string& peer_id, const std::string& endpoint) {
  return impl_->Connect(peer_id, endpoint);
}
Status Transport::Disconnect(const std::string& peer_id) { return impl_->Disconnect(peer_id); }
std::vector<std::string> Transport::connected_peers() const { return impl_->connected_peers(); }
Status Transport::Send(const std::string& peer_id, OutgoingMessage msg, std::chrono::milliseconds timeout) {
  return impl_->Send(peer_id, std::move(msg), timeout);
}
std::vector<Status> Transport::SendAll(std::vector<Addressed> msgs, std::chrono::milliseconds timeout) {
  return impl_->SendAll(std::move(msgs), timeout);
}
Result<IncomingMessage> Transport::Receive(std::chrono::milliseconds timeout) { return impl_->Receive(timeout); }
TransportStats Transport::stats() const { return impl_->stats(); }

}  // namespace meshtrain
