#include "cli/commands.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/humanize.h"
#include "cli/render.h"
#include "cli/timeline.h"
#include "common/backoff.h"
#include "common/endpoint_list.h"
#include "common/status_macros.h"

namespace ghostpeer::cli {
namespace {

RenderOptions RenderNow(const CommandContext& context) {
  return {context.clock->Now(), context.zone,
          context.format == OutputFormat::kWide};
}

// When a failed unary call goes on to the next aggregator (--server a,b).
enum class Failover {
  // Queries change nothing, so asking another aggregator is safe; but only
  // when this one was never reached (UNAVAILABLE, or the deadline passed
  // while still connecting): one that answered, even with an error or too
  // slowly, has spoken, and another would most likely say the same.
  kWhenNotReached,
  // Remediate acts. An order that may have reached one aggregator must not
  // be asked of another: it could be carried out twice, and its record
  // would not say so. Only a refused connection proves that nothing was
  // sent; a timeout or a reset could come after the aggregator acted.
  kOnlyWhenRefused,
};

bool ShouldFailOver(Failover failover, const grpc::Status& status,
                    const QueryConnection& connection) {
  switch (failover) {
    case Failover::kWhenNotReached:
      return (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
              status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) &&
             !connection.Connected();
    case Failover::kOnlyWhenRefused:
      return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
             DiagnoseTransport(status.error_message()).detail ==
                 "connection refused";
  }
  return false;
}

// A failed call's status and the endpoints it was tried on, for the
// message ("a:7070, b:7070").
struct UnaryFailure {
  grpc::Status status;
  std::string tried;
};

// One unary call with the deadline, the token and the stop signal wired;
// `call` issues it on the given context, with the connection's current
// stub. On the current endpoint, then, as `failover` allows, on the next
// ones, each tried once; the endpoint that answered stays current. The
// gRPC status as it came from the last endpoint tried; `tried` (may be
// null) names every endpoint tried.
template <typename Response, typename Call>
grpc::Status RawUnary(const CommandContext& context, Call call,
                      Response* response, Failover failover,
                      std::string* tried = nullptr) {
  QueryConnection& connection = *context.connection;
  std::vector<std::string> endpoints;
  grpc::Status status;
  for (size_t attempt = 0; attempt < connection.endpoint_names().size();
       ++attempt) {
    if (attempt > 0) connection.MoveToNextEndpoint();
    endpoints.push_back(connection.endpoint());
    auto client_context = connection.NewContext(/*with_deadline=*/true);
    {
      ScopedStopAttachment attachment(context.stop, client_context.get());
      status = call(client_context.get(), response);
    }
    if (status.ok() || (context.stop != nullptr && context.stop->stopped()) ||
        !ShouldFailOver(failover, status, connection)) {
      break;
    }
  }
  if (tried != nullptr) *tried = JoinEndpoints(endpoints);
  return status;
}

// The failure of a call as the line to print; "interrupted" after a stop.
absl::Status CallError(const CommandContext& context,
                       const grpc::Status& status, const std::string& tried) {
  if (context.stop != nullptr && context.stop->stopped()) {
    return absl::CancelledError("interrupted");
  }
  return DescribeRpcError(status, tried, context.connection->options().timeout);
}

template <typename Response, typename Call>
absl::StatusOr<Response> Unary(const CommandContext& context, Call call) {
  Response response;
  std::string tried;
  const grpc::Status status =
      RawUnary(context, call, &response, Failover::kWhenNotReached, &tried);
  if (status.ok()) return response;
  return CallError(context, status, tried);
}

absl::Status PrintJson(const CommandContext& context,
                       const google::protobuf::Message& message) {
  GHOSTPEER_ASSIGN_OR_RETURN(std::string json,
                             ToJson(message, JsonStyle::kDocument));
  *context.out << json;
  return absl::OkStatus();
}

std::string NoFindingsLine(const v1::ListFindingsRequest& request) {
  std::string line = "no";
  if (request.status() == v1::OPEN) absl::StrAppend(&line, " open");
  if (request.status() == v1::RESOLVED) absl::StrAppend(&line, " resolved");
  absl::StrAppend(&line, " findings");
  if (request.min_severity() != v1::SEVERITY_UNSPECIFIED) {
    absl::StrAppend(
        &line, " at or above ",
        absl::AsciiStrToLower(SeverityName(request.min_severity())));
  }
  if (!request.node().empty() || !request.service().empty() ||
      request.kind() != v1::FINDING_KIND_UNSPECIFIED) {
    absl::StrAppend(&line, " matching the filters");
  }
  return line;
}

absl::StatusOr<v1::ListFindingsResponse> ListFindings(
    const CommandContext& context, const v1::ListFindingsRequest& request) {
  return Unary<v1::ListFindingsResponse>(
      context, [&](grpc::ClientContext* client_context,
                   v1::ListFindingsResponse* response) {
        return context.connection->stub().ListFindings(client_context, request,
                                                       response);
      });
}

absl::StatusOr<v1::GetAddressHistoryResponse> GetHistory(
    const CommandContext& context,
    const v1::GetAddressHistoryRequest& request) {
  return Unary<v1::GetAddressHistoryResponse>(
      context, [&](grpc::ClientContext* client_context,
                   v1::GetAddressHistoryResponse* response) {
        return context.connection->stub().GetAddressHistory(client_context,
                                                            request, response);
      });
}

// Whether losing the stream with `status` is worth a reconnect: the
// aggregator going away is; being refused or misunderstood is not.
bool Retryable(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::OUT_OF_RANGE:
      return false;
    default:
      return true;
  }
}

std::string LossDetail(const grpc::Status& status) {
  if (status.ok()) return "the aggregator ended the stream";
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return DiagnoseTransport(status.error_message()).detail;
  }
  return std::string(
      DescribeRpcError(status, "", absl::ZeroDuration()).message());
}

