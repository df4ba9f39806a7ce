// ghostpeer-aggregator: ingest from agents, address history, detection,
// queries. Flags -> Options -> Run; everything else lives in the library.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aggregator/alerts/alerting.h"
#include "aggregator/auth.h"
#include "aggregator/engine.h"
#include "aggregator/history_store.h"
#include "aggregator/peer_sockets.h"
#include "aggregator/postgres_connection.h"
#include "aggregator/remediation/coordinator.h"
#include "aggregator/remediation/policy.h"
#include "aggregator/remediation/postgres_record_store.h"
#include "aggregator/remediation/record_store.h"
#include "aggregator/replica_directory.h"
#include "aggregator/server.h"
#include "aggregator/web/web_ui.h"
#include "common/credentials.h"
#include "common/flag_checks.h"
#include "common/host_port.h"
#include "common/logging.h"
#include "common/version.h"

namespace ghostpeer::aggregator {
namespace {

struct Options {
  ServerOptions server;
  EngineOptions engine;
  alerts::AlertingOptions alerting;
  remediation::CoordinatorOptions remediation;
  ServerTlsOptions tls;
  std::string token_file;
  std::string node_tokens_file;
  bool insecure = false;
  // --remediation-state: the records' SQLite file; empty: <db>-remediations,
  // or the PostgreSQL --db itself.
  std::string remediation_state;
  // The web page on --http-listen (aggregator/web); its token is the
  // cluster token, read with the others.
  bool web = true;
  web::WebUiOptions web_ui;
  // --replica-poll-interval: Engine::CatchUp's pace with a shared store.
  absl::Duration replica_poll_interval = absl::Seconds(1);
};

// --advertise-address's default: --listen, with this host's name when it
// names every interface (":7070", "0.0.0.0:7070", "[::]:7070"). Replicas
// sharing one port on one host (--share-port; deploy/stack.postgres.yml
// runs them in the node's network namespace) would all get the same name,
// so they get a random suffix each: a replica's name must be its own, or it
// takes another's presence rows for its own.
std::string DefaultReplicaName(const std::string& listen, bool share_port) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(listen, PortUse::kListen);
  std::string name = listen;
  if (parsed.ok() && (parsed->host.empty() || parsed->host == "0.0.0.0" ||
                      parsed->host == "::")) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) {
      name = absl::StrCat(host, ":", parsed->port);
    }
  }
  if (share_port) {
    std::random_device random;
    absl::StrAppend(&name, "/", absl::Hex(random() & 0xffff, absl::kZeroPad4));
  }
  return name;
}

// --peer-listen's default with a PostgreSQL --db: --listen's host (every
// interface stays every interface) on a port the kernel picks, so that
// replicas on one host, even sharing --listen's port, each get their own.
std::string DefaultPeerListen(const std::string& listen) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(listen, PortUse::kListen);
  if (!parsed.ok() || parsed->host.empty()) return ":0";
  return parsed->host.find(':') != std::string::npos
             ? absl::StrCat("[", parsed->host, "]:0")
             : absl::StrCat(parsed->host, ":0");
}

// Where other replicas reach this one's peer port: --peer-listen's host
// when it names one, else the host of --advertise-address (a replica's
// name: HOST:PORT, "/suffix" under --share-port), else this host's name.
std::string PeerAddress(const std::string& peer_listen,
                        const std::string& replica_name, int port) {
  std::string host;
  absl::StatusOr<HostPort> listen =
      ParseHostPort(peer_listen, PortUse::kListen);
  if (listen.ok() && !listen->host.empty() && listen->host != "0.0.0.0" &&
      listen->host != "::") {
    host = listen->host;
  } else {
    absl::StatusOr<HostPort> named = ParseHostPort(
        replica_name.substr(0, replica_name.find('/')), PortUse::kListen);
    if (named.ok() && !named->host.empty() && named->host != "0.0.0.0" &&
        named->host != "::") {
      host = named->host;
    } else {
      char name[256] = {};
      if (gethostname(name, sizeof(name) - 1) == 0) host = name;
    }
  }
  return host.find(':') != std::string::npos
             ? absl::StrCat("[", host, "]:", port)
             : absl::StrCat(host, ":", port);
}

