// RunCli against a fake aggregator on 127.0.0.1:0: flags in, exit code and
// printed text out, as a script or a person would see them.
#include "cli/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cli/commands.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_query_service.h"
#include "tests/unit/cli/test_findings.h"

namespace ghostpeer::cli {
namespace {

using testing::FakeAggregator;
using testing::TestNow;
using testing::VanishedFinding;
using testing::WatchScript;

struct Result {
  int code;
  std::string out;
  std::string err;
};

// An output stream one thread writes (RunCli) while another waits for
// lines: `watch` tests stop the watch only once its events are printed.
class LineBuffer final : public std::streambuf {
 public:
  // Polls (bounded by `timeout`): simpler than a condition, and fast enough.
  bool WaitForLines(int count, absl::Duration timeout) const {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      const std::string text = str();
      if (std::count(text.begin(), text.end(), '\n') >= count) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }
  std::string str() const {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 protected:
  int_type overflow(int_type ch) override {
    if (ch != traits_type::eof()) {
      absl::MutexLock lock(&mu_);
      text_.push_back(static_cast<char>(ch));
    }
    return ch;
  }
  std::streamsize xsputn(const char* data, std::streamsize size) override {
    absl::MutexLock lock(&mu_);
    text_.append(data, static_cast<size_t>(size));
    return size;
  }

 private:
  mutable absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

int CountLines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class CliTest : public ::testing::Test {
 protected:
  CliTest() {
    env_.clock = &clock_;
    env_.zone = absl::UTCTimeZone();
    env_.stop = &stop_;
  }

  ~CliTest() override {
    for (const std::string& path : temp_files_) std::remove(path.c_str());
  }

  // Runs `ghostpeer <args>`, adding --server for the fake unless the
  // arguments name one.
  Result Run(std::vector<std::string> args, bool add_server = true,
             LineBuffer* out_buffer = nullptr) {
    std::vector<std::string> argv = {"ghostpeer"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (add_server) {
      argv.push_back("--server");
      argv.push_back(aggregator_.address());
    }
    std::vector<const char*> pointers;
    for (const std::string& arg : argv) pointers.push_back(arg.c_str());
    std::ostringstream out, err;
    std::ostream watched(out_buffer);
    const int code = RunCli(static_cast<int>(pointers.size()), pointers.data(),
                            out_buffer != nullptr ? watched : out, err, env_);
    return {code, out_buffer != nullptr ? out_buffer->str() : out.str(),
            err.str()};
  }

  std::string WriteTempFile(const std::string& contents) {
    std::string path =
        absl::StrCat(::testing::TempDir(), "/ghostpeer-cli-test-", getpid(),
                     "-", temp_files_.size());
    std::FILE* file = std::fopen(path.c_str(), "w");
    EXPECT_NE(file, nullptr) << path;
    std::fputs(contents.c_str(), file);
    std::fclose(file);
    temp_files_.push_back(path);
    return path;
  }

  fakes::FakeClock clock_{TestNow()};
  StopSignal stop_;
  CliEnvironment env_;
  FakeAggregator aggregator_;
  std::vector<std::string> temp_files_;
};

v1::ListFindingsResponse OneCritical() {
  v1::ListFindingsResponse response;
  *response.add_findings() = VanishedFinding();
  return response;
}

TEST_F(CliTest, FindingsTableWithStoriesAndTheRequestTheFlagsMake) {
  aggregator_.service().set_findings(OneCritical());
  const Result result =
      Run({"findings", "--node", "node-1", "--service", "gpx-cli", "--kind",
           "vanished", "--severity", "warning"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_TRUE(absl::StartsWith(result.out, "SEVERITY  KIND")) << result.out;
  EXPECT_TRUE(absl::StrContains(
      result.out,
      "gpx-cli.1 on node-1 is writing to 10.99.0.2:27017, which belonged to "
      "gpx-srv.1 until 12:03:04 UTC; nobody holds it now; the peer had closed "
      "the connection; "
      "1.8 KB at risk. Set TCP_USER_TIMEOUT (e.g. 30s) or keepalive on the "
      "client so it notices by itself: its kernel would otherwise keep "
      "retrying for about 15m15s more\n"))
      << result.out;

  const auto requests = aggregator_.service().findings_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].node(), "node-1");
  EXPECT_EQ(requests[0].service(), "gpx-cli");
  EXPECT_EQ(requests[0].kind(), v1::VANISHED_PEER);
  EXPECT_EQ(requests[0].min_severity(), v1::WARNING);
  EXPECT_EQ(requests[0].status(), v1::OPEN) << "open is the default";
}

TEST_F(CliTest, FindingsStatusFlagAndEmptyAnswer) {
  struct Case {
    const char* name;
    std::vector<std::string> args;
    v1::FindingStatus want_status;
    const char* want_out;
  };
  const Case cases[] = {
      {"default", {"findings"}, v1::OPEN, "no open findings\n"},
      {"all",
       {"findings", "--status", "all"},
       v1::FINDING_STATUS_UNSPECIFIED,
       "no findings\n"},
      {"resolved filtered",
       {"findings", "--status", "resolved", "--node", "n"},
       v1::RESOLVED,
       "no resolved findings matching the filters\n"},
  };
  for (const Case& c : cases) {
    const Result result = Run(c.args);
    EXPECT_EQ(result.code, kExitOk) << c.name << ": " << result.err;
    EXPECT_EQ(result.out, c.want_out) << c.name;
    EXPECT_EQ(aggregator_.service().findings_requests().back().status(),
              c.want_status)
        << c.name;
  }
}

TEST_F(CliTest, FindingsJsonIsTheResponseMessage) {
  aggregator_.service().set_findings(OneCritical());
  const Result result = Run({"findings", "-o", "json"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  v1::ListFindingsResponse parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(result.out, &parsed).ok())
      << result.out;
  ASSERT_EQ(parsed.findings_size(), 1);
  EXPECT_EQ(parsed.findings(0).bytes_at_risk(), 1833u);
  EXPECT_TRUE(absl::StrContains(result.out, "\"peer_last_owner\""))
      << result.out;
  // Options work after the command too (fallthrough), and before it.
  const Result before = Run({"-o", "json", "findings"});
  EXPECT_EQ(before.out, result.out);
}

TEST_F(CliTest, CheckExitCodes) {
  v1::ListFindingsResponse warnings_only;
  v1::Finding warning = VanishedFinding();
  warning.set_severity(v1::WARNING);
  *warnings_only.add_findings() = warning;

  struct Case {
    const char* name;
    v1::ListFindingsResponse served;
    std::vector<std::string> args;
    int want_code;
    const char* want_out;
  };
  const Case cases[] = {
      {"clean",
       v1::ListFindingsResponse(),
       {"check"},
       kExitOk,
       "ok: no open findings at or above critical\n"},
      {"critical open",
       OneCritical(),
       {"check"},
       kExitFindings,
       "1 open finding at or above critical:\n"},
      {"warning below the bar", warnings_only, {"check"}, kExitOk, "ok: "},
      {"warning at the bar",
       warnings_only,
       {"check", "--severity", "warning"},
       kExitFindings,
       "1 open finding at or above warning:\n"},
      {"json", OneCritical(), {"check", "-o", "json"}, kExitFindings, "{"},
  };
  for (const Case& c : cases) {
    aggregator_.service().set_findings(c.served);
    const Result result = Run(c.args);
    EXPECT_EQ(result.code, c.want_code) << c.name << ": " << result.err;
    EXPECT_TRUE(absl::StartsWith(result.out, c.want_out))
        << c.name << ": " << result.out;
    const auto request = aggregator_.service().findings_requests().back();
    EXPECT_EQ(request.status(), v1::OPEN) << c.name;
  }
}

TEST_F(CliTest, CheckFailsWithTwoWhenTheAggregatorIsGone) {
  aggregator_.Stop();
  const Result result = Run({"check"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            absl::StrCat(
                "ghostpeer: cannot reach aggregator at ", aggregator_.address(),
                ": connection refused (set --server or GHOSTPEER_SERVER)\n"));
}

TEST_F(CliTest, BadFlagsAreOneLineAndExitTwoWithoutDialling) {
  struct Case {
    const char* name;
    std::vector<std::string> args;
    const char* want_in_err;
  };
  const Case cases[] = {
      {"unknown flag", {"check", "--bogus"}, "--bogus"},
      {"bad severity",
       {"check", "--severity", "urgent"},
       "--severity: bad severity"},
      {"bad kind", {"findings", "--kind", "ghost"}, "--kind: bad finding kind"},
      {"bad output", {"findings", "-o", "yaml"}, "--output: bad output format"},
      {"bad timeout", {"nodes", "--timeout", "soon"}, "--timeout: bad timeout"},
      {"bad state", {"sockets", "--state", "sleepy"}, "--state: bad TCP state"},
      {"bad peer", {"sockets", "--peer", "db.local"}, "--peer: bad address"},
      {"bad limit", {"sockets", "--limit", "-3"}, "--limit"},
      {"bad address", {"history", "not-an-ip"}, "bad address 'not-an-ip'"},
      {"missing address", {"history"}, "ADDRESS is required"},
      {"bad time",
       {"history", "10.0.0.1", "--at", "yesterday"},
       "--at: bad time"},
      {"no command", {}, "A subcommand is required"},
      {"unknown command", {"frobnicate"}, "unknown command 'frobnicate'"},
      {"negative retries", {"watch", "--retries", "-1"}, "--retries"},
      {"cert without key", {"nodes", "--tls-cert", "/dev/null"}, "--tls-key"},
      {"server name without tls",
       {"nodes", "--tls-server-name", "x"},
       "needs TLS"},
      {"missing token file",
       {"nodes", "--token-file", "/nonexistent/token"},
       "reading --token-file /nonexistent/token"},
      {"empty token file",
       {"nodes", "--token-file", ""},
       "--token-file: must not be empty"},
      {"empty tls ca", {"nodes", "--tls-ca", ""}, "--tls-ca: must not be"},
      {"remediate without id", {"remediate"}, "FINDING_ID is required"},
      {"remediate bad id", {"remediate", "f-1"}, "bad finding id 'f-1'"},
      {"remediate short id",
       {"remediate", "4f1c0a9e2b7d3c5", "--dry-run"},
       "16 hex digits"},
      {"remediations bad finding",
       {"remediations", "--finding", "xyz"},
       "--finding: bad finding id"},
      {"remediations limit too big",
       {"remediations", "--limit", "10001"},
       "--limit: at most 10000"},
  };
  for (const Case& c : cases) {
    const Result result = Run(c.args);
    EXPECT_EQ(result.code, kExitError) << c.name;
    EXPECT_EQ(result.out, "") << c.name;
    EXPECT_EQ(CountLines(result.err), 1) << c.name << ": " << result.err;
    EXPECT_TRUE(absl::StartsWith(result.err, "ghostpeer: ")) << c.name;
    EXPECT_TRUE(absl::StrContains(result.err, c.want_in_err))
        << c.name << ": " << result.err;
  }
  EXPECT_TRUE(aggregator_.service().authorizations().empty())
      << "a bad flag must be reported before any call";
}

TEST_F(CliTest, HelpExitsZeroWithExamples) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"findings", "--help"},
                                        {"check", "-h"},
                                        {"history", "--help"},
                                        {"watch", "--help"},
                                        {"remediate", "--help"},
                                        {"remediations", "--help"}}) {
    const Result result = Run(args, /*add_server=*/false);
    EXPECT_EQ(result.code, kExitOk) << args[0];
    EXPECT_TRUE(absl::StrContains(result.out, "Usage: ghostpeer"))
        << result.out;
    EXPECT_TRUE(absl::StrContains(result.out, "ghostpeer ")) << result.out;
    EXPECT_EQ(result.err, "");
  }
  EXPECT_TRUE(absl::StrContains(Run({"check", "--help"}).out, "exit 1"));
  // remediate's help teaches the guards, dry-run and the token.
  const std::string help = Run({"remediate", "--help"}).out;
  for (const char* taught :
       {"SOCK_DESTROY", "stale report", "--dry-run", "\"would destroy\"",
        "--token-file", "rate limits", "ghostpeer.remediation"}) {
    EXPECT_TRUE(absl::StrContains(help, taught)) << taught;
  }
}

v1::RemediateResponse Decided(v1::RemediationDecision decision,
                              const std::string& reason = "") {
  v1::RemediateResponse response;
  v1::Remediation* r = response.mutable_remediation();
  r->set_id("r-1");
  r->set_finding_id("4f1c0a9e2b7d3c55");
  r->set_node("node-1");
  *r->mutable_socket() = VanishedFinding().socket();
  r->set_decision(decision);
  r->set_reason(reason);
  return response;
}

TEST_F(CliTest, RemediateAsksOnceAndPrintsTheDecision) {
  aggregator_.service().set_remediate(
      grpc::Status::OK, Decided(v1::REMEDIATION_DECISION_ORDERED));
  const Result ordered = Run({"remediate", "4F1C0A9E2B7D3C55"});
  EXPECT_EQ(ordered.code, kExitOk) << ordered.err;
  EXPECT_TRUE(absl::StartsWith(ordered.out, "ordered: the agent on node-1"))
      << ordered.out;
  EXPECT_EQ(ordered.err, "");

  aggregator_.service().set_remediate(
      grpc::Status::OK, Decided(v1::REMEDIATION_DECISION_WOULD_DESTROY));
  const Result dry = Run({"remediate", "4f1c0a9e2b7d3c55", "--dry-run"});
  EXPECT_EQ(dry.code, kExitOk) << dry.err;
  EXPECT_TRUE(absl::StrContains(dry.out, "nothing was touched")) << dry.out;

  const auto requests = aggregator_.service().remediate_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].finding_id(), "4f1c0a9e2b7d3c55");
  EXPECT_FALSE(requests[0].dry_run());
  EXPECT_TRUE(requests[1].dry_run());