// `check`'s own reading of its filter (status is always OPEN there).
bool StillMatches(const v1::ListFindingsRequest& request,
                  const v1::Finding& finding) {
  return finding.status() == v1::OPEN &&
         finding.severity() >= request.min_severity() &&
         (request.kind() == v1::FINDING_KIND_UNSPECIFIED ||
          finding.kind() == request.kind()) &&
         (request.node().empty() ||
          finding.socket().node() == request.node()) &&
         (request.service().empty() ||
          finding.socket().service() == request.service());
}

// What one `watch` has shown, so that reconnecting neither repeats nor
// misses a change: the aggregator replays its open findings as OPENED on
// every new stream, and says nothing of those that closed in between.
class FindingFollower {
 public:
  FindingFollower(const CommandContext& context, v1::ListFindingsRequest filter)
      : context_(context), filter_(std::move(filter)) {
    filter_.set_status(v1::OPEN);
  }

  // Prints `event` (a line, or a JSON object per line) unless it is the
  // replay of a finding already shown open.
  absl::Status Show(const v1::FindingEvent& event) {
    const std::string& id = event.finding().id();
    if (!id.empty()) {
      if (event.type() == v1::CLOSED) {
        open_.erase(id);
      } else if (!open_.emplace(id, event.finding()).second) {
        if (event.type() == v1::OPENED) return absl::OkStatus();
        open_[id] = event.finding();
      }
    }
    if (context_.format == OutputFormat::kJson) {
      GHOSTPEER_ASSIGN_OR_RETURN(std::string line,
                                 ToJson(event, JsonStyle::kLine));
      *context_.out << line;
    } else {
      *context_.out << RenderFindingEvent(event, RenderNow(context_));
    }
    context_.out->flush();
    return absl::OkStatus();
  }

  // After a reconnect: shows as CLOSED every finding shown open that the
  // aggregator no longer lists as open. A failed query is not an error here
  // (the stream that follows will say what is wrong); only printing is.
  absl::Status Reconcile() {
    if (open_.empty()) return absl::OkStatus();
    absl::StatusOr<v1::ListFindingsResponse> now_open =
        ListFindings(context_, filter_);
    if (!now_open.ok()) return absl::OkStatus();
    std::set<std::string> still_open;
    for (const v1::Finding& finding : now_open->findings()) {
      still_open.insert(finding.id());
    }
    std::vector<v1::FindingEvent> closed;
    for (const auto& [id, finding] : open_) {
      if (still_open.count(id) > 0) continue;
      v1::FindingEvent event;
      event.set_type(v1::CLOSED);
      *event.mutable_finding() = finding;
      event.mutable_finding()->set_status(v1::RESOLVED);
      closed.push_back(std::move(event));
    }
    for (const v1::FindingEvent& event : closed) {
      GHOSTPEER_RETURN_IF_ERROR(Show(event));
    }
    return absl::OkStatus();
  }

