#include "aggregator/alerts/alert_delivery.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "aggregator/alerts/alertmanager.h"
#include "aggregator/alerts/webhook.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ghostpeer::aggregator::alerts {

absl::Status JudgeResponse(const std::string& sink,
                           const absl::StatusOr<HttpPostResponse>& response) {
  if (!response.ok()) {
    return absl::UnavailableError(
        absl::StrCat(sink, ": ", response.status().message()));
  }
  if (response->status >= 200 && response->status < 300) {
    return absl::OkStatus();
  }
  std::string excerpt = response->body.substr(0, 200);
  std::replace(excerpt.begin(), excerpt.end(), '\n', ' ');
  const std::string message =
      absl::StrCat(sink, ": HTTP ", response->status, ": ", excerpt);
  if (response->status >= 500 || response->status == 429 ||
      response->status == 408) {
    return absl::UnavailableError(message);
  }
  return absl::FailedPreconditionError(message);
}

WebhookSink::WebhookSink(WebhookSinkOptions options, HttpPoster* poster)
    : options_(std::move(options)),
      name_(absl::StrCat("webhook:", options_.url)),
      poster_(poster) {}

absl::Status WebhookSink::Deliver(const Delivery& delivery) {
  const std::string delivery_id = DeliveryId(delivery);
  absl::StatusOr<std::string> body =
      WebhookBody(delivery.event, delivery_id, delivery.finding,
                  FindingPageUrl(options_.external_url, delivery.finding.id()));
  if (!body.ok()) return body.status();
  std::vector<std::string> headers = {
      "Content-Type: application/json",
      absl::StrCat("X-Ghostpeer-Event: ",
                   std::string(DeliveryEventName(delivery.event))),
      absl::StrCat("X-Ghostpeer-Delivery: ", delivery_id),
  };
  if (!options_.secret.empty()) {
    headers.push_back(absl::StrCat(kSignatureHeader, ": ",
                                   SignatureValue(options_.secret, *body)));
  }
  return JudgeResponse(
      name_, poster_->Post(options_.url, *body, headers, options_.timeout));
}

AlertmanagerSink::AlertmanagerSink(AlertmanagerSinkOptions options,
                                   HttpPoster* poster)
    : options_(std::move(options)),
      alerts_url_(AlertmanagerAlertsUrl(options_.url)),
      poster_(poster) {}

absl::Status AlertmanagerSink::Post(const std::string& payload) {
  return JudgeResponse(name_, poster_->Post(alerts_url_, payload,
                                            {"Content-Type: application/json"},
                                            options_.timeout));
}

absl::Status AlertmanagerSink::Deliver(const Delivery& delivery) {
  const absl::Time now = options_.clock->Now();
  const std::string key =
      absl::StrCat(delivery.finding_id, "/", delivery.episode);
  std::vector<AlertInput> alerts;
  AlertInput alert{delivery.finding, now + 4 * options_.resend_interval, {}};
  if (delivery.event == DeliveryEvent::kResolved) {
    alert.ends_at = delivery.finding.has_resolved_at()
                        ? FromProto(delivery.finding.resolved_at())
                        : now;
    // The finding may have been sent under another severity: resolve that
    // label set too, or it would linger until its own endsAt.
    auto sent = sent_labels_.find(key);
    if (sent != sent_labels_.end() &&
        sent->second != AlertLabels(delivery.finding)) {
      alerts.push_back({delivery.finding, alert.ends_at, sent->second});
    }
  }
  alerts.push_back(alert);
  GHOSTPEER_RETURN_IF_ERROR(Post(AlertmanagerPayload(
      alerts, options_.generator_url, options_.external_url)));
  if (delivery.event == DeliveryEvent::kResolved) {
    sent_labels_.erase(key);
  } else {
    sent_labels_[key] = AlertLabels(delivery.finding);
  }
  return absl::OkStatus();
}

