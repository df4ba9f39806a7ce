#include "agent/run_once.h"

#include <memory>

#include "common/status_macros.h"

namespace ghostpeer::agent {

absl::Status RunOnce(const OnceOptions& options, std::ostream& out) {
  GHOSTPEER_ASSIGN_OR_RETURN(std::unique_ptr<Snapshotter> snapshotter,
                             Snapshotter::Create(options.snapshotter));
  GHOSTPEER_ASSIGN_OR_RETURN(v1::NodeSnapshot snapshot, snapshotter->Take());
  FilterAndSort(options.output, &snapshot);
  if (options.format == OutputFormat::kJson) {
    out << FormatSnapshotJson(snapshot);
  } else {
    out << FormatSnapshotTable(snapshot);
  }
  out.flush();
  if (!out) return absl::UnavailableError("writing the snapshot failed");
  return absl::OkStatus();
}

}  // namespace ghostpeer::agent
