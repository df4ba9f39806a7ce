#include "agent/proc_fs.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/process_index.h"
#include "ghostpeer/v1/ingest.pb.h"
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
      {"comm of invalid utf-8 is repaired", "42 (\xff\xfe-\\)" + tail, true,
       "\\xff\\xfe-\\\\", 987654},
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

// Defect: any process could name itself with bytes that are not UTF-8
// (prctl needs no privilege); the agent sent them in SocketRecord.comm and
// the aggregator could not parse the message, so the node went dark. The
// name now goes from /proc through the process index into the message the
// agent sends, and that message parses.
TEST(ProcessIdentity, HostileCommStillEncodesAParsableMessage) {
  const char kHostileName[] = "\xff\xc3(\\x";  // 0xFF, a cut sequence, '\\'
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    prctl(PR_SET_NAME, kHostileName);
    (void)!write(ready[1], "x", 1);
    pause();  // killed by the parent
    _exit(0);
  }
  close(ready[1]);
  char byte;
  const bool child_ready = read(ready[0], &byte, 1) == 1;
  close(ready[0]);

  ProcessIndex index("/proc");
  const int pids[] = {child};
  index.BeginSnapshot(pids);
  const ProcessIdentity* identity =
      child_ready ? index.Identity(child) : nullptr;
  std::string comm = identity ? identity->comm : "";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(child_ready);
  ASSERT_NE(identity, nullptr);
  EXPECT_EQ(comm, "\\xff\\xc3(\\\\x");

  v1::AgentMessage message;
  v1::SocketRecord* record =
      message.mutable_socket_snapshot()->mutable_snapshot()->add_sockets();
  record->set_comm(comm);
  record->set_pid(child);
  v1::AgentMessage parsed;
  EXPECT_TRUE(parsed.ParseFromString(message.SerializeAsString()));
  EXPECT_EQ(parsed.socket_snapshot().snapshot().sockets(0).comm(), comm);

  // What the agent sent before: the raw name, which no peer can parse.
  record->set_comm(kHostileName);
  EXPECT_FALSE(parsed.ParseFromString(message.SerializeAsString()));
}

// Defect (issue 9, the multi-node e2e): the index kept a process's first
// name for as long as its start time matched, so a server first seen while
// its container started was reported as runc:[2:INIT] until the agent
// restarted. exec keeps the start time and changes the name.
TEST(ProcessIdentity, FollowsARenameOfTheSameProcess) {
  const std::string root = ::testing::TempDir() + "/gp-proc-rename";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/4242");
  auto write_stat = [&](const std::string& comm) {
    std::ofstream(root + "/4242/stat")
        << "4242 (" << comm
        << ") S 1 4242 4242 0 -1 4194560 1626 0 0 0 5 2 0 0 20 0 3 0 987654 "
           "25903104 4371\n";
  };
  std::ofstream(root + "/4242/cgroup") << "0::/system.slice/x.scope\n";
  const int pids[] = {4242};
  ProcessIndex index(root);

  write_stat("runc:[2:INIT]");
  index.BeginSnapshot(pids);
  const ProcessIdentity* first = index.Identity(4242);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->comm, "runc:[2:INIT]");
  const uint64_t start_time = first->start_time;

  write_stat("server");  // exec: same process, same start time
  index.BeginSnapshot(pids);
  const ProcessIdentity* second = index.Identity(4242);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->comm, "server");
  EXPECT_EQ(second->start_time, start_time);
  std::filesystem::remove_all(root);
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