absl::Status Validate(const Options& options) {
  if (options.tls.cert_file.empty() && !options.insecure &&
      !IsLoopbackEndpoint(options.server.listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", options.server.listen,
        " is not loopback and TLS is not configured: anyone who reaches it "
        "could feed or read ghostpeer. Add --insecure to accept that."));
  }
  if (!options.server.peer_listen.empty() &&
      !IsPostgresUri(options.engine.db_path)) {
    return absl::InvalidArgumentError(
        "--peer-listen is for replicas sharing a PostgreSQL --db");
  }
  if (options.tls.cert_file.empty() && !options.insecure &&
      !options.server.peer_listen.empty() &&
      !IsLoopbackEndpoint(options.server.peer_listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--peer-listen ", options.server.peer_listen,
        " is not loopback and TLS is not configured. Add --insecure to "
        "accept that."));
  }
  if (options.engine.retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--retention must be positive");
  }
  if (!options.node_tokens_file.empty() && options.token_file.empty()) {
    return absl::InvalidArgumentError(
        "--node-tokens-file needs --token-file: node tokens cannot query, "
        "the CLI needs the cluster token");
  }
  return absl::OkStatus();
}

// Reads credentials named by the options into `options.server`.
absl::Status LoadCredentials(Options& options) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  options.server.credentials = *credentials;
  if (options.token_file.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> token = ReadTokenFile(options.token_file);
  if (!token.ok()) return token.status();
  options.web_ui.token = *token;
  std::vector<NodeToken> node_tokens;
  if (!options.node_tokens_file.empty()) {
    absl::StatusOr<std::vector<NodeToken>> read =
        ReadNodeTokensFile(options.node_tokens_file);
    if (!read.ok()) return read.status();
    node_tokens = *std::move(read);
  }
  absl::StatusOr<TokenAuthorizer> tokens =
      TokenAuthorizer::Create(*std::move(token), std::move(node_tokens));
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--token-file / --node-tokens-file: ", tokens.status().message()));
  }
  options.server.authorizer = tokens->ForQuery();
  options.server.ingest_authorizer = tokens->ForIngest();
  options.server.node_authorizer = tokens->ForNodes();
  return absl::OkStatus();
}

