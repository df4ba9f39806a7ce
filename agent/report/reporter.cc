#include "agent/report/reporter.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ghostpeer::agent {
namespace {

constexpr size_t kEventsPerMessage = 512;

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

absl::Duration AckTimeout(const ReporterOptions& options) {
  if (options.ack_timeout > absl::ZeroDuration()) return options.ack_timeout;
  return std::max(3 * options.interval, absl::Seconds(20));
}

}  // namespace

grpc::ChannelArguments ReporterChannelArguments(
    const ReporterOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(
      GRPC_ARG_KEEPALIVE_TIME_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_time)));
  args.SetInt(
      GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // We reconnect with our own backoff; keep gRPC's short so a new attempt is
  // not held back by the channel's.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetMaxSendMessageSize(64 << 20);
  if (options.credentials != nullptr && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return args;
}

Reporter::Reporter(ReporterOptions options, SnapshotSource* snapshots,
                   EventJournal* journal)
    : options_(std::move(options)),
      own_remediation_(
          options_.remediation == nullptr
              ? std::make_unique<RemediationDispatcher>(
                    RemediationDispatcherOptions{
                        nullptr, "agent has no remediation executor"})
              : nullptr),
      remediation_(options_.remediation != nullptr ? options_.remediation
                                                   : own_remediation_.get()),
      snapshots_(snapshots),
      journal_(journal),
      encoder_(options_.full_every) {
  // An outcome is news for the aggregator: send it now, not at the next
  // snapshot.
  remediation_->SetListener([this] { Notify(); });
}

Reporter::~Reporter() { remediation_->SetListener(nullptr); }

void Reporter::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  if (active_context_ != nullptr) active_context_->TryCancel();
}

void Reporter::Notify() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

bool Reporter::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

ReporterStats Reporter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Reporter::SnapshotIfDue() {
  const absl::Time now = options_.clock->Now();
  if (now < next_snapshot_) return;
  next_snapshot_ = now + options_.interval;
  const absl::Time started = absl::Now();
  absl::StatusOr<v1::NodeSnapshot> snapshot = snapshots_->Take();
  if (!snapshot.ok()) {
    GP_LOG_WARN("snapshot failed: {}", snapshot.status().ToString());
    absl::MutexLock lock(&mu_);
    ++stats_.snapshot_errors;
    stats_.last_error = std::string(snapshot.status().message());
    return;
  }
  std::vector<v1::AddressEvent> events = tracker_.Observe(*snapshot);
  have_observation_ = true;
  if (!events.empty()) {
    GP_LOG_INFO("{} address change(s) observed", events.size());
    if (absl::Status status = journal_->Append(std::move(events));
        !status.ok()) {
      // The events are lost for now; the next stream's INVENTORY repairs it.
      GP_LOG_ERROR("journal append failed: {}", status.ToString());
    }
  }
  absl::MutexLock lock(&mu_);
  stats_.last_snapshot_duration = absl::Now() - started;
  stats_.last_socket_count = snapshot->stats().sockets();
  stats_.last_namespaces_seen = snapshot->stats().namespaces_seen();
  stats_.last_namespaces_failed = snapshot->stats().namespaces_failed();
  stats_.last_translations_ok = snapshot->translation_status() == "ok";
  stats_.last_translations = snapshot->stats().translations();
  stats_.last_translation_namespaces_failed =
      snapshot->stats().translation_namespaces_failed();
  stats_.last_ipvs_blackhole_namespaces = 0;
  for (const v1::NamespaceInfo& ns : snapshot->namespaces()) {
    if (ns.has_ipvs() && ns.ipvs().expire_nodest_conn() == 0) {
      ++stats_.last_ipvs_blackhole_namespaces;
    }
  }
  latest_ = std::move(*snapshot);
  woken_ = true;
}

bool Reporter::WaitUntil(absl::Time deadline) {
  while (true) {
    SnapshotIfDue();
    const absl::Time now = options_.clock->Now();
    const absl::Time wake = std::min(deadline, next_snapshot_);
    absl::MutexLock lock(&mu_);
    if (stopped_) return false;
    if (woken_) {
      woken_ = false;
      return true;
    }
    if (now >= deadline) return true;
    auto condition = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stopped_ || woken_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&condition),
                         std::max(wake - now, absl::Milliseconds(1)));
    if (stopped_) return false;
    if (woken_) {
      woken_ = false;
      return true;
    }
  }
}

