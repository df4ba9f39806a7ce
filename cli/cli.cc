#include "cli/cli.h"

#include <cstdlib>
#include <functional>
#include <memory>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/flag_values.h"
#include "common/credentials.h"
#include "common/endpoint_list.h"
#include "common/flag_checks.h"
#include "common/status_macros.h"
#include "common/version.h"

namespace ghostpeer::cli {
namespace {

constexpr char kDefaultServer[] = "127.0.0.1:7070";

struct GlobalFlags {
  std::string server;
  std::string output = "table";
  std::string timeout = "10s";
  std::string token_file;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  bool verbose = false;
};

struct FilterFlags {
  std::string node;
  std::string service;
  std::string kind;
  std::string severity;
  std::string status;
};

struct SocketFlags {
  std::string peer;
  std::string state;
  std::string node;
  uint32_t limit = 0;
};

struct RemediationFlags {
  std::string finding;
  std::string node;
  uint32_t limit = 0;
};

struct HistoryFlags {
  std::string address;
  std::string at;
  std::string node;
};

// Prefixes a value parser's complaint with the flag it came from.
absl::Status ForFlag(absl::string_view flag, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(flag, ": ", status.message()));
}

absl::StatusOr<v1::ListFindingsRequest> FindingsRequest(
    const FilterFlags& flags) {
  v1::ListFindingsRequest request;
  request.set_node(flags.node);
  request.set_service(flags.service);
  if (!flags.kind.empty()) {
    auto kind = ParseFindingKind(flags.kind);
    if (!kind.ok()) return ForFlag("--kind", kind.status());
    request.set_kind(*kind);
  }
  if (!flags.severity.empty()) {
    auto severity = ParseSeverity(flags.severity);
    if (!severity.ok()) return ForFlag("--severity", severity.status());
    request.set_min_severity(*severity);
  }
  if (!flags.status.empty()) {
    auto status = ParseFindingStatus(flags.status);
    if (!status.ok()) return ForFlag("--status", status.status());
    request.set_status(*status);
  }
  return request;
}

absl::StatusOr<v1::ListSocketsRequest> SocketsRequest(
    const SocketFlags& flags) {
  v1::ListSocketsRequest request;
  if (!flags.peer.empty()) {
    auto peer = ParseIpAddress(flags.peer);
    if (!peer.ok()) return ForFlag("--peer", peer.status());
    request.set_remote_ip(*peer);
  }
  if (!flags.state.empty()) {
    auto state = ParseTcpState(flags.state);
    if (!state.ok()) return ForFlag("--state", state.status());
    request.set_state(*state);
  }
  request.set_node(flags.node);
  request.set_limit(flags.limit);
  return request;
}

absl::StatusOr<ConnectionOptions> ConnectionFrom(const GlobalFlags& flags,
                                                 const CliEnvironment& env) {
  ConnectionOptions options;
  if (!flags.server.empty()) {
    options.server = flags.server;
  } else if (env.server_from_env.has_value() && !env.server_from_env->empty()) {
    options.server = *env.server_from_env;
    // --server is checked as it is parsed; the environment here.
    if (absl::Status valid = ParseEndpointList(options.server).status();
        !valid.ok()) {
      return ForFlag("$GHOSTPEER_SERVER", valid);
    }
  } else {
    options.server = kDefaultServer;
  }
  auto timeout = ParseTimeout(flags.timeout);
  if (!timeout.ok()) return ForFlag("--timeout", timeout.status());
  options.timeout = *timeout;
  options.token_file = flags.token_file;
  options.tls_ca = flags.tls_ca;
  options.tls_cert = flags.tls_cert;
  options.tls_key = flags.tls_key;
  options.tls_server_name = flags.tls_server_name;
  return options;
}

void AddFilterFlags(CLI::App* command, FilterFlags* flags, bool with_status,
                    bool with_severity) {
  command->add_option("--node", flags->node,
                      "Only findings whose client runs on this node");
  command->add_option(
      "--service", flags->service,
      "Only findings whose client belongs to this swarm service");
  command->add_option("--kind", flags->kind,
                      "Only this kind: vanished (nobody holds the peer address "
                      "now), reassigned (someone else does), close-wait-writer "
                      "(peer closed, client keeps writing)");
  if (with_severity) {
    command->add_option("--severity", flags->severity,
                        "Minimum severity: info, warning or critical");
  }
  if (with_status) {
    command->add_option("--status", flags->status,
                        "open (default), resolved, or all");
  }
}

constexpr char kMainFooter[] = R"(
Every command talks to the aggregator's Query service. The aggregator is
--server, else $GHOSTPEER_SERVER, else 127.0.0.1:7070. With several
(--server agg-1:7070,agg-2:7070), a query goes to the next one only when
one cannot be reached (connection refused, or the --timeout passed while
connecting); `remediate` goes on only after a refused connection, which
proves nothing was asked; `watch` moves to the next when its stream breaks.
A DNS name with several addresses is one aggregator: gRPC tries its
addresses in order.

Examples:
  ghostpeer findings                       open findings, worst first
  ghostpeer findings -o json | jq .        the same for scripts
  ghostpeer check --severity critical      exit 1 if anything critical is open
  ghostpeer history 10.0.1.6               who held that address, and when
  ghostpeer watch --service orders         follow findings as they change
  ghostpeer remediate 4f1c0a9e2b7d3c55     end one ghost's silent loss now

Exit codes: 0 ok; 1 `check` found open findings; 2 error (bad flag,
unreachable aggregator, refused credentials); 3 `remediate` was refused;
130 interrupted.
)";

