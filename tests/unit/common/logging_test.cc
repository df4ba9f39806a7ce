#include "common/logging.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ghostpeer {
namespace {

// What a client controls, logged as a value: it must not start a line of
// its own (text) or end the JSON string (JSON).
const char kForgery[] =
    "10.0.0.1\n2026-01-01T00:00:00.000 I ghostpeer: forged\", \"level\": \"x";

std::vector<std::string> LogOnce(bool json) {
  LoggingOptions options;
  options.json = json;
  options.program = "test";
  EXPECT_TRUE(InitLogging(options).ok());
  ::testing::internal::CaptureStderr();
  GP_LOG_WARN("address {}", kForgery);
  spdlog::default_logger()->flush();
  const std::string written = ::testing::internal::GetCapturedStderr();
  return absl::StrSplit(written, '\n', absl::SkipEmpty());
}

TEST(LoggingTest, TextLineCannotBeForged) {
  const std::vector<std::string> lines = LogOnce(/*json=*/false);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("address 10.0.0.1\\n2026"), std::string::npos)
      << lines[0];
}

TEST(LoggingTest, JsonLineStaysJsonWithTheMessageIntact) {
  const std::vector<std::string> lines = LogOnce(/*json=*/true);
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json line = nlohmann::json::parse(lines[0], nullptr, false);
  ASSERT_FALSE(line.is_discarded()) << lines[0];
  EXPECT_EQ(line["msg"], std::string("address ") + kForgery);
  EXPECT_EQ(line["level"], "warning");
}

}  // namespace
}  // namespace ghostpeer
