#include "common/errno_status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

TEST(ErrnoStatusTest, MapsCommonErrnos) {
  struct Case {
    int errno_value;
    absl::StatusCode want;
  };
  const Case cases[] = {
      {ENOENT, absl::StatusCode::kNotFound},
      {EACCES, absl::StatusCode::kPermissionDenied},
      {EPERM, absl::StatusCode::kPermissionDenied},
      {EINVAL, absl::StatusCode::kInvalidArgument},
      {EAGAIN, absl::StatusCode::kUnavailable},
      {ENOMEM, absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrnoToStatus(c.errno_value, "x").code(), c.want)
        << c.errno_value;
  }
}

TEST(ErrnoStatusTest, MessageCarriesContext) {
  const absl::Status status = ErrnoToStatus(ENOENT, "open /proc/1/ns/net");
  EXPECT_EQ(status.message(), "open /proc/1/ns/net: No such file or directory");
}

}  // namespace
}  // namespace ghostpeer
