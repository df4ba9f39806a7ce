#include "common/utf8.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

struct RepairCase {
  std::string name;
  std::string input;
  bool valid;            // IsValidUtf8(input)
  std::string repaired;  // RepairUtf8(input)
};

std::vector<RepairCase> RepairCases() {
  using std::string_literals::operator""s;
  return {
      {"empty", "", true, ""},
      {"ascii", "nginx: worker", true, "nginx: worker"},
      {"two_byte", "caf\xc3\xa9", true, "caf\xc3\xa9"},
      {"three_byte", "\xe6\x97\xa5\xe6\x9c\xac", true,
       "\xe6\x97\xa5\xe6\x9c\xac"},
      {"four_byte", "\xf0\x9f\x91\xbb", true, "\xf0\x9f\x91\xbb"},
      {"max_code_point", "\xf4\x8f\xbf\xbf", true, "\xf4\x8f\xbf\xbf"},
      {"embedded_nul_is_valid_and_escaped", "a\0b"s, true, "a\\x00b"},
      {"controls_are_escaped", "a\nb\tc\x7f\x1b", true, "a\\nb\\tc\\x7f\\x1b"},
      {"backslash_is_doubled", "systemd\\x2dfsck", true, "systemd\\\\x2dfsck"},
      {"lone_ff", "\xff", false, "\\xff"},
      {"bad_byte_mid_name",
       "ab\xfe"
       "cd",
       false, "ab\\xfecd"},
      {"lone_continuation", "\x80x\xbf", false, "\\x80x\\xbf"},
      {"truncated_two_byte", "caf\xc3", false, "caf\\xc3"},
      {"truncated_three_byte", "\xe6\x97", false, "\\xe6\\x97"},
      {"truncated_four_byte_then_ascii", "\xf0\x9f\x91z", false,
       "\\xf0\\x9f\\x91z"},
      {"overlong_slash", "\xc0\xaf", false, "\\xc0\\xaf"},
      {"overlong_nul", "\xc1\x80", false, "\\xc1\\x80"},
      {"overlong_three_byte", "\xe0\x80\xaf", false, "\\xe0\\x80\\xaf"},
      {"overlong_four_byte", "\xf0\x80\x80\xaf", false, "\\xf0\\x80\\x80\\xaf"},
      {"surrogate_high", "\xed\xa0\x80", false, "\\xed\\xa0\\x80"},
      {"surrogate_low", "\xed\xbf\xbf", false, "\\xed\\xbf\\xbf"},
      {"past_u10ffff", "\xf4\x90\x80\x80", false, "\\xf4\\x90\\x80\\x80"},
      {"f5_lead", "\xf5\x80\x80\x80", false, "\\xf5\\x80\\x80\\x80"},
      {"valid_after_invalid_resyncs", "\xff\xc3\xa9", false, "\\xff\xc3\xa9"},
      {"backslash_and_bad_byte", "a\\\xff", false, "a\\\\\\xff"},
      {"nul_and_bad_byte", "\0\xff"s, false, "\\x00\\xff"},
  };
}

TEST(RepairUtf8Test, Table) {
  for (const RepairCase& c : RepairCases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(IsValidUtf8(c.input), c.valid);
    const std::string repaired = RepairUtf8(c.input);
    EXPECT_EQ(repaired, c.repaired);
    EXPECT_TRUE(IsValidUtf8(repaired));
  }
}

// The reason backslashes are escaped: a name that spells out an escape and a
// name that holds the byte must not look the same once repaired.
TEST(RepairUtf8Test, SpelledEscapeAndRawByteDiffer) {
  EXPECT_NE(RepairUtf8("\\xff"), RepairUtf8("\xff"));
  EXPECT_NE(RepairUtf8("\\\\"), RepairUtf8("\\"));
}

TEST(RepairUtf8Test, EveryByteRepairsToValidText) {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string input(3, static_cast<char>(byte));
    EXPECT_TRUE(IsValidUtf8(RepairUtf8(input))) << "byte " << byte;
  }
}

struct LogCase {
  std::string name;
  std::string input;
  size_t max_bytes;
  std::string escaped;
};

TEST(EscapeForLogTest, Table) {
  const std::vector<LogCase> cases = {
      {"plain", "10.0.0.1", 512, "10.0.0.1"},
      {"newline_cannot_forge_a_line",
       "1.2.3.4\n[info] ingest: node 'x' connected", 512,
       "1.2.3.4\\n[info] ingest: node 'x' connected"},
      {"carriage_return_and_tab", "a\rb\tc", 512, "a\\rb\\tc"},
      {"terminal_escape", "\x1b[31mred", 512, "\\x1b[31mred"},
      {"del", "a\x7f", 512, "a\\x7f"},
      {"c1_next_line", "a\xc2\x85z", 512, "a\\u0085z"},
      {"line_separator", "a\xe2\x80\xa8z", 512, "a\\u2028z"},
      {"multibyte_kept", "caf\xc3\xa9", 512, "caf\xc3\xa9"},
      {"invalid_bytes", "\xff\xfe", 512, "\\xff\\xfe"},
      {"backslash", "a\\n", 512, "a\\\\n"},
      {"cut_long_input", "abcdefgh", 4, "abcd...(8 bytes)"},
      {"cut_never_splits_a_sequence", "ab\xc3\xa9", 3, "ab...(4 bytes)"},
  };
  for (const LogCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string escaped = EscapeForLog(c.input, c.max_bytes);
    EXPECT_EQ(escaped, c.escaped);
    EXPECT_EQ(escaped.find('\n'), std::string::npos);
    EXPECT_TRUE(IsValidUtf8(escaped));
  }
}

struct MessageCase {
  std::string name;
  std::string message;
  std::string text;  // EscapeLogMessage(message, false)
  std::string json;  // EscapeLogMessage(message, true)
};

TEST(EscapeLogMessageTest, Table) {
  const std::vector<MessageCase> cases = {
      {"plain", "node 'a' connected", "node 'a' connected",
       "node 'a' connected"},
      {"newline", "x\ny", "x\\ny", "x\\ny"},
      {"quote_and_backslash", "a \"b\" c\\d", "a \"b\" c\\d",
       "a \\\"b\\\" c\\\\d"},
      {"control", "\x01\x1b[0m", "\\x01\\x1b[0m", "\\u0001\\u001b[0m"},
      {"invalid_utf8", "caf\xc3 \xff", "caf\\xc3 \\xff", "caf\\ufffd \\ufffd"},
      {"multibyte_kept", "caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9"},
  };
  for (const MessageCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(EscapeLogMessage(c.message, false), c.text);
    EXPECT_EQ(EscapeLogMessage(c.message, true), c.json);
  }
}

}  // namespace
}  // namespace ghostpeer