absl::Status AlertmanagerSink::Refresh(const std::vector<v1::Finding>& open) {
  const absl::Time now = options_.clock->Now();
  std::vector<AlertInput> alerts;
  std::map<std::string, std::map<std::string, std::string>> sent;
  for (const v1::Finding& finding : open) {
    const std::string key = absl::StrCat(finding.id(), "/", EpisodeOf(finding));
    std::map<std::string, std::string> labels = AlertLabels(finding);
    auto before = sent_labels_.find(key);
    if (before != sent_labels_.end() && before->second != labels) {
      alerts.push_back({finding, now, before->second});  // resolve old set
    }
    alerts.push_back({finding, now + 4 * options_.resend_interval, {}});
    sent[key] = std::move(labels);
  }
  // Alertmanager takes any number per request; chunks keep one request
  // (and one failure) small.
  constexpr size_t kChunk = 200;
  for (size_t i = 0; i < alerts.size(); i += kChunk) {
    std::vector<AlertInput> chunk(
        alerts.begin() + i,
        alerts.begin() + std::min(alerts.size(), i + kChunk));
    GHOSTPEER_RETURN_IF_ERROR(Post(AlertmanagerPayload(
        chunk, options_.generator_url, options_.external_url)));
  }
  sent_labels_ = std::move(sent);
  return absl::OkStatus();
}

struct Dispatcher::Worker {
  std::unique_ptr<AlertSink> sink;
  std::thread thread;
  absl::Mutex mu;
  bool wake ABSL_GUARDED_BY(mu) = false;
  absl::Time next_refresh = absl::InfinitePast();  // worker thread only
  // The delay after a delivery's n-th failure (n kept in the store).
  explicit Worker(const BackoffPolicy& policy) : backoff(policy) {}
  Backoff backoff;  // worker thread only
};

Dispatcher::Dispatcher(DispatcherOptions options, DeliveryStore* store,
                       std::vector<std::unique_ptr<AlertSink>> sinks,
                       metrics::Registry* registry)
    : options_(std::move(options)), store_(store) {
  for (auto& sink : sinks) {
    auto worker = std::make_unique<Worker>(options_.retry.backoff);
    worker->sink = std::move(sink);
    workers_.push_back(std::move(worker));
  }
  if (registry == nullptr) return;
  attempts_ = registry->AddCounter(
      "ghostpeer_alert_delivery_attempts_total",
      "Notification delivery attempts, by sink and result (success, "
      "failure).",
      {"sink", "result"});
  abandoned_ = registry->AddCounter(
      "ghostpeer_alert_deliveries_abandoned_total",
      "Notifications given up on after the retry policy's limit.", {"sink"});
  pending_ = registry->AddGauge(
      "ghostpeer_alert_deliveries_pending",
      "Notifications persisted and not yet acknowledged, by sink.", {"sink"});
  intake_errors_ = registry->AddCounter(
      "ghostpeer_alert_intake_errors_total",
      "Finding events that could not be persisted at once (the next "
      "reconcile picks them up).");
  registry->AddCollector([this] {
    absl::StatusOr<std::map<std::string, int64_t>> pending =
        store_->PendingBySink();
    if (!pending.ok()) return;
    std::vector<std::pair<metrics::LabelValues, double>> values;
    for (const auto& worker : workers_) {
      auto it = pending->find(worker->sink->name());
      values.push_back(
          {{worker->sink->metric_label()},
           it == pending->end() ? 0.0 : static_cast<double>(it->second)});
    }
    pending_->ReplaceAll(values);
  });
}

Dispatcher::~Dispatcher() { Stop(); }

absl::Status Dispatcher::Start() {
  absl::Status reconciled = absl::OkStatus();
  if (options_.all_findings) reconciled = Reconcile(options_.all_findings());
  started_ = true;
  intake_ = std::thread([this] { IntakeLoop(); });
  for (auto& worker : workers_) {
    // A sink that wants refreshes gets one at once: after a restart, the
    // open alerts Alertmanager may have expired meanwhile come back now.
    worker->next_refresh = absl::InfinitePast();
    worker->thread = std::thread([this, w = worker.get()] { WorkerLoop(w); });
  }
  return reconciled;
}

void Dispatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  WakeWorkers();
  if (!started_) return;
  intake_.join();
  for (auto& worker : workers_) worker->thread.join();
}

void Dispatcher::Notify(const v1::FindingEvent& event) {
  // An update matters here only when it may say what was done about the
  // finding; Persist keeps one notification per distinct text.
  const bool remediation_update =
      event.type() == v1::UPDATED && !event.finding().remediation().empty();
  if (event.type() != v1::OPENED && event.type() != v1::CLOSED &&
      !remediation_update) {
    return;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push_back(event);
}

size_t Dispatcher::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void Dispatcher::WakeWorkers() {
  for (auto& worker : workers_) {
    absl::MutexLock lock(&worker->mu);
    worker->wake = true;
  }
}

absl::Status Dispatcher::Reconcile(const std::vector<v1::Finding>& findings) {
  const absl::Time now = options_.clock->Now();
  absl::Status first_error = absl::OkStatus();
  auto note = [&first_error](const absl::Status& status) {
    if (!status.ok() && first_error.ok()) first_error = status;
  };
  int added = 0;
  for (const auto& worker : workers_) {
    const std::string& sink = worker->sink->name();
    for (const v1::Finding& finding : findings) {
      if (finding.status() == v1::OPEN) {
        absl::StatusOr<bool> inserted =
            store_->Enqueue(sink, DeliveryEvent::kOpened, finding, now);
        note(inserted.status());
        added += inserted.ok() && *inserted;
        // A remediation decided while a notification was lost (or before
        // a restart) is told now, once.
        absl::StatusOr<bool> remediated = EnqueueRemediated(sink, finding, now);
        note(remediated.status());
        added += remediated.ok() && *remediated;
      } else if (finding.status() == v1::RESOLVED) {
        // A sink is told of a resolution only if it was told of the
        // opening: a first start does not page about last week.
        absl::StatusOr<bool> opened = store_->Known(
            sink, finding.id(), EpisodeOf(finding), DeliveryEvent::kOpened);
        note(opened.status());
        if (!opened.ok() || !*opened) continue;
        absl::StatusOr<bool> inserted =
            store_->Enqueue(sink, DeliveryEvent::kResolved, finding, now);
        note(inserted.status());
        added += inserted.ok() && *inserted;
      }
    }
  }
  if (added > 0) {
    GP_LOG_INFO("alerts: reconcile queued {} notification(s) the store lacked",
                added);
    WakeWorkers();
  }
  return first_error;
}

absl::StatusOr<bool> Dispatcher::EnqueueRemediated(const std::string& sink,
                                                   const v1::Finding& finding,
                                                   absl::Time now) {
  const std::string change = RemediationChange(finding);
  if (change.empty() || finding.status() != v1::OPEN) return false;
  // Only a sink told of the opening hears what was done about it; a
  // resolved finding's RESOLVED carries its remediation instead.
  GHOSTPEER_ASSIGN_OR_RETURN(
      bool opened, store_->Known(sink, finding.id(), EpisodeOf(finding),
                                 DeliveryEvent::kOpened));
  if (!opened) return false;
  return store_->Enqueue(sink, DeliveryEvent::kRemediated, finding, now,
                         change);
}

void Dispatcher::Persist(const v1::FindingEvent& event) {
  const absl::Time now = options_.clock->Now();
  const v1::Finding& finding = event.finding();
  for (const auto& worker : workers_) {
    const std::string& sink = worker->sink->name();
    absl::Status status;
    if (event.type() == v1::OPENED) {
      status =
          store_->Enqueue(sink, DeliveryEvent::kOpened, finding, now).status();
      if (status.ok()) status = EnqueueRemediated(sink, finding, now).status();
    } else if (event.type() == v1::UPDATED) {
      status = EnqueueRemediated(sink, finding, now).status();
    } else {
      // The intake is FIFO: an OPENED of this episode, if any, is already
      // persisted, so the same rule as Reconcile applies.
      absl::StatusOr<bool> opened = store_->Known(
          sink, finding.id(), EpisodeOf(finding), DeliveryEvent::kOpened);
      if (!opened.ok()) {
        status = opened.status();
      } else if (*opened) {
        status = store_->Enqueue(sink, DeliveryEvent::kResolved, finding, now)
                     .status();
      }
    }
    if (!status.ok()) {
      GP_LOG_WARN("alerts: cannot persist {} of finding {} for {}: {}",
                  v1::FindingEventType_Name(event.type()), finding.id(), sink,
                  status.ToString());
      if (intake_errors_) intake_errors_->Increment({});
    }
  }
}

void Dispatcher::IntakeLoop() {
  absl::Time next_reconcile = options_.clock->Now() + options_.refresh_interval;
  while (true) {
    std::deque<v1::FindingEvent> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(1));
      if (stopping_) return;
      batch.swap(queue_);
    }
    for (const v1::FindingEvent& event : batch) Persist(event);
    if (!batch.empty()) WakeWorkers();
    // The periodic reconcile catches what a failed Persist (or a crash)
    // dropped; it is idempotent, so running it often costs only reads.
    if (options_.all_findings && options_.clock->Now() >= next_reconcile) {
      if (absl::Status s = Reconcile(options_.all_findings()); !s.ok()) {
        GP_LOG_WARN("alerts: reconcile: {}", s.ToString());
      }
      next_reconcile = options_.clock->Now() + options_.refresh_interval;
    }
  }
}

