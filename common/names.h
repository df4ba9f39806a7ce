// How swarm names are shown to people.
#ifndef GHOSTPEER_COMMON_NAMES_H_
#define GHOSTPEER_COMMON_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ghostpeer {

// "gpx-srv.1.51pobf5rrfw66bof7wosx40np" -> "gpx-srv.1": a swarm task (or
// task container) name without its 25-character task id, which people do
// not read. Anything else comes back unchanged. Pure.
std::string ShortTaskName(absl::string_view name);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_NAMES_H_
