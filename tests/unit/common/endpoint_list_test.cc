#include "common/endpoint_list.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

TEST(ParseEndpointListTest, Table) {
  struct Case {
    std::string name;
    std::string text;
    // The endpoints joined by '|'; for errors, a part of the message.
    std::string want;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"one", "127.0.0.1:7070", "127.0.0.1:7070", true},
      {"two in order", "b:7070,a:7071", "b:7070|a:7071", true},
      {"blanks trimmed", "  a:1 ,\tb:2  ", "a:1|b:2", true},
      {"ipv6", "[::1]:7070,[fe80::1]:7070", "[::1]:7070|[fe80::1]:7070", true},
      {"dns targets", "dns:///agg:7070,dns:other:7070",
       "dns:///agg:7070|dns:other:7070", true},
      {"grpc address list is one endpoint", " ipv4:10.0.0.1:7070,10.0.0.2:7070",
       "ipv4:10.0.0.1:7070,10.0.0.2:7070", true},
      {"same host other port", "a:7070,a:7071", "a:7070|a:7071", true},
      {"empty", "", "endpoint is empty", false},
      {"blank", "   ", "endpoint is empty", false},
      {"empty entry", "a:1,,b:2", "endpoint 2 of 3 is empty", false},
      {"trailing comma", "a:1,", "endpoint 2 of 2 is empty", false},
      {"no port", "a:1,agg", "endpoint 2 of 2: 'agg': no port", false},
      {"port zero", "a:0", "'a:0': the port must be a number from 1", false},
      {"port past 65535", "a:1,b:65536",
       "endpoint 2 of 2: 'b:65536': the port must be a number from 1", false},
      {"named port", "a:http", "the port must be a number", false},
      {"ipv6 without brackets", "::1:7070", "in brackets", false},
      {"duplicate", "a:7070,b:1,a:7070",
       "endpoint 3 of 3: 'a:7070' is listed twice", false},
      {"duplicate differs in case", "Agg:7070,agg:7070", "listed twice", false},
      {"bad grpc address list", "ipv4:10.0.0.1:7070,agg:7070",
       "is not an IPv4 address", false},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<std::string>> got = ParseEndpointList(c.text);
    ASSERT_EQ(got.ok(), c.ok) << c.name << ": " << got.status();
    if (c.ok) {
      EXPECT_EQ(absl::StrJoin(*got, "|"), c.want) << c.name;
      continue;
    }
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_NE(got.status().message().find(c.want), absl::string_view::npos)
        << c.name << ": " << got.status().message();
  }
}

TEST(ParseEndpointListTest, AtMostSixteen) {
  std::vector<std::string> entries;
  for (int i = 1; i <= 16; ++i)
    entries.push_back(absl::StrCat("agg-", i, ":1"));
  absl::StatusOr<std::vector<std::string>> sixteen =
      ParseEndpointList(absl::StrJoin(entries, ","));
  ASSERT_TRUE(sixteen.ok()) << sixteen.status();
  EXPECT_EQ(sixteen->size(), 16u);

  entries.push_back("agg-17:1");
  absl::StatusOr<std::vector<std::string>> seventeen =
      ParseEndpointList(absl::StrJoin(entries, ","));
  ASSERT_FALSE(seventeen.ok());
  EXPECT_EQ(seventeen.status().message(),
            "17 endpoints: at most 16 are allowed");
}

TEST(JoinEndpointsTest, ForMessages) {
  EXPECT_EQ(JoinEndpoints({"a:1", "[::1]:2"}), "a:1, [::1]:2");
  EXPECT_EQ(JoinEndpoints({"a:1"}), "a:1");
}

}  // namespace
}  // namespace ghostpeer