  const Result json = Run({"remediate", "4f1c0a9e2b7d3c55", "-o", "json"});
  EXPECT_EQ(json.code, kExitOk);
  EXPECT_TRUE(absl::StrContains(json.out, "\"requested_by\"")) << json.out;
  EXPECT_TRUE(absl::StrContains(json.out, "REMEDIATION_DECISION_WOULD_DESTROY"))
      << json.out;
}

TEST_F(CliTest, RemediateRefusalsExitThreeWithTheReason) {
  struct Case {
    std::string name;
    grpc::Status status;
    v1::RemediateResponse response;
    int want_code;
    std::string want_err;
  };
  const std::vector<Case> cases = {
      {"guard",
       grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                    "node-1's report is stale (40s old, 3 intervals is 15s)"),
       {},
       kExitRefused,
       "ghostpeer: refused: node-1's report is stale (40s old, 3 intervals "
       "is 15s)\n"},
      {"without remediation",
       grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                    "this aggregator was built without remediation"),
       {},
       kExitRefused,
       "ghostpeer: refused: this aggregator was built without remediation\n"},
      {"rate limit",
       grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                    "cluster: 20 orders in the last minute"),
       {},
       kExitRefused,
       "ghostpeer: refused: cluster: 20 orders in the last minute\n"},
      {"declined record", grpc::Status::OK,
       Decided(v1::REMEDIATION_DECISION_DECLINED, "remediation is off"),
       kExitRefused, "ghostpeer: refused: remediation is off\n"},
      {"unknown finding",
       grpc::Status(grpc::StatusCode::NOT_FOUND, "no such finding"),
       {},
       kExitError,
       "ghostpeer: no finding 4f1c0a9e2b7d3c55 at the aggregator (open ones: "
       "ghostpeer findings -o wide)\n"},
  };
  for (const Case& c : cases) {
    aggregator_.service().set_remediate(c.status, c.response);
    const Result result = Run({"remediate", "4f1c0a9e2b7d3c55"});
    EXPECT_EQ(result.code, c.want_code) << c.name;
    EXPECT_EQ(result.err, c.want_err) << c.name;
    // Only a recorded refusal has a record to point to.
    EXPECT_EQ(result.out, c.status.ok() ? "  recorded as r-1; follow it with: "
                                          "ghostpeer remediations --finding "
                                          "4f1c0a9e2b7d3c55\n"
                                        : "")
        << c.name;
  }
}

