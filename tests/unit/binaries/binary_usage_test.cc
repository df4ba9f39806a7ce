// ghostpeer-aggregator, ghostpeer-agent and ghostpeer, run as an operator
// runs them, with bad flags and configurations. The convention under test
// (common/flag_checks.h, README "Exit status"): exit 2 with one line naming
// the problem, before any work starts; never a crash, never a silent start.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/system/process.h"
#include "tests/support/held_port.h"

namespace ghostpeer {
namespace {

using ::ghostpeer::testing::CommandResult;
using ::ghostpeer::testing::HeldPort;
using ::ghostpeer::testing::RunBinary;

struct Case {
  std::string name;
  std::vector<std::string> argv;  // argv[0] is the binary
  int want_exit;
  std::string want_in_stderr;
  // Whether that is all of stderr; not when something logged before.
  bool one_line = true;
};

// A database path of this test process, removed (with its WAL) at the end.
class TempDbPath {
 public:
  TempDbPath()
      : path_(absl::StrCat(::testing::TempDir(), "/gp_binary_usage_", getpid(),
                           ".db")) {}
  ~TempDbPath() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((path_ + suffix).c_str());
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void RunCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    // A binary that accepted the configuration runs until killed (137).
    const CommandResult result = RunBinary(c.argv, absl::Seconds(15));
    EXPECT_EQ(result.exit_code, c.want_exit) << c.name << "\nstderr:\n"
                                             << result.err;
    EXPECT_TRUE(absl::StrContains(result.err, c.want_in_stderr))
        << c.name << ": want '" << c.want_in_stderr << "' in stderr:\n"
        << result.err;
    // The agent once logged a false "signal 15 received" before its error.
    EXPECT_FALSE(absl::StrContains(result.err, "signal"))
        << c.name << ": " << result.err;
    if (c.one_line) {
      EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1)
          << c.name << ": more than one line:\n"
          << result.err;
    }
  }
}

TEST(BinaryUsageTest, AggregatorRefusesBadConfiguration) {
  HeldPort busy;
  ASSERT_NE(busy.port(), 0);
  const std::string busy_address = absl::StrCat("127.0.0.1:", busy.port());
  TempDbPath db;
  const std::string bin = GHOSTPEER_AGGREGATOR_BIN;
  RunCases({
      {"unknown flag", {bin, "--no-such-flag"}, 2, "--no-such-flag"},
      {"listen port out of range",
       {bin, "--listen", "127.0.0.1:99999", "--db", db.path()},
       2,
       "port must be a number from 0 to 65535"},
      {"listen without port", {bin, "--listen", "localhost"}, 2, "no port"},
      {"empty listen", {bin, "--listen", ""}, 2, "--listen: must not be empty"},
      {"empty db", {bin, "--db", ""}, 2, "--db: must not be empty"},
      {"http listen port out of range",
       {bin, "--http-listen", "127.0.0.1:70000", "--db", db.path()},
       2,
       "port must be a number"},
      {"empty token file", {bin, "--token-file", ""}, 2, "must not be empty"},
      {"empty tls cert", {bin, "--tls-cert", ""}, 2, "must not be empty"},
      {"unreadable token file",
       {bin, "--token-file", "/nonexistent/token", "--db", db.path()},
       2,
       "/nonexistent/token"},
      {"store cannot be created",
       {bin, "--db", "/nonexistent/dir/ghostpeer.db", "--listen",
        "127.0.0.1:0"},
       2,
       "cannot open the store"},
      // These crashed (SIGSEGV, exit 139) when the listener failed. gRPC
      // logs its own line first, with the errno.
      {"listen on a busy port",
       {bin, "--listen", busy_address, "--db", db.path()},
       2,
       "cannot listen on " + busy_address,
       /*one_line=*/false},
      {"listen on an address not of this host",
       {bin, "--listen", "192.0.2.1:7070", "--insecure", "--db", db.path()},
       2,
       "cannot listen on 192.0.2.1:7070",
       /*one_line=*/false},
      {"http listen on a busy port",
       {bin, "--listen", "127.0.0.1:0", "--http-listen", busy_address, "--db",
        db.path()},
       2,
       "cannot listen on " + busy_address,
       /*one_line=*/false},  // the gRPC server's start was logged first
  });
}

TEST(BinaryUsageTest, AgentRefusesBadConfiguration) {
  HeldPort busy;
  ASSERT_NE(busy.port(), 0);
  const std::string busy_address = absl::StrCat("127.0.0.1:", busy.port());
  const std::string bin = GHOSTPEER_AGENT_BIN;
  RunCases({
      {"unknown flag", {bin, "--no-such-flag"}, 2, "--no-such-flag"},
      {"aggregator port out of range",
       {bin, "--aggregator", "127.0.0.1:99999"},
       2,
       "port must be a number from 1 to 65535"},
      {"aggregator port zero",
       {bin, "--aggregator", "127.0.0.1:0"},
       2,
       "port must be a number from 1 to 65535"},
      {"empty aggregator", {bin, "--aggregator", ""}, 2, "must not be empty"},
      {"metrics listen port out of range",
       {bin, "--metrics-listen", "0.0.0.0:99999"},
       2,
       "port must be a number from 0 to 65535"},
      {"empty state dir", {bin, "--state-dir", ""}, 2, "must not be empty"},
      {"empty proc root", {bin, "--proc-root", ""}, 2, "must not be empty"},
      {"empty node", {bin, "--node", ""}, 2, "must not be empty"},
      {"empty tls ca", {bin, "--tls-ca", ""}, 2, "must not be empty"},
      {"unreadable token file",
       {bin, "--token-file", "/nonexistent/token", "--docker-socket", ""},
       2,
       "/nonexistent/token"},
      {"metrics listen on a busy port",
       {bin, "--metrics-listen", busy_address, "--docker-socket", "",
        "--aggregator", "127.0.0.1:9", "--log-level", "off"},
       2,
       "cannot listen on " + busy_address},
  });
}

TEST(BinaryUsageTest, CliRefusesBadConfiguration) {
  const std::string bin = GHOSTPEER_CLI_BIN;
  RunCases({
      {"unknown command", {bin, "finds"}, 2, "unknown command 'finds'"},
      {"empty server",
       {bin, "--server", "", "findings"},
       2,
       "--server: must not be empty"},
      {"server port out of range",
       {bin, "--server", "127.0.0.1:99999", "findings"},
       2,
       "port must be a number from 1 to 65535"},
      {"server without port",
       {bin, "--server", "aggregator", "nodes"},
       2,
       "no port"},
      {"empty token file",
       {bin, "--token-file", "", "findings"},
       2,
       "must not be empty"},
      {"empty tls ca", {bin, "--tls-ca", "", "nodes"}, 2, "must not be empty"},
  });
}

TEST(BinaryUsageTest, HelpStatesTheExitStatus) {
  struct HelpCase {
    std::string binary;
    std::string want;
  };
  for (const HelpCase& c : std::vector<HelpCase>{
           {GHOSTPEER_AGGREGATOR_BIN, "Exit status: 0 stopped by SIGINT"},
           {GHOSTPEER_AGENT_BIN, "Exit status: 0 stopped by SIGINT"},
           {GHOSTPEER_CLI_BIN, "Exit codes: 0 ok"},
       }) {
    const CommandResult result =
        RunBinary({c.binary, "--help"}, absl::Seconds(15));
    EXPECT_EQ(result.exit_code, 0) << c.binary;
    EXPECT_TRUE(absl::StrContains(result.out, c.want)) << c.binary << ":\n"
                                                       << result.out;
  }
}

}  // namespace
}  // namespace ghostpeer
