#include "common/errno_status.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ghostpeer {

absl::Status ErrnoToStatus(int errno_value, absl::string_view context) {
  const std::string message =
      absl::StrCat(context, ": ", std::strerror(errno_value));
  switch (errno_value) {
    case 0:
      return absl::UnknownError(message);
    case ENOENT:
    case ESRCH:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EINVAL:
      return absl::InvalidArgumentError(message);
    case EAGAIN:
    case EINTR:
    case ECONNREFUSED:
    case ECONNRESET:
      return absl::UnavailableError(message);
    case ETIMEDOUT:
      return absl::DeadlineExceededError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case ENOSYS:
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
      return absl::UnimplementedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace ghostpeer