TEST_F(CliTest, RemediateSendsTheToken) {
  aggregator_.service().set_required_token("s3cret-token");
  aggregator_.service().set_remediate(
      grpc::Status::OK, Decided(v1::REMEDIATION_DECISION_ORDERED));
  const Result refused = Run({"remediate", "4f1c0a9e2b7d3c55"});
  EXPECT_EQ(refused.code, kExitError);
  EXPECT_TRUE(absl::StrContains(refused.err, "refused the credentials"))
      << refused.err;
  const Result ok = Run({"remediate", "4f1c0a9e2b7d3c55", "--token-file",
                         WriteTempFile("s3cret-token")});
  EXPECT_EQ(ok.code, kExitOk) << ok.err;
}

TEST_F(CliTest, RemediationsListsWithTheFilters) {
  const Result none = Run({"remediations"});
  EXPECT_EQ(none.code, kExitOk) << none.err;
  EXPECT_EQ(none.out, "no remediation decisions recorded\n");

  v1::ListRemediationsResponse listed;
  *listed.add_remediations() =
      Decided(v1::REMEDIATION_DECISION_ORDERED).remediation();
  aggregator_.service().set_remediations(listed);
  const Result table = Run({"remediations", "--finding", "4F1C0A9E2B7D3C55",
                            "--node", "node-1", "--limit", "5"});
  EXPECT_EQ(table.code, kExitOk) << table.err;
  EXPECT_TRUE(absl::StartsWith(table.out, "WHEN ")) << table.out;
  EXPECT_TRUE(absl::StrContains(table.out, "pending")) << table.out;
  const Result json = Run({"remediations", "-o", "json"});
  EXPECT_TRUE(absl::StrContains(json.out, "\"remediations\": [")) << json.out;

  const auto requests = aggregator_.service().remediations_requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].finding_id(), "4f1c0a9e2b7d3c55");
  EXPECT_EQ(requests[1].node(), "node-1");
  EXPECT_EQ(requests[1].limit(), 5u);
  EXPECT_EQ(requests[2].limit(), 0u);
}

