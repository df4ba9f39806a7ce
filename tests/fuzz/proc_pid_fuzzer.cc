// /proc/<pid>/stat and /proc/<pid>/status of every process the agent
// attributes sockets to: the command name in them is whatever the process
// set (prctl(PR_SET_NAME) needs no privilege, and may hold ") " or any
// byte). Input: the file's content, parsed as both files.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/fd_scanner.h"
#include "agent/proc_fs.h"
#include "common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view content(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ghostpeer::agent::ProcStat> stat =
      ghostpeer::agent::ParseProcStat(content);
  // The comm is taken from the content, never made up, and repaired to
  // UTF-8 without control characters (it goes into a proto3 string and is
  // shown on one line). A comm without a backslash had nothing escaped, so
  // it is the content's own.
  if (stat.ok()) {
    FUZZ_CHECK(ghostpeer::IsValidUtf8(stat->comm));
    for (char c : stat->comm) {
      const auto byte = static_cast<unsigned char>(c);
      FUZZ_CHECK(byte >= 0x20 && byte != 0x7f);
    }
    FUZZ_CHECK(stat->comm.find('\\') != std::string::npos ||
               content.find(stat->comm) != absl::string_view::npos);
  }
  FUZZ_CHECK(ghostpeer::agent::ParseFdTableSize(std::string(content)) >= 0);
  return 0;
}
