// How names from the cluster are shown to people.
#ifndef GHOSTPEER_COMMON_NAMES_H_
#define GHOSTPEER_COMMON_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ghostpeer {

// "gpx-srv.1.51pobf5rrfw66bof7wosx40np" -> "gpx-srv.1": a swarm task (or
// task container) name without its 25-character task id, which people do
// not read. Anything else comes back unchanged. Pure.
std::string ShortTaskName(absl::string_view name);

// `text` with control characters (C0, DEL) replaced by '?', so that a name
// a process or container chose can neither move a terminal's cursor nor
// break a story or an alert into several lines. Pure.
std::string Printable(absl::string_view text);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_NAMES_H_