TEST_F(CliTest, ServerComesFromTheEnvironmentUnlessAFlagSaysOtherwise) {
  env_.server_from_env = aggregator_.address();
  EXPECT_EQ(Run({"nodes"}, /*add_server=*/false).code, kExitOk);

  env_.server_from_env = "127.0.0.1:1";
  const Result flag_wins = Run({"nodes"});
  EXPECT_EQ(flag_wins.code, kExitOk) << flag_wins.err;
  const Result env_used = Run({"nodes"}, /*add_server=*/false);
  EXPECT_EQ(env_used.code, kExitError);
  EXPECT_TRUE(absl::StrContains(env_used.err, "127.0.0.1:1")) << env_used.err;
}

TEST_F(CliTest, ServerMustBeHostAndPortWhereverItComesFrom) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::optional<std::string> env;
    std::string want_in_err;
  };
  const std::vector<Case> cases = {
      // An unset variable in a script used to mean 127.0.0.1:7070.
      {"empty flag", {"--server", "", "nodes"}, {}, "--server: must not be"},
      {"port past 65535",
       {"--server", "127.0.0.1:99999", "nodes"},
       {},
       "--server: '127.0.0.1:99999': the port must be a number from 1"},
      {"port zero", {"--server", "127.0.0.1:0", "nodes"}, {}, "from 1"},
      {"no port", {"--server", "aggregator", "nodes"}, {}, "no port"},
      {"environment port past 65535",
       {"nodes"},
       "127.0.0.1:70000",
       "$GHOSTPEER_SERVER: '127.0.0.1:70000'"},
  };
  for (const Case& c : cases) {
    env_.server_from_env = c.env;
    const Result result = Run(c.args, /*add_server=*/false);
    EXPECT_EQ(result.code, kExitError) << c.name;
    EXPECT_EQ(CountLines(result.err), 1) << c.name << ": " << result.err;
    EXPECT_TRUE(absl::StrContains(result.err, c.want_in_err))
        << c.name << ": " << result.err;
  }
  EXPECT_TRUE(aggregator_.service().authorizations().empty())
      << "a bad server must be reported before any call";
}