void Dispatcher::Attempt(Worker* worker, const Delivery& delivery) {
  AlertSink& sink = *worker->sink;
  const absl::Status delivered = sink.Deliver(delivery);
  const absl::Time now = options_.clock->Now();
  if (attempts_) {
    attempts_->Increment(
        {sink.metric_label(), delivered.ok() ? "success" : "failure"});
  }
  absl::Status recorded;
  if (delivered.ok()) {
    recorded = store_->MarkDelivered(delivery.id, now);
    GP_LOG_DEBUG("alerts: {} {} delivered to {}",
                 std::string(DeliveryEventName(delivery.event)),
                 delivery.finding_id, sink.name());
  } else if (now - delivery.created >= options_.retry.give_up_after) {
    recorded = store_->MarkAbandoned(delivery.id, now,
                                     std::string(delivered.message()));
    if (abandoned_) abandoned_->Increment({sink.metric_label()});
    GP_LOG_ERROR(
        "alerts: giving up on {} of finding {} for {} after {} "
        "attempts: {}",
        std::string(DeliveryEventName(delivery.event)), delivery.finding_id,
        sink.name(), delivery.attempts + 1, delivered.ToString());
  } else {
    const int failures = delivery.attempts + 1;
    const absl::Duration delay = worker->backoff.DelayAfter(failures);
    recorded = store_->MarkFailed(delivery.id, failures, now + delay,
                                  std::string(delivered.message()));
    GP_LOG_WARN(
        "alerts: {} of finding {} to {} failed (attempt {}), retry "
        "in {}: {}",
        std::string(DeliveryEventName(delivery.event)), delivery.finding_id,
        sink.name(), failures, absl::FormatDuration(delay),
        std::string(delivered.message()));
  }
  if (absl::IsAborted(recorded)) {
    // Our claim ended before the answer came and another replica holds the
    // row now: it decides what comes next.
    GP_LOG_WARN("alerts: {}", recorded.ToString());
  } else if (!recorded.ok()) {
    // The row stays pending: it will be sent again, which receivers can
    // tell by delivery_id. Better twice than never.
    GP_LOG_WARN("alerts: recording a delivery to {}: {}", sink.name(),
                recorded.ToString());
  }
}

