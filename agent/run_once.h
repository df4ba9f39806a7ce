// `ghostpeer-agent --once`: one local snapshot, printed.
#ifndef GHOSTPEER_AGENT_RUN_ONCE_H_
#define GHOSTPEER_AGENT_RUN_ONCE_H_

#include <ostream>

#include "absl/status/status.h"
#include "agent/snapshot_output.h"
#include "agent/snapshotter.h"

namespace ghostpeer::agent {

enum class OutputFormat { kTable, kJson };

struct OnceOptions {
  SnapshotterOptions snapshotter;
  OutputFormat format = OutputFormat::kTable;
  OutputOptions output;
};

// Takes one snapshot with `options.snapshotter`, filters and sorts it, and
// writes it to `out` as a table or JSON. Errors: those of Snapshotter::Create
// and Take, and of the JSON printer. Not thread-safe with respect to `out`.
absl::Status RunOnce(const OnceOptions& options, std::ostream& out);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_RUN_ONCE_H_
