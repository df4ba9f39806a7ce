// `ghostpeer`, the command line for people and scripts: parses the command
// line, talks to the aggregator, prints, and returns the exit code. main.cc
// only adds signal handling; tests call RunCli() directly.
#ifndef GHOSTPEER_CLI_CLI_H_
#define GHOSTPEER_CLI_CLI_H_

#include <optional>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "cli/stop_signal.h"
#include "common/time_util.h"

namespace ghostpeer::cli {

// What the process environment supplies, made explicit so tests control it.
struct CliEnvironment {
  const Clock* clock = Clock::Real();
  // Times are printed in this zone.
  absl::TimeZone zone = absl::UTCTimeZone();
  // $GHOSTPEER_SERVER: the default for --server when set and not empty.
  std::optional<std::string> server_from_env;
  // Stops `watch` (exit 0) or interrupts a query (exit 130). May be null.
  StopSignal* stop = nullptr;
};

// The real environment: the local time zone and $GHOSTPEER_SERVER.
CliEnvironment ProcessEnvironment();

// Runs `ghostpeer` with `argv` (argv[0] is the program name). Results go to
// `out`; diagnostics go to `err`, at most one line for any failure. Returns
// 0 on success, 1 when `check` finds open findings, 2 on any error (bad
// flag, unreachable aggregator, refused credentials), 130 when a query was
// interrupted. Safe to call repeatedly; not concurrently (it configures
// gRPC's process-wide logging).
int RunCli(int argc, const char* const* argv, std::ostream& out,
           std::ostream& err, const CliEnvironment& env);

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_CLI_H_
