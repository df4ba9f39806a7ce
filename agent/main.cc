// ghostpeer-agent: flags -> Options -> Run. Everything else lives in the
// ghostpeer_agent library.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/run_once.h"
#include "agent/tcp_state.h"
#include "common/logging.h"
#include "common/version.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Flags {
  bool once = false;
  std::string output = "table";
  std::string proc_root = "/proc";
  std::string node;
  std::vector<std::string> netns_dirs = {"/var/run/netns",
                                         "/var/run/docker/netns"};
  std::string sort = "send-queue";
  std::vector<std::string> states;
  std::string capture = "netlink";
  bool no_processes = false;
  std::string log_level = "warn";
  bool log_json = false;
};

void DefineFlags(CLI::App& app, Flags& flags) {
  app.add_flag("--once", flags.once,
               "Take one snapshot of every network namespace of this node, "
               "print it and exit");
  app.add_option("-o,--output", flags.output,
                 "Output of --once: 'table' (ss-like, for people) or 'json' "
                 "(proto3 JSON, proto field names)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--proc-root", flags.proc_root,
                 "The host's /proc (e.g. /host/proc when the agent runs in a "
                 "container with the host's /proc mounted there)")
      ->capture_default_str();
  app.add_option("--node", flags.node,
                 "Node name put in every record (default: the host name)");
  app.add_option("--netns-dir", flags.netns_dirs,
                 "Directory of bind-mounted namespace files to include; "
                 "repeatable, replaces the defaults")
      ->capture_default_str();
  app.add_option("--sort", flags.sort,
                 "Table/JSON socket order: send-queue (descending, default), "
                 "recv-queue, backoff, state, local, remote, pid, none")
      ->check(CLI::IsMember({"send-queue", "recv-queue", "backoff", "state",
                             "local", "remote", "pid", "none"}))
      ->capture_default_str();
  app.add_option("--state", flags.states,
                 "Show only sockets in this state (close-wait, established, "
                 "syn-sent, fin-wait-1, listen, ...); repeatable")
      ->check([](const std::string& value) -> std::string {
        if (ghostpeer::agent::ParseTcpStateName(value).has_value()) return "";
        return absl::StrCat("unknown TCP state '", value, "'");
      });
  app.add_option("--capture", flags.capture,
                 "'netlink' (sock_diag, /proc where refused) or 'proc' "
                 "(/proc/<pid>/net/tcp only: no tcp_info)")
      ->check(CLI::IsMember({"netlink", "proc"}))
      ->capture_default_str();
  app.add_flag("--no-processes", flags.no_processes,
               "Skip socket -> process -> container attribution");
  app.add_option("--log-level", flags.log_level,
                 "trace, debug, info, warn, error or off (logs go to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_flag("--log-json", flags.log_json, "Log JSON lines");
}

ghostpeer::agent::OnceOptions ToOnceOptions(const Flags& flags) {
  ghostpeer::agent::OnceOptions options;
  options.snapshotter.node = flags.node;
  options.snapshotter.proc_root = flags.proc_root;
  options.snapshotter.netns_dirs = flags.netns_dirs;
  options.snapshotter.capture = flags.capture == "proc"
                                    ? ghostpeer::agent::CaptureMode::kProcNetTcp
                                    : ghostpeer::agent::CaptureMode::kNetlink;
  options.snapshotter.attribute_processes = !flags.no_processes;
  options.format = flags.output == "json"
                       ? ghostpeer::agent::OutputFormat::kJson
                       : ghostpeer::agent::OutputFormat::kTable;
  options.output.sort = *ghostpeer::agent::ParseSortKey(flags.sort);
  for (const std::string& state : flags.states) {
    options.output.states.push_back(
        *ghostpeer::agent::ParseTcpStateName(state));
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{absl::StrCat(
      "ghostpeer-agent ", ghostpeer::kVersion,
      ": snapshots every TCP socket in every network namespace of this node "
      "(with process, container and interface addresses) to find clients "
      "writing to peers that vanished.")};
  Flags flags;
  DefineFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ghostpeer-agent: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }
  if (!flags.once) {
    std::cerr << "ghostpeer-agent: nothing to do: pass --once (see --help)\n";
    return kExitUsage;
  }

  ghostpeer::LoggingOptions logging;
  logging.level = flags.log_level;
  logging.json = flags.log_json;
  logging.program = "ghostpeer-agent";
  if (absl::Status status = ghostpeer::InitLogging(logging); !status.ok()) {
    std::cerr << "ghostpeer-agent: " << status.message() << "\n";
    return kExitUsage;
  }

  const absl::Status status =
      ghostpeer::agent::RunOnce(ToOnceOptions(flags), std::cout);
  if (!status.ok()) {
    std::cerr << "ghostpeer-agent: " << status.ToString() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}
