#include "common/flag_checks.h"

#include "common/endpoint_list.h"
#include "common/host_port.h"

namespace ghostpeer {

std::string CheckNotEmpty(const std::string& value) {
  return value.empty() ? "must not be empty" : "";
}

std::string CheckListenAddress(const std::string& value) {
  if (value.empty()) return CheckNotEmpty(value);
  absl::StatusOr<HostPort> parsed = ParseHostPort(value, PortUse::kListen);
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

std::string CheckListenAddressOrOff(const std::string& value) {
  return value.empty() ? "" : CheckListenAddress(value);
}

std::string CheckGrpcTarget(const std::string& value) {
  if (value.empty()) return CheckNotEmpty(value);
  const absl::Status status = ValidateGrpcTarget(value);
  return status.ok() ? "" : std::string(status.message());
}

std::string CheckEndpointList(const std::string& value) {
  if (value.empty()) return CheckNotEmpty(value);
  const absl::Status status = ParseEndpointList(value).status();
  return status.ok() ? "" : std::string(status.message());
}

}  // namespace ghostpeer