constexpr char kFindingsFooter[] = R"(
Lists clients still talking to peer addresses nobody (or somebody else) holds.
The table shows who the client is, the peer, who held the peer and how long
ago it left, the socket's state and send queue, the bytes at risk (written,
never to be read by any application) and how long the finding has been open.
A one-line story per finding follows the table. -o wide adds finding ids, the
local side, the namespace, the container id and tcp_info (backoff, unacked,
rto, time since the last ACK); -o json prints {"findings":[...]} with the
field names of docs/DESIGN.md.

Examples:
  ghostpeer findings --severity critical
  ghostpeer findings --service orders --status all -o wide
  ghostpeer findings --kind vanished -o json
)";

constexpr char kSocketsFooter[] = R"(
Lists the sockets the agents last reported (TCP, and connected UDP: state
"UDP"), like `ss` for the whole cluster: client, process, both ends, state,
queues, retransmission backoff, unacknowledged segments and time since the
last ACK. A socket to a VIP whose translation the agent found shows where
it really goes: "10.0.1.2:5432 -> 10.0.1.6:5432"; --peer matches either.

Examples:
  ghostpeer sockets --peer 10.0.1.6
  ghostpeer sockets --state close-wait --node node-3 -o wide
)";

constexpr char kHistoryFooter[] = R"(
Shows every interval during which someone held ADDRESS (owner, kind, scope,
node, network, from, until), then draws them on one time axis with a
"nobody" row for the gaps: the window in which writes to ADDRESS reached no
one. SCOPE is "cluster" (overlay: one holder in the swarm), "node" (bridge
and other node-local networks: every node may hand the address out again,
so two nodes' holdings are two addresses) or "unscoped" (an agent older
than scopes; read as cluster-wide). --node NODE keeps what a client on NODE
reaches, as the detector resolves it: cluster-wide holdings and NODE's own
node-local ones.
TIME is RFC 3339 (2026-11-23T19:00:00Z), Unix seconds, or relative (-5m).
The aggregator keeps history for a limited time; asking before it says so.

Examples:
  ghostpeer history 10.0.1.6
  ghostpeer history 10.0.1.6 --at -15m
  ghostpeer history 172.18.0.3 --node node-2
)";