TEST_F(CliTest, TokenIsSentAsBearerMetadata) {
  aggregator_.service().set_required_token("s3cret-token");
  const std::string good = WriteTempFile("s3cret-token\n");
  const Result ok = Run({"findings", "--token-file", good});
  EXPECT_EQ(ok.code, kExitOk) << ok.err;
  ASSERT_FALSE(aggregator_.service().authorizations().empty());
  EXPECT_EQ(aggregator_.service().authorizations().back(),
            "Bearer s3cret-token");

  const std::string wrong = WriteTempFile("not-it");
  const Result refused = Run({"check", "--token-file", wrong});
  EXPECT_EQ(refused.code, kExitError);
  EXPECT_EQ(refused.err,
            "ghostpeer: the aggregator refused the credentials: invalid bearer "
            "token\n");

  const Result missing = Run({"nodes"});
  EXPECT_EQ(missing.code, kExitError);
  EXPECT_EQ(aggregator_.service().authorizations().back(), "");

  const std::string empty = WriteTempFile(" \n");
  const Result empty_token = Run({"nodes", "--token-file", empty});
  EXPECT_EQ(empty_token.code, kExitError);
  EXPECT_TRUE(absl::StrContains(empty_token.err, "is empty"))
      << empty_token.err;
}

TEST_F(CliTest, HistoryDrawsTheTimeline) {
  v1::GetAddressHistoryResponse history;
  v1::AddressOwner* owner = history.add_intervals();
  owner->set_kind(v1::OWNER_KIND_CONTAINER);
  owner->set_task("gpx-srv.1");
  owner->set_node("node-1");
  *owner->mutable_since() = ToProto(TestNow() - absl::Minutes(10));
  *owner->mutable_until() = ToProto(TestNow() - absl::Minutes(7));
  aggregator_.service().set_history(history);

  const Result result = Run({"history", "10.99.0.2"});
  ASSERT_EQ(result.code, kExitOk) << result.err;
  EXPECT_TRUE(absl::StartsWith(result.out, "OWNER")) << result.out;
  EXPECT_TRUE(absl::StrContains(result.out, "gpx-srv.1  \u2588")) << result.out;
  EXPECT_TRUE(absl::StrContains(result.out, "nobody")) << result.out;
  EXPECT_EQ(aggregator_.service().history_requests().back().address(),
            "10.99.0.2");

  const Result at = Run({"history", "10.99.0.2", "--at", "-9m"});
  ASSERT_EQ(at.code, kExitOk) << at.err;
  EXPECT_TRUE(
      absl::StartsWith(at.out, "at 12:01:00 10.99.0.2 was held by gpx-srv.1"))
      << at.out;
  EXPECT_EQ(FromProto(aggregator_.service().history_requests().back().at()),
            TestNow() - absl::Minutes(9));
  EXPECT_EQ(aggregator_.service().history_requests().back().node(), "");

  // --node asks for what a client on that node reaches.
  const Result narrowed = Run({"history", "10.99.0.2", "--node", "node-2"});
  ASSERT_EQ(narrowed.code, kExitOk) << narrowed.err;
  EXPECT_EQ(aggregator_.service().history_requests().back().node(), "node-2");
}

