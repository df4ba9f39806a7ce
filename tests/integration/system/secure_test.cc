// Secure channels for real (issue 5): an aggregator with mutual TLS and a
// bearer token, agents and CLIs with and without the right credentials.
// Certificates come from deploy/tls/make-certs.sh, as an operator makes them.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/system/process.h"

namespace ghostpeer::testing {
namespace {

const std::string kBin = GHOSTPEER_BIN_DIR;
const std::string kSource = GHOSTPEER_SOURCE_DIR;

class SecureChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gp-secure-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    tls_ = dir_ + "/tls";
    CommandResult certs =
        RunBinary({"/bin/bash", kSource + "/deploy/tls/make-certs.sh", tls_},
                  absl::Seconds(60));
    ASSERT_EQ(certs.exit_code, 0) << certs.out << certs.err;
    std::ofstream(dir_ + "/wrong-token") << "not-the-token\n";
    server_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
    auto aggregator = Process::Start(
        {kBin + "/ghostpeer-aggregator", "--listen", server_, "--db",
         dir_ + "/ghostpeer.db", "--tls-cert", tls_ + "/aggregator.pem",
         "--tls-key", tls_ + "/aggregator-key.pem", "--tls-ca",
         tls_ + "/ca.pem", "--token-file", tls_ + "/token"},
        dir_ + "/aggregator.log");
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    aggregator_ = std::move(*aggregator);
    ASSERT_TRUE(WaitFor([&] { return Cli(Good(), {"nodes"}).exit_code == 0; },
                        absl::Seconds(10)))
        << aggregator_->Log() << Cli(Good(), {"nodes"}).err;
  }

  void TearDown() override {
    agents_.clear();
    aggregator_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // The CLI's credentials: the right ones, or with one thing changed.
  std::vector<std::string> Good(const std::string& token_file = "") {
    return {"--tls-ca",     tls_ + "/ca.pem",
            "--tls-cert",   tls_ + "/cli.pem",
            "--tls-key",    tls_ + "/cli-key.pem",
            "--token-file", token_file.empty() ? tls_ + "/token" : token_file};
  }

  CommandResult Cli(std::vector<std::string> credentials,
                    std::vector<std::string> args) {
    std::vector<std::string> argv = {kBin + "/ghostpeer", "--server", server_};
    argv.insert(argv.end(), credentials.begin(), credentials.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunBinary(argv, absl::Seconds(20));
  }

  void StartAgent(const std::string& node,
                  std::vector<std::string> credentials) {
    std::vector<std::string> argv = {kBin + "/ghostpeer-agent",
                                     "--aggregator",
                                     server_,
                                     "--interval",
                                     "1s",
                                     "--node",
                                     node,
                                     "--docker-socket",
                                     "",
                                     "--tls-server-name",
                                     "localhost"};
    argv.insert(argv.end(), credentials.begin(), credentials.end());
    auto agent = Process::Start(argv, dir_ + "/agent-" + node + ".log");
    ASSERT_TRUE(agent.ok()) << agent.status();
    agents_.push_back(std::move(*agent));
  }

  std::string dir_;
  std::string tls_;
  std::string server_;
  std::unique_ptr<Process> aggregator_;
  std::vector<std::unique_ptr<Process>> agents_;
};

TEST_F(SecureChannelTest, OnlyAgentsWithCertificateAndTokenAreHeard) {
  const std::string ca = tls_ + "/ca.pem";
  StartAgent("good-node",
             {"--tls-ca", ca, "--tls-cert", tls_ + "/agent.pem", "--tls-key",
              tls_ + "/agent-key.pem", "--token-file", tls_ + "/token"});
  StartAgent("no-cert-node", {"--tls-ca", ca, "--token-file", tls_ + "/token"});
  StartAgent("wrong-token-node",
             {"--tls-ca", ca, "--tls-cert", tls_ + "/agent.pem", "--tls-key",
              tls_ + "/agent-key.pem", "--token-file", dir_ + "/wrong-token"});
  StartAgent("plaintext-node", {"--token-file", tls_ + "/token"});

  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(Cli(Good(), {"nodes"}).out, "good-node");
      },
      absl::Seconds(20)))
      << agents_[0]->Log();
  // Give the others every chance to (wrongly) get through.
  absl::SleepFor(absl::Seconds(4));
  const std::string nodes = Cli(Good(), {"nodes", "-o", "json"}).out;
  for (const char* refused :
       {"no-cert-node", "wrong-token-node", "plaintext-node"}) {
    EXPECT_FALSE(absl::StrContains(nodes, refused)) << refused << " was stored";
  }
  // The refused agents say why, with the status.
  EXPECT_TRUE(absl::StrContains(agents_[2]->Log(), "UNAUTHENTICATED"))
      << agents_[2]->Log();
  EXPECT_TRUE(absl::StrContains(agents_[2]->Log(), "wrong token"));
}

TEST_F(SecureChannelTest, CliWithWrongTokenGetsOneLineAndExit2) {
  CommandResult wrong = Cli(Good(dir_ + "/wrong-token"), {"findings"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_TRUE(wrong.out.empty()) << wrong.out;
  EXPECT_EQ(std::count(wrong.err.begin(), wrong.err.end(), '\n'), 1)
      << wrong.err;
  EXPECT_TRUE(absl::StrContains(wrong.err, "refused the credentials"))
      << wrong.err;

  CommandResult check = Cli(Good(dir_ + "/wrong-token"), {"check"});
  EXPECT_EQ(check.exit_code, 2) << "an auth failure is an error, not 'clean'";

  CommandResult plaintext = Cli({"--token-file", tls_ + "/token"}, {"nodes"});
  EXPECT_EQ(plaintext.exit_code, 2);
  EXPECT_EQ(std::count(plaintext.err.begin(), plaintext.err.end(), '\n'), 1)
      << plaintext.err;

  EXPECT_EQ(Cli(Good(), {"check"}).exit_code, 0);
}

TEST_F(SecureChannelTest, NonLoopbackPlaintextNeedsInsecure) {
  CommandResult refused = RunBinary({kBin + "/ghostpeer-aggregator", "--listen",
                                     "0.0.0.0:0", "--db", ":memory:"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(refused.err, "--insecure")) << refused.err;
}

}  // namespace
}  // namespace ghostpeer::testing