void Dispatcher::RefreshSink(Worker* worker) {
  if (!options_.all_findings) return;
  std::vector<v1::Finding> open;
  for (v1::Finding& finding : options_.all_findings()) {
    if (finding.status() != v1::OPEN) continue;
    // A resolution already persisted wins over a listing taken just before
    // it: re-asserting the alert would re-fire it.
    absl::StatusOr<bool> resolved =
        store_->Known(worker->sink->name(), finding.id(), EpisodeOf(finding),
                      DeliveryEvent::kResolved);
    if (resolved.ok() && *resolved) continue;
    open.push_back(std::move(finding));
  }
  if (absl::Status s = worker->sink->Refresh(open); !s.ok()) {
    GP_LOG_WARN("alerts: refreshing {} open alert(s) in {}: {}", open.size(),
                worker->sink->name(), s.ToString());
  }
}

void Dispatcher::WorkerLoop(Worker* worker) {
  const std::string& sink = worker->sink->name();
  absl::Time next_purge = absl::InfinitePast();
  auto stopping = [this] {
    absl::MutexLock lock(&mu_);
    return stopping_;
  };
  while (!stopping()) {
    absl::Time now = options_.clock->Now();
    // Every replica sharing a database re-asserts the open alerts, not only
    // one holding an advisory lock: Alertmanager deduplicates identical
    // alerts by their labels (as with a Prometheus HA pair), so N replicas
    // cost N small posts a minute and nothing else, while a lock holder
    // would be one more thing to fail over (and each replica's
    // sent_labels_, which resolves a label set a severity change replaced,
    // stays current only if it refreshes itself). RefreshSink skips
    // findings whose resolution the shared store knows already.
    if (worker->sink->wants_refresh() && now >= worker->next_refresh) {
      RefreshSink(worker);
      worker->next_refresh = now + options_.refresh_interval;
    }
    if (now >= next_purge) {
      absl::StatusOr<int64_t> purged =
          store_->Purge(now - options_.keep_finished);
      if (!purged.ok())
        GP_LOG_WARN("alerts: purge: {}", purged.status().ToString());
      next_purge = now + absl::Hours(1);
    }
    absl::StatusOr<std::vector<Delivery>> due =
        store_->Claim(sink, now, options_.batch, options_.claim_lease);
    if (!due.ok()) {
      GP_LOG_WARN("alerts: claiming deliveries for {}: {}", sink,
                  due.status().ToString());
    } else {
      for (const Delivery& delivery : *due) {
        if (stopping()) return;
        // Past half its lease (a batch of slow sends), another replica may
        // claim it soon: left to the next round, claimed anew.
        if (options_.clock->Now() + options_.claim_lease / 2 >=
            delivery.claimed_until) {
          continue;
        }
        Attempt(worker, delivery);
      }
      if (static_cast<int>(due->size()) == options_.batch) continue;
    }
    // Sleep until the next retry is due, the next refresh, or a wake-up
    // (new deliveries, Stop); at most a few seconds, so a store error or a
    // clock step never stalls delivery for long.
    absl::Time wake_at = now + absl::Seconds(5);
    if (worker->sink->wants_refresh()) {
      wake_at = std::min(wake_at, worker->next_refresh);
    }
    absl::StatusOr<std::optional<absl::Time>> next = store_->NextDue(sink);
    if (next.ok() && next->has_value()) wake_at = std::min(wake_at, **next);
    const absl::Duration wait =
        std::max(wake_at - options_.clock->Now(), absl::ZeroDuration());
    absl::MutexLock lock(&worker->mu);
    auto woken = [worker]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(worker->mu) {
      return worker->wake;
    };
    worker->mu.AwaitWithTimeout(absl::Condition(&woken), wait);
    worker->wake = false;
  }
}

}  // namespace ghostpeer::aggregator::alerts