absl::Status Reporter::WaitForChannel(const Endpoint& endpoint,
                                      bool give_up_on_failure) {
  grpc::Channel& channel = *endpoint.channel;
  if (give_up_on_failure) {
    // A channel that failed in an earlier round may be waiting out gRPC's
    // own reconnect backoff (up to max_backoff): it is this endpoint's turn
    // now, so attempt at once.
    grpc::experimental::ChannelResetConnectionBackoff(&channel);
  }
  // A call on a channel that is not connected fails at once (and cancelling
  // it aborts the connection attempt), so connect first. Waiting in short
  // steps keeps Stop() prompt and snapshots on schedule meanwhile.
  const absl::Time deadline = options_.clock->Now() + AckTimeout(options_);
  while (!stopped()) {
    SnapshotIfDue();
    if (channel.WaitForConnected(
            absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)))) {
      return absl::OkStatus();
    }
    // TRANSIENT_FAILURE: every address of the target refused or failed.
    // With another aggregator to try, waiting here for this one to come
    // back only delays the failover.
    if (give_up_on_failure && channel.GetState(/*try_to_connect=*/false) ==
                                  GRPC_CHANNEL_TRANSIENT_FAILURE) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", endpoint.target));
    }
    if (options_.clock->Now() >= deadline) break;
  }
  if (stopped()) return absl::CancelledError("stopped");
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", endpoint.target, " within ",
                   absl::FormatDuration(AckTimeout(options_))));
}

absl::Status Reporter::Run() {
  if (options_.node.empty()) {
    return absl::InvalidArgumentError("reporter: node name is empty");
  }
  if (options_.interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("reporter: interval must be >= 1s");
  }
  if (options_.aggregators.empty()) {
    return absl::InvalidArgumentError("reporter: no aggregator to stream to");
  }
  const BackoffPolicy backoff_policy{options_.initial_backoff,
                                     options_.max_backoff, /*multiplier=*/2,
                                     Jitter::kEqual};
  GHOSTPEER_RETURN_IF_ERROR(
      ValidateBackoffPolicy(backoff_policy, "reporter reconnect"));
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options_.credentials ? options_.credentials
                           : grpc::InsecureChannelCredentials();
  std::vector<Endpoint> endpoints(options_.aggregators.size());
  for (size_t i = 0; i < endpoints.size(); ++i) {
    endpoints[i].target = options_.aggregators[i];
  }
  const bool several = endpoints.size() > 1;

  // 1. Stream to the current endpoint until the stream fails.
  // 2. A stream that lived a while was healthy: the backoff starts afresh,
  //    and a new round of failures with it.
  // 3. While some endpoint of the round has not failed yet, move to the
  //    next one at once; once all failed in a row, back off (jittered, so
  //    that a fleet does not reconnect in lockstep when the aggregators come
  //    back), then go on with the next one.
  Backoff backoff(backoff_policy);
  size_t current = 0;
  size_t failed_in_round = 0;
  while (!stopped()) {
    Endpoint& endpoint = endpoints[current];
    if (endpoint.channel == nullptr) {
      endpoint.channel = grpc::CreateCustomChannel(
          endpoint.target, credentials, ReporterChannelArguments(options_));
      endpoint.stub = v1::Ingest::NewStub(endpoint.channel);
    }
    {
      absl::MutexLock lock(&mu_);
      stats_.endpoint = endpoint.target;
    }
    const absl::Time opened = options_.clock->Now();
    absl::Status status = WaitForChannel(endpoint, several);
    const bool channel_connected = status.ok();
    const absl::Time streaming_since = options_.clock->Now();
    if (channel_connected) status = RunStream(endpoint);
    if (stopped()) break;
    {
      absl::MutexLock lock(&mu_);
      stats_.connected = false;
      stats_.last_error = status.ToString();
      ++stats_.reconnects;
    }
    // A connection attempt that took this long was a wait of its own.
    if (options_.clock->Now() - opened > 2 * options_.interval) {
      backoff.Reset();
    }
    if (channel_connected &&
        options_.clock->Now() - streaming_since > 2 * options_.interval) {
      failed_in_round = 0;
    }
    ++failed_in_round;
    const size_t next = (current + 1) % endpoints.size();
    if (failed_in_round < endpoints.size()) {
      GP_LOG_WARN("aggregator {} failed ({}); failing over to {}",
                  endpoint.target, status.ToString(), endpoints[next].target);
      absl::MutexLock lock(&mu_);
      ++stats_.failovers;
      current = next;
      continue;
    }
    failed_in_round = 0;
    const absl::Duration wait = backoff.Next();
    if (several) {
      GP_LOG_WARN(
          "aggregator {} failed ({}); all {} aggregators failed in a row, "
          "failing over to {} in {}",
          endpoint.target, status.ToString(), endpoints.size(),
          endpoints[next].target, absl::FormatDuration(wait));
    } else {
      GP_LOG_WARN("stream to {} ended ({}); reconnecting in {}",
                  endpoint.target, status.ToString(),
                  absl::FormatDuration(wait));
    }
    {
      absl::MutexLock lock(&mu_);
      ++stats_.failed_rounds;
      if (several) ++stats_.failovers;
    }
    current = next;
    const absl::Time until = options_.clock->Now() + wait;
    while (options_.clock->Now() < until) {
      if (!WaitUntil(until)) break;
    }
  }
  return absl::OkStatus();
}

