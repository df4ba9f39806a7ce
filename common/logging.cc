#include "common/logging.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace ghostpeer {
namespace {

// The `%*` pattern flag: the message, escaped.
class EscapedMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  explicit EscapedMessageFlag(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string escaped = EscapeLogMessage(
        absl::string_view(msg.payload.data(), msg.payload.size()), json_);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<EscapedMessageFlag>(json_);
  }

 private:
  const bool json_;
};

}  // namespace

absl::Status InitLogging(const LoggingOptions& options) {
  const spdlog::level::level_enum level =
      spdlog::level::from_str(options.level);
  // from_str answers "off" for anything it does not know.
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level '", options.level,
                     "' (want trace, debug, info, warn, error or off)"));
  }
  auto logger = std::make_shared<spdlog::logger>(
      options.program, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  // Every message goes through EscapeLogMessage (the `%*` flag), and the
  // JSON layout keeps UTC times.
  auto formatter = std::make_unique<spdlog::pattern_formatter>(
      options.json ? spdlog::pattern_time_type::utc
                   : spdlog::pattern_time_type::local);
  formatter->add_flag<EscapedMessageFlag>('*', options.json);
  if (options.json) {
    formatter->set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","program":"%n","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %n: %*");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
  return absl::OkStatus();
}

}  // namespace ghostpeer