int Run(Options options) {
  absl::Status valid = Validate(options);
  if (valid.ok()) valid = LoadCredentials(options);
  if (!valid.ok()) {
    std::fprintf(stderr, "ghostpeer-aggregator: %s\n",
                 std::string(valid.message()).c_str());
    return kExitUsage;
  }
  // Signals go to the main thread's sigwait only: block them before any
  // thread (gRPC's included) exists, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (options.engine.replica_name.empty()) {
    options.engine.replica_name =
        DefaultReplicaName(options.server.listen, options.server.share_port);
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options.engine);
  if (!engine.ok()) {
    GP_LOG_ERROR("cannot open the store at {}: {}",
                 RedactStoreLocation(options.engine.db_path),
                 engine.status().ToString());
    return kExitUsage;
  }
  // Remediation records live beside the Engine's file, like alert
  // deliveries; with a PostgreSQL --db, in that database, shared by every
  // replica (one decision per finding across them); --remediation-state
  // names a local file instead.
  absl::StatusOr<std::unique_ptr<remediation::RecordStore>> records;
  std::string records_location = options.remediation_state;
  if (records_location.empty() && IsPostgresUri(options.engine.db_path)) {
    records_location = RedactPostgresUri(options.engine.db_path);
    records = remediation::PostgresRecordStore::Open(options.engine.db_path,
                                                     absl::Now());
  } else {
    if (records_location.empty()) {
      records_location = remediation::RecordStorePath(options.engine.db_path);
    }
    records = remediation::SqliteRecordStore::Open(records_location);
  }
  if (!records.ok()) {
    GP_LOG_ERROR("cannot open the remediation store at {}: {}",
                 records_location, records.status().ToString());
    return kExitUsage;
  }
  options.remediation.retention = options.engine.retention;
  absl::StatusOr<std::unique_ptr<remediation::Coordinator>> coordinator =
      remediation::Coordinator::Create(options.remediation, engine->get(),
                                       *std::move(records));
  if (!coordinator.ok()) {
    GP_LOG_ERROR("remediation: {}", coordinator.status().ToString());
    return kExitUsage;
  }
  options.server.ingest_observer = coordinator->get();
  options.server.remediation = coordinator->get();
  // Replicas sharing a PostgreSQL store ask each other for the sockets of
  // the nodes each serves (peer_sockets.h), on a port of their own.
  std::unique_ptr<ReplicaDirectory> directory;
  std::unique_ptr<GrpcPeerSocketClient> peer_client;
  if (IsPostgresUri(options.engine.db_path)) {
    absl::StatusOr<std::unique_ptr<ReplicaDirectory>> opened =
        ReplicaDirectory::Open(options.engine.db_path,
                               options.engine.replica_name);
    if (!opened.ok()) {
      GP_LOG_ERROR("replica directory: {}", opened.status().ToString());
      return kExitUsage;
    }
    directory = *std::move(opened);
    if (options.server.peer_listen.empty()) {
      options.server.peer_listen = DefaultPeerListen(options.server.listen);
    }
    // The peers' certificates are checked against --tls-ca, and this
    // replica's own certificate is its client certificate (mutual TLS
    // asks for one). Without a CA nothing can check them: no fan-out, the
    // CLI's note says which replica holds the sockets.
    ClientTlsOptions peer_tls;
    if (!options.tls.cert_file.empty()) {
      peer_tls.ca_file = options.tls.client_ca_file;
      peer_tls.cert_file = options.tls.cert_file;
      peer_tls.key_file = options.tls.key_file;
    }
    if (options.tls.cert_file.empty() || !peer_tls.ca_file.empty()) {
      absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
          MakeChannelCredentials(peer_tls);
      if (!credentials.ok()) {
        GP_LOG_ERROR("peer queries: {}", credentials.status().ToString());
        return kExitUsage;
      }
      GrpcPeerSocketClientOptions client;
      client.credentials = *std::move(credentials);
      client.token = options.web_ui.token;  // the cluster token, if any
      client.max_message_bytes = options.server.max_message_bytes;
      ApplyTlsChannelArguments(peer_tls, &client.channel_arguments);
      peer_client = std::make_unique<GrpcPeerSocketClient>(std::move(client));
      options.server.socket_fan_out =
          MakeSocketFanOut(engine->get(), directory.get(), peer_client.get());
    } else {
      GP_LOG_WARN(
          "TLS without --tls-ca: other replicas' certificates cannot be "
          "checked, so ListSockets does not ask them for their nodes' "
          "sockets (it names the replica that holds them)");
    }
  }
  absl::StatusOr<std::unique_ptr<AggregatorServer>> server =
      AggregatorServer::Start(options.server, engine->get());
  if (!server.ok()) {
    GP_LOG_ERROR("{}", std::string(server.status().message()));
    return kExitUsage;
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
  (*coordinator)->Start((*server)->agents());
  GP_LOG_INFO(
      "remediation: {} (at most {} orders per node and {} in all per "
      "minute); records in {}",
      remediation::ModeName(options.remediation.mode),
      options.remediation.rate_limits.per_node_per_minute,
      options.remediation.rate_limits.per_minute, records_location);
  options.alerting.db_path = options.engine.db_path;
  std::unique_ptr<web::WebUi> web_ui;
  if (options.web && !options.alerting.http_listen.empty()) {
    options.web_ui.external_url = options.alerting.external_url;
    web_ui = std::make_unique<web::WebUi>(engine->get(), options.web_ui);
    options.alerting.add_routes = [&web_ui](http::HttpServerOptions* server) {
      web_ui->AddRoutes(server);
    };
    // Room for the page's live streams beside scrapes and page loads.
    options.alerting.http_threads =
        static_cast<int>(options.web_ui.max_streams) + 4;
    if (options.token_file.empty() &&
        !IsLoopbackEndpoint(options.alerting.http_listen)) {
      GP_LOG_WARN(
          "the web page and /api/v1 on {} answer anyone who reaches them "
          "(no --token-file)",
          options.alerting.http_listen);
    }
  }
  absl::StatusOr<std::unique_ptr<alerts::Alerting>> alerting =
      alerts::Alerting::Start(options.alerting, engine->get());
  if (!alerting.ok()) {
    GP_LOG_ERROR("alerting: {}", alerting.status().ToString());
    return kExitUsage;
  }
  if ((*alerting)->http_port() != 0) {
    GP_LOG_INFO("metrics on http://{} (port {})", options.alerting.http_listen,
                (*alerting)->http_port());
    if (web_ui) {
      GP_LOG_INFO("web page on http://{}/ (port {}){}",
                  options.alerting.http_listen, (*alerting)->http_port(),
                  options.token_file.empty() ? "" : "; log in with the token");
    }
  }
  GP_LOG_INFO("ghostpeer-aggregator {} listening on {} (port {}), store {}",
              kVersion, options.server.listen, (*server)->port(),
              RedactStoreLocation(options.engine.db_path));

  absl::Notification stopping;
  std::thread housekeeping([&] {
    while (!stopping.WaitForNotificationWithTimeout(absl::Seconds(2))) {
      if (absl::Status s = (*engine)->Tick(); !s.ok()) {
        GP_LOG_WARN("housekeeping: {}", s.ToString());
      }
    }
  });

  // Replicas sharing a PostgreSQL store say where they answer each other.
  std::thread heartbeat;
  if (directory != nullptr) {
    const std::string peer_address =
        PeerAddress(options.server.peer_listen, options.engine.replica_name,
                    (*server)->peer_port());
    GP_LOG_INFO("replica {}: answers other replicas on {} (--peer-listen {})",
                options.engine.replica_name, peer_address,
                options.server.peer_listen);
    heartbeat = std::thread([&, peer_address] {
      absl::Status previous = absl::OkStatus();
      do {
        absl::Status beat = directory->Heartbeat(peer_address);
        if (!beat.ok() && previous.ok()) {
          GP_LOG_WARN("replica directory: {}", beat.ToString());
        }
        previous = beat;
      } while (!stopping.WaitForNotificationWithTimeout(kReplicaHeartbeat));
    });
  }

  // Replicas sharing a PostgreSQL store take in each other's writes.
  std::thread catch_up;
  if (IsPostgresUri(options.engine.db_path)) {
    GP_LOG_INFO("replica {}: taking in other aggregators' writes every {}",
                options.engine.replica_name,
                absl::FormatDuration(options.replica_poll_interval));
    catch_up = std::thread([&] {
      absl::Status previous = absl::OkStatus();
      while (!stopping.WaitForNotificationWithTimeout(
          options.replica_poll_interval)) {
        absl::Status caught = (*engine)->CatchUp();
        // Logged when it starts failing and when it recovers, not every
        // second of an outage.
        if (!caught.ok() && previous.ok()) {
          GP_LOG_WARN("shared store: {}", caught.ToString());
        } else if (caught.ok() && !previous.ok()) {
          GP_LOG_INFO("shared store readable again");
        }
        previous = caught;
      }
    });
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  GP_LOG_INFO("signal {} received; shutting down", signal_number);
  stopping.Notify();
  housekeeping.join();
  if (catch_up.joinable()) catch_up.join();
  if (heartbeat.joinable()) heartbeat.join();
  (*server)->Shutdown(absl::Seconds(2));
  (*coordinator)->Stop();
  (*alerting)->Stop();
  return kExitOk;
}

}  // namespace
}  // namespace ghostpeer::aggregator

