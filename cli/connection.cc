#include "cli/connection.h"

#include <cerrno>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/humanize.h"
#include "common/endpoint_list.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "grpc/support/log.h"

namespace ghostpeer::cli {
namespace {

// Certificates and tokens are small; a bigger file is the wrong file.
constexpr size_t kMaxFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          absl::string_view flag) {
  const std::string context = absl::StrCat("reading ", flag, " ", path);
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return ErrnoToStatus(errno, context);
  std::string contents;
  char buffer[8192];
  size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    contents.append(buffer, read);
    if (contents.size() > kMaxFileBytes) {
      std::fclose(file);
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": larger than ", kMaxFileBytes, " bytes"));
    }
  }
  const bool failed = std::ferror(file) != 0;
  const int read_errno = errno;
  std::fclose(file);
  if (failed) return ErrnoToStatus(read_errno, context);
  return contents;
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  GHOSTPEER_ASSIGN_OR_RETURN(std::string contents,
                             ReadSmallFile(path, "--token-file"));
  // Files written by `echo` end in a newline; the token itself may not
  // contain one (it goes into an HTTP/2 header).
  const std::string token(absl::StripAsciiWhitespace(contents));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file ", path, " is empty"));
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token-file ", path,
          ": the token must be one line of printable ASCII without spaces"));
    }
  }
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(
    const ConnectionOptions& options) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together: give both or neither");
  }
  if (!options.uses_tls()) {
    if (!options.tls_server_name.empty()) {
      return absl::InvalidArgumentError(
          "--tls-server-name needs TLS: give --tls-ca too");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca.empty()) {
    GHOSTPEER_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                               ReadSmallFile(options.tls_ca, "--tls-ca"));
  }
  if (!options.tls_cert.empty()) {
    GHOSTPEER_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                               ReadSmallFile(options.tls_cert, "--tls-cert"));
    GHOSTPEER_ASSIGN_OR_RETURN(ssl.pem_private_key,
                               ReadSmallFile(options.tls_key, "--tls-key"));
  }
  return grpc::SslCredentials(ssl);
}

std::string OneLine(absl::string_view text) {
  std::string line = absl::StrReplaceAll(text, {{"\r", " "}, {"\n", " "}});
  return Printable(absl::StripAsciiWhitespace(line));
}

void DiscardGrpcLog(gpr_log_func_args* /*args*/) {}

void PrintGrpcLog(gpr_log_func_args* args) {
  std::fprintf(stderr, "grpc %s %s:%d: %s\n",
               gpr_log_severity_string(args->severity), args->file, args->line,
               args->message);
}

}  // namespace

QueryConnection::QueryConnection(ConnectionOptions options, std::string token,
                                 std::vector<std::string> endpoint_names,
                                 std::vector<Endpoint> endpoints)
    : options_(std::move(options)),
      token_(std::move(token)),
      endpoint_names_(std::move(endpoint_names)),
      endpoints_(std::move(endpoints)) {}

absl::StatusOr<std::unique_ptr<QueryConnection>> QueryConnection::Open(
    const ConnectionOptions& options) {
  if (absl::StripAsciiWhitespace(options.server).empty()) {
    return absl::InvalidArgumentError(
        "no aggregator address: set --server or GHOSTPEER_SERVER (HOST:PORT)");
  }
  absl::StatusOr<std::vector<std::string>> endpoint_names =
      ParseEndpointList(options.server);
  if (!endpoint_names.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server: ", endpoint_names.status().message()));
  }
  std::string token;
  if (!options.token_file.empty()) {
    GHOSTPEER_ASSIGN_OR_RETURN(token, ReadToken(options.token_file));
  }
  GHOSTPEER_ASSIGN_OR_RETURN(auto credentials, MakeCredentials(options));

  grpc::ChannelArguments args;
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  if (options.keepalive_time > absl::ZeroDuration()) {
    // The aggregator permits pings every 5 s even without calls
    // (aggregator/server.cc), so the client's schedule is ours to pick.
    args.SetInt(
        GRPC_ARG_KEEPALIVE_TIME_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_time)));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  // A CLI lives for seconds: do not let gRPC hold a failed dial open.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::vector<Endpoint> endpoints;
  for (const std::string& name : *endpoint_names) {
    Endpoint endpoint;
    endpoint.channel = grpc::CreateCustomChannel(name, credentials, args);
    endpoint.stub = v1::Query::NewStub(endpoint.channel);
    endpoints.push_back(std::move(endpoint));
  }
  return std::unique_ptr<QueryConnection>(
      new QueryConnection(options, std::move(token), std::move(*endpoint_names),
                          std::move(endpoints)));
}

