#include "cli/timeline.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/time_util.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/test_findings.h"

namespace ghostpeer::cli {
namespace {

using testing::TestNow;

constexpr const char* kHeld = "\u2588";
constexpr const char* kFree = "\u00b7";

std::string Repeat(const char* glyph, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += glyph;
  return out;
}

RenderOptions Options(bool wide = false) {
  return {TestNow(), absl::UTCTimeZone(), wide};
}

v1::AddressOwner Interval(const char* task, absl::Duration since_ago,
                          std::optional<absl::Duration> until_ago) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_CONTAINER);
  owner.set_task(task);
  owner.set_node("node-1");
  owner.set_network("gpx-ovl");
  owner.set_address("10.99.0.2");
  *owner.mutable_since() = ToProto(TestNow() - since_ago);
  if (until_ago) *owner.mutable_until() = ToProto(TestNow() - *until_ago);
  return owner;
}

// gpx-srv.1 held 10.99.0.2 from 12:00:00 to 12:03:04 (its node was lost);
// nobody until 12:05:00;
// gpx-srv.2 since then. "Now" is 12:10:00.
v1::GetAddressHistoryResponse ScenarioHistory() {
  v1::GetAddressHistoryResponse response;
  *response.add_intervals() = Interval("gpx-srv.1", absl::Minutes(10),
                                       absl::Minutes(6) + absl::Seconds(56));
  response.mutable_intervals(0)->set_close_reason(v1::CLOSE_REASON_NODE_LOST);
  *response.add_intervals() =
      Interval("gpx-srv.2", absl::Minutes(5), std::nullopt);
  *response.mutable_retained_since() = ToProto(TestNow() - absl::Hours(2));
  return response;
}

TEST(TimelineTest, DrawsOwnersAndTheGapWhereNobodyHeldIt) {
  const auto history = ScenarioHistory();
  // 600 s over 48 cells: 12.5 s a cell. gpx-srv.1 touches cells 0-14
  // (0..184 s), gpx-srv.2 cells 24-47 (300 s on); the midpoints of 15-23 are
  // nobody's.
  const std::string want = absl::StrCat(
      "           12:00:00", std::string(37, ' '), "now\n", "gpx-srv.1  ",
      Repeat(kHeld, 15), Repeat(kFree, 33), "\n", "gpx-srv.2  ",
      Repeat(kFree, 24), Repeat(kHeld, 24), "\n", "nobody     ",
      Repeat(kFree, 15), Repeat(kHeld, 9), Repeat(kFree, 24), "\n");
  EXPECT_EQ(DrawTimeline(history.intervals(), std::nullopt, Options()), want);
}

TEST(TimelineTest, MarksTheAskedTime) {
  const auto history = ScenarioHistory();
  const std::string drawing = DrawTimeline(
      history.intervals(), TestNow() - absl::Minutes(6), Options());
  const std::vector<std::string> lines =
      absl::StrSplit(drawing, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u);
  // 240 s is cell 19.2, so the caret sits over cell 19.
  EXPECT_EQ(lines[4], absl::StrCat(std::string(11 + 19, ' '), "^ 12:04:00"));
}

TEST(TimelineTest, EdgeCases) {
  struct Case {
    const char* name;
    std::vector<v1::AddressOwner> intervals;
    std::optional<absl::Time> at;
    std::vector<std::string> want_lines;  // substrings, line by line
  };
  const Case cases[] = {
      {"nothing to draw", {}, std::nullopt, {}},
      {"one open interval, no gap",
       {Interval("a.1", absl::Minutes(1), std::nullopt)},
       std::nullopt,
       {"now", absl::StrCat("a.1  ", Repeat(kHeld, 48))}},
      {"zero-length interval still shows one cell",
       {Interval("a.1", absl::Minutes(1), absl::Minutes(1)),
        Interval("b.1", absl::Seconds(30), std::nullopt)},
       std::nullopt,
       {"now", absl::StrCat("a.1     ", kHeld, Repeat(kFree, 47)), "b.1",
        "nobody"}},
      {"same owner twice shares a row; the axis runs to now",
       {Interval("a.1", absl::Minutes(4), absl::Minutes(3)),
        Interval("a.1", absl::Minutes(2), absl::Minutes(1))},
       std::nullopt,
       {"12:06:00",
        absl::StrCat("a.1     ", Repeat(kHeld, 12), Repeat(kFree, 12),
                     Repeat(kHeld, 12), Repeat(kFree, 12)),
        "nobody"}},
      {"asking before the history stretches the axis",
       {Interval("a.1", absl::Minutes(1), std::nullopt)},
       TestNow() - absl::Minutes(2),
       {"12:08:00",
        absl::StrCat("a.1     ", Repeat(kFree, 24), Repeat(kHeld, 24)),
        "nobody", "^ 12:08:00"}},
  };
  for (const Case& c : cases) {
    google::protobuf::RepeatedPtrField<v1::AddressOwner> intervals(
        c.intervals.begin(), c.intervals.end());
    const std::string drawing = DrawTimeline(intervals, c.at, Options());
    const std::vector<std::string> lines =
        absl::StrSplit(drawing, '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), c.want_lines.size()) << c.name << ":\n" << drawing;
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_TRUE(absl::StrContains(lines[i], c.want_lines[i]))
          << c.name << ": line " << i << " is '" << lines[i] << "'";
    }
  }
}

