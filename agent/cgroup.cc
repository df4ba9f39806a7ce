#include "agent/cgroup.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ghostpeer::agent {
namespace {

constexpr size_t kContainerIdLength = 64;

// The systemd driver names a container's scope "<runtime>-<id>.scope".
constexpr absl::string_view kScopePrefixes[] = {
    "docker-", "cri-containerd-", "libpod-", "crio-", "containerd-"};

std::optional<std::string> IdFromComponent(absl::string_view component) {
  if (IsContainerId(component)) return std::string(component);
  if (!absl::ConsumeSuffix(&component, ".scope")) return std::nullopt;
  for (absl::string_view prefix : kScopePrefixes) {
    absl::string_view rest = component;
    if (absl::ConsumePrefix(&rest, prefix) && IsContainerId(rest)) {
      return std::string(rest);
    }
  }
  return std::nullopt;
}

}  // namespace

bool IsContainerId(absl::string_view text) {
  if (text.size() != kContainerIdLength) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<std::string> ContainerIdFromCgroup(absl::string_view content) {
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    // hierarchy-ID:controller-list:path; the path may itself contain ':'.
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    std::vector<absl::string_view> components =
        absl::StrSplit(fields[2], '/', absl::SkipEmpty());
    for (auto it = components.rbegin(); it != components.rend(); ++it) {
      if (std::optional<std::string> id = IdFromComponent(*it)) return id;
    }
  }
  return std::nullopt;
}

}  // namespace ghostpeer::agent