constexpr char kNodesFooter[] = R"(
One row per node with an agent: whether its stream is connected, how long ago
it last reported, the lag between its snapshot and the aggregator receiving
it, the agent's version, namespaces seen and failed, sockets, and what the
agent thinks of dockerd. REMEDIATION says whether the agent acts on
remediation orders: "on", or "off: why" (e.g. started without --remediation,
or without CAP_NET_ADMIN). VIPS says whether the agent sees through VIPs (reads
every namespace's conntrack and IPVS translations): "ok", "unavailable: why"
(ghosts behind VIPs go unseen there), or "unknown" (an agent older than
translations). LB BLACKHOLE counts the node's IPVS namespaces that silently
drop connections to a removed backend (expire_nodest_conn=0), of all it has.
)";

constexpr char kRemediateFooter[] = R"(
Asks the aggregator to end one finding's silent loss now: the agent on the
client's node destroys the client's socket (SOCK_DESTROY, as `ss -K`), so the
client's next write fails at once (ECONNABORTED) and its own reconnect logic
runs, instead of the kernel retrying into the void for about 15 minutes.

The same guards as automatic remediation apply, and the aggregator says
which one refused:
  - only a confirmed vanished peer, or a reassigned one whose service opted
    in (label ghostpeer.remediation=auto); never a close-wait writer to a
    live peer, never loopback;
  - never on a stale report (the node silent for 3 intervals), nor when the
    peer's departure rests only on absence of evidence;
  - not when remediation is off (--remediation off on the aggregator, or the
    service labelled ghostpeer.remediation=off), nor past the rate limits;
  - the agent must run with --remediation, and checks again on the spot that
    the socket is the same one (inode, cookie, 4-tuple) and that nobody on
    its node holds the peer address, before it destroys anything.
The aggregator's own --remediation dry-run does not stop a person's request.

--dry-run goes through every guard and records "would destroy", but touches
nothing. Every decision, refused or not, is recorded: see `ghostpeer
remediations`. When the aggregator has a token, --token-file must give it
(the cluster token: node tokens may not ask). FINDING_ID is the ID column of
`ghostpeer findings -o wide`.

Exit codes: 0 ordered (or would destroy); 3 refused (the reason is printed);
2 error (unknown finding, unreachable aggregator, refused credentials).

Examples:
  ghostpeer remediate 4f1c0a9e2b7d3c55 --dry-run
  ghostpeer remediate 4f1c0a9e2b7d3c55 --token-file /run/secrets/ghostpeer
)";

constexpr char kRemediationsFooter[] = R"(
Lists recorded remediation decisions, newest first: when, the client's node,
the client (service task or container, else its process), the peer judged
(VIP -> backend when translated), the mode that applied (off, dry-run, auto),
who asked ("policy", or "manual: <who>"), the decision (ordered, would
destroy, declined, rate-limited), the agent's outcome (destroyed, already
gone, refused, failed, would destroy; "pending" until it answers) and the
detail (the guard that declined, the agent's reason, the errno). -o wide adds
the record and finding ids, sends and when the outcome arrived; -o json
prints {"remediations":[...]} with the field names of docs/DESIGN.md.

Examples:
  ghostpeer remediations
  ghostpeer remediations --finding 4f1c0a9e2b7d3c55 -o wide
  ghostpeer remediations --node node-2 --limit 20 -o json
)";

constexpr char kWatchFooter[] = R"(
Follows finding changes as they happen: first every open finding (OPENED),
then OPENED / UPDATED / CLOSED events, one line each with the story. Ctrl-C
stops it (exit 0). If the aggregator goes away, moves to the next one of
--server at once; once every one failed in a row, reconnects with backoff,
up to --retries times in a row, then exits 2. -o json prints one
FindingEvent object per line.

Examples:
  ghostpeer watch
  ghostpeer watch --severity critical -o json >> findings.log
)";

