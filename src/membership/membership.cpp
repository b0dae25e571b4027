// Membership: start-up, the public API and the accessors the trainer thread
// reads under the one mutex. The membership thread's work is in the files
// membership_impl.h lists, one job each (docs/membership.md).
#include "membership/membership_impl.h"

#include <algorithm>

namespace meshtrain {

using membership_internal::ClockIncarnation;

namespace {

const char kBootstrapPrefix[] = "bootstrap:";
constexpr size_t kMaxEvents = 10000;

}  // namespace

namespace membership_internal {

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t ClockIncarnation() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

}  // namespace membership_internal

Membership::Impl::Impl(Transport* transport, MembershipOptions options)
    : transport_(transport), opt_(std::move(options)), inbox_(opt_.inbox_capacity), table_(opt_.self_id) {}

Membership::Impl::~Impl() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

Status Membership::Impl::Init() {
  incarnation_ = opt_.incarnation != 0 ? opt_.incarnation : ClockIncarnation();
  std::vector<std::string> static_endpoints;
  for (const PeerEntry& p : opt_.peers) {
    static_endpoints.push_back(p.endpoint);
    if (p.id == opt_.self_id) continue;
    table_.Add(p.id, p.endpoint, /*is_static=*/true);
    MESHTRAIN_RETURN_IF_ERROR(transport_->Connect(p.id, p.endpoint).WithContext("membership"));
  }
  for (const std::string& endpoint : opt_.bootstrap) {
    if (endpoint == opt_.self_endpoint ||
        std::find(static_endpoints.begin(), static_endpoints.end(), endpoint) != static_endpoints.end()) {
      continue;  // already a peer we talk to by name
    }
    const std::string pseudo = kBootstrapPrefix + endpoint;
    MESHTRAIN_RETURN_IF_ERROR(transport_->Connect(pseudo, endpoint).WithContext("cluster.bootstrap"));
    bootstrap_ids_.push_back(pseudo);
  }
  thread_ = std::thread([this] { Run(); });
  return Status::OK();
}

View Membership::Impl::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return installed_;
}

bool Membership::Impl::WaitForViewChange(uint64_t id, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return installed_.id != id; });
}

bool Membership::Impl::ClusterRunning() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, rec] : table_.all()) {
    if (rec.live() && rec.started) return true;
  }
  return false;
}

std::vector<std::string> Membership::Impl::NeverHeard() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, rec] : table_.all()) {
    if (rec.is_static && !rec.heard) out.push_back(id);
  }
  return out;
}

std::string Membership::Impl::EndpointOf(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (id == opt_.self_id) return opt_.self_endpoint;
  const MemberRecord* rec = table_.Find(id);
  return rec ? rec->endpoint : std::string("?");
}

uint64_t Membership::Impl::incarnation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return incarnation_;
}

void Membership::Impl::SetProgress(uint64_t step, bool started) {
  std::lock_guard<std::mutex> lock(mu_);
  step_ = step;
  started_ = started_ || started;
}

std::vector<MembershipEvent> Membership::Impl::DrainEvents() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MembershipEvent> out;
  out.swap(events_);
  return out;
}

MembershipStats Membership::Impl::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Membership::Impl::EventLocked(MembershipEvent e) {
  if (events_.size() < kMaxEvents) events_.push_back(std::move(e));
}

Result<std::unique_ptr<Membership>> Membership::Start(Transport* transport, MembershipOptions options) {
  if (transport == nullptr) return Status::InvalidArgument("membership needs a transport");
  if (options.self_id.empty()) return Status::InvalidArgument("membership: empty peer id");
  const MembershipConfig& t = options.timing;
  if (t.heartbeat_ms <= 0 || t.suspect_ms <= t.heartbeat_ms || t.dead_ms <= t.suspect_ms) {
    return Status::InvalidArgument("membership: need 0 < heartbeat_ms < suspect_ms < dead_ms (got " +
                                   std::to_string(t.heartbeat_ms) + ", " + std::to_string(t.suspect_ms) + ", " +
                                   std::to_string(t.dead_ms) + ")");
  }
  options.state_piece_floats = std::max<size_t>(options.state_piece_floats, 1);
  if (options.max_msg_bytes > 0) {
    options.state_piece_floats =
        std::min<size_t>(options.state_piece_floats, static_cast<size_t>(options.max_msg_bytes) / sizeof(float));
  }
  auto impl = std::make_unique<Impl>(transport, std::move(options));
  MESHTRAIN_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Membership>(new Membership(std::move(impl)));
}

Membership::Membership(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Membership::~Membership() = default;

Result<IncomingMessage> Membership::Receive(std::chrono::milliseconds timeout) { return impl_->Receive(timeout); }
void Membership::Interrupt() { impl_->Interrupt(); }
View Membership::view() const { return impl_->view(); }
uint64_t Membership::view_id() const { return impl_->view_id(); }
bool Membership::WaitForViewChange(uint64_t view_id, std::chrono::milliseconds timeout) const {
  return impl_->WaitForViewChange(view_id, timeout);
}
bool Membership::ClusterRunning() const { return impl_->ClusterRunning(); }
std::vector<std::string> Membership::NeverHeard() const { return impl_->NeverHeard(); }
std::string Membership::EndpointOf(const std::string& id) const { return impl_->EndpointOf(id); }
uint64_t Membership::incarnation() const { return impl_->incarnation(); }
void Membership::SetProgress(uint64_t step, bool started) { impl_->SetProgress(step, started); }
bool Membership::Finish(uint64_t step, std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
  return impl_->Finish(step, timeout, stop);
}
Result<ReconcilePlan> Membership::Reconcile(uint64_t view_id, uint64_t step, std::span<const float> params,
                                            std::span<const float> optimizer_state, const std::string& meta,
                                            std::chrono::milliseconds timeout, StateSnapshot* fetched,
                                            const std::atomic<bool>* cancel) {
  return impl_->Reconcile(view_id, step, params, optimizer_state, meta, timeout, fetched, cancel);
}
void Membership::PublishFingerprint(uint64_t view_id, uint64_t step, uint64_t fingerprint) {
  impl_->PublishFingerprint(view_id, step, fingerprint);
}
std::string Membership::ReplicaDisagreement() const { return impl_->ReplicaDisagreement(); }
std::vector<MembershipEvent> Membership::DrainEvents() { return impl_->DrainEvents(); }
void Membership::Leave() { impl_->Leave(); }
FarewellOutcome Membership::Farewell(uint64_t step, std::span<const float> params,
                                     std::span<const float> optimizer_state, const std::string& meta,
                                     std::chrono::milliseconds window, const std::atomic<bool>* cancel) {
  return impl_->Farewell(step, params, optimizer_state, meta, window, cancel);
}
std::optional<ClusterEnd> Membership::ClusterFinished() const { return impl_->ClusterFinished(); }
Result<StateSnapshot> Membership::FetchFinalState(const ClusterEnd& end, uint64_t n_values,
                                                  std::chrono::milliseconds timeout,
                                                  const std::atomic<bool>* cancel) {
  return impl_->FetchFinalState(end, n_values, timeout, cancel);
}
MembershipStats Membership::stats() const { return impl_->stats(); }

}  // namespace meshtrain