 private:
  const CommandContext& context_;
  v1::ListFindingsRequest filter_;
  std::map<std::string, v1::Finding> open_;  // shown open, by id
};

}  // namespace

absl::StatusOr<int> RunFindings(const CommandContext& context,
                                const v1::ListFindingsRequest& request) {
  GHOSTPEER_ASSIGN_OR_RETURN(auto response, ListFindings(context, request));
  if (context.format == OutputFormat::kJson) {
    GHOSTPEER_RETURN_IF_ERROR(PrintJson(context, response));
    return kExitOk;
  }
  if (response.findings().empty()) {
    *context.out << NoFindingsLine(request) << "\n";
    return kExitOk;
  }
  *context.out << RenderFindings(response, RenderNow(context));
  return kExitOk;
}

absl::StatusOr<int> RunSockets(const CommandContext& context,
                               const v1::ListSocketsRequest& request) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      auto response, Unary<v1::ListSocketsResponse>(
                         context, [&](grpc::ClientContext* client_context,
                                      v1::ListSocketsResponse* response) {
                           return context.connection->stub().ListSockets(
                               client_context, request, response);
                         }));
  if (context.format == OutputFormat::kJson) {
    GHOSTPEER_RETURN_IF_ERROR(PrintJson(context, response));
    return kExitOk;
  }
  if (response.sockets().empty()) {
    *context.out << "no sockets match\n";
    if (response.served_elsewhere().empty()) return kExitOk;
  }
  *context.out << RenderSockets(response, RenderNow(context));
  return kExitOk;
}

absl::StatusOr<int> RunHistory(const CommandContext& context,
                               const std::string& address,
                               std::optional<absl::Time> at,
                               const std::string& node) {
  v1::GetAddressHistoryRequest request;
  request.set_address(address);
  request.set_node(node);
  if (at) *request.mutable_at() = ToProto(*at);
  absl::StatusOr<v1::GetAddressHistoryResponse> response =
      GetHistory(context, request);
  if (!response.ok() && at &&
      response.status().code() == absl::StatusCode::kOutOfRange) {
    // The refusal does not say how far back the history goes; the whole
    // history's answer does.
    const absl::Time now = context.clock->Now();
    std::string line = absl::StrCat("no history of ", address, " at ",
                                    ClockTime(*at, now, context.zone), ": ");
    v1::GetAddressHistoryRequest everything;
    everything.set_address(address);
    everything.set_node(node);
    auto whole = GetHistory(context, everything);
    if (whole.ok() && TimeOf(whole->retained_since())) {
      const absl::Time since = *TimeOf(whole->retained_since());
      absl::StrAppend(&line, "history retained since ",
                      ClockTime(since, now, context.zone), " (",
                      Ago(since, now), ")");
    } else {
      absl::StrAppend(&line, response.status().message());
    }
    return absl::OutOfRangeError(line);
  }
  if (!response.ok()) return response.status();
  if (context.format == OutputFormat::kJson) {
    GHOSTPEER_RETURN_IF_ERROR(PrintJson(context, *response));
    return kExitOk;
  }
  *context.out << RenderHistory(*response, address, at, RenderNow(context));
  return kExitOk;
}

absl::StatusOr<int> RunNodes(const CommandContext& context) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      auto response, Unary<v1::ListNodesResponse>(
                         context, [&](grpc::ClientContext* client_context,
                                      v1::ListNodesResponse* response) {
                           return context.connection->stub().ListNodes(
                               client_context, v1::ListNodesRequest(),
                               response);
                         }));
  if (context.format == OutputFormat::kJson) {
    GHOSTPEER_RETURN_IF_ERROR(PrintJson(context, response));
    return kExitOk;
  }
  if (response.nodes().empty()) {
    *context.out << "no node has reported yet\n";
    return kExitOk;
  }
  *context.out << RenderNodes(response, RenderNow(context));
  return kExitOk;
}

