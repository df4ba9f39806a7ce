// The aggregator's HTTP side in one object: /metrics, /healthz, /readyz,
// and delivery of findings to Alertmanager and webhooks. aggregator/main.cc
// copies its flags into AlertingOptions and calls Alerting::Start().
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_ALERTING_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_ALERTING_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator/alerts/alert_delivery.h"
#include "aggregator/alerts/delivery_store.h"
#include "aggregator/alerts/http_poster.h"
#include "aggregator/alerts/metrics.h"
#include "aggregator/alerts/retry_policy.h"
#include "aggregator/engine.h"
#include "common/http/http_server.h"
#include "common/http/metrics.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::alerts {

struct AlertingOptions {
  // --http-listen: HOST:PORT for /metrics, /healthz, /readyz; empty: none.
  // /readyz answers 503 while Engine::StoreWritable() fails or the
  // delivery store does not answer.
  std::string http_listen;
  // --alertmanager-url: base URL of an Alertmanager; empty: none.
  std::string alertmanager_url;
  // --webhook-url (repeatable).
  std::vector<std::string> webhook_urls;
  // --webhook-secret-file: HMAC key for X-Ghostpeer-Signature; empty: the
  // bodies go unsigned (a warning is logged).
  std::string webhook_secret_file;
  // The Engine's --db: delivery state lives beside it, in
  // DeliveryStorePath(db_path) (moved there from the Engine's file, where
  // older builds kept it).
  std::string db_path;
  // When db_path is a PostgreSQL URI, the state is a table in that
  // database (PostgresDeliveryStore), shared by every replica on it, so a
  // notification goes out once across them.
  // --alert-state: when set, the delivery state's SQLite file instead,
  // used as it is (no "-alerts" suffix, nothing imported from db_path).
  std::string delivery_store_path;
  // --replica-id: this aggregator's name in delivery claims; empty: the
  // store's default (PostgreSQL: DefaultReplicaId(); SQLite: the host).
  std::string replica_id;
  // Open alerts are re-sent to Alertmanager this often (keep it well under
  // Alertmanager's resolve_timeout, 5m by default), and the delivery state
  // is reconciled with the Engine's findings as often.
  absl::Duration resend_interval = absl::Minutes(1);
  RetryPolicy retry;
  absl::Duration post_timeout = absl::Seconds(5);
  // Link in Alertmanager's UI back to something useful; may be empty.
  std::string generator_url;
  // --external-url: where people reach the web page (the --http-listen
  // port, or a proxy in front of it). Set: alerts and webhook bodies link
  // to the finding's page there.
  std::string external_url;
  // Set: the web page (aggregator/web) is served on the HTTP port too,
  // its routes added to the server's; must outlive the Alerting.
  std::function<void(http::HttpServerOptions*)> add_routes;
  // Request threads of the HTTP server: the page's live streams hold one
  // each while open.
  int http_threads = 2;
  // --share-port: replicas listen on the same --http-listen port.
  bool http_share_port = false;
  const Clock* clock = Clock::Real();
  // Null: libcurl. Tests may inject one; it must outlive Alerting.
  HttpPoster* poster = nullptr;
};

// Thread-safe. Destruction stops it.
class Alerting {
 public:
  // Validates the options (InvalidArgument: a URL that is not http(s), a
  // listen address that does not parse, sinks without db_path), reads the
  // webhook secret (its file errors), opens the delivery store (its
  // errors), binds the HTTP server (Unavailable when taken), subscribes to
  // `engine` and starts delivering. `engine` must outlive the Alerting.
  static absl::StatusOr<std::unique_ptr<Alerting>> Start(
      AlertingOptions options, Engine* engine);
  ~Alerting();
  Alerting(const Alerting&) = delete;
  Alerting& operator=(const Alerting&) = delete;

  // The HTTP port (the real one for a :0 listen address); 0 without one.
  int http_port() const { return server_ ? server_->port() : 0; }
  const metrics::Registry& registry() const { return registry_; }

  // Unsubscribes, stops the HTTP server and the delivery threads.
  // Idempotent.
  void Stop();

 private:
  Alerting() = default;

  metrics::Registry registry_;
  std::unique_ptr<AggregatorMetrics> metrics_;
  std::unique_ptr<HttpPoster> owned_poster_;
  std::unique_ptr<DeliveryStore> store_;
  // Shared with the Engine listener, which may run once more after
  // Unsubscribe returns.
  std::shared_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<http::HttpServer> server_;
  Engine* engine_ = nullptr;
  int subscription_ = 0;
  bool stopped_ = false;
};

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_ALERTING_H_
