#include "agent/fd_scanner.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {
namespace {

using ::testing::IsSupersetOf;
using ::testing::UnorderedElementsAreArray;

// Socket pairs this process holds for one test; closed at its end.
class HeldSockets {
 public:
  explicit HeldSockets(int pairs) {
    for (int i = 0; i < pairs; ++i) {
      int fds[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) break;
      fds_.push_back(fds[0]);
      fds_.push_back(fds[1]);
    }
  }
  ~HeldSockets() {
    for (int fd : fds_) close(fd);
  }
  // Moves one socket to a high fd number, leaving a hole below it.
  void MoveHigh(int fd_number) {
    ASSERT_EQ(dup2(fds_.back(), fd_number), fd_number);
    close(fds_.back());
    fds_.back() = fd_number;
  }
  std::vector<uint64_t> Inodes() const {
    std::vector<uint64_t> inodes;
    for (int fd : fds_) {
      struct stat st;
      if (fstat(fd, &st) == 0) inodes.push_back(st.st_ino);
    }
    return inodes;
  }
  size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
};

int64_t OpenFdCount() {
  int64_t count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own fd
}

std::vector<uint64_t> Sorted(std::vector<uint64_t> values) {
  std::sort(values.begin(), values.end());
  return values;
}

// Small thresholds so that splitting and threads are exercised with a few
// hundred fds, whatever this process's RLIMIT_NOFILE.
FdScannerOptions SplittingOptions(int threads) {
  FdScannerOptions options;
  options.threads = threads;
  options.split_fd_count = 64;
  options.slice_fds = 16;
  options.parallel_fd_count = 1;
  return options;
}

TEST(ParseFdTableSizeTest, ReadsTheFdSizeLine) {
  EXPECT_EQ(ParseFdTableSize("Name:\tcat\nFDSize:\t256\nGroups:\n"), 256);
  EXPECT_EQ(ParseFdTableSize("FDSize: 64"), 64);
}

TEST(ParseFdTableSizeTest, GoldenFile) {
  EXPECT_EQ(
      ParseFdTableSize(test::ReadTestdataText("agent/proc_pid_status.txt")),
      256);
}

TEST(ParseFdTableSizeTest, AbsentOrMalformedIsZero) {
  EXPECT_EQ(ParseFdTableSize(""), 0);
  EXPECT_EQ(ParseFdTableSize("Name:\tcat\n"), 0);
  EXPECT_EQ(ParseFdTableSize("FDSize:\tmany\n"), 0);
  EXPECT_EQ(ParseFdTableSize("FDSize:\t-4\n"), 0);
}

TEST(FdScannerTest, FindsEverySocketOfAProcess) {
  HeldSockets held(50);
  ASSERT_EQ(held.size(), 100u);
  FdScanner scanner(FdScannerOptions{});
  std::vector<FdScanResult> results =
      scanner.Scan({FdScanRequest{getpid(), OpenFdCount()}});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].readable);
  EXPECT_GE(results[0].fds_read, held.size());
  EXPECT_THAT(results[0].socket_inodes, IsSupersetOf(held.Inodes()));
}

TEST(FdScannerTest, SplitTablesAndThreadsFindTheSameSockets) {
  HeldSockets held(150);
  ASSERT_EQ(held.size(), 300u);
  const FdScanRequest request{getpid(), OpenFdCount()};
  FdScanner one_thread(FdScannerOptions{});
  FdScanner four_threads(SplittingOptions(4));
  std::vector<uint64_t> expected =
      Sorted(one_thread.Scan({request})[0].socket_inodes);
  EXPECT_THAT(expected, IsSupersetOf(held.Inodes()));

  std::vector<FdScanResult> split = four_threads.Scan({request});
  ASSERT_EQ(split.size(), 1u);
  EXPECT_TRUE(split[0].readable);
  EXPECT_THAT(split[0].socket_inodes, UnorderedElementsAreArray(expected));
}

TEST(FdScannerTest, SparseTableIsReadWhole) {
  // One socket far above the others: probing every number up to it would
  // cost a negative lookup per free slot, so the table is read by readdir.
  HeldSockets held(40);
  held.MoveHigh(900);
  FdScanner scanner(SplittingOptions(2));
  std::vector<FdScanResult> results =
      scanner.Scan({FdScanRequest{getpid(), OpenFdCount()}});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_THAT(results[0].socket_inodes, IsSupersetOf(held.Inodes()));
}

TEST(FdScannerTest, ResultsFollowTheRequestsOrder) {
  HeldSockets held(80);
  const int64_t count = OpenFdCount();
  FdScanner scanner(SplittingOptions(3));
  // A small table first: the scanner reads large ones first, yet answers
  // in the order asked.
  std::vector<FdScanResult> results =
      scanner.Scan({FdScanRequest{1, 0}, FdScanRequest{getpid(), count},
                    FdScanRequest{getpid(), 0}});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_THAT(results[1].socket_inodes, IsSupersetOf(held.Inodes()));
  EXPECT_THAT(results[2].socket_inodes,
              UnorderedElementsAreArray(results[1].socket_inodes));
}

TEST(FdScannerTest, GoneProcessIsUnreadableNotAnError) {
  FdScanner scanner(SplittingOptions(2));
  std::vector<FdScanResult> results =
      scanner.Scan({FdScanRequest{0x3fffffff, 5000}});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].readable);
  EXPECT_TRUE(results[0].socket_inodes.empty());
}

TEST(FdScannerTest, MissingProcRootIsUnreadable) {
  FdScannerOptions options = SplittingOptions(2);
  options.proc_root = "/nonexistent-proc";
  FdScanner scanner(options);
  std::vector<FdScanResult> results =
      scanner.Scan({FdScanRequest{getpid(), OpenFdCount()}});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].readable);
}

}  // namespace
}  // namespace ghostpeer::agent
