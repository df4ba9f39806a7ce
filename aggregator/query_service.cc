#include "aggregator/query_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/peer_sockets.h"
#include "aggregator/validation.h"
#include "common/logging.h"
#include "common/names.h"

namespace ghostpeer::aggregator {
namespace {

// A WatchFindings stream that ends at once with `status`.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::FindingEvent> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

grpc::Status NoRemediation() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this aggregator was built without remediation");
}

// The caller's client certificate's common name (mutual TLS), or "".
std::string CommonName(const grpc::CallbackServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  for (const grpc::string_ref& value :
       auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    if (value.size() > 0) return std::string(value.data(), value.size());
  }
  return "";
}

}  // namespace

bool FindingMatches(const v1::ListFindingsRequest& filter,
                    const v1::Finding& finding) {
  if (!filter.node().empty() && finding.socket().node() != filter.node()) {
    return false;
  }
  if (!filter.service().empty() &&
      finding.socket().service() != filter.service()) {
    return false;
  }
  if (filter.kind() != v1::FINDING_KIND_UNSPECIFIED &&
      finding.kind() != filter.kind()) {
    return false;
  }
  if (filter.min_severity() != v1::SEVERITY_UNSPECIFIED &&
      finding.severity() < filter.min_severity()) {
    return false;
  }
  if (filter.status() != v1::FINDING_STATUS_UNSPECIFIED &&
      finding.status() != filter.status()) {
    return false;
  }
  return true;
}

std::string ManualRequester(absl::string_view common_name,
                            absl::string_view peer) {
  // Enough for a host name and an IPv6 peer; a longer name is someone's
  // attempt to fill the record.
  constexpr size_t kMaxPart = 256;
  const auto part = [](absl::string_view text) {
    return Printable(text.substr(0, kMaxPart));
  };
  const std::string where = peer.empty() ? "unknown peer" : part(peer);
  if (common_name.empty()) return absl::StrCat("manual: ", where);
  return absl::StrCat("manual: ", part(common_name), " (", where, ")");
}

QueryService::QueryService(Engine* engine, CallAuthorizer authorizer,
                           size_t max_watch_backlog,
                           RemediationApi* remediation,
                           SocketFanOut socket_fan_out)
    : engine_(engine),
      authorizer_(std::move(authorizer)),
      max_watch_backlog_(max_watch_backlog),
      remediation_(remediation),
      socket_fan_out_(std::move(socket_fan_out)) {}

template <typename Fn>
grpc::ServerUnaryReactor* QueryService::Unary(
    grpc::CallbackServerContext* context, Fn answer) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (authorizer_) {
    grpc::Status allowed = authorizer_(context);
    if (!allowed.ok()) {
      reactor->Finish(allowed);
      return reactor;
    }
  }
  reactor->Finish(answer());
  return reactor;
}

template <typename Fn>
grpc::ServerUnaryReactor* QueryService::ClusterQuery(
    grpc::CallbackServerContext* context, Fn answer) {
  return Unary(context, [&] {
    // A replica that cannot read the shared store would answer for the
    // part of the cluster it saw before the outage, as if it were all.
    if (absl::Status readable = engine_->StoreReadable(); !readable.ok()) {
      return ToGrpcStatus(readable);
    }
    return answer();
  });
}