TEST_F(CliTest, HistoryOutOfRangeSaysHowFarBackItGoes) {
  v1::GetAddressHistoryResponse history;
  *history.mutable_retained_since() = ToProto(TestNow() - absl::Hours(2));
  aggregator_.service().set_history(history);
  aggregator_.service().set_history_at_error(grpc::Status(
      grpc::StatusCode::OUT_OF_RANGE, "before the retained history"));

  const Result result = Run({"history", "10.99.0.2", "--at", "-3h"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            "ghostpeer: no history of 10.99.0.2 at 09:10:00: history retained "
            "since 10:10:00 (2h ago)\n");
}

TEST_F(CliTest, SocketsAndNodes) {
  v1::ListSocketsResponse sockets;
  *sockets.add_sockets() = VanishedFinding().socket();
  aggregator_.service().set_sockets(sockets);
  v1::ListNodesResponse nodes;
  nodes.add_nodes()->set_node("node-1");
  aggregator_.service().set_nodes(nodes);

  const Result socket_result =
      Run({"sockets", "--peer", "10.99.0.2", "--state", "close-wait"});
  ASSERT_EQ(socket_result.code, kExitOk) << socket_result.err;
  EXPECT_TRUE(absl::StrContains(socket_result.out, "10.99.0.2:27017"))
      << socket_result.out;
  const Result node_result = Run({"nodes", "-o", "wide"});
  ASSERT_EQ(node_result.code, kExitOk) << node_result.err;
  EXPECT_TRUE(absl::StrContains(node_result.out, "KERNEL")) << node_result.out;
  const Result json_result = Run({"sockets", "-o", "json"});
  EXPECT_TRUE(absl::StrContains(json_result.out, "\"sockets\""))
      << json_result.out;
}

v1::FindingEvent Event(v1::FindingEventType type) {
  v1::FindingEvent event;
  event.set_type(type);
  *event.mutable_finding() = VanishedFinding();
  if (type == v1::CLOSED) event.mutable_finding()->set_status(v1::RESOLVED);
  return event;
}

TEST_F(CliTest, WatchPrintsEventsUntilStopped) {
  WatchScript script;
  script.events = {Event(v1::OPENED), Event(v1::UPDATED)};
  script.hold_open = true;
  aggregator_.service().add_watch_script(script);

  // What SIGINT does in main.cc: Stop() from another thread, here once
  // both events are printed.
  LineBuffer output;
  std::thread interrupter([&] {
    output.WaitForLines(2, absl::Seconds(20));
    stop_.Stop();
  });
  const Result result = Run({"watch", "--severity", "critical"}, true, &output);
  interrupter.join();
  EXPECT_TRUE(aggregator_.service().WaitForHeldWatch(absl::Seconds(1)));

  EXPECT_EQ(result.code, kExitOk) << result.err;
  ASSERT_EQ(CountLines(result.out), 2) << result.out;
  EXPECT_TRUE(
      absl::StartsWith(result.out, "12:04:00  OPENED   CRITICAL  vanished"))
      << result.out;
  EXPECT_TRUE(absl::StrContains(result.out, "UPDATED")) << result.out;
  EXPECT_TRUE(absl::StrContains(result.out, "1.8 KB at risk")) << result.out;
}

TEST_F(CliTest, WatchJsonIsOneObjectPerLine) {
  WatchScript script;
  script.events = {Event(v1::OPENED), Event(v1::CLOSED)};
  script.hold_open = true;
  aggregator_.service().add_watch_script(script);
  LineBuffer output;
  std::thread interrupter([&] {
    output.WaitForLines(2, absl::Seconds(20));
    stop_.Stop();
  });
  const Result result = Run({"watch", "-o", "json"}, true, &output);
  interrupter.join();
  EXPECT_EQ(result.code, kExitOk) << result.err;
  ASSERT_EQ(CountLines(result.out), 2) << result.out;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    v1::FindingEvent event;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &event).ok())
        << line;
    EXPECT_EQ(event.finding().id(), "f-1");
  }
}