constexpr char kCheckFooter[] = R"(
For scripts, cron jobs and incident tooling:
  exit 0  no open finding at or above --severity matches
  exit 1  some do (they are listed, one story per line)
  exit 2  the question could not be answered (bad flag, unreachable
          aggregator, refused credentials)

Examples:
  ghostpeer check || page-oncall "ghostpeer: clients writing into the void"
  ghostpeer check --severity warning --service orders
)";

}  // namespace

CliEnvironment ProcessEnvironment() {
  CliEnvironment env;
  env.zone = absl::LocalTimeZone();
  if (const char* server = std::getenv("GHOSTPEER_SERVER"); server != nullptr) {
    env.server_from_env = server;
  }
  return env;
}

int RunCli(int argc, const char* const* argv, std::ostream& out,
           std::ostream& err, const CliEnvironment& env) {
  CLI::App app(
      "ghostpeer finds clients in a Docker Swarm cluster that are still "
      "writing "
      "to TCP peer addresses nobody holds any more.",
      "ghostpeer");
  app.footer(kMainFooter);
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string(kVersion));
  app.get_formatter()->column_width(34);

  GlobalFlags global;
  app.add_option("--server,--aggregator", global.server,
                 "Aggregator HOST:PORT, or several comma-separated, tried in "
                 "order (default $GHOSTPEER_SERVER, else 127.0.0.1:7070)")
      ->check(CheckEndpointList);
  app.add_option("-o,--output", global.output,
                 "table (default), wide, or json");
  app.add_option("--timeout", global.timeout,
                 "Deadline of each query, e.g. 10s (default), 1500ms");
  app.add_option("--token-file", global.token_file,
                 "Send the bearer token in this file with every call")
      ->check(CheckNotEmpty);
  app.add_option("--tls-ca", global.tls_ca,
                 "Use TLS, trusting this CA bundle (PEM) for the aggregator")
      ->check(CheckNotEmpty);
  app.add_option("--tls-cert", global.tls_cert,
                 "Client certificate (PEM) for mutual TLS; needs --tls-key")
      ->check(CheckNotEmpty);
  app.add_option("--tls-key", global.tls_key, "Private key (PEM) of --tls-cert")
      ->check(CheckNotEmpty);
  app.add_option("--tls-server-name", global.tls_server_name,
                 "Name to expect in the aggregator's certificate, when it "
                 "differs from the --server host")
      ->check(CheckNotEmpty);
  app.add_flag("--verbose", global.verbose, "Let gRPC log its own diagnostics");

  FilterFlags findings_flags;
  CLI::App* findings = app.add_subcommand(
      "findings", "List findings: clients writing to ghost peers");
  AddFilterFlags(findings, &findings_flags, /*with_status=*/true,
                 /*with_severity=*/true);
  findings->footer(kFindingsFooter);

  SocketFlags socket_flags;
  CLI::App* sockets = app.add_subcommand("sockets", "List reported sockets");
  sockets->add_option("--peer", socket_flags.peer,
                      "Only sockets whose remote address is IP, or whose "
                      "translation (a VIP's) goes to IP");
  sockets->add_option("--state", socket_flags.state,
                      "Only this TCP state (established, close-wait, ...)");
  sockets->add_option("--node", socket_flags.node, "Only sockets on this node");
  sockets->add_option("--limit", socket_flags.limit,
                      "At most N sockets (default: the aggregator's, 10000)");
  sockets->footer(kSocketsFooter);

  HistoryFlags history_flags;
  CLI::App* history = app.add_subcommand(
      "history", "Who held an address, and when (a timeline)");
  history->add_option("ADDRESS", history_flags.address, "IPv4 or IPv6 address")
      ->required();
  history->add_option("--at", history_flags.at, "Only the owner at TIME");
  history->add_option("--node", history_flags.node,
                      "Only what a client on NODE reaches (cluster-wide and "
                      "NODE's node-local holdings)");
  history->footer(kHistoryFooter);

  CLI::App* nodes =
      app.add_subcommand("nodes", "The agents and how fresh their reports are");
  nodes->footer(kNodesFooter);

  FilterFlags watch_flags;
  int retries = 5;
  CLI::App* watch = app.add_subcommand(
      "watch", "Follow findings as they open, change and close");
  AddFilterFlags(watch, &watch_flags, /*with_status=*/false,
                 /*with_severity=*/true);
  watch->add_option("--retries", retries,
                    "Reconnect attempts in a row before giving up (default 5)");
  watch->footer(kWatchFooter);

  FilterFlags check_flags;
  check_flags.severity = "critical";
  CLI::App* check = app.add_subcommand(
      "check", "Exit 1 if open findings at or above a severity exist, else 0");
  AddFilterFlags(check, &check_flags, /*with_status=*/false,
                 /*with_severity=*/false);
  check->add_option("--severity", check_flags.severity,
                    "Minimum severity: warning or critical (default), or info");
  check->footer(kCheckFooter);

  std::string remediate_finding;
  bool remediate_dry_run = false;
  CLI::App* remediate = app.add_subcommand(
      "remediate",
      "Destroy one ghost finding's socket now, with every guard (see --help)");
  remediate
      ->add_option("FINDING_ID", remediate_finding,
                   "The finding (ID column of `findings -o wide`)")
      ->required();
  remediate->add_flag("--dry-run", remediate_dry_run,
                      "Check every guard and record \"would destroy\"; touch "
                      "nothing");
  remediate->footer(kRemediateFooter);

  RemediationFlags remediation_flags;
  CLI::App* remediations = app.add_subcommand(
      "remediations", "Recorded remediation decisions and their outcomes");
  remediations->add_option("--finding", remediation_flags.finding,
                           "Only decisions about this finding id");
  remediations->add_option("--node", remediation_flags.node,
                           "Only decisions about clients on this node");
  remediations->add_option(
      "--limit", remediation_flags.limit,
      "At most N records, newest first (default 1000, at most 10000)");
  remediations->footer(kRemediationsFooter);

  const auto usage_hint = [&] {
    const auto selected = app.get_subcommands();
    return selected.empty()
               ? std::string("run 'ghostpeer --help'")
               : absl::StrCat("run 'ghostpeer ", selected.front()->get_name(),
                              " --help'");
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0 through CLI11; everything else is one line.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      app.exit(e, out, err);
      return kExitOk;
    }
    // CLI11 reports a mistyped command as a missing one; name it instead.
    if (app.get_subcommands().empty()) {
      for (const std::string& arg : app.remaining()) {
        if (arg.empty() || arg[0] == '-') continue;
        err << "ghostpeer: unknown command '" << arg
            << "': want findings, sockets, history, nodes, watch, check, "
               "remediate or remediations ("
            << usage_hint() << ")\n";
        return kExitError;
      }
    }
    err << "ghostpeer: " << e.what() << " (" << usage_hint() << ")\n";
    return kExitError;
  }

  ConfigureGrpcLogging(global.verbose);
  const auto fail = [&](const absl::Status& status) {
    err << "ghostpeer: " << status.message() << "\n";
    return kExitError;
  };
  const auto bad_flag = [&](const absl::Status& status) {
    err << "ghostpeer: " << status.message() << " (" << usage_hint() << ")\n";
    return kExitError;
  };

  auto format = ParseOutputFormat(global.output);
  if (!format.ok()) return bad_flag(ForFlag("--output", format.status()));
  auto connection_options = ConnectionFrom(global, env);
  if (!connection_options.ok()) return bad_flag(connection_options.status());

  // Validate every flag before dialling, so that a typo is reported as such
  // and not as whatever the aggregator makes of it.
  std::function<absl::StatusOr<int>(const CommandContext&)> command;
  if (findings->parsed()) {
    if (findings_flags.status.empty()) findings_flags.status = "open";
    auto request = FindingsRequest(findings_flags);
    if (!request.ok()) return bad_flag(request.status());
    command = [request = *request](const CommandContext& c) {
      return RunFindings(c, request);
    };
  } else if (sockets->parsed()) {
    auto request = SocketsRequest(socket_flags);
    if (!request.ok()) return bad_flag(request.status());
    command = [request = *request](const CommandContext& c) {
      return RunSockets(c, request);
    };
  } else if (history->parsed()) {
    auto address = ParseIpAddress(history_flags.address);
    if (!address.ok()) return bad_flag(address.status());
    std::optional<absl::Time> at;
    if (!history_flags.at.empty()) {
      auto parsed = ParseTimeFlag(history_flags.at, env.clock->Now());
      if (!parsed.ok()) return bad_flag(ForFlag("--at", parsed.status()));
      at = *parsed;
    }
    command = [address = *address, at,
               node = history_flags.node](const CommandContext& c) {
      return RunHistory(c, address, at, node);
    };
  } else if (nodes->parsed()) {
    command = [](const CommandContext& c) { return RunNodes(c); };
  } else if (watch->parsed()) {
    auto request = FindingsRequest(watch_flags);
    if (!request.ok()) return bad_flag(request.status());
    if (retries < 0) {
      return bad_flag(
          absl::InvalidArgumentError("--retries: must be 0 or more"));
    }
    WatchOptions options;
    options.filter = *request;
    options.max_reconnects = retries;
    connection_options->keepalive_time = absl::Seconds(30);
    command = [options](const CommandContext& c) {
      return RunWatch(c, options);
    };
  } else if (check->parsed()) {
    auto request = FindingsRequest(check_flags);
    if (!request.ok()) return bad_flag(request.status());
    command = [request = *request](const CommandContext& c) {
      return RunCheck(c, request);
    };
  } else if (remediate->parsed()) {
    auto id = ParseFindingId(remediate_finding);
    if (!id.ok()) return bad_flag(id.status());
    command = [id = *id, dry_run = remediate_dry_run](const CommandContext& c) {
      return RunRemediate(c, id, dry_run);
    };
  } else if (remediations->parsed()) {
    v1::ListRemediationsRequest request;
    if (!remediation_flags.finding.empty()) {
      auto id = ParseFindingId(remediation_flags.finding);
      if (!id.ok()) return bad_flag(ForFlag("--finding", id.status()));
      request.set_finding_id(*id);
    }
    request.set_node(remediation_flags.node);
    constexpr uint32_t kMaxLimit = 10000;  // the aggregator's bound
    if (remediation_flags.limit > kMaxLimit) {
      return bad_flag(absl::InvalidArgumentError(
          absl::StrCat("--limit: at most ", kMaxLimit)));
    }
    request.set_limit(remediation_flags.limit);
    command = [request](const CommandContext& c) {
      return RunRemediations(c, request);
    };
  } else {
    return bad_flag(absl::InvalidArgumentError("no command given"));
  }

  auto connection = QueryConnection::Open(*connection_options);
  if (!connection.ok()) return fail(connection.status());
  for (const std::string& endpoint : (*connection)->endpoint_names()) {
    const std::string clear_text =
        ClearTextTokenWarning(endpoint, !connection_options->token_file.empty(),
                              connection_options->uses_tls());
    if (!clear_text.empty()) {
      err << "ghostpeer: warning: " << clear_text << "\n";
    }
  }
  CommandContext context;
  context.connection = connection->get();
  context.format = *format;
  context.clock = env.clock;
  context.zone = env.zone;
  context.out = &out;
  context.err = &err;
  context.stop = env.stop;
  absl::StatusOr<int> code = command(context);
  out.flush();
  if (code.ok()) return *code;
  if (code.status().code() == absl::StatusCode::kCancelled &&
      env.stop != nullptr && env.stop->stopped()) {
    return kExitInterrupted;
  }
  return fail(code.status());
}

}  // namespace ghostpeer::cli