absl::StatusOr<int> RunWatch(const CommandContext& context,
                             const WatchOptions& options) {
  QueryConnection& connection = *context.connection;
  const absl::Duration timeout = connection.options().timeout;
  const size_t endpoint_count = connection.endpoint_names().size();
  StopSignal local_stop;
  StopSignal* stop = context.stop != nullptr ? context.stop : &local_stop;
  v1::WatchFindingsRequest request;
  *request.mutable_filter() = options.filter;
  FindingFollower follower(context, options.filter);

  // 1. Connect (or reconnect); after a reconnect, close what closed while
  //    we were away. Then stream until the stream ends.
  // 2. A stop ends the watch cleanly; a refusal ends it with its error.
  // 3. A loss goes on to the next aggregator at once (--server a,b) until
  //    every one failed in a row; then it is retried with exponential
  //    backoff and jitter, unless max_reconnects consecutive rounds got
  //    nowhere. An aggregator never reached fails the watch once every
  //    endpoint was tried (a wrong --server must fail at once).
  Backoff backoff(BackoffPolicy{options.initial_backoff, options.max_backoff,
                                /*multiplier=*/2, Jitter::kEqual});
  bool ever_connected = false;
  bool lost = false;
  size_t failed_in_round = 0;
  std::vector<std::string> never_reached;
  *context.err << "watching findings at " << connection.endpoint()
               << " (Ctrl-C to stop)\n";
  while (true) {
    if (stop->stopped()) return kExitOk;
    if (connection.AwaitReady(timeout)) {
      ever_connected = true;
      if (lost) GHOSTPEER_RETURN_IF_ERROR(follower.Reconcile());
    }
    auto client_context = connection.NewContext(/*with_deadline=*/false);
    const absl::Time stream_start = context.clock->Now();
    grpc::Status status;
    {
      ScopedStopAttachment attachment(stop, client_context.get());
      auto reader =
          connection.stub().WatchFindings(client_context.get(), request);
      v1::FindingEvent event;
      while (reader->Read(&event)) {
        ever_connected = true;
        backoff.Reset();
        failed_in_round = 0;
        GHOSTPEER_RETURN_IF_ERROR(follower.Show(event));
      }
      status = reader->Finish();
    }
    if (stop->stopped()) return kExitOk;
    const grpc::Status loss =
        status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "the aggregator ended the stream")
                    : status;
    if (!Retryable(status)) {
      return DescribeRpcError(loss, connection.endpoint(), timeout);
    }
    const std::string lost_endpoint = connection.endpoint();
    if (!ever_connected) {
      never_reached.push_back(lost_endpoint);
      if (never_reached.size() == endpoint_count) {
        return DescribeRpcError(loss, JoinEndpoints(never_reached), timeout);
      }
      connection.MoveToNextEndpoint();
      continue;
    }
    lost = true;
    // A stream that held for a while was a successful reconnect even if the
    // cluster was quiet.
    if (context.clock->Now() - stream_start >= options.max_backoff) {
      backoff.Reset();
      failed_in_round = 0;
    }
    connection.MoveToNextEndpoint();
    if (++failed_in_round < endpoint_count) {
      *context.err << "ghostpeer: lost the aggregator at " << lost_endpoint
                   << ": " << LossDetail(status) << "; trying "
                   << connection.endpoint() << "\n";
      continue;
    }
    failed_in_round = 0;
    if (backoff.failures() >= options.max_reconnects) {
      return absl::UnavailableError(absl::StrCat(
          "lost the aggregator at ",
          endpoint_count == 1 ? lost_endpoint
                              : JoinEndpoints(connection.endpoint_names()),
          ": ", LossDetail(status),
          options.max_reconnects == 0
              ? " (not reconnecting: --retries 0)"
              : absl::StrCat("; gave up after ", options.max_reconnects,
                             " reconnect attempts")));
    }
    const absl::Duration wait = backoff.Next();
    *context.err << "ghostpeer: lost the aggregator at " << lost_endpoint
                 << ": " << LossDetail(status) << "; reconnecting"
                 << (endpoint_count == 1
                         ? std::string()
                         : absl::StrCat(" to ", connection.endpoint()))
                 << " in " << ShortLatency(wait) << " (attempt "
                 << backoff.failures() << "/" << options.max_reconnects
                 << ")\n";
    if (stop->WaitFor(wait)) return kExitOk;
  }
}

