#include "cli/flag_values.h"

#include "gtest/gtest.h"

namespace ghostpeer::cli {
namespace {

TEST(FlagValuesTest, ParsesSeverities) {
  struct Case {
    const char* name;
    const char* text;
    v1::Severity want;
  };
  const Case cases[] = {
      {"lower", "critical", v1::CRITICAL}, {"upper", "WARNING", v1::WARNING},
      {"short warn", "warn", v1::WARNING}, {"short crit", "Crit", v1::CRITICAL},
      {"info", "info", v1::INFO},          {"padded", " info ", v1::INFO},
  };
  for (const Case& c : cases) {
    auto got = ParseSeverity(c.text);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(FlagValuesTest, ParsesFindingKinds) {
  struct Case {
    const char* name;
    const char* text;
    v1::FindingKind want;
  };
  const Case cases[] = {
      {"flag spelling", "vanished", v1::VANISHED_PEER},
      {"proto name", "VANISHED_PEER", v1::VANISHED_PEER},
      {"reassigned", "reassigned", v1::REASSIGNED_PEER},
      {"dashes", "close-wait-writer", v1::CLOSE_WAIT_WRITER},
      {"underscores", "close_wait_writer", v1::CLOSE_WAIT_WRITER},
  };
  for (const Case& c : cases) {
    auto got = ParseFindingKind(c.text);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(FlagValuesTest, ParsesStatusesAndFormats) {
  EXPECT_EQ(*ParseFindingStatus("open"), v1::OPEN);
  EXPECT_EQ(*ParseFindingStatus("Resolved"), v1::RESOLVED);
  EXPECT_EQ(*ParseFindingStatus("all"), v1::FINDING_STATUS_UNSPECIFIED);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("WIDE"), OutputFormat::kWide);
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
}

TEST(FlagValuesTest, ParsesTcpStatesTheWaySsAndTheProtoSpellThem) {
  struct Case {
    const char* name;
    const char* text;
    v1::TcpState want;
  };
  const Case cases[] = {
      {"ss dashes", "close-wait", v1::TCP_STATE_CLOSE_WAIT},
      {"kernel name", "CLOSE_WAIT", v1::TCP_STATE_CLOSE_WAIT},
      {"proto name", "TCP_STATE_SYN_SENT", v1::TCP_STATE_SYN_SENT},
      {"ss abbreviation", "estab", v1::TCP_STATE_ESTABLISHED},
      {"full", "established", v1::TCP_STATE_ESTABLISHED},
      {"fin-wait-1", "fin-wait-1", v1::TCP_STATE_FIN_WAIT1},
      {"fin_wait2", "fin_wait2", v1::TCP_STATE_FIN_WAIT2},
      {"last-ack", "last-ack", v1::TCP_STATE_LAST_ACK},
  };
  for (const Case& c : cases) {
    auto got = ParseTcpState(c.text);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(FlagValuesTest, ParsesTimeouts) {
  struct Case {
    const char* name;
    const char* text;
    absl::Duration want;
  };
  const Case cases[] = {
      {"seconds", "10s", absl::Seconds(10)},
      {"milliseconds", "1500ms", absl::Milliseconds(1500)},
      {"plain number", "30", absl::Seconds(30)},
      {"fraction", "0.5", absl::Milliseconds(500)},
      {"minutes", "1m", absl::Minutes(1)},
  };
  for (const Case& c : cases) {
    auto got = ParseTimeout(c.text);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(FlagValuesTest, CanonicalizesAddresses) {
  struct Case {
    const char* name;
    const char* text;
    const char* want;
  };
  const Case cases[] = {
      {"v4", "10.0.1.6", "10.0.1.6"},
      {"v4 padded", " 10.0.1.6 ", "10.0.1.6"},
      {"v6 long form", "fd00:0:0:0:0:0:0:6", "fd00::6"},
      {"v6 upper", "FD00::6", "fd00::6"},
  };
  for (const Case& c : cases) {
    auto got = ParseIpAddress(c.text);
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.name;
  }
}

TEST(FlagValuesTest, RejectsBadValuesSayingWhatWouldDo) {
  struct Case {
    const char* name;
    absl::Status status;
    const char* hint;  // part of the message that tells what is accepted
  };
  const Case cases[] = {
      {"severity", ParseSeverity("urgent").status(),
       "info, warning or critical"},
      {"empty severity", ParseSeverity("").status(),
       "info, warning or critical"},
      {"kind", ParseFindingKind("ghost").status(), "close-wait-writer"},
      {"status", ParseFindingStatus("closed").status(),
       "open, resolved or all"},
      {"format", ParseOutputFormat("yaml").status(), "table, json or wide"},
      {"state", ParseTcpState("sleepy").status(), "close_wait"},
      {"unspecified state", ParseTcpState("unspecified").status(),
       "established"},
      {"timeout garbage", ParseTimeout("soon").status(), "10s"},
      {"timeout zero", ParseTimeout("0s").status(), "positive"},
      {"timeout negative", ParseTimeout("-3").status(), "positive"},
      {"timeout infinite", ParseTimeout("inf").status(), "positive"},
      {"host name", ParseIpAddress("db.local").status(), "numeric"},
      {"with port", ParseIpAddress("10.0.1.6:27017").status(), "numeric"},
      {"brackets", ParseIpAddress("[fd00::6]").status(), "numeric"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(c.status.message().find(c.hint), absl::string_view::npos)
        << c.name << ": " << c.status;
  }
}

TEST(FlagValuesTest, NamesPrintedBack) {
  struct Case {
    const char* name;
    std::string got;
    const char* want;
  };
  const Case cases[] = {
      {"kind", KindName(v1::CLOSE_WAIT_WRITER), "close-wait-writer"},
      {"unknown kind", KindName(static_cast<v1::FindingKind>(99)), "?"},
      {"severity", SeverityName(v1::WARNING), "WARNING"},
      {"status", StatusName(v1::RESOLVED), "resolved"},
      {"state", StateName(v1::TCP_STATE_CLOSE_WAIT), "CLOSE_WAIT"},
      {"unspecified state", StateName(v1::TCP_STATE_UNSPECIFIED), "?"},
      {"unknown state", StateName(static_cast<v1::TcpState>(42)), "?"},
      {"owner kind", OwnerKindName(v1::OWNER_KIND_SWARM_VIP), "swarm-vip"},
      {"event", EventTypeName(v1::CLOSED), "CLOSED"},
  };
  for (const Case& c : cases) EXPECT_EQ(c.got, c.want) << c.name;
}

TEST(FlagValuesTest, EveryKindNameParsesBack) {
  for (v1::FindingKind kind :
       {v1::VANISHED_PEER, v1::REASSIGNED_PEER, v1::CLOSE_WAIT_WRITER}) {
    auto parsed = ParseFindingKind(KindName(kind));
    ASSERT_TRUE(parsed.ok()) << KindName(kind);
    EXPECT_EQ(*parsed, kind);
  }
  for (int value = v1::TCP_STATE_ESTABLISHED; value <= v1::TcpState_MAX;
       ++value) {
    const auto state = static_cast<v1::TcpState>(value);
    auto parsed = ParseTcpState(StateName(state));
    ASSERT_TRUE(parsed.ok()) << StateName(state);
    EXPECT_EQ(*parsed, state);
  }
}

}  // namespace
}  // namespace ghostpeer::cli
