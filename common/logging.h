// Logging for daemons and the CLI. spdlog sits behind this header so the
// backend is one file to change. Pure code returns Status and never logs.
#ifndef GHOSTPEER_COMMON_LOGGING_H_
#define GHOSTPEER_COMMON_LOGGING_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace ghostpeer {

struct LoggingOptions {
  // "trace", "debug", "info", "warn", "error", "off".
  std::string level = "info";
  // One JSON object per line instead of human-readable text.
  bool json = false;
  // Program name included in every line.
  std::string program = "ghostpeer";
};

// Configures the default logger (stderr). InvalidArgument for an unknown level.
// Every message is written through EscapeLogMessage (common/utf8.h), so no
// value logged can start a line of its own or break a JSON line.
absl::Status InitLogging(const LoggingOptions& options);

}  // namespace ghostpeer

#define GP_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define GP_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define GP_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define GP_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)

#endif  // GHOSTPEER_COMMON_LOGGING_H_
