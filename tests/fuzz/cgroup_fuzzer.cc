// /proc/<pid>/cgroup: a process inside a cgroup namespace, or any process
// that may create cgroups (rootless containers, systemd user slices), names
// its own paths. Input: the file's content.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/cgroup.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view content(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string> id =
      ghostpeer::agent::ContainerIdFromCgroup(content);
  // Whatever the paths say, an answer is a real container id found in them.
  if (id.has_value()) {
    FUZZ_CHECK(ghostpeer::agent::IsContainerId(*id));
    FUZZ_CHECK(content.find(*id) != absl::string_view::npos);
  }
  return 0;
}
