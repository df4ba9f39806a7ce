#include "aggregator/query_service.h"

#include <deque>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/validation.h"
#include "common/logging.h"

namespace ghostpeer::aggregator {
namespace {

// A WatchFindings stream that ends at once with `status`.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::FindingEvent> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

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

QueryService::QueryService(Engine* engine, CallAuthorizer authorizer,
                           size_t max_watch_backlog)
    : engine_(engine),
      authorizer_(std::move(authorizer)),
      max_watch_backlog_(max_watch_backlog) {}

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

grpc::ServerUnaryReactor* QueryService::ListFindings(
    grpc::CallbackServerContext* context,
    const v1::ListFindingsRequest* request,
    v1::ListFindingsResponse* response) {
  return Unary(context, [&] {
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
  return Unary(context, [&] {
    v1::ListSocketsRequest checked = *request;
    if (absl::Status valid = ValidateListSocketsRequest(&checked);
        !valid.ok()) {
      return ToGrpcStatus(valid);
    }
    *response = engine_->ListSockets(checked);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* QueryService::GetAddressHistory(
    grpc::CallbackServerContext* context,
    const v1::GetAddressHistoryRequest* request,
    v1::GetAddressHistoryResponse* response) {
  return Unary(context, [&] {
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
  return Unary(context, [&] {
    *response = engine_->ListNodes();
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
