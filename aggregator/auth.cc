#include "aggregator/auth.h"

#include <fnmatch.h>

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/credentials.h"

namespace ghostpeer::aggregator {
namespace {

bool HasWhitespace(absl::string_view text) {
  for (char c : text) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

bool MatchesAny(const std::vector<std::string>& patterns,
                const std::string& node) {
  for (const std::string& pattern : patterns) {
    if (fnmatch(pattern.c_str(), node.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<NodeToken>> ParseNodeTokens(absl::string_view text) {
  std::vector<NodeToken> tokens;
  absl::flat_hash_map<std::string, size_t> index;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    std::vector<std::string> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number,
          ": want TOKEN NODE_PATTERN [NODE_PATTERN ...]; a token for any "
          "node belongs in --token-file"));
    }
    auto [it, inserted] = index.try_emplace(fields[0], tokens.size());
    if (inserted) tokens.push_back({fields[0], {}});
    std::vector<std::string>& patterns = tokens[it->second].node_patterns;
    patterns.insert(patterns.end(), std::make_move_iterator(fields.begin() + 1),
                    std::make_move_iterator(fields.end()));
  }
  return tokens;
}

absl::StatusOr<std::vector<NodeToken>> ReadNodeTokensFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadSecretFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<NodeToken>> tokens = ParseNodeTokens(*text);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", tokens.status().message()));
  }
  return tokens;
}

absl::StatusOr<TokenAuthorizer> TokenAuthorizer::Create(
    std::string cluster_token, std::vector<NodeToken> node_tokens) {
  auto grants = std::make_shared<std::vector<Grant>>();
  if (!cluster_token.empty()) {
    if (HasWhitespace(cluster_token)) {
      return absl::InvalidArgumentError("the cluster token holds whitespace");
    }
    grants->push_back({std::move(cluster_token), {}});
  }
  for (size_t i = 0; i < node_tokens.size(); ++i) {
    NodeToken& node_token = node_tokens[i];
    const std::string which = absl::StrCat("node token ", i + 1);
    if (node_token.token.empty() || HasWhitespace(node_token.token)) {
      return absl::InvalidArgumentError(
          absl::StrCat(which, " is empty or holds whitespace"));
    }
    if (node_token.node_patterns.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(which, " has no node name pattern"));
    }
    if (!grants->empty() && grants->front().node_patterns.empty() &&
        grants->front().token == node_token.token) {
      return absl::InvalidArgumentError(absl::StrCat(
          which, " is the cluster token: one token cannot be both"));
    }
    grants->push_back(
        {std::move(node_token.token), std::move(node_token.node_patterns)});
  }
  if (grants->empty()) {
    return absl::InvalidArgumentError("no token configured");
  }
  return TokenAuthorizer(std::move(grants));
}

absl::StatusOr<const TokenAuthorizer::Grant*> TokenAuthorizer::Identify(
    const std::vector<Grant>& grants, grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto header = metadata.find("authorization");
  if (header == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing authorization header (bearer token)");
  }
  const std::string value(header->second.data(), header->second.size());
  constexpr absl::string_view kPrefix = "Bearer ";
  if (!absl::StartsWith(value, kPrefix)) {
    return absl::UnauthenticatedError(
        "authorization header is not a bearer token");
  }
  const std::string presented = value.substr(kPrefix.size());
  // Every token is compared, so the time taken does not tell how many
  // tokens precede the one presented.
  const Grant* found = nullptr;
  for (const Grant& grant : grants) {
    if (ConstantTimeEquals(presented, grant.token)) found = &grant;
  }
  if (found == nullptr) return absl::UnauthenticatedError("wrong token");
  return found;
}

CallAuthorizer TokenAuthorizer::ForQuery() const {
  return [grants = grants_](grpc::CallbackServerContext* context) {
    absl::StatusOr<const Grant*> grant = Identify(*grants, context);
    if (!grant.ok()) return ToGrpcStatus(grant.status());
    if (!(*grant)->node_patterns.empty()) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "a node token may only report (Ingest); queries "
                          "need the cluster token");
    }
    return grpc::Status::OK;
  };
}

CallAuthorizer TokenAuthorizer::ForIngest() const {
  return [grants = grants_](grpc::CallbackServerContext* context) {
    return ToGrpcStatus(Identify(*grants, context).status());
  };
}

NodeAuthorizer TokenAuthorizer::ForNodes() const {
  return [grants = grants_](grpc::CallbackServerContext* context,
                            const std::string& node) -> absl::Status {
    absl::StatusOr<const Grant*> grant = Identify(*grants, context);
    if (!grant.ok()) return grant.status();
    const std::vector<std::string>& patterns = (*grant)->node_patterns;
    if (patterns.empty() || MatchesAny(patterns, node)) {
      return absl::OkStatus();
    }
    // Escaped: the name is not validated yet and ends up in logs.
    return absl::PermissionDeniedError(absl::StrCat(
        "this token may not report as node '", absl::CHexEscape(node),
        "' (--node-tokens-file binds it to other node names)"));
  };
}

CallAuthorizer BearerTokenAuthorizer(std::string token) {
  absl::StatusOr<TokenAuthorizer> authorizer =
      TokenAuthorizer::Create(std::move(token), {});
  if (!authorizer.ok()) {
    // ReadTokenFile never yields an empty token or one with whitespace.
    const grpc::Status refused = ToGrpcStatus(authorizer.status());
    return [refused](grpc::CallbackServerContext*) { return refused; };
  }
  return authorizer->ForQuery();
}

}  // namespace ghostpeer::aggregator
