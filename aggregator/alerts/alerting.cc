#include "aggregator/alerts/alerting.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "aggregator/alerts/postgres_delivery_store.h"
#include "aggregator/alerts/webhook.h"
#include "aggregator/postgres_connection.h"
#include "common/backoff.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace ghostpeer::aggregator::alerts {
namespace {

absl::Status CheckUrl(absl::string_view flag, const std::string& url) {
  if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " '", url, "': want an http:// or https:// URL"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Alerting>> Alerting::Start(
    AlertingOptions options, Engine* engine) {
  if (engine == nullptr || options.clock == nullptr) {
    return absl::InvalidArgumentError("alerting: engine and clock required");
  }
  if (options.resend_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("alerting: resend interval must be > 0");
  }
  GHOSTPEER_RETURN_IF_ERROR(
      ValidateBackoffPolicy(options.retry.backoff, "alert delivery retry"));
  const bool has_sinks =
      !options.alertmanager_url.empty() || !options.webhook_urls.empty();
  if (!options.alertmanager_url.empty()) {
    GHOSTPEER_RETURN_IF_ERROR(
        CheckUrl("--alertmanager-url", options.alertmanager_url));
  }
  for (const std::string& url : options.webhook_urls) {
    GHOSTPEER_RETURN_IF_ERROR(CheckUrl("--webhook-url", url));
  }
  if (!options.external_url.empty()) {
    GHOSTPEER_RETURN_IF_ERROR(CheckUrl("--external-url", options.external_url));
  }
  if (has_sinks && options.db_path.empty() &&
      options.delivery_store_path.empty()) {
    return absl::InvalidArgumentError(
        "alerting: delivery state needs the database path");
  }
  // With a PostgreSQL --db the state is a table there, shared by every
  // replica (once-only across them), unless --alert-state names a local
  // file.
  const bool shared =
      options.delivery_store_path.empty() && IsPostgresUri(options.db_path);
  const std::string store_path = shared ? RedactPostgresUri(options.db_path)
                                 : options.delivery_store_path.empty()
                                     ? DeliveryStorePath(options.db_path)
                                     : options.delivery_store_path;

  std::unique_ptr<Alerting> self(new Alerting());
  self->engine_ = engine;
  self->metrics_ = std::make_unique<AggregatorMetrics>(&self->registry_);
  self->metrics_->CollectFrom(engine, options.clock);

  if (has_sinks) {
    std::string secret;
    if (!options.webhook_secret_file.empty()) {
      GHOSTPEER_ASSIGN_OR_RETURN(
          secret, LoadWebhookSecret(options.webhook_secret_file));
    } else if (!options.webhook_urls.empty()) {
      GP_LOG_WARN(
          "alerts: no --webhook-secret-file: webhook bodies go unsigned, and "
          "receivers cannot tell them from forgeries");
    }
    if (store_path == ":memory:") {
      GP_LOG_WARN(
          "alerts: the database is in memory: a restart forgets which "
          "notifications were delivered and sends open ones again");
    }
    if (shared) {
      GHOSTPEER_ASSIGN_OR_RETURN(
          self->store_,
          PostgresDeliveryStore::Open(options.db_path, options.replica_id,
                                      options.clock->Now()));
    } else {
      GHOSTPEER_ASSIGN_OR_RETURN(
          std::unique_ptr<SqliteDeliveryStore> file,
          SqliteDeliveryStore::Open(store_path, options.replica_id));
      // Older builds kept the state in the Engine's SQLite file.
      int64_t imported = 0;
      if (options.delivery_store_path.empty()) {
        GHOSTPEER_ASSIGN_OR_RETURN(imported, file->ImportFrom(options.db_path));
      }
      if (imported > 0) {
        GP_LOG_INFO("alerts: moved {} delivery record(s) from {} to {}",
                    imported, options.db_path, store_path);
      }
      self->store_ = std::move(file);
    }
    HttpPoster* poster = options.poster;
    if (poster == nullptr) {
      self->owned_poster_ = NewCurlPoster();
      poster = self->owned_poster_.get();
    }
    std::vector<std::unique_ptr<AlertSink>> sinks;
    if (!options.alertmanager_url.empty()) {
      AlertmanagerSinkOptions am;
      am.url = options.alertmanager_url;
      am.resend_interval = options.resend_interval;
      am.generator_url = options.generator_url;
      am.external_url = options.external_url;
      am.timeout = options.post_timeout;
      am.clock = options.clock;
      sinks.push_back(std::make_unique<AlertmanagerSink>(am, poster));
    }
    for (size_t i = 0; i < options.webhook_urls.size(); ++i) {
      WebhookSinkOptions hook;
      hook.url = options.webhook_urls[i];
      hook.secret = secret;
      hook.metric_label = absl::StrCat("webhook", i);
      hook.timeout = options.post_timeout;
      hook.external_url = options.external_url;
      sinks.push_back(std::make_unique<WebhookSink>(hook, poster));
    }
    DispatcherOptions dispatch;
    dispatch.retry = options.retry;
    dispatch.refresh_interval = options.resend_interval;
    dispatch.clock = options.clock;
    dispatch.all_findings = [engine] {
      v1::ListFindingsResponse all = engine->ListFindings({});
      return std::vector<v1::Finding>(all.findings().begin(),
                                      all.findings().end());
    };
    self->dispatcher_ =
        std::make_shared<Dispatcher>(std::move(dispatch), self->store_.get(),
                                     std::move(sinks), &self->registry_);
    // Subscribe before the first reconcile: a change that lands between the
    // two is then seen by at least one of them (both are idempotent).
    std::weak_ptr<Dispatcher> weak = self->dispatcher_;
    self->subscription_ = engine->Subscribe([weak](const v1::FindingEvent& e) {
      if (auto dispatcher = weak.lock()) dispatcher->Notify(e);
    });
    if (absl::Status s = self->dispatcher_->Start(); !s.ok()) {
      GP_LOG_WARN("alerts: first reconcile: {} (retried every {})",
                  s.ToString(), absl::FormatDuration(options.resend_interval));
    }
    GP_LOG_INFO(
        "alerts: delivering to {}{} webhook(s); state in {} (claims as {})",
        options.alertmanager_url.empty()
            ? std::string()
            : absl::StrCat("Alertmanager ", options.alertmanager_url, " and "),
        options.webhook_urls.size(), store_path, self->store_->replica_id());
  }

  if (!options.http_listen.empty()) {
    DeliveryStore* store = self->store_.get();
    http::HttpServerOptions server;
    server.listen = options.http_listen;
    server.threads = options.http_threads;
    server.share_port = options.http_share_port;
    // Ready while the engine's store writes (else agents' address events
    // are refused and findings are not kept) and the delivery store
    // answers.
    server.routes = http::StandardRoutes(&self->registry_, [engine, store] {
      GHOSTPEER_RETURN_IF_ERROR(engine->StoreWritable());
      return store ? store->Ping() : absl::OkStatus();
    });
    if (options.add_routes) options.add_routes(&server);
    GHOSTPEER_ASSIGN_OR_RETURN(self->server_,
                               http::HttpServer::Start(std::move(server)));
    GP_LOG_INFO("http: /metrics, /healthz, /readyz on {}:{}",
                self->server_->host(), self->server_->port());
  }
  return self;
}

Alerting::~Alerting() { Stop(); }

void Alerting::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (dispatcher_) {
    engine_->Unsubscribe(subscription_);
    dispatcher_->Stop();
  }
  if (server_) server_->Stop();
}

}  // namespace ghostpeer::aggregator::alerts
