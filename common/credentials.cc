#include "common/credentials.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/errno_status.h"
#include "common/status_macros.h"
#include "grpcpp/support/channel_arguments.h"

namespace ghostpeer {

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoToStatus(errno, absl::StrCat("cannot read ", path));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  GHOSTPEER_ASSIGN_OR_RETURN(std::string content, ReadSecretFile(path));
  const std::string token(absl::StripAsciiWhitespace(content));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, " is empty"));
  }
  for (char c : token) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        !absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file ", path,
                       " holds whitespace or control characters "
                       "inside the token"));
    }
  }
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs both --tls-cert and --tls-key");
  }
  if (options.ca_file.empty()) {
    if (!options.cert_file.empty() || !options.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--tls-cert, --tls-key and --tls-server-name need --tls-ca");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  GHOSTPEER_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                             ReadSecretFile(options.ca_file));
  if (!options.cert_file.empty()) {
    GHOSTPEER_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                               ReadSecretFile(options.cert_file));
    GHOSTPEER_ASSIGN_OR_RETURN(ssl.pem_private_key,
                               ReadSecretFile(options.key_file));
  }
  return grpc::SslCredentials(ssl);
}

void ApplyTlsChannelArguments(const ClientTlsOptions& options,
                              grpc::ChannelArguments* args) {
  if (!options.ca_file.empty() && !options.server_name.empty()) {
    args->SetSslTargetNameOverride(options.server_name);
  }
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options) {
  if (options.cert_file.empty() && options.key_file.empty()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-ca (client certificates) needs --tls-cert and --tls-key");
    }
    return std::shared_ptr<grpc::ServerCredentials>();
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls-cert and --tls-key");
  }
  grpc::SslServerCredentialsOptions ssl(
      options.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  GHOSTPEER_ASSIGN_OR_RETURN(pair.cert_chain,
                             ReadSecretFile(options.cert_file));
  GHOSTPEER_ASSIGN_OR_RETURN(pair.private_key,
                             ReadSecretFile(options.key_file));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.client_ca_file.empty()) {
    GHOSTPEER_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                               ReadSecretFile(options.client_ca_file));
  }
  return grpc::SslServerCredentials(ssl);
}

bool IsLoopbackEndpoint(absl::string_view endpoint) {
  endpoint = absl::StripAsciiWhitespace(endpoint);
  for (absl::string_view scheme : {"dns:///", "ipv4:", "ipv6:"}) {
    if (absl::ConsumePrefix(&endpoint, scheme)) break;
  }
  absl::string_view host = endpoint;
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  return absl::EqualsIgnoreCase(host, "localhost") || host == "::1" ||
         absl::StartsWith(host, "127.");
}

std::string ClearTextTokenWarning(absl::string_view endpoint, bool has_token,
                                  bool tls) {
  if (!has_token || tls || IsLoopbackEndpoint(endpoint)) return "";
  return absl::StrCat("the bearer token goes to ", endpoint,
                      " in clear text (no TLS): anyone on the path can read "
                      "and reuse it; give --tls-ca");
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace ghostpeer