namespace {

// "168h", "5m": a positive absl duration; a CLI11 validator.
std::string CheckDuration(const std::string& value) {
  absl::Duration parsed;
  if (absl::ParseDuration(value, &parsed) && parsed > absl::ZeroDuration()) {
    return "";
  }
  return absl::StrCat("'", value, "' is not a positive duration (168h, 5m)");
}

// A count or size limit: a whole number >= 1; a CLI11 validator.
std::string CheckLimit(const std::string& value) {
  uint64_t parsed = 0;
  if (absl::SimpleAtoi(value, &parsed) && parsed >= 1) return "";
  return absl::StrCat("'", value, "' is not a whole number >= 1");
}

absl::Duration Duration(const std::string& text) {
  absl::Duration parsed;
  (void)absl::ParseDuration(text, &parsed);  // validated by CheckDuration
  return parsed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{absl::StrCat(
      "ghostpeer-aggregator ", ghostpeer::kVersion,
      ": receives socket snapshots and address events from ghostpeer agents, "
      "keeps the history of who held which address, and reports clients "
      "still writing to vanished peers. Query it with `ghostpeer findings`.")};
  app.footer(ghostpeer::kDaemonExitStatusHelp);
  ghostpeer::aggregator::Options options;
  std::string retention = "168h";
  std::string node_stale_after = "5m";
  std::string replica_poll_interval = "1s";
  std::string log_level = "info";
  std::string remediation_mode = "dry-run";
  bool log_json = false;
  app.add_option("--listen", options.server.listen,
                 "gRPC address HOST:PORT for agents (Ingest) and the CLI "
                 "(Query). Without TLS only a loopback address is accepted "
                 "unless --insecure")
      ->check(ghostpeer::CheckListenAddress)
      ->capture_default_str();
  app.add_flag("--share-port", options.server.share_port,
               "Let other aggregators on this host listen on the same "
               "--listen and --http-listen ports (SO_REUSEPORT): the kernel "
               "hands each new connection to one of them, and when one exits "
               "its agents reconnect to another. Only for replicas sharing "
               "one PostgreSQL --db (deploy/stack.postgres.yml); otherwise "
               "a taken port is an error")
      // The stack overlay turns it on without restating the command.
      ->envname("GHOSTPEER_AGGREGATOR_SHARE_PORT");
  app.add_option("--db", options.engine.db_path,
                 "Where address history and findings are kept: a SQLite "
                 "database file (WAL; alert delivery state beside it in "
                 "<db>-alerts; created if missing; ':memory:' keeps nothing "
                 "across restarts), or a PostgreSQL database by libpq URI "
                 "(postgresql://user:password@host:5432/dbname?sslmode=..."
                 "; the schema is created or migrated at start; alert "
                 "delivery state and remediation records are kept there "
                 "too, shared by every aggregator on it)")
      ->check(ghostpeer::CheckNotEmpty)
      ->capture_default_str();
  app.add_option("--retention", retention,
                 "How long ended address ownership intervals and resolved "
                 "findings are kept")
      ->check(CheckDuration)
      ->capture_default_str();
  app.add_option("--node-stale-after", node_stale_after,
                 "A node silent this long is shown as stale and its sockets "
                 "leave queries (its findings stay open); a node that said "
                 "hello this long ago and never reported is forgotten")
      ->check(CheckDuration)
      ->capture_default_str();
  app.add_option("--advertise-address", options.engine.replica_name,
                 "With a PostgreSQL --db shared by several aggregators: how "
                 "this replica is named to the others and in `ghostpeer "
                 "nodes -o wide` (SERVED BY); unique per replica. Default "
                 "--listen's HOST:PORT (this host's name for a wildcard "
                 "host), with a random /suffix under --share-port")
      ->envname("GHOSTPEER_AGGREGATOR_ADVERTISE_ADDRESS");
  app.add_option("--peer-listen", options.server.peer_listen,
                 "With a PostgreSQL --db: HOST:PORT where other replicas ask "
                 "this one for the sockets of the nodes it serves (the Query "
                 "service, same TLS and tokens as --listen), registered in "
                 "the database with the host of --advertise-address. Default "
                 "--listen's host on a port the kernel picks (one of its own "
                 "even under --share-port)")
      ->envname("GHOSTPEER_AGGREGATOR_PEER_LISTEN");
  app.add_option("--replica-poll-interval", replica_poll_interval,
                 "With a PostgreSQL --db: how often to take in what other "
                 "aggregators sharing it stored (history, agent seqs, "
                 "findings, which replica serves each node)")
      ->check(CheckDuration)
      ->capture_default_str();
  app.add_option("--http-listen", options.alerting.http_listen,
                 "HOST:PORT for Prometheus /metrics, /healthz and /readyz, "
                 "and the web page with its /api/v1 JSON (e.g. "
                 "0.0.0.0:9470; the --token-file token protects the page); "
                 "empty (the default): no HTTP endpoint")
      ->check(ghostpeer::CheckListenAddressOrOff);
  app.add_option("--external-url", options.alerting.external_url,
                 "URL people reach the web page at (this --http-listen port "
                 "or a proxy in front of it, e.g. https://ghostpeer.example)"
                 ": alerts and webhook bodies link to the finding's page")
      ->check(ghostpeer::CheckNotEmpty);
  bool no_web = false;
  app.add_flag("--no-web", no_web,
               "Do not serve the web page and its /api/v1 JSON on "
               "--http-listen (only /metrics, /healthz, /readyz)");
  app.add_option("--alertmanager-url", options.alerting.alertmanager_url,
                 "Alertmanager base URL (http://host:9093): new and resolved "
                 "findings are pushed to its v2 API")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--webhook-url", options.alerting.webhook_urls,
                 "Webhook URL, repeatable: each new and resolved finding is "
                 "POSTed as JSON, retried with backoff")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--alert-state", options.alerting.delivery_store_path,
                 "SQLite file for alert delivery state (which notifications "
                 "went out), instead of <db>-alerts or, with a PostgreSQL "
                 "--db, instead of that database (then this aggregator "
                 "delivers on its own, not once across replicas)")
      ->check(ghostpeer::CheckNotEmpty)
      ->envname("GHOSTPEER_AGGREGATOR_ALERT_STATE");
  app.add_option("--remediation-state", options.remediation_state,
                 "SQLite file for remediation records (every decision and "
                 "outcome), instead of <db>-remediations or, with a "
                 "PostgreSQL --db, instead of that database (then this "
                 "aggregator decides on its own, not once across replicas)")
      ->check(ghostpeer::CheckNotEmpty)
      ->envname("GHOSTPEER_AGGREGATOR_REMEDIATION_STATE");
  app.add_option("--replica-id", options.alerting.replica_id,
                 "This aggregator's name in the alert delivery claims it "
                 "holds in a shared PostgreSQL --db (operators read it in "
                 "delivery_outbox.claimed_by); unique per running "
                 "aggregator; default: hostname:pid:random (with a SQLite "
                 "--db: hostname)")
      ->check(ghostpeer::CheckNotEmpty)
      // deploy/stack.postgres.yml names each replica by its task.
      ->envname("GHOSTPEER_AGGREGATOR_REPLICA_ID");
  app.add_option("--webhook-secret-file", options.alerting.webhook_secret_file,
                 "File holding the HMAC-SHA256 key for the "
                 "X-Ghostpeer-Signature header of webhook deliveries")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--tls-cert", options.tls.cert_file,
                 "Server certificate chain (PEM): serve gRPC over TLS")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--tls-key", options.tls.key_file, "Server private key (PEM)")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--tls-ca", options.tls.client_ca_file,
                 "CA (PEM) client certificates must chain to: mutual TLS; "
                 "agents and CLIs without a valid certificate are refused")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--token-file", options.token_file,
                 "File holding the cluster bearer token: every agent and CLI "
                 "call must carry it, or a node token")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option(
         "--node-tokens-file", options.node_tokens_file,
         "File of tokens bound to node names, one `TOKEN NODE_PATTERN...` per "
         "line ('#' comments; patterns are globs: node-1, worker-*). A node "
         "token may only report (Ingest), as a node its patterns match; "
         "queries and other nodes get PERMISSION_DENIED. Needs --token-file")
      ->check(ghostpeer::CheckNotEmpty);
  app.add_option("--max-nodes", options.engine.ingest_limits.max_nodes,
                 "Nodes known at once; a new node past it is refused "
                 "(RESOURCE_EXHAUSTED), reporting nodes are never evicted. A "
                 "node that said hello and never reported is forgotten after "
                 "--node-stale-after")
      ->check(CheckLimit)
      ->capture_default_str();
  app.add_option("--max-sockets-per-node",
                 options.engine.ingest_limits.max_sockets_per_node,
                 "Sockets one node's current view may hold; a snapshot "
                 "making more is refused whole (RESOURCE_EXHAUSTED)")
      ->check(CheckLimit)
      ->capture_default_str();
  app.add_option("--max-socket-bytes",
                 options.engine.ingest_limits.max_socket_bytes,
                 "Socket state all nodes together may hold (8GiB, 500MB), "
                 "counted as the serialized size of each node's last full "
                 "snapshot and delta (gauge ghostpeer_socket_state_bytes); "
                 "memory in use is about 4x that. A snapshot crossing it "
                 "is refused whole (RESOURCE_EXHAUSTED)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CheckLimit)
      ->capture_default_str();
  app.add_option(
         "--remediation", remediation_mode,
         "What to do about a client writing into a ghost: 'off' decides "
         "nothing and refuses `ghostpeer remediate`; 'dry-run' "
         "records what it would destroy and touches nothing (a person's "
         "`ghostpeer remediate` still acts); 'auto' has the client node's "
         "agent (started with --remediation) destroy the socket of a "
         "confirmed vanished peer that still carries data, so the client "
         "gets an error at once instead of after ~15 minutes of retries. "
         "Never touched: close-wait writers, loopback, reassigned peers "
         "(unless the service is labelled ghostpeer.remediation=auto), "
         "nodes whose report is older than 3 intervals, peers whose "
         "departure nobody saw. A service's ghostpeer.remediation label "
         "(auto|dry-run|off) overrides this, except 'off' here, which wins. "
         "Records: <db>-remediations, `ghostpeer remediations`")
      ->check(CLI::IsMember({"off", "dry-run", "auto"}))
      ->capture_default_str()
      // Also from the environment, so that deploy/stack.remediation.yml
      // turns it on without restating the command (which the TLS overlay
      // replaces: compose replaces lists, it does not merge them).
      ->envname("GHOSTPEER_AGGREGATOR_REMEDIATION");
  app.add_option("--remediation-max-per-node-per-minute",
                 options.remediation.rate_limits.per_node_per_minute,
                 "Remediation orders to one node per minute (a minute's "
                 "worth may go at once); more qualifying findings are "
                 "recorded rate_limited and retried as tokens return")
      ->check(CheckLimit)
      ->capture_default_str();
  app.add_option("--remediation-max-per-minute",
                 options.remediation.rate_limits.per_minute,
                 "Remediation orders to all nodes together per minute, so "
                 "a bug or a bad history can never mass-destroy")
      ->check(CheckLimit)
      ->capture_default_str();
  app.add_flag("--insecure", options.insecure,
               "Allow plaintext gRPC on a non-loopback --listen address");
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error or off (logs go to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_flag("--log-json", log_json, "Log one JSON object per line");
  app.set_version_flag(
      "--version", absl::StrCat("ghostpeer-aggregator ", ghostpeer::kVersion));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "ghostpeer-aggregator: " << e.what() << " (see --help)\n";
    return ghostpeer::kExitUsage;
  }
  options.web = !no_web;
  options.alerting.http_share_port = options.server.share_port;
  options.engine.retention = Duration(retention);
  options.engine.node_stale_after = Duration(node_stale_after);
  options.replica_poll_interval = Duration(replica_poll_interval);
  // Checked by IsMember above.
  options.remediation.mode =
      *ghostpeer::aggregator::remediation::ParseMode(remediation_mode);

  ghostpeer::LoggingOptions logging;
  logging.program = "ghostpeer-aggregator";
  logging.level = log_level;
  logging.json = log_json;
  if (absl::Status s = ghostpeer::InitLogging(logging); !s.ok()) {
    std::cerr << "ghostpeer-aggregator: " << s.message() << "\n";
    return ghostpeer::kExitUsage;
  }
  return ghostpeer::aggregator::Run(std::move(options));
}
