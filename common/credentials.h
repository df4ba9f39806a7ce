// TLS material and bearer tokens, read from files, for gRPC clients and
// servers. One place for it, so the agent, the CLI and the aggregator load
// and check credentials the same way.
#ifndef GHOSTPEER_COMMON_CREDENTIALS_H_
#define GHOSTPEER_COMMON_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace ghostpeer {

// Reads a whole file; NotFound / PermissionDenied with the path on failure.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// A bearer token from a file: surrounding whitespace trimmed; empty file or
// one with inner whitespace is InvalidArgument (a token pasted with a
// trailing newline works, a file holding two tokens does not).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

struct ClientTlsOptions {
  std::string ca_file;    // empty: plaintext (the other fields must be empty)
  std::string cert_file;  // client certificate for mutual TLS (with key_file)
  std::string key_file;
  std::string server_name;  // overrides the name checked in the server cert
};

// Plaintext when `options.ca_file` is empty, TLS otherwise. InvalidArgument
// for half-given client cert/key or a server name without a CA; the file
// errors of ReadSecretFile.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTlsOptions& options);

// Channel arguments that go with MakeChannelCredentials (server name
// override); empty when there is nothing to set.
void ApplyTlsChannelArguments(const ClientTlsOptions& options,
                              grpc::ChannelArguments* args);

struct ServerTlsOptions {
  std::string cert_file;  // server certificate chain (PEM)
  std::string key_file;
  // When set, clients must present a certificate signed by this CA.
  std::string client_ca_file;
};

// TLS (mutual when client_ca_file is set). Null credentials when cert and
// key are both empty (plaintext); InvalidArgument when only one is given.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);

// True when `endpoint` (HOST:PORT, [V6]:PORT, optionally with gRPC's
// "dns:///", "ipv4:" or "ipv6:" prefix) names this machine: localhost,
// 127.0.0.0/8 or ::1. Whatever else is not known to stay on the machine.
bool IsLoopbackEndpoint(absl::string_view endpoint);

// The warning to give when a bearer token would travel in clear text to a
// peer off this machine ("" when it would not: no token, TLS, or loopback).
std::string ClearTextTokenWarning(absl::string_view endpoint, bool has_token,
                                  bool tls);

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_CREDENTIALS_H_
