// The `ghostpeer` commands, each one query (or one stream) against the
// aggregator's Query service, printed for people or machines. Flag parsing
// lives in cli.cc; these take already-validated requests.
#ifndef GHOSTPEER_CLI_COMMANDS_H_
#define GHOSTPEER_CLI_COMMANDS_H_

#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/connection.h"
#include "cli/flag_values.h"
#include "cli/stop_signal.h"
#include "common/time_util.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::cli {

// Exit codes of every command.
inline constexpr int kExitOk = 0;
// `check`: open findings at or above the severity exist.
inline constexpr int kExitFindings = 1;
// Bad flag, unreachable aggregator, refused credentials, any other error.
inline constexpr int kExitError = 2;
// `remediate`: the aggregator refused to act (a guard, remediation off,
// the rate limit); the reason is printed.
inline constexpr int kExitRefused = 3;
// A unary command interrupted by SIGINT/SIGTERM (128 + SIGINT).
inline constexpr int kExitInterrupted = 130;

// What every command needs. Not owned; all must outlive the call.
struct CommandContext {
  QueryConnection* connection;
  OutputFormat format = OutputFormat::kTable;
  const Clock* clock;
  absl::TimeZone zone;
  std::ostream* out;
  std::ostream* err;
  // Cancels the running call when stopped; may be null.
  StopSignal* stop = nullptr;
};

// Each Run* returns the process exit code, or a status whose message is the
// one line to print after "ghostpeer: " (then exit kExitError).

// Lists findings; prints "no ... findings" when there are none.
absl::StatusOr<int> RunFindings(const CommandContext& context,
                                const v1::ListFindingsRequest& request);

absl::StatusOr<int> RunSockets(const CommandContext& context,
                               const v1::ListSocketsRequest& request);

// `address` must already be canonical (ParseIpAddress). When the server
// answers OUT_OF_RANGE for `at`, asks once more for the whole history to say
// how far back it goes: OutOfRange "no history of A at T: history retained
// since S (...)".
// `node` non-empty narrows to what a client on that node reaches.
absl::StatusOr<int> RunHistory(const CommandContext& context,
                               const std::string& address,
                               std::optional<absl::Time> at,
                               const std::string& node = "");

absl::StatusOr<int> RunNodes(const CommandContext& context);

struct WatchOptions {
  v1::ListFindingsRequest filter;
  // Consecutive reconnect attempts after losing the aggregator before
  // giving up (exit 2); 0 gives up at once. Never reaching it at all fails
  // at once whatever this says.
  int max_reconnects = 5;
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
};

// Follows WatchFindings, one line (or one JSON object) per event, until the
// stop signal fires (kExitOk), or the aggregator is lost for good
// (Unavailable), or refuses us (Unauthenticated, ...). Across reconnects it
// neither repeats nor misses: a replayed OPENED for a finding already shown
// open is not printed again, and a finding shown open that closed while the
// stream was down (no longer listed as open) is printed as CLOSED.
absl::StatusOr<int> RunWatch(const CommandContext& context,
                             const WatchOptions& options);

// kExitOk when no open finding matches `request` (status forced to OPEN),
// kExitFindings after printing them briefly when some do.
absl::StatusOr<int> RunCheck(const CommandContext& context,
                             v1::ListFindingsRequest request);

// Asks the aggregator to act on one finding now (`finding_id` already
// checked by ParseFindingId) and prints the recorded decision
// (RenderRemediationDecision, or the RemediateResponse as JSON). kExitOk
// for "ordered" and "would destroy"; kExitRefused, after printing
// "refused: <reason>" to the error stream, when a guard, the mode or the
// rate limit said no (FAILED_PRECONDITION, RESOURCE_EXHAUSTED, or a
// recorded DECLINED / RATE_LIMITED decision); NotFound for an unknown
// finding.
absl::StatusOr<int> RunRemediate(const CommandContext& context,
                                 const std::string& finding_id, bool dry_run);

// Lists recorded remediation decisions (RenderRemediations); "no
// remediation decisions ..." when there are none.
absl::StatusOr<int> RunRemediations(const CommandContext& context,
                                    const v1::ListRemediationsRequest& request);

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_COMMANDS_H_
