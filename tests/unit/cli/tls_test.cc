// --tls-ca / --tls-cert / --tls-key / --tls-server-name against a fake
// aggregator serving TLS on 127.0.0.1:0 with the test-only certificates in
// testdata/tls (see generate.sh there).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_query_service.h"

namespace ghostpeer::cli {
namespace {

using testing::FakeAggregator;

std::string TlsFile(const char* name) {
  return absl::StrCat(GHOSTPEER_CLI_TESTDATA, "/tls/", name);
}

std::string Slurp(const std::string& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

std::shared_ptr<grpc::ServerCredentials> ServerTls(bool require_client_cert) {
  grpc::SslServerCredentialsOptions options(
      require_client_cert
          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_root_certs = Slurp(TlsFile("ca.pem"));
  options.pem_key_cert_pairs.push_back(
      {Slurp(TlsFile("server.key")), Slurp(TlsFile("server.pem"))});
  return grpc::SslServerCredentials(options);
}

struct Result {
  int code;
  std::string out;
  std::string err;
};

// `ghostpeer nodes` against `aggregator` with `flags`.
Result NodesVia(const FakeAggregator& aggregator,
                std::vector<std::string> flags) {
  std::vector<std::string> argv = {"ghostpeer", "nodes",
                                   "--timeout", "5s",
                                   "--server",  aggregator.address()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  std::vector<const char*> pointers;
  for (const std::string& arg : argv) pointers.push_back(arg.c_str());
  std::ostringstream out, err;
  CliEnvironment env;
  const int code =
      RunCli(static_cast<int>(pointers.size()), pointers.data(), out, err, env);
  return {code, out.str(), err.str()};
}

TEST(TlsTest, ServerTlsAcceptsTheRightCaAndRefusesTheRest) {
  FakeAggregator aggregator(ServerTls(/*require_client_cert=*/false));
  struct Case {
    const char* name;
    std::vector<std::string> flags;
    int want_code;
    const char* want_in_err;
  };
  const Case cases[] = {
      {"by IP (the certificate carries 127.0.0.1)",
       {"--tls-ca", TlsFile("ca.pem")},
       kExitOk,
       ""},
      {"server name override",
       {"--tls-ca", TlsFile("ca.pem"), "--tls-server-name", "aggregator.test"},
       kExitOk,
       ""},
      {"wrong server name",
       {"--tls-ca", TlsFile("ca.pem"), "--tls-server-name", "elsewhere.test"},
       kExitError,
       "TLS handshake failed (check --tls-ca"},
      {"untrusted CA",
       {"--tls-ca", TlsFile("other-ca.pem")},
       kExitError,
       "TLS handshake failed (check --tls-ca"},
      {"plaintext to a TLS server",
       {},
       kExitError,
       "the connection was closed (does the aggregator expect TLS?"},
  };
  for (const Case& c : cases) {
    const Result result = NodesVia(aggregator, c.flags);
    EXPECT_EQ(result.code, c.want_code) << c.name << ": " << result.err;
    if (c.want_code == kExitOk) {
      EXPECT_EQ(result.err, "") << c.name;
      continue;
    }
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1)
        << c.name << ": " << result.err;
    EXPECT_TRUE(absl::StrContains(result.err, c.want_in_err))
        << c.name << ": " << result.err;
  }
}

TEST(TlsTest, MutualTlsNeedsTheClientCertificate) {
  FakeAggregator aggregator(ServerTls(/*require_client_cert=*/true));
  const Result with_cert = NodesVia(
      aggregator, {"--tls-ca", TlsFile("ca.pem"), "--tls-cert",
                   TlsFile("client.pem"), "--tls-key", TlsFile("client.key")});
  EXPECT_EQ(with_cert.code, kExitOk) << with_cert.err;

  const Result without = NodesVia(aggregator, {"--tls-ca", TlsFile("ca.pem")});
  EXPECT_EQ(without.code, kExitError);
  EXPECT_EQ(std::count(without.err.begin(), without.err.end(), '\n'), 1)
      << without.err;
  EXPECT_TRUE(absl::StartsWith(without.err, "ghostpeer: ")) << without.err;
  EXPECT_TRUE(absl::StrContains(without.err, "TLS")) << without.err;
}

}  // namespace
}  // namespace ghostpeer::cli