grpc::ServerUnaryReactor* QueryService::ListFindings(
    grpc::CallbackServerContext* context,
    const v1::ListFindingsRequest* request,
    v1::ListFindingsResponse* response) {
  return ClusterQuery(context, [&] {
    if (absl::Status valid = ValidateFindingFilter(*request); !valid.ok()) {
      return ToGrpcStatus(valid);
    }
    *response = engine_->ListFindings(*request);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* QueryService::ListSockets(
    grpc::CallbackServerContext* context, const v1::ListSocketsRequest* request,
    v1::ListSocketsResponse* response) {
  return ClusterQuery(context, [&] {
    v1::ListSocketsRequest checked = *request;
    if (absl::Status valid = ValidateListSocketsRequest(&checked);
        !valid.ok()) {
      return ToGrpcStatus(valid);
    }
    *response = engine_->ListSockets(checked);
    const bool from_a_replica =
        context->client_metadata().count(kPeerQueryHeader) > 0;
    if (socket_fan_out_ && !from_a_replica) {
      *response = socket_fan_out_(std::move(*response), checked);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* QueryService::GetAddressHistory(
    grpc::CallbackServerContext* context,
    const v1::GetAddressHistoryRequest* request,
    v1::GetAddressHistoryResponse* response) {
  return ClusterQuery(context, [&] {
    v1::GetAddressHistoryRequest checked = *request;
    if (absl::Status valid = ValidateAddressHistoryRequest(&checked);
        !valid.ok()) {
      return ToGrpcStatus(valid);
    }
    absl::StatusOr<v1::GetAddressHistoryResponse> history =
        engine_->GetAddressHistory(checked);
    if (!history.ok()) return ToGrpcStatus(history.status());
    *response = std::move(*history);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* QueryService::ListNodes(
    grpc::CallbackServerContext* context, const v1::ListNodesRequest* request,
    v1::ListNodesResponse* response) {
  return ClusterQuery(context, [&] {
    *response = engine_->ListNodes();
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* QueryService::Remediate(
    grpc::CallbackServerContext* context, const v1::RemediateRequest* request,
    v1::RemediateResponse* response) {
  return Unary(context, [&] {
    if (remediation_ == nullptr) return NoRemediation();
    v1::RemediateRequest checked = *request;
    if (absl::Status valid = ValidateRemediateRequest(&checked); !valid.ok()) {
      return ToGrpcStatus(valid);
    }
    const std::string requester =
        ManualRequester(CommonName(*context), context->peer());
    absl::StatusOr<v1::Remediation> decided = remediation_->Remediate(
        checked.finding_id(), checked.dry_run(), requester);
    if (!decided.ok()) {
      GP_LOG_INFO("remediate {}{} for {}: {}", checked.finding_id(),
                  checked.dry_run() ? " (dry run)" : "", requester,
                  decided.status().ToString());
      return ToGrpcStatus(decided.status());
    }
    GP_LOG_INFO("remediate {}{} for {}: {}", checked.finding_id(),
                checked.dry_run() ? " (dry run)" : "", requester,
                v1::RemediationDecision_Name(decided->decision()));
    *response->mutable_remediation() = *std::move(decided);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* QueryService::ListRemediations(
    grpc::CallbackServerContext* context,
    const v1::ListRemediationsRequest* request,
    v1::ListRemediationsResponse* response) {
  return Unary(context, [&] {
    if (remediation_ == nullptr) return NoRemediation();
    v1::ListRemediationsRequest checked = *request;
    if (absl::Status valid = ValidateListRemediationsRequest(&checked);
        !valid.ok()) {
      return ToGrpcStatus(valid);
    }
    if (checked.limit() == 0) checked.set_limit(kDefaultListedRemediations);
    absl::StatusOr<std::vector<v1::Remediation>> listed =
        remediation_->List(checked);
    if (!listed.ok()) return ToGrpcStatus(listed.status());
    // The limit is the caller's promise of a bounded answer: kept here too,
    // whatever the store behind the seam does with it.
    const size_t count =
        std::min<size_t>(listed->size(), static_cast<size_t>(checked.limit()));
    response->mutable_remediations()->Reserve(static_cast<int>(count));
    for (size_t i = 0; i < count; ++i) {
      *response->add_remediations() = std::move((*listed)[i]);
    }
    return grpc::Status::OK;
  });
}

// Events come from the Engine's ingesting threads and leave through gRPC's
// write callbacks; the queue between them lives in a shared Backlog so a
// listener firing after the stream ended touches nothing freed.
class QueryService::WatchReactor final
    : public grpc::ServerWriteReactor<v1::FindingEvent> {
 public:
  WatchReactor(Engine* engine, const v1::WatchFindingsRequest& request,
               size_t max_backlog)
      : engine_(engine),
        max_backlog_(max_backlog),
        backlog_(std::make_shared<Backlog>()) {
    absl::MutexLock callbacks_lock(&callbacks_mu_);
    const v1::ListFindingsRequest filter = request.filter();
    std::weak_ptr<Backlog> weak = backlog_;
    WatchReactor* self = this;
    // Subscribe before listing, so nothing falls between the two; a finding
    // may then arrive twice (OPENED from the list and from the listener),
    // which a follower tolerates better than a gap.
    subscription_ = engine_->Subscribe(
        [weak, filter, self, max_backlog](const v1::FindingEvent& event) {
          if (!FindingMatches(filter, event.finding())) return;
          std::shared_ptr<Backlog> backlog = weak.lock();
          if (backlog == nullptr) return;
          absl::MutexLock lock(&backlog->mu);
          if (backlog->done) return;
          if (backlog->events.size() >= max_backlog) {
            backlog->overflowed = true;
          } else {
            backlog->events.push_back(event);
          }
          if (!backlog->writing) {
            backlog->writing = true;
            self->WriteNextLocked(*backlog);
          }
        });
    v1::ListFindingsRequest open = filter;
    open.set_status(v1::OPEN);
    // Ask the Engine before taking the backlog's lock: the Engine calls
    // listeners with its own locks held, so taking them in the other order
    // here could deadlock against an ingest.
    v1::ListFindingsResponse current = engine_->ListFindings(open);
    absl::MutexLock lock(&backlog_->mu);
    for (const v1::Finding& finding : current.findings()) {
      v1::FindingEvent& event = backlog_->events.emplace_back();
      event.set_type(v1::OPENED);
      *event.mutable_finding() = finding;
    }
    if (!backlog_->events.empty()) {
      backlog_->writing = true;
      WriteNextLocked(*backlog_);
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock callbacks_lock(&callbacks_mu_);
    absl::MutexLock lock(&backlog_->mu);
    if (!ok) {
      FinishLocked(*backlog_, grpc::Status::CANCELLED);
      return;
    }
    backlog_->events.pop_front();
    WriteNextLocked(*backlog_);
  }

  void OnCancel() override {
    absl::MutexLock callbacks_lock(&callbacks_mu_);
    absl::MutexLock lock(&backlog_->mu);
    FinishLocked(*backlog_, grpc::Status::CANCELLED);
  }

  void OnDone() override {
    // Taken and released: the last callback's changes are ordered before
    // the delete, also for ThreadSanitizer.
    { absl::MutexLock callbacks_lock(&callbacks_mu_); }
    engine_->Unsubscribe(subscription_);
    delete this;
  }

 private:
  struct Backlog {
    absl::Mutex mu;
    std::deque<v1::FindingEvent> events;  // front() is being written
    bool writing = false;
    bool overflowed = false;
    bool done = false;
  };

  void WriteNextLocked(Backlog& backlog) {
    if (backlog.done) return;
    if (backlog.overflowed) {
      FinishLocked(backlog,
                   grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                absl::StrCat("watcher fell more than ",
                                             max_backlog_, " events behind")));
      return;
    }
    if (backlog.events.empty()) {
      backlog.writing = false;
      return;
    }
    StartWrite(&backlog.events.front());
  }

  void FinishLocked(Backlog& backlog, const grpc::Status& status) {
    if (backlog.done) return;
    backlog.done = true;
    Finish(status);
  }

  // gRPC runs the constructor and each callback in turn but hands them
  // between threads inside libgrpc, where ThreadSanitizer cannot see the
  // order, so it reported members written by the constructor and read by
  // OnWriteDone as raced. Each holds this lock, uncontended, which makes the
  // order visible; taken before backlog->mu, never inside it (the Engine's
  // listener takes only backlog->mu).
  absl::Mutex callbacks_mu_;
  Engine* const engine_;
  const size_t max_backlog_;
  std::shared_ptr<Backlog> backlog_;
  int subscription_ = 0;
};

grpc::ServerWriteReactor<v1::FindingEvent>* QueryService::WatchFindings(
    grpc::CallbackServerContext* context,
    const v1::WatchFindingsRequest* request) {
  if (authorizer_) {
    grpc::Status allowed = authorizer_(context);
    if (!allowed.ok()) return new RefusedWatch(allowed);
  }
  if (absl::Status valid = ValidateFindingFilter(request->filter());
      !valid.ok()) {
    return new RefusedWatch(ToGrpcStatus(valid));
  }
  return new WatchReactor(engine_, *request, max_watch_backlog_);
}

}  // namespace ghostpeer::aggregator
