#include "common/endpoint_list.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/host_port.h"

namespace ghostpeer {

absl::StatusOr<std::vector<std::string>> ParseEndpointList(
    absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (absl::StartsWith(trimmed, "ipv4:") ||
      absl::StartsWith(trimmed, "ipv6:")) {
    // Its commas separate addresses of one gRPC target, not our endpoints.
    if (absl::Status valid = ValidateGrpcTarget(trimmed); !valid.ok()) {
      return valid;
    }
    return std::vector<std::string>{std::string(trimmed)};
  }
  const std::vector<absl::string_view> entries = absl::StrSplit(text, ',');
  if (entries.size() > kMaxEndpoints) {
    return absl::InvalidArgumentError(absl::StrCat(
        entries.size(), " endpoints: at most ", kMaxEndpoints, " are allowed"));
  }
  std::vector<std::string> endpoints;
  std::set<std::string> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    const absl::string_view entry = absl::StripAsciiWhitespace(entries[i]);
    const std::string which =
        entries.size() == 1
            ? std::string("endpoint")
            : absl::StrCat("endpoint ", i + 1, " of ", entries.size());
    if (entry.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(which, " is empty (want HOST:PORT[,HOST:PORT...])"));
    }
    if (absl::Status valid = ValidateGrpcTarget(entry); !valid.ok()) {
      // Alone, the entry is the whole value: its message says it all.
      if (entries.size() == 1) return valid;
      return absl::InvalidArgumentError(
          absl::StrCat(which, ": ", valid.message()));
    }
    // Names are case-insensitive; the same aggregator twice would only
    // be tried twice in a row.
    if (!seen.insert(absl::AsciiStrToLower(entry)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          which, ": '", absl::CHexEscape(entry), "' is listed twice"));
    }
    endpoints.emplace_back(entry);
  }
  return endpoints;
}

std::string JoinEndpoints(const std::vector<std::string>& endpoints) {
  return absl::StrJoin(endpoints, ", ");
}

}  // namespace ghostpeer