absl::Status Reporter::SendOutcomes(
    grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>& stream) {
  for (v1::RemediationOutcome& outcome : remediation_->TakeOutcomes()) {
    v1::AgentMessage message;
    *message.mutable_remediation_outcome() = std::move(outcome);
    if (!stream.Write(message)) {
      // This and the rest are lost with the stream; the aggregator replays
      // the orders it has no answer to, and the dispatcher answers a replay
      // with the remembered outcome.
      return absl::UnavailableError("stream closed while sending outcomes");
    }
  }
  return absl::OkStatus();
}

absl::Status Reporter::SendPendingEvents(
    grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>& stream,
    uint64_t& sent_upto) {
  while (true) {
    std::vector<v1::AddressEvent> events =
        journal_->Pending(sent_upto, kEventsPerMessage);
    if (events.empty()) return absl::OkStatus();
    v1::AgentMessage message;
    for (v1::AddressEvent& event : events) {
      *message.mutable_address_events()->add_events() = std::move(event);
    }
    const uint64_t last =
        message.address_events()
            .events(message.address_events().events_size() - 1)
            .seq();
    if (!stream.Write(message)) {
      return absl::UnavailableError("stream closed while sending events");
    }
    sent_upto = last;
    absl::MutexLock lock(&mu_);
    stats_.events_sent += message.address_events().events_size();
  }
}

