// Who may talk to the aggregator, and as which node.
//
// Calls carry "authorization: Bearer <token>". Two kinds of token:
//  * the cluster token (--token-file): queries, and ingest as any node;
//  * node tokens (--node-tokens-file): ingest only, and only as a node whose
//    name matches one of the token's patterns, so the holder of one node's
//    token cannot report as, or hide, another node.
#ifndef GHOSTPEER_AGGREGATOR_AUTH_H_
#define GHOSTPEER_AGGREGATOR_AUTH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "aggregator/ingest_service.h"

namespace ghostpeer::aggregator {

// A token that may ingest only as nodes matching `node_patterns`
// (fnmatch(3) globs over the whole name: `*`, `?`, `[a-z]`).
struct NodeToken {
  std::string token;
  std::vector<std::string> node_patterns;
};

// The node tokens file: one `TOKEN PATTERN [PATTERN ...]` per line, fields
// separated by spaces or tabs; blank lines and lines starting with `#` are
// skipped; a token on several lines gets all their patterns. InvalidArgument
// naming the line (never the token) for a line without a pattern.
absl::StatusOr<std::vector<NodeToken>> ParseNodeTokens(absl::string_view text);

// ReadSecretFile + ParseNodeTokens, the path in errors.
absl::StatusOr<std::vector<NodeToken>> ReadNodeTokensFile(
    const std::string& path);

// The checks the services make, from the configured tokens. Presented
// tokens are compared with every configured token in constant time.
// Refusals say what was wrong (missing header, not a bearer token, unknown
// token: UNAUTHENTICATED; a node token used for a query or another node:
// PERMISSION_DENIED) but never a token.
class TokenAuthorizer {
 public:
  // `cluster_token` may be empty (then only node tokens exist and nobody
  // may query). InvalidArgument when there is no token at all, a token is
  // empty or holds whitespace, or a node token equals the cluster token.
  static absl::StatusOr<TokenAuthorizer> Create(
      std::string cluster_token, std::vector<NodeToken> node_tokens);

  // Query calls: the cluster token only.
  CallAuthorizer ForQuery() const;
  // Ingest streams: any known token.
  CallAuthorizer ForIngest() const;
  // Hello: the cluster token as any node, a node token as its nodes.
  NodeAuthorizer ForNodes() const;

 private:
  struct Grant {
    std::string token;
    // Empty: the cluster token, any node.
    std::vector<std::string> node_patterns;
  };
  explicit TokenAuthorizer(std::shared_ptr<const std::vector<Grant>> grants)
      : grants_(std::move(grants)) {}

  // The grant of the call's bearer token, or UNAUTHENTICATED.
  static absl::StatusOr<const Grant*> Identify(
      const std::vector<Grant>& grants, grpc::CallbackServerContext* context);

  std::shared_ptr<const std::vector<Grant>> grants_;
};

// Admits calls carrying "authorization: Bearer <token>" (the cluster token
// alone); others end with UNAUTHENTICATED.
CallAuthorizer BearerTokenAuthorizer(std::string token);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_AUTH_H_
