#include "agent/proc_fs.h"

#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {
namespace {

TEST(ParseProcStat, CommAndStartTime) {
  struct Case {
    const char* name;
    std::string content;
    bool ok;
    std::string comm;
    uint64_t start_time;
  };
  const std::string tail =
      " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21\n";
  const Case cases[] = {
      {"plain", "42 (logc)" + tail, true, "logc", 987654},
      {"comm with spaces and parens", "42 (a) b (c))" + tail, true, "a) b (c)",
       987654},
      {"no comm", "42 logc S 1", false, "", 0},
      {"too short", "42 (logc) S 1 2 3\n", false, "", 0},
      {"non-numeric start time",
       "42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 "
       "16 17 18 abc 20\n",
       false, "", 0},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ProcStat> stat = ParseProcStat(c.content);
    EXPECT_EQ(stat.ok(), c.ok) << c.name;
    if (!stat.ok() || !c.ok) continue;
    EXPECT_EQ(stat->comm, c.comm) << c.name;
    EXPECT_EQ(stat->start_time, c.start_time) << c.name;
  }
}

// The seed of tests/fuzz/proc_pid_fuzzer: a comm with ") " in it.
TEST(ParseProcStat, GoldenFile) {
  absl::StatusOr<ProcStat> stat =
      ParseProcStat(test::ReadTestdataText("agent/proc_pid_stat.txt"));
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->comm, "gunicorn: a) b");
  EXPECT_EQ(stat->start_time, 987654u);
}

TEST(ParseProcStat, OwnProcess) {
  absl::StatusOr<std::string> content = ReadSmallFile("/proc/self/stat");
  ASSERT_TRUE(content.ok());
  absl::StatusOr<ProcStat> stat = ParseProcStat(*content);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_GT(stat->start_time, 0u);
  EXPECT_FALSE(stat->comm.empty());
}

TEST(ListPids, IncludesOurselvesInOrder) {
  absl::StatusOr<std::vector<int>> pids = ListPids("/proc");
  ASSERT_TRUE(pids.ok());
  EXPECT_TRUE(std::is_sorted(pids->begin(), pids->end()));
  EXPECT_TRUE(std::binary_search(pids->begin(), pids->end(), getpid()));
  EXPECT_EQ(ListPids("/nonexistent-proc").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ReadSmallFile, MissingFileIsNotFound) {
  EXPECT_EQ(ReadSmallFile("/nonexistent/file").status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::string> limited = ReadSmallFile("/proc/self/status", 10);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 10u);
}

}  // namespace
}  // namespace ghostpeer::agent
