// ghostpeer-aggregator: ingest from agents, address history, detection,
// queries. Flags -> Options -> Run; everything else lives in the library.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "aggregator/alerts/alerting.h"
#include "aggregator/auth.h"
#include "aggregator/engine.h"
#include "aggregator/server.h"
#include "common/credentials.h"
#include "common/logging.h"
#include "common/version.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "gRPC address (HOST:PORT) for agents (Ingest) and the CLI (Query). "
          "Without TLS only a loopback address is accepted unless --insecure.");
ABSL_FLAG(std::string, db, "ghostpeer.db",
          "SQLite database for address history and findings (WAL); created if "
          "missing. ':memory:' keeps nothing across restarts.");
ABSL_FLAG(absl::Duration, retention, absl::Hours(24 * 7),
          "How long ended address ownership intervals are kept (e.g. 168h).");
ABSL_FLAG(absl::Duration, node_stale_after, absl::Minutes(5),
          "A node that has not reported for this long is shown as stale.");
ABSL_FLAG(std::string, http_listen, "",
          "HOST:PORT for Prometheus /metrics, /healthz and /readyz (e.g. "
          "0.0.0.0:9470); empty: no HTTP endpoint.");
ABSL_FLAG(std::string, alertmanager_url, "",
          "Alertmanager base URL (http://host:9093): new and resolved findings "
          "are pushed to its v2 API.");
ABSL_FLAG(std::vector<std::string>, webhook_url, {},
          "Webhook URL(s), comma-separated: each new and resolved finding is "
          "POSTed as JSON, retried with backoff.");
ABSL_FLAG(std::string, webhook_secret_file, "",
          "File holding the HMAC-SHA256 key for the X-Ghostpeer-Signature "
          "header of webhook deliveries.");
ABSL_FLAG(std::string, tls_cert, "",
          "Server certificate chain (PEM): serve gRPC over TLS.");
ABSL_FLAG(std::string, tls_key, "", "Server private key (PEM).");
ABSL_FLAG(std::string, tls_ca, "",
          "CA (PEM) that client certificates must chain to: mutual TLS, "
          "agents and CLIs without a valid certificate are refused.");
ABSL_FLAG(std::string, token_file, "",
          "File holding a bearer token every agent and CLI call must carry.");
ABSL_FLAG(bool, insecure, false,
          "Allow plaintext gRPC on a non-loopback --listen address.");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error or off.");
ABSL_FLAG(bool, log_json, false, "Log one JSON object per line.");

namespace ghostpeer::aggregator {
namespace {

struct Options {
  ServerOptions server;
  EngineOptions engine;
  alerts::AlertingOptions alerting;
  ServerTlsOptions tls;
  std::string token_file;
  bool insecure = false;
};

bool IsLoopbackListen(const std::string& listen) {
  return absl::StartsWith(listen, "127.") ||
         absl::StartsWith(listen, "localhost:") ||
         absl::StartsWith(listen, "[::1]:");
}

absl::Status Validate(const Options& options) {
  if (options.server.listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen '", options.server.listen, "': want HOST:PORT"));
  }
  if (options.tls.cert_file.empty() && !options.insecure &&
      !IsLoopbackListen(options.server.listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", options.server.listen,
        " is not loopback and TLS is not configured: anyone who reaches it "
        "could feed or read ghostpeer. Add --insecure to accept that."));
  }
  if (options.engine.retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--retention must be positive");
  }
  return absl::OkStatus();
}

// Reads credentials named by the options into `options.server`.
absl::Status LoadCredentials(Options& options) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  options.server.credentials = *credentials;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(options.token_file);
    if (!token.ok()) return token.status();
    options.server.authorizer = BearerTokenAuthorizer(*token);
  }
  return absl::OkStatus();
}