TEST_F(CliTest, WatchReconnectsNeitherRepeatingNorMissingAndGivesUpWithTwo) {
  const grpc::Status going_away(grpc::StatusCode::UNAVAILABLE,
                                "server shutting down");
  v1::FindingEvent f1 = Event(v1::OPENED);
  v1::FindingEvent f2 = Event(v1::OPENED);
  f2.mutable_finding()->set_id("f-2");
  f2.mutable_finding()->mutable_socket()->set_task("other.1");
  v1::FindingEvent f2_updated = f2;
  f2_updated.set_type(v1::UPDATED);

  WatchScript first;
  first.events = {f1, f2};
  first.end = going_away;
  // While the stream is down f-1 closes: the aggregator lists only f-2 as
  // open, and the new stream replays f-2 (not news) before an update.
  v1::ListFindingsResponse still_open;
  *still_open.add_findings() = f2.finding();
  aggregator_.service().set_findings(still_open);
  WatchScript second;
  second.events = {f2, f2_updated};
  second.end = going_away;
  aggregator_.service().add_watch_script(first);
  aggregator_.service().add_watch_script(second);

  const Result result = Run({"watch", "--retries", "1"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_EQ(aggregator_.service().watch_calls(), 3);
  const std::vector<std::string> lines =
      absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << result.out;
  EXPECT_TRUE(absl::StrContains(
      lines[0], "OPENED   CRITICAL  vanished           gpx-cli.1"))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(
      lines[1], "OPENED   CRITICAL  vanished           other.1"))
      << lines[1];
  EXPECT_TRUE(absl::StrContains(
      lines[2], "CLOSED   CRITICAL  vanished           gpx-cli.1"))
      << lines[2];
  EXPECT_TRUE(absl::StrContains(
      lines[3], "UPDATED  CRITICAL  vanished           other.1"))
      << lines[3];
  for (const auto& request : aggregator_.service().findings_requests()) {
    EXPECT_EQ(request.status(), v1::OPEN);
  }
  EXPECT_TRUE(absl::StrContains(result.err, "reconnecting in")) << result.err;
  EXPECT_TRUE(
      absl::StrContains(result.err, "gave up after 1 reconnect attempts\n"))
      << result.err;
}

TEST_F(CliTest, WatchFailsAtOnceWhenTheAggregatorWasNeverThere) {
  aggregator_.Stop();
  const Result result = Run({"watch"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_TRUE(absl::StrContains(
      result.err, absl::StrCat("ghostpeer: cannot reach aggregator at ",
                               aggregator_.address(), ": connection refused")))
      << result.err;
}

TEST_F(CliTest, WatchStopsOnRefusedCredentialsWithoutRetrying) {
  aggregator_.service().set_required_token("s3cret-token");
  const Result result = Run({"watch"});
  EXPECT_EQ(result.code, kExitError);
  EXPECT_TRUE(absl::StrContains(result.err, "refused the credentials"))
      << result.err;
  EXPECT_EQ(aggregator_.service().watch_calls(), 0)
      << "refused before the handler";
  EXPECT_EQ(aggregator_.service().authorizations().size(), 1u);
}

// --server a,b: a query goes to the next aggregator only when one cannot
// be reached; an aggregator that answered, even with an error, has spoken.
TEST_F(CliTest, QueriesGoToTheNextAggregatorOnlyWhenOneCannotBeReached) {
  FakeAggregator refusing;
  refusing.Stop();
  aggregator_.service().set_findings(OneCritical());
  const std::string refusing_first =
      absl::StrCat(refusing.address(), ",", aggregator_.address());
  const Result found =
      Run({"findings", "--server", refusing_first}, /*add_server=*/false);
  EXPECT_EQ(found.code, kExitOk) << found.err;
  EXPECT_TRUE(absl::StrContains(found.out, "gpx-cli.1")) << found.out;
  EXPECT_EQ(found.err, "");
  // The environment takes a list as well, and --aggregator names --server.
  env_.server_from_env = refusing_first;
  EXPECT_EQ(Run({"findings"}, /*add_server=*/false).code, kExitOk);
  env_.server_from_env.reset();
  EXPECT_EQ(Run({"findings", "--aggregator", refusing_first},
                /*add_server=*/false)
                .code,
            kExitOk);

  FakeAggregator also_refusing;
  also_refusing.Stop();
  const Result none =
      Run({"findings", "--server",
           absl::StrCat(refusing.address(), ", ", also_refusing.address())},
          /*add_server=*/false);
  EXPECT_EQ(none.code, kExitError);
  EXPECT_EQ(none.err,
            absl::StrCat("ghostpeer: cannot reach aggregator at ",
                         refusing.address(), ", ", also_refusing.address(),
                         ": connection refused (set --server or "
                         "GHOSTPEER_SERVER)\n"));

  // The first is reached and fails the query itself: no second opinion.
  FakeAggregator second;
  aggregator_.service().set_history_at_error(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "history store is down"));
  const Result failed =
      Run({"history", "10.0.1.6", "--at", "-1h", "--server",
           absl::StrCat(aggregator_.address(), ",", second.address())},
          /*add_server=*/false);
  EXPECT_EQ(failed.code, kExitError);
  EXPECT_TRUE(absl::StrContains(failed.err, aggregator_.address()))
      << failed.err;
  EXPECT_TRUE(second.service().history_requests().empty());

  const Result bad = Run({"nodes", "--server", "a:1,,b:2"},
                         /*add_server=*/false);
  EXPECT_EQ(bad.code, kExitError);
  EXPECT_TRUE(absl::StrContains(bad.err, "endpoint 2 of 3 is empty"))
      << bad.err;
}

// An order that may have reached an aggregator is never asked of another:
// only a refused connection proves nothing was sent.
TEST_F(CliTest, RemediateGoesToTheNextAggregatorOnlyAfterARefusal) {
  FakeAggregator refusing;
  refusing.Stop();
  aggregator_.service().set_remediate(
      grpc::Status::OK, Decided(v1::REMEDIATION_DECISION_ORDERED));
  const Result ordered =
      Run({"remediate", "4f1c0a9e2b7d3c55", "--server",
           absl::StrCat(refusing.address(), ",", aggregator_.address())},
          /*add_server=*/false);
  EXPECT_EQ(ordered.code, kExitOk) << ordered.err;
  EXPECT_EQ(aggregator_.service().remediate_requests().size(), 1u);

  FakeAggregator second;
  second.service().set_remediate(grpc::Status::OK,
                                 Decided(v1::REMEDIATION_DECISION_ORDERED));
  aggregator_.service().set_remediate(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "lost the history store"));
  const Result unknown =
      Run({"remediate", "4f1c0a9e2b7d3c55", "--server",
           absl::StrCat(aggregator_.address(), ",", second.address())},
          /*add_server=*/false);
  EXPECT_EQ(unknown.code, kExitError);
  EXPECT_EQ(aggregator_.service().remediate_requests().size(), 2u);
  EXPECT_TRUE(second.service().remediate_requests().empty());
}

TEST_F(CliTest, WatchMovesToTheNextAggregatorWhenItsStreamBreaks) {
  FakeAggregator refusing;
  refusing.Stop();
  FakeAggregator second;
  v1::FindingEvent f1 = Event(v1::OPENED);
  v1::FindingEvent f2 = Event(v1::OPENED);
  f2.mutable_finding()->set_id("f-2");
  f2.mutable_finding()->mutable_socket()->set_task("other.1");
  WatchScript first_script;
  first_script.events = {f1};
  first_script.end =
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down");
  aggregator_.service().add_watch_script(first_script);
  // The second replays what is open (f-1, not news) and goes on.
  v1::ListFindingsResponse open;
  *open.add_findings() = f1.finding();
  second.service().set_findings(open);
  WatchScript second_script;
  second_script.events = {f1, f2};
  second_script.hold_open = true;
  second.service().add_watch_script(second_script);

  LineBuffer output;
  std::thread interrupter([&] {
    output.WaitForLines(2, absl::Seconds(20));
    stop_.Stop();
  });
  // The first endpoint was never there: the watch starts on the next one.
  const Result result =
      Run({"watch", "--server",
           absl::StrCat(refusing.address(), ",", aggregator_.address(), ",",
                        second.address())},
          /*add_server=*/false, &output);
  interrupter.join();
  EXPECT_EQ(result.code, kExitOk) << result.err;
  const std::vector<std::string> lines =
      absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << result.out;
  EXPECT_TRUE(absl::StrContains(lines[0], "gpx-cli.1")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "other.1")) << lines[1];
  EXPECT_TRUE(absl::StrContains(
      result.err,
      absl::StrCat("lost the aggregator at ", aggregator_.address(),
                   ": server shutting down; trying ", second.address(), "\n")))
      << result.err;
  EXPECT_EQ(aggregator_.service().watch_calls(), 1);
  EXPECT_EQ(second.service().watch_calls(), 1);
}

TEST_F(CliTest, InterruptedQueryExits130Quietly) {
  stop_.Stop();
  const Result result = Run({"findings"});
  EXPECT_EQ(result.code, kExitInterrupted);
  EXPECT_EQ(result.err, "");
}

}  // namespace
}  // namespace ghostpeer::cli