absl::Status Reporter::RunStream(const Endpoint& endpoint) {
  grpc::ClientContext context;
  if (!options_.bearer_token.empty()) {
    context.AddMetadata("authorization",
                        absl::StrCat("Bearer ", options_.bearer_token));
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::CancelledError("stopped");
    active_context_ = &context;
    ++stats_.streams_opened;
    encoder_.RequireFull();
  }
  auto clear_context = [this] {
    absl::MutexLock lock(&mu_);
    active_context_ = nullptr;
  };
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>>
      stream = endpoint.stub->Report(&context);

  // Acks arrive on their own thread: the sync API allows one reader and one
  // writer at a time, and reads must not wait behind a slow snapshot.
  absl::Mutex ack_mu;
  bool hello_acked = false;
  bool stream_ended = false;
  uint64_t resume_from = 0;
  absl::Time last_ack = options_.clock->Now();
  std::thread reader([&] {
    v1::AggregatorMessage reply;
    while (stream->Read(&reply)) {
      if (reply.has_remediation_order()) {
        remediation_->Submit(reply.remediation_order());
        continue;
      }
      if (!reply.has_ack()) continue;
      const v1::Ack& ack = reply.ack();
      if (absl::Status s = journal_->Acknowledge(ack.address_seq()); !s.ok()) {
        GP_LOG_ERROR("journal: {}", s.ToString());
      }
      {
        absl::MutexLock lock(&mu_);
        encoder_.Acknowledge(ack);
        stats_.last_ack = options_.clock->Now();
        stats_.connected = true;
      }
      absl::MutexLock lock(&ack_mu);
      if (!hello_acked) resume_from = ack.address_seq();
      hello_acked = true;
      last_ack = options_.clock->Now();
    }
    {
      absl::MutexLock lock(&ack_mu);
      stream_ended = true;
    }
    // Wake the sender: a broken stream is noticed now, not at the next
    // snapshot, and the next aggregator is tried at once.
    Notify();
  });
  // Whatever happens below, the stream is torn down in this order: cancel
  // (unless the aggregator already ended it: then its status is the news),
  // let the reader see the end, then Finish for the status.
  auto finish = [&](absl::Status why) {
    bool ended_by_peer;
    {
      absl::MutexLock lock(&ack_mu);
      ended_by_peer = stream_ended;
    }
    if (!ended_by_peer) context.TryCancel();
    reader.join();
    clear_context();
    grpc::Status status = stream->Finish();
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      return FromGrpc(status, "aggregator");
    }
    return why;
  };

  v1::AgentMessage hello;
  hello.mutable_hello()->set_node(options_.node);
  hello.mutable_hello()->set_agent_version(options_.agent_version);
  hello.mutable_hello()->set_agent_instance(journal_->instance());
  hello.mutable_hello()->set_kernel(options_.kernel);
  hello.mutable_hello()->set_remediation_enabled(remediation_->enabled());
  hello.mutable_hello()->set_remediation_refusal(remediation_->refusal());
  if (!stream->Write(hello)) {
    return finish(absl::UnavailableError(
        absl::StrCat("cannot open stream to ", endpoint.target)));
  }
  const absl::Duration ack_timeout = AckTimeout(options_);
  {
    const absl::Time deadline = options_.clock->Now() + ack_timeout;
    auto acked = [&]() ABSL_SHARED_LOCKS_REQUIRED(ack_mu) {
      return hello_acked || stream_ended;
    };
    bool answered;
    {
      absl::MutexLock lock(&ack_mu);
      while (!acked() && options_.clock->Now() < deadline && !stopped()) {
        ack_mu.AwaitWithTimeout(absl::Condition(&acked),
                                absl::Milliseconds(200));
      }
      answered = hello_acked;
    }
    // finish() takes ack_mu itself: call it without holding it.
    if (!answered) {
      return finish(absl::DeadlineExceededError("no answer to hello"));
    }
  }
  uint64_t sent_upto;
  {
    absl::MutexLock lock(&ack_mu);
    sent_upto = resume_from;
  }
  GP_LOG_INFO(
      "streaming to {} as node {} (instance {}, resuming after "
      "address event {})",
      endpoint.target, options_.node, journal_->instance(), sent_upto);

  // The aggregator may have missed detaches while we were apart: an
  // inventory of what we hold now lets it close the rest.
  SnapshotIfDue();
  if (have_observation_) {
    if (absl::Status s =
            journal_->Append({tracker_.Inventory(options_.clock->Now())});
        !s.ok()) {
      GP_LOG_ERROR("journal append failed: {}", s.ToString());
    }
  }

  while (true) {
    if (absl::Status sent = SendOutcomes(*stream); !sent.ok()) {
      return finish(sent);
    }
    if (absl::Status sent = SendPendingEvents(*stream, sent_upto); !sent.ok()) {
      return finish(sent);
    }
    std::optional<v1::SocketSnapshot> message;
    {
      absl::MutexLock lock(&mu_);
      if (latest_.has_value()) {
        message = encoder_.Encode(*latest_);
        latest_.reset();
        ++stats_.snapshots_sent;
        if (message->full()) ++stats_.full_snapshots_sent;
      }
    }
    if (message.has_value()) {
      v1::AgentMessage out;
      *out.mutable_socket_snapshot() = std::move(*message);
      if (!stream->Write(out)) {
        return finish(
            absl::UnavailableError("stream closed while sending a snapshot"));
      }
    }
    absl::Status ended;
    {
      absl::MutexLock lock(&ack_mu);
      if (stream_ended) {
        ended = absl::UnavailableError("aggregator closed the stream");
      } else if (options_.clock->Now() - last_ack > ack_timeout) {
        // Every snapshot is acknowledged: silence this long means the
        // aggregator, or the path to it, is gone even if TCP has not noticed.
        ended = absl::DeadlineExceededError(absl::StrCat(
            "no acknowledgement for ", absl::FormatDuration(ack_timeout)));
      }
    }
    if (!ended.ok()) return finish(ended);
    if (!WaitUntil(next_snapshot_)) {
      stream->WritesDone();
      return finish(absl::CancelledError("stopped"));
    }
  }
}

}  // namespace ghostpeer::agent