bool QueryConnection::Connected() const {
  return endpoints_[current_].channel->GetState(/*try_to_connect=*/false) ==
         GRPC_CHANNEL_READY;
}

std::unique_ptr<grpc::ClientContext> QueryConnection::NewContext(
    bool with_deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (with_deadline) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  }
  if (!token_.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
  return context;
}

bool QueryConnection::AwaitReady(absl::Duration timeout) {
  const auto deadline = absl::ToChronoTime(absl::Now() + timeout);
  grpc::Channel& channel = *endpoints_[current_].channel;
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  // Each wait returns on a state change or at the deadline, so this ends
  // within `timeout` however the channel flaps.
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
        state == GRPC_CHANNEL_SHUTDOWN) {
      return false;
    }
    if (!channel.WaitForStateChange(state, deadline)) return false;
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return true;
}

TransportProblem DiagnoseTransport(absl::string_view message) {
  static constexpr char kServerHint[] = "set --server or GHOSTPEER_SERVER";
  static constexpr char kTlsHint[] =
      "check --tls-ca, --tls-server-name and the aggregator's certificate";
  static constexpr char kPlaintextHint[] =
      "does the aggregator expect TLS? see --tls-ca";
  struct Pattern {
    const char* needle;  // lower case
    const char* detail;
    const char* hint;
  };
  static constexpr Pattern kPatterns[] = {
      {"connection refused", "connection refused", kServerHint},
      {"no route to host", "no route to host", kServerHint},
      {"network is unreachable", "network is unreachable", kServerHint},
      {"dns resolution failed", "cannot resolve the host name", kServerHint},
      {"name or service not known", "cannot resolve the host name",
       kServerHint},
      {"domain name not found", "cannot resolve the host name", kServerHint},
      {"handshake", "TLS handshake failed", kTlsHint},
      {"certificate", "TLS handshake failed", kTlsHint},
      {"connection reset", "the connection was reset", kPlaintextHint},
      {"socket closed", "the connection was closed", kPlaintextHint},
      {"cancelling all calls", "the aggregator shut down", kServerHint},
      {"timed out", "connection timed out", kServerHint},
      {"timeout", "connection timed out", kServerHint},
  };
  const std::string lower = absl::AsciiStrToLower(message);
  for (const Pattern& pattern : kPatterns) {
    if (absl::StrContains(lower, pattern.needle)) {
      return {pattern.detail, pattern.hint};
    }
  }
  const absl::string_view first_line = message.substr(0, message.find('\n'));
  return {first_line.empty() ? "unavailable" : OneLine(first_line),
          kServerHint};
}

absl::Status DescribeRpcError(const grpc::Status& status,
                              absl::string_view server,
                              absl::Duration timeout) {
  const std::string detail = OneLine(status.error_message());
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::UNAVAILABLE: {
      const TransportProblem problem =
          DiagnoseTransport(status.error_message());
      return absl::Status(
          code, absl::StrCat("cannot reach aggregator at ", server, ": ",
                             problem.detail, " (", problem.hint, ")"));
    }
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return absl::Status(
          code,
          absl::StrCat(
              "the aggregator refused the credentials: ",
              detail.empty() ? "no detail given (see --token-file)" : detail));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::Status(
          code,
          absl::StrCat("the aggregator at ", server, " did not answer within ",
                       absl::FormatDuration(timeout),
                       " (raise --timeout if it is busy)"));
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::Status(
          code, absl::StrCat("the server at ", server,
                             " does not serve this query (is it a ghostpeer "
                             "aggregator of this version?)",
                             detail.empty() ? "" : ": ", detail));
    case grpc::StatusCode::INVALID_ARGUMENT:
      return absl::Status(
          code, absl::StrCat("the aggregator rejected the request: ", detail));
    default:
      return absl::Status(code,
                          absl::StrCat("the aggregator answered ",
                                       absl::StatusCodeToString(code),
                                       detail.empty() ? "" : ": ", detail));
  }
}

void ConfigureGrpcLogging(bool verbose) {
  gpr_set_log_verbosity(verbose ? GPR_LOG_SEVERITY_DEBUG
                                : GPR_LOG_SEVERITY_ERROR);
  gpr_set_log_function(verbose ? &PrintGrpcLog : &DiscardGrpcLog);
}

}  // namespace ghostpeer::cli
