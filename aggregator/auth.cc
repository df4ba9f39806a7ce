#include "aggregator/auth.h"

#include "absl/strings/match.h"
#include "common/credentials.h"

namespace ghostpeer::aggregator {

CallAuthorizer BearerTokenAuthorizer(std::string token) {
  return [token = std::move(token)](grpc::CallbackServerContext* context) {
    const auto& metadata = context->client_metadata();
    auto header = metadata.find("authorization");
    if (header == metadata.end()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "missing authorization header (bearer token)");
    }
    const std::string value(header->second.data(), header->second.size());
    constexpr absl::string_view kPrefix = "Bearer ";
    if (!absl::StartsWith(value, kPrefix)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "authorization header is not a bearer token");
    }
    if (!ConstantTimeEquals(value.substr(kPrefix.size()), token)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong token");
    }
    return grpc::Status::OK;
  };
}

}  // namespace ghostpeer::aggregator
