// Delivery of finding notifications to Alertmanager and webhooks.
//
// Flow: the Engine's listener hands each FindingEvent to
// Dispatcher::Notify(), which only queues it in memory. An intake thread
// turns OPENED/CLOSED into persisted deliveries (DeliveryStore), one per
// sink, and a Finding.remediation not told before (on an OPENED or UPDATED
// event, or found by Reconcile) into a REMEDIATED one; one worker thread per
// sink claims what is due (DeliveryStore::Claim: once across replicas
// sharing a database) and sends it, retrying failures with backoff.
// Reconcile() (at start
// and every refresh interval) enqueues whatever the Engine knows and the store
// does not — events lost in a crash between the Engine's write and ours — so
// nothing is lost and, with the store's once-only rows, nothing is repeated
// across restarts.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_ALERT_DELIVERY_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_ALERT_DELIVERY_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/alerts/delivery_store.h"
#include "aggregator/alerts/http_poster.h"
#include "aggregator/alerts/retry_policy.h"
#include "common/http/metrics.h"
#include "common/time_util.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::aggregator::alerts {

// A receiver of notifications. Deliver() and Refresh() of one sink are
// called from one thread only (its worker), never concurrently.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Stable across restarts: it keys the persisted deliveries
  // ("alertmanager", "webhook:<url>").
  virtual const std::string& name() const = 0;
  // A short bounded label for metrics ("alertmanager", "webhook0").
  virtual const std::string& metric_label() const = 0;
  // OK once the receiver acknowledged (2xx). Unavailable for transport
  // errors and 5xx/429, FailedPrecondition for other answers; either way it
  // is retried.
  virtual absl::Status Deliver(const Delivery& delivery) = 0;
  // Whether the sink wants Refresh() every refresh interval.
  virtual bool wants_refresh() const { return false; }
  // Re-asserts the currently open findings (Alertmanager forgets alerts
  // that are not re-sent). Best effort: not persisted, not retried.
  virtual absl::Status Refresh(const std::vector<v1::Finding>& open) {
    return absl::OkStatus();
  }
};

// Judges an HTTP answer: OK for 2xx, else an error naming the sink, the
// status and the start of the body. Pure.
absl::Status JudgeResponse(const std::string& sink,
                           const absl::StatusOr<HttpPostResponse>& response);

struct WebhookSinkOptions {
  std::string url;
  // Empty: no signature header (a warning is logged at start).
  std::string secret;
  std::string metric_label = "webhook0";
  absl::Duration timeout = absl::Seconds(5);
  // --external-url: bodies carry the finding's page as "url"; may be empty.
  std::string external_url;
};

// POSTs WebhookBody() with Content-Type application/json, the signature
// header and X-Ghostpeer-Event / X-Ghostpeer-Delivery headers.
class WebhookSink final : public AlertSink {
 public:
  // `poster` must outlive the sink.
  WebhookSink(WebhookSinkOptions options, HttpPoster* poster);
  const std::string& name() const override { return name_; }
  const std::string& metric_label() const override {
    return options_.metric_label;
  }
  absl::Status Deliver(const Delivery& delivery) override;

 private:
  const WebhookSinkOptions options_;
  const std::string name_;
  HttpPoster* const poster_;
};

struct AlertmanagerSinkOptions {
  // Base URL ("http://127.0.0.1:9093") or the full /api/v2/alerts URL.
  std::string url;
  // How often open alerts are re-sent. Alertmanager resolves an alert whose
  // endsAt passed; open alerts are sent with endsAt = now + 4 x this (as
  // Prometheus does), so three lost refreshes in a row are survivable.
  absl::Duration resend_interval = absl::Minutes(1);
  std::string generator_url;
  // --external-url: alerts link to the finding's page there; may be empty.
  std::string external_url;
  absl::Duration timeout = absl::Seconds(5);
  const Clock* clock = Clock::Real();
};

