#include "agent/tcp_state.h"

#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

TEST(TcpStateShortName, EveryState) {
  struct Case {
    v1::TcpState state;
    const char* expected;
  };
  const Case cases[] = {
      {v1::TCP_STATE_ESTABLISHED, "ESTAB"},
      {v1::TCP_STATE_SYN_SENT, "SYN-SENT"},
      {v1::TCP_STATE_SYN_RECV, "SYN-RECV"},
      {v1::TCP_STATE_FIN_WAIT1, "FIN-WAIT-1"},
      {v1::TCP_STATE_FIN_WAIT2, "FIN-WAIT-2"},
      {v1::TCP_STATE_TIME_WAIT, "TIME-WAIT"},
      {v1::TCP_STATE_CLOSE, "UNCONN"},
      {v1::TCP_STATE_CLOSE_WAIT, "CLOSE-WAIT"},
      {v1::TCP_STATE_LAST_ACK, "LAST-ACK"},
      {v1::TCP_STATE_LISTEN, "LISTEN"},
      {v1::TCP_STATE_CLOSING, "CLOSING"},
      {v1::TCP_STATE_NEW_SYN_RECV, "NEW-SYN-RECV"},
      {v1::TCP_STATE_UNSPECIFIED, "UNKNOWN"},
      {static_cast<v1::TcpState>(42), "UNKNOWN"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TcpStateShortName(c.state), c.expected) << c.expected;
  }
}

TEST(ParseTcpStateName, Spellings) {
  struct Case {
    const char* name;
    std::optional<v1::TcpState> expected;
  };
  const Case cases[] = {
      {"close-wait", v1::TCP_STATE_CLOSE_WAIT},
      {"CLOSE_WAIT", v1::TCP_STATE_CLOSE_WAIT},
      {"TCP_STATE_CLOSE_WAIT", v1::TCP_STATE_CLOSE_WAIT},
      {"Close-Wait", v1::TCP_STATE_CLOSE_WAIT},
      {"estab", v1::TCP_STATE_ESTABLISHED},
      {"established", v1::TCP_STATE_ESTABLISHED},
      {"fin-wait-1", v1::TCP_STATE_FIN_WAIT1},
      {"fin-wait2", v1::TCP_STATE_FIN_WAIT2},
      {"listen", v1::TCP_STATE_LISTEN},
      {"time-wait", v1::TCP_STATE_TIME_WAIT},
      {"unspecified", std::nullopt},
      {"", std::nullopt},
      {"closewait", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseTcpStateName(c.name), c.expected) << c.name;
  }
}

}  // namespace
}  // namespace ghostpeer::agent
