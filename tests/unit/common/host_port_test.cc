#include "common/host_port.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

TEST(ParseHostPortTest, Table) {
  struct Case {
    std::string name;
    std::string text;
    PortUse use;
    bool ok;
    std::string host;
    int port;
  };
  const std::vector<Case> cases = {
      {"ipv4", "127.0.0.1:7070", PortUse::kDial, true, "127.0.0.1", 7070},
      {"name", "aggregator:7070", PortUse::kDial, true, "aggregator", 7070},
      {"dotted name", "agg.example-1.org:1", PortUse::kDial, true,
       "agg.example-1.org", 1},
      {"ipv6 in brackets", "[::1]:9470", PortUse::kListen, true, "::1", 9470},
      {"ipv6 any", "[::]:0", PortUse::kListen, true, "::", 0},
      {"highest port", "0.0.0.0:65535", PortUse::kListen, true, "0.0.0.0",
       65535},
      {"listen port zero", "127.0.0.1:0", PortUse::kListen, true, "127.0.0.1",
       0},
      {"listen every interface", ":9471", PortUse::kListen, true, "", 9471},
      {"dial port zero", "127.0.0.1:0", PortUse::kDial, false, "", 0},
      {"dial without host", ":7070", PortUse::kDial, false, "", 0},
      {"port past 65535", "127.0.0.1:99999", PortUse::kListen, false, "", 0},
      {"port 65536", "127.0.0.1:65536", PortUse::kDial, false, "", 0},
      {"port wraps past 2^32", "127.0.0.1:4294967297", PortUse::kListen, false,
       "", 0},
      {"negative port", "127.0.0.1:-1", PortUse::kListen, false, "", 0},
      {"signed port", "127.0.0.1:+80", PortUse::kDial, false, "", 0},
      {"port with blank", "127.0.0.1: 80", PortUse::kDial, false, "", 0},
      {"named port", "127.0.0.1:http", PortUse::kDial, false, "", 0},
      {"empty port", "127.0.0.1:", PortUse::kListen, false, "", 0},
      {"no port", "localhost", PortUse::kDial, false, "", 0},
      {"empty", "", PortUse::kListen, false, "", 0},
      {"ipv6 without brackets", "::1:80", PortUse::kListen, false, "", 0},
      {"brackets around a name", "[localhost]:80", PortUse::kDial, false, "",
       0},
      {"unclosed bracket", "[::1:80", PortUse::kDial, false, "", 0},
      {"space in host", "local host:80", PortUse::kDial, false, "", 0},
      {"newline in host", "evil\nhost:80", PortUse::kDial, false, "", 0},
      {"url", "http://agg:80", PortUse::kDial, false, "", 0},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HostPort> got = ParseHostPort(c.text, c.use);
    ASSERT_EQ(got.ok(), c.ok) << c.name << ": " << got.status();
    if (!c.ok) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
          << c.name;
      continue;
    }
    EXPECT_EQ(got->host, c.host) << c.name;
    EXPECT_EQ(got->port, c.port) << c.name;
  }
}

TEST(ParseHostPortTest, MessageNamesTheTextAndTheRange) {
  absl::StatusOr<HostPort> got =
      ParseHostPort("127.0.0.1:99999", PortUse::kListen);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(),
            "'127.0.0.1:99999': the port must be a number from 0 to 65535 "
            "(want HOST:PORT)");
}

TEST(ValidateGrpcTargetTest, Table) {
  struct Case {
    std::string name;
    std::string target;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"host and port", "127.0.0.1:7070", true},
      {"name", "aggregator:7070", true},
      {"ipv6", "[::1]:7070", true},
      {"dns scheme", "dns:aggregator:7070", true},
      {"dns without authority", "dns:///aggregator:7070", true},
      {"dns with authority", "dns://8.8.8.8:53/aggregator:7070", true},
      {"ipv4 list", "ipv4:10.0.0.1:7070,10.0.0.2:7071", true},
      {"ipv6 list", "ipv6:[::1]:7070,[fd00::2]:7070", true},
      {"empty", "", false},
      {"no port", "aggregator", false},
      {"dns no port", "dns:///aggregator", false},
      {"dns authority without slash", "dns://8.8.8.8:53", false},
      {"port zero", "127.0.0.1:0", false},
      {"port too big", "127.0.0.1:99999", false},
      {"ipv4 scheme with a name", "ipv4:aggregator:7070", false},
      {"ipv4 scheme with ipv6", "ipv4:[::1]:7070", false},
      {"ipv6 scheme with ipv4", "ipv6:127.0.0.1:7070", false},
      {"ipv4 list with a bad entry", "ipv4:10.0.0.1:7070,10.0.0.2", false},
      {"ipv4 empty list", "ipv4:", false},
      {"unknown scheme", "http://aggregator:7070", false},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateGrpcTarget(c.target);
    EXPECT_EQ(status.ok(), c.ok) << c.name << ": " << status;
    if (!c.ok) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    }
  }
}

}  // namespace
}  // namespace ghostpeer