TEST(TimelineTest, HistoryShowsTableDrawingAndRetention) {
  const std::string text =
      RenderHistory(ScenarioHistory(), "10.99.0.2", std::nullopt, Options());
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  ASSERT_GE(lines.size(), 9u) << text;
  EXPECT_EQ(lines[0],
            "OWNER      KIND       SCOPE     NODE    NETWORK  FROM      UNTIL  "
            "   HELD  WHY");
  EXPECT_EQ(lines[1],
            "gpx-srv.1  container  unscoped  node-1  gpx-ovl  12:00:00  "
            "12:03:04  3m4s  node-lost");
  EXPECT_EQ(lines[2],
            "gpx-srv.2  container  unscoped  node-1  gpx-ovl  12:05:00  now  "
            "       5m  -");
  EXPECT_TRUE(absl::StrContains(text, "nobody     "));
  EXPECT_TRUE(
      absl::StrContains(text, "history retained since 10:10:00 (2h ago)"));
}

// A bridge address two nodes hand out at once, and an overlay one: each
// row says its scope, and the node a node-local holding belongs to.
TEST(TimelineTest, HistoryShowsEachIntervalsScope) {
  v1::GetAddressHistoryResponse history;
  const struct {
    const char* task;
    const char* node;
    v1::AddressScope scope;
  } rows[] = {
      {"gpx-a.1", "node-1", v1::ADDRESS_SCOPE_NODE},
      {"gpx-b.1", "node-2", v1::ADDRESS_SCOPE_NODE},
      {"gpx-c.1", "node-3", v1::ADDRESS_SCOPE_CLUSTER},
  };
  for (const auto& row : rows) {
    v1::AddressOwner* owner = history.add_intervals();
    owner->set_kind(v1::OWNER_KIND_CONTAINER);
    owner->set_task(row.task);
    owner->set_container_name(row.task);
    owner->set_node(row.node);
    owner->set_scope(row.scope);
    *owner->mutable_since() = ToProto(TestNow() - absl::Minutes(10));
  }
  const std::string text =
      RenderHistory(history, "172.18.0.3", std::nullopt, Options());
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  ASSERT_GE(lines.size(), 4u) << text;
  EXPECT_TRUE(absl::StartsWith(lines[0], "OWNER    KIND       SCOPE    NODE"))
      << lines[0];
  EXPECT_TRUE(absl::StartsWith(lines[1], "gpx-a.1  container  node     node-1"))
      << lines[1];
  EXPECT_TRUE(absl::StartsWith(lines[2], "gpx-b.1  container  node     node-2"))
      << lines[2];
  EXPECT_TRUE(absl::StartsWith(lines[3], "gpx-c.1  container  cluster  node-3"))
      << lines[3];
}

TEST(TimelineTest, HistoryAtSaysWhoHeldItThen) {
  struct Case {
    const char* name;
    absl::Duration ago;
    const char* want_first_line;
  };
  const Case cases[] = {
      {"held", absl::Minutes(8),
       "at 12:02:00 10.99.0.2 was held by gpx-srv.1 on node-1"},
      {"ghost window", absl::Minutes(6), "at 12:04:00 nobody held 10.99.0.2"},
      {"still held", absl::Minutes(1),
       "at 12:09:00 10.99.0.2 was held by gpx-srv.2 on node-1"},
  };
  for (const Case& c : cases) {
    const std::string text = RenderHistory(ScenarioHistory(), "10.99.0.2",
                                           TestNow() - c.ago, Options());
    EXPECT_EQ(text.substr(0, text.find('\n')), c.want_first_line) << c.name;
    EXPECT_TRUE(absl::StrContains(text, "^ ")) << c.name;
  }
}

TEST(TimelineTest, HostOwnersAreNotNamedTwice) {
  v1::GetAddressHistoryResponse history;
  v1::AddressOwner* host = history.add_intervals();
  host->set_kind(v1::OWNER_KIND_HOST);
  host->set_node("node-1");
  *host->mutable_since() = ToProto(TestNow() - absl::Minutes(10));
  const std::string text = RenderHistory(
      history, "192.0.2.2", TestNow() - absl::Minutes(1), Options());
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "at 12:09:00 192.0.2.2 was held by host node-1");
}

TEST(TimelineTest, EmptyHistoryIsASentence) {
  v1::GetAddressHistoryResponse empty;
  *empty.mutable_retained_since() = ToProto(TestNow() - absl::Hours(2));
  EXPECT_EQ(RenderHistory(empty, "10.0.0.9", std::nullopt, Options()),
            "no owner of 10.0.0.9 is known (history retained since 10:10:00 "
            "(2h ago))\n");
  EXPECT_EQ(RenderHistory(v1::GetAddressHistoryResponse(), "10.0.0.9",
                          TestNow() - absl::Minutes(5), Options()),
            "nobody held 10.0.0.9 at 12:05:00\n");
}

TEST(TimelineTest, WideAddsContainerAndNamespace) {
  auto history = ScenarioHistory();
  history.mutable_intervals(0)->set_container_id("0123456789abcdef0123");
  history.mutable_intervals(0)->set_netns_inode(4026532625);
  const std::string text =
      RenderHistory(history, "10.99.0.2", std::nullopt, Options(/*wide=*/true));
  EXPECT_TRUE(absl::StrContains(text, "CONTAINER"));
  EXPECT_TRUE(absl::StrContains(text, "0123456789ab "));
  EXPECT_TRUE(absl::StrContains(text, "inode:4026532625"));
}

}  // namespace
}  // namespace ghostpeer::cli
