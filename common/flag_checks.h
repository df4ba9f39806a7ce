// Checks for the flags of ghostpeer-agent, ghostpeer-aggregator and the
// ghostpeer CLI, and the exit status convention they share, so the three
// binaries refuse the same mistakes the same way.
//
// Each check has the shape of a CLI11 validator (`option->check(...)`):
// it returns "" for a good value and the complaint otherwise. CLI11 runs
// checks only on values given on the command line, never on defaults.
#ifndef GHOSTPEER_COMMON_FLAG_CHECKS_H_
#define GHOSTPEER_COMMON_FLAG_CHECKS_H_

#include <string>

namespace ghostpeer {

// Exit status of the three binaries. The CLI adds 1 for `ghostpeer check`
// finding open findings and 130 for an interrupted query.
inline constexpr int kExitOk = 0;
// The daemons: a failure after a good start.
inline constexpr int kExitFailure = 1;
// Usage and configuration errors, found before any work starts: a bad
// flag or value, a file or directory named by a flag that cannot be read
// or created, a listen address that cannot be bound.
inline constexpr int kExitUsage = 2;

// The footer of each daemon's --help.
inline constexpr char kDaemonExitStatusHelp[] =
    "Exit status: 0 stopped by SIGINT or SIGTERM; 2 bad usage or "
    "configuration (a bad flag or value, a file or directory named by a "
    "flag that cannot be read or created, a listen address that cannot be "
    "bound); 1 any failure after a good start.";

// A value that must not be empty: a path, a URL, a name. An empty value
// there is nearly always an unset shell variable, and taking it would
// silently mean something else (a temporary database, plaintext, no
// token).
std::string CheckNotEmpty(const std::string& value);

// An address to listen on: HOST:PORT, [IPV6]:PORT or :PORT, port 0..65535
// (common/host_port.h).
std::string CheckListenAddress(const std::string& value);

// CheckListenAddress, but empty is fine: it turns the listener off
// (--http-listen, --metrics-listen).
std::string CheckListenAddressOrOff(const std::string& value);

// A gRPC target to dial: HOST:PORT with port 1..65535, optionally behind
// dns:, ipv4: or ipv6: (ValidateGrpcTarget).
std::string CheckGrpcTarget(const std::string& value);

// A comma-separated list of such targets, at most 16, none twice
// (ParseEndpointList, common/endpoint_list.h).
std::string CheckEndpointList(const std::string& value);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_FLAG_CHECKS_H_
