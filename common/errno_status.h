#ifndef GHOSTPEER_COMMON_ERRNO_STATUS_H_
#define GHOSTPEER_COMMON_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ghostpeer {

// Maps an errno value to the closest absl::StatusCode and builds a status
// whose message is "<context>: <strerror>". ENOENT -> NotFound, EACCES/EPERM
// -> PermissionDenied, EINVAL -> InvalidArgument, EAGAIN/EINTR ->
// Unavailable, anything else -> Internal (Unknown for 0).
absl::Status ErrnoToStatus(int errno_value, absl::string_view context);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_ERRNO_STATUS_H_