int Run(Options options) {
  absl::Status valid = Validate(options);
  if (valid.ok()) valid = LoadCredentials(options);
  if (!valid.ok()) {
    std::fprintf(stderr, "ghostpeer-aggregator: %s\n",
                 std::string(valid.message()).c_str());
    return 2;
  }
  // Signals go to the main thread's sigwait only: block them before any
  // thread (gRPC's included) exists, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options.engine);
  if (!engine.ok()) {
    GP_LOG_ERROR("cannot open the store at {}: {}", options.engine.db_path,
                 engine.status().ToString());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<AggregatorServer>> server =
      AggregatorServer::Start(options.server, engine->get());
  if (!server.ok()) {
    GP_LOG_ERROR("{}", std::string(server.status().message()));
    return 1;
  }
  if (!options.server.credentials) {
    GP_LOG_WARN("serving plaintext gRPC (no TLS) on {}{}",
                options.server.listen,
                options.insecure ? " (--insecure: not loopback-only)" : "");
  } else {
    GP_LOG_INFO("serving gRPC over TLS{}",
                options.tls.client_ca_file.empty()
                    ? ""
                    : " (client certificates required)");
  }
  if (!options.token_file.empty()) {
    GP_LOG_INFO("every call must carry the bearer token");
  }
  options.alerting.db_path = options.engine.db_path;
  absl::StatusOr<std::unique_ptr<alerts::Alerting>> alerting =
      alerts::Alerting::Start(options.alerting, engine->get());
  if (!alerting.ok()) {
    GP_LOG_ERROR("alerting: {}", alerting.status().ToString());
    return 1;
  }
  if ((*alerting)->http_port() != 0) {
    GP_LOG_INFO("metrics on http://{} (port {})", options.alerting.http_listen,
                (*alerting)->http_port());
  }
  GP_LOG_INFO("ghostpeer-aggregator {} listening on {} (port {}), store {}",
              kVersion, options.server.listen, (*server)->port(),
              options.engine.db_path);

  absl::Notification stopping;
  std::thread housekeeping([&] {
    while (!stopping.WaitForNotificationWithTimeout(absl::Seconds(2))) {
      if (absl::Status s = (*engine)->Tick(); !s.ok()) {
        GP_LOG_WARN("housekeeping: {}", s.ToString());
      }
    }
  });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  GP_LOG_INFO("signal {} received; shutting down", signal_number);
  stopping.Notify();
  housekeeping.join();
  (*server)->Shutdown(absl::Seconds(2));
  (*alerting)->Stop();
  return 0;
}

}  // namespace
}  // namespace ghostpeer::aggregator

int main(int argc, char** argv) {
  // --help lists the flags of this file (absl's default looks for a file
  // named after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "aggregator/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] {
    return absl::StrCat("ghostpeer-aggregator ", ghostpeer::kVersion, "\n");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "ghostpeer-aggregator: receives socket snapshots and address events "
      "from ghostpeer agents, keeps the history of who held which address, "
      "and reports clients still writing to vanished peers.\n\n"
      "  ghostpeer-aggregator --listen 127.0.0.1:7070 --db /var/lib/ghostpeer/"
      "ghostpeer.db\n\nQuery it with `ghostpeer findings`.");
  absl::ParseCommandLine(argc, argv);

  ghostpeer::LoggingOptions logging;
  logging.program = "ghostpeer-aggregator";
  logging.level = absl::GetFlag(FLAGS_log_level);
  logging.json = absl::GetFlag(FLAGS_log_json);
  if (absl::Status s = ghostpeer::InitLogging(logging); !s.ok()) {
    std::fprintf(stderr, "ghostpeer-aggregator: --log_level: %s\n",
                 std::string(s.message()).c_str());
    return 2;
  }

  ghostpeer::aggregator::Options options;
  options.server.listen = absl::GetFlag(FLAGS_listen);
  options.engine.db_path = absl::GetFlag(FLAGS_db);
  options.engine.retention = absl::GetFlag(FLAGS_retention);
  options.engine.node_stale_after = absl::GetFlag(FLAGS_node_stale_after);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.alerting.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.alerting.alertmanager_url = absl::GetFlag(FLAGS_alertmanager_url);
  options.alerting.webhook_urls = absl::GetFlag(FLAGS_webhook_url);
  options.alerting.webhook_secret_file =
      absl::GetFlag(FLAGS_webhook_secret_file);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.token_file = absl::GetFlag(FLAGS_token_file);
  return ghostpeer::aggregator::Run(options);
}
