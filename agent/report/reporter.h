// The agent's side of the ingest stream.
#ifndef GHOSTPEER_AGENT_REPORT_REPORTER_H_
#define GHOSTPEER_AGENT_REPORT_REPORTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/report/address_tracker.h"
#include "agent/report/delta_encoder.h"
#include "agent/report/event_journal.h"
#include "agent/report/remediation_dispatcher.h"
#include "agent/snapshot_source.h"
#include "common/time_util.h"
#include "ghostpeer/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::agent {

struct ReporterOptions {
  // The aggregators, in order of preference: gRPC targets, "host:port" or
  // dns:/ipv4:/ipv6: (common/endpoint_list.h). The reporter keeps to the
  // one that works and fails over to the next when it breaks. A DNS name
  // with several addresses is one endpoint: gRPC's pick_first tries its
  // addresses in order.
  std::vector<std::string> aggregators = {"127.0.0.1:7070"};
  std::string node;
  std::string agent_version;
  std::string kernel;
  absl::Duration interval = absl::Seconds(5);
  // A full snapshot at least every this many snapshots.
  int full_every = 12;
  // Null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // With TLS credentials: the name the aggregators' certificates must carry
  // when it is not the host of the endpoint (--tls-server-name). Applies to
  // every endpoint, as the credentials and the token do.
  std::string tls_server_name;
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string bearer_token;
  // HTTP/2 pings on an idle stream and how long to wait for their answer:
  // a dead aggregator (or a dead path to it) breaks the stream within about
  // keepalive_time + keepalive_timeout instead of ghosting us.
  absl::Duration keepalive_time = absl::Seconds(10);
  absl::Duration keepalive_timeout = absl::Seconds(5);
  // No acknowledgement for this long on an open stream: reconnect (to the
  // next aggregator when there are several). Also the bound on connecting.
  // Zero: max(3 x interval, 20 s).
  absl::Duration ack_timeout = absl::ZeroDuration();
  // Between rounds in which every aggregator failed (with one aggregator,
  // after each failure); exponential, with jitter.
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  const Clock* clock = Clock::Real();
  // Where remediation orders from the aggregator go, and whether Hello says
  // this agent remediates. Not owned; must outlive the reporter. Null: a
  // disabled dispatcher of the reporter's own refuses every order.
  RemediationDispatcher* remediation = nullptr;
};

struct ReporterStats {
  uint64_t streams_opened = 0;
  uint64_t reconnects = 0;
  uint64_t snapshots_sent = 0;
  uint64_t full_snapshots_sent = 0;
  uint64_t snapshot_errors = 0;
  uint64_t events_sent = 0;
  absl::Time last_ack = absl::InfinitePast();
  absl::Duration last_snapshot_duration;
  uint32_t last_socket_count = 0;
  uint32_t last_namespaces_seen = 0;
  uint32_t last_namespaces_failed = 0;
  // VIP translations of the last snapshot (http::AgentMetricsValues).
  bool last_translations_ok = false;
  uint32_t last_translations = 0;
  uint32_t last_translation_namespaces_failed = 0;
  uint32_t last_ipvs_blackhole_namespaces = 0;
  bool connected = false;
  std::string last_error;
  // The aggregator in use: streaming to it, or trying to.
  std::string endpoint;
  // Moves from one aggregator to another after a failure.
  uint64_t failovers = 0;
  // Rounds in which every aggregator failed one after the other, each
  // followed by a backoff (with one aggregator: every failure).
  uint64_t failed_rounds = 0;
};

// Takes a snapshot every interval and streams it, with the address events of
// the journal, over one long-lived Ingest.Report stream; reconnects with
// exponential backoff and jitter when the stream breaks or goes quiet.
//
// With several aggregators it keeps to the one that works. When its stream
// breaks, goes quiet for ack_timeout, or it cannot be connected to (with
// several, a refused connection fails it at once), the reporter moves to the
// next one at once; it backs off only after every aggregator of a round
// failed in a row. One channel per aggregator, made when first used and kept.
//
// Remediation orders that arrive on the stream go to the dispatcher (never
// executed on the stream's reader thread); their outcomes are sent back on
// the same stream as soon as they are ready.
//
// Per stream: Hello; the aggregator's first Ack says which address events it
// already stored, and everything after it is (re)sent, whichever aggregator
// the stream goes to (replicas share one history, and the journal drops
// nothing until an aggregator acknowledged it); the tracker's
// INVENTORY follows so the aggregator can close what vanished while we were
// away; then a full snapshot, then deltas against the last acknowledged full
// snapshot.
class Reporter {
 public:
  // `snapshots` and `journal` must outlive the reporter; `snapshots` is
  // used from the Run() thread only.
  Reporter(ReporterOptions options, SnapshotSource* snapshots,
           EventJournal* journal);
  ~Reporter();

  // Runs until Stop(). Returns OK after Stop(); errors only for a bad
  // configuration (InvalidArgument).
  absl::Status Run();

  // Ends Run() promptly (bounded by one snapshot). Thread-safe.
  void Stop();

  // New events are in the journal: send them now rather than at the next
  // interval. Thread-safe.
  void Notify();

  ReporterStats stats() const;

 private:
  // One aggregator: its channel and stub, made when first used.
  struct Endpoint {
    std::string target;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::Ingest::Stub> stub;
  };

  // Connects the endpoint's channel (bounded by the ack timeout; with
  // `give_up_on_failure`, also ends when the connection attempt fails).
  // Unavailable if it cannot, Cancelled once stopped.
  absl::Status WaitForChannel(const Endpoint& endpoint,
                              bool give_up_on_failure);
  // One stream's life. Returns why it ended.
  absl::Status RunStream(const Endpoint& endpoint);
  absl::Status SendOutcomes(
      grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>&
          stream);
  absl::Status SendPendingEvents(
      grpc::ClientReaderWriter<v1::AgentMessage, v1::AggregatorMessage>& stream,
      uint64_t& sent_upto);
  // Takes a snapshot when one is due: address changes go to the journal,
  // the snapshot waits in latest_ for the stream.
  void SnapshotIfDue();
  // Sleeps until `deadline`, a Notify() or Stop(), taking snapshots as they
  // fall due. Returns false once stopped.
  bool WaitUntil(absl::Time deadline);
  bool stopped() const;

  const ReporterOptions options_;
  // Used when options_.remediation is null.
  std::unique_ptr<RemediationDispatcher> own_remediation_;
  RemediationDispatcher* const remediation_;
  SnapshotSource* const snapshots_;
  EventJournal* const journal_;
  AddressTracker tracker_;                           // Run() thread only
  bool have_observation_ = false;                    // Run() thread only
  absl::Time next_snapshot_ = absl::InfinitePast();  // Run() thread only

  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  DeltaEncoder encoder_ ABSL_GUARDED_BY(mu_);
  // The latest snapshot, encoded when a stream can take it.
  std::optional<v1::NodeSnapshot> latest_ ABSL_GUARDED_BY(mu_);
  ReporterStats stats_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* active_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Channel arguments for the agent's stream (keepalive on, so a dead peer is
// found). Exposed for tests.
grpc::ChannelArguments ReporterChannelArguments(const ReporterOptions& options);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_REPORT_REPORTER_H_