// Alertmanager v2: OPENED and RESOLVED deliveries post the one alert;
// Refresh posts every open one. When a finding's severity changes, its
// label set changes, so the label set sent before is resolved explicitly.
class AlertmanagerSink final : public AlertSink {
 public:
  AlertmanagerSink(AlertmanagerSinkOptions options, HttpPoster* poster);
  const std::string& name() const override { return name_; }
  const std::string& metric_label() const override { return name_; }
  absl::Status Deliver(const Delivery& delivery) override;
  bool wants_refresh() const override { return true; }
  absl::Status Refresh(const std::vector<v1::Finding>& open) override;

 private:
  absl::Status Post(const std::string& payload);

  const AlertmanagerSinkOptions options_;
  const std::string name_ = "alertmanager";
  const std::string alerts_url_;
  HttpPoster* const poster_;
  // Label sets last sent per finding id + episode (worker thread only).
  std::map<std::string, std::map<std::string, std::string>> sent_labels_;
};

struct DispatcherOptions {
  RetryPolicy retry;
  // Reconcile with the Engine, and refresh sinks that want it, this often.
  absl::Duration refresh_interval = absl::Minutes(1);
  // Deliveries claimed per store query.
  int batch = 50;
  // How long a claim keeps other replicas sharing the store off the
  // deliveries it took (DeliveryStore::Claim). A claimed delivery is sent
  // only while at least half of it is left, so a slow batch never sends
  // one whose claim another replica may have taken over; keep it well
  // above the sinks' timeout. A replica that dies holding claims delays
  // their deliveries by at most this.
  absl::Duration claim_lease = absl::Minutes(2);
  // Delivered and abandoned rows are kept this long (then purged).
  absl::Duration keep_finished = absl::Hours(24 * 7);
  const Clock* clock = Clock::Real();
  // Every finding the Engine knows (open and resolved); called from the
  // dispatcher's threads, never from the Engine's listener.
  std::function<std::vector<v1::Finding>()> all_findings;
};

// Owns the sinks and the threads that feed them. Thread-safe.
class Dispatcher {
 public:
  // `store` must outlive the dispatcher; `registry` (nullable) receives the
  // delivery metrics and must outlive it too.
  Dispatcher(DispatcherOptions options, DeliveryStore* store,
             std::vector<std::unique_ptr<AlertSink>> sinks,
             metrics::Registry* registry);
  ~Dispatcher();

  // Reconciles once with all_findings(), then starts the threads.
  // Returns the reconcile error, if any (the threads run anyway: pending
  // deliveries from before are worth sending).
  absl::Status Start();
  // Stops the threads; a delivery in flight finishes (bounded by the sink's
  // timeout). Idempotent.
  void Stop();

  // The Engine listener: queues the event and returns at once.
  void Notify(const v1::FindingEvent& event);

  // Enqueues, for every sink, OPENED for each open finding and RESOLVED for
  // each resolved finding whose OPENED the sink knows, where missing. Pure
  // with respect to the network. Returns the first store error.
  absl::Status Reconcile(const std::vector<v1::Finding>& findings);

  // Events queued in memory and not yet persisted (for /readyz and tests).
  size_t queued() const;

 private:
  struct Worker;
  void IntakeLoop();
  void WorkerLoop(Worker* worker);
  void Persist(const v1::FindingEvent& event);
  // Enqueues a kRemediated delivery of the open `finding` for `sink` when
  // it says what was done, the sink was told of its opening, and this text
  // was not told before (true when a row was added).
  absl::StatusOr<bool> EnqueueRemediated(const std::string& sink,
                                         const v1::Finding& finding,
                                         absl::Time now);
  void Attempt(Worker* worker, const Delivery& delivery);
  void RefreshSink(Worker* worker);
  void WakeWorkers();

  const DispatcherOptions options_;
  DeliveryStore* const store_;
  std::vector<std::unique_ptr<Worker>> workers_;

  mutable absl::Mutex mu_;
  std::deque<v1::FindingEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ = false;
  std::thread intake_;

  metrics::CounterFamily* attempts_ = nullptr;   // {sink, result}
  metrics::CounterFamily* abandoned_ = nullptr;  // {sink}
  metrics::GaugeFamily* pending_ = nullptr;      // {sink}
  metrics::CounterFamily* intake_errors_ = nullptr;
};

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_ALERT_DELIVERY_H_