absl::StatusOr<int> RunCheck(const CommandContext& context,
                             v1::ListFindingsRequest request) {
  request.set_status(v1::OPEN);
  GHOSTPEER_ASSIGN_OR_RETURN(auto response, ListFindings(context, request));
  // The server filters; filter again so that an aggregator that ignores a
  // field can never turn "findings exist" into exit 0 or the reverse.
  v1::ListFindingsResponse matching;
  for (const v1::Finding& finding : response.findings()) {
    if (StillMatches(request, finding)) {
      *matching.add_findings() = finding;
    }
  }
  if (context.format == OutputFormat::kJson) {
    GHOSTPEER_RETURN_IF_ERROR(PrintJson(context, matching));
  } else if (matching.findings().empty()) {
    *context.out << "ok: " << NoFindingsLine(request) << "\n";
  } else {
    const int count = matching.findings_size();
    *context.out << count << " open finding" << (count == 1 ? "" : "s")
                 << " at or above "
                 << absl::AsciiStrToLower(SeverityName(request.min_severity()))
                 << ":\n"
                 << RenderFindingLines(matching, RenderNow(context));
  }
  return matching.findings().empty() ? kExitOk : kExitFindings;
}

absl::StatusOr<int> RunRemediate(const CommandContext& context,
                                 const std::string& finding_id, bool dry_run) {
  v1::RemediateRequest request;
  request.set_finding_id(finding_id);
  request.set_dry_run(dry_run);
  v1::RemediateResponse response;
  std::string tried;
  const grpc::Status status = RawUnary(
      context,
      [&](grpc::ClientContext* client_context, v1::RemediateResponse* out) {
        return context.connection->stub().Remediate(client_context, request,
                                                    out);
      },
      &response, Failover::kOnlyWhenRefused, &tried);
  const bool stopped = context.stop != nullptr && context.stop->stopped();
  if (!status.ok() && !stopped) {
    // A refusal is an answer, not a failure to ask: it gets its own exit
    // code and the aggregator's reason, which names the guard.
    switch (status.error_code()) {
      case grpc::StatusCode::FAILED_PRECONDITION:
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        *context.err << "ghostpeer: refused: "
                     << Printable(status.error_message()) << "\n";
        return kExitRefused;
      case grpc::StatusCode::NOT_FOUND:
        return absl::NotFoundError(absl::StrCat(
            "no finding ", finding_id,
            " at the aggregator (open ones: ghostpeer findings -o wide)"));
      default:
        break;
    }
  }
  if (!status.ok()) return CallError(context, status, tried);
  const v1::RemediationDecision decision = response.remediation().decision();
  const bool refused = decision == v1::REMEDIATION_DECISION_DECLINED ||
                       decision == v1::REMEDIATION_DECISION_RATE_LIMITED;
  if (context.format == OutputFormat::kJson) {
    GHOSTPEER_RETURN_IF_ERROR(PrintJson(context, response));
  } else if (refused) {
    // One line on the error stream, as for every failure; where the record
    // is, on the output.
    const std::string told =
        RenderRemediationDecision(response.remediation(), RenderNow(context));
    const size_t first_line = told.find('\n') + 1;
    *context.err << "ghostpeer: " << told.substr(0, first_line);
    *context.out << told.substr(first_line);
  } else {
    *context.out << RenderRemediationDecision(response.remediation(),
                                              RenderNow(context));
  }
  return refused ? kExitRefused : kExitOk;
}

absl::StatusOr<int> RunRemediations(
    const CommandContext& context, const v1::ListRemediationsRequest& request) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      auto response, Unary<v1::ListRemediationsResponse>(
                         context, [&](grpc::ClientContext* client_context,
                                      v1::ListRemediationsResponse* response) {
                           return context.connection->stub().ListRemediations(
                               client_context, request, response);
                         }));
  if (context.format == OutputFormat::kJson) {
    GHOSTPEER_RETURN_IF_ERROR(PrintJson(context, response));
    return kExitOk;
  }
  if (response.remediations().empty()) {
    std::string line = "no remediation decisions recorded";
    if (!request.finding_id().empty() || !request.node().empty()) {
      absl::StrAppend(&line, " matching the filters");
    }
    *context.out << line << "\n";
    return kExitOk;
  }
  *context.out << RenderRemediations(response, RenderNow(context));
  return kExitOk;
}

}  // namespace ghostpeer::cli
