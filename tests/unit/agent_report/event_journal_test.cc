#include "agent/report/event_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

v1::AddressEvent Attach(const std::string& address) {
  v1::AddressEvent event;
  event.set_type(v1::ATTACH);
  event.mutable_owner()->set_address(address);
  return event;
}

class EventJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gp-journal-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<EventJournal> Open(size_t max_events = 1000) {
    auto journal = EventJournal::Open({dir_, max_events});
    EXPECT_TRUE(journal.ok()) << journal.status();
    return journal.ok() ? std::move(*journal) : nullptr;
  }

  std::string dir_;
};

TEST_F(EventJournalTest, NumbersEventsFromOne) {
  auto journal = Open();
  ASSERT_TRUE(journal->Append({Attach("10.0.0.1"), Attach("10.0.0.2")}).ok());
  auto pending = journal->Pending(0, 10);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].seq(), 1u);
  EXPECT_EQ(pending[1].seq(), 2u);
  EXPECT_EQ(journal->Pending(1, 10).size(), 1u);
  EXPECT_EQ(journal->Pending(0, 1).size(), 1u);
}

TEST_F(EventJournalTest, AcknowledgedEventsLeave) {
  auto journal = Open();
  ASSERT_TRUE(journal->Append({Attach("a"), Attach("b"), Attach("c")}).ok());
  ASSERT_TRUE(journal->Acknowledge(2).ok());
  EXPECT_EQ(journal->pending_count(), 1u);
  EXPECT_EQ(journal->acked_seq(), 2u);
  // An ack past what exists cannot acknowledge events not yet written.
  ASSERT_TRUE(journal->Acknowledge(99).ok());
  EXPECT_EQ(journal->acked_seq(), 3u);
}

TEST_F(EventJournalTest, ReopenKeepsInstanceSeqsAndUnacked) {
  std::string instance;
  {
    auto journal = Open();
    instance = journal->instance();
    ASSERT_TRUE(journal->Append({Attach("a"), Attach("b"), Attach("c")}).ok());
    ASSERT_TRUE(journal->Acknowledge(1).ok());
  }
  auto journal = Open();
  EXPECT_EQ(journal->instance(), instance);
  EXPECT_EQ(journal->acked_seq(), 1u);
  EXPECT_EQ(journal->last_seq(), 3u);
  auto pending = journal->Pending(0, 10);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].owner().address(), "b");
  ASSERT_TRUE(journal->Append({Attach("d")}).ok());
  EXPECT_EQ(journal->Pending(3, 10).at(0).seq(), 4u);
}

TEST_F(EventJournalTest, TornTailIsDropped) {
  {
    auto journal = Open();
    ASSERT_TRUE(journal->Append({Attach("a"), Attach("b")}).ok());
  }
  // A crash mid-append: half a record at the end.
  std::ofstream(dir_ + "/events.log", std::ios::app | std::ios::binary)
      << std::string("\x30\x00\x00\x00\x08", 5);
  auto journal = Open();
  EXPECT_EQ(journal->pending_count(), 2u);
  ASSERT_TRUE(journal->Append({Attach("c")}).ok());
  auto reopened = Open();
  EXPECT_EQ(reopened->pending_count(), 3u);
}

TEST_F(EventJournalTest, CorruptLengthIsDataLoss) {
  std::ofstream(dir_ + "/events.log", std::ios::binary)
      << std::string("\xff\xff\xff\x7f", 4);
  auto journal = EventJournal::Open({dir_, 1000});
  EXPECT_EQ(journal.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(EventJournalTest, OverflowDropsOldest) {
  auto journal = Open(/*max_events=*/2);
  ASSERT_TRUE(journal->Append({Attach("a"), Attach("b"), Attach("c")}).ok());
  EXPECT_EQ(journal->pending_count(), 2u);
  EXPECT_EQ(journal->dropped_count(), 1u);
  EXPECT_EQ(journal->Pending(0, 10).at(0).owner().address(), "b");
}

TEST_F(EventJournalTest, CompactionKeepsPending) {
  auto journal = Open(10000);
  for (int round = 0; round < 5; ++round) {
    std::vector<v1::AddressEvent> batch(1000, Attach("x"));
    ASSERT_TRUE(journal->Append(std::move(batch)).ok());
    ASSERT_TRUE(journal->Acknowledge(journal->last_seq() - 1).ok());
  }
  const auto log_size = std::filesystem::file_size(dir_ + "/events.log");
  EXPECT_LT(log_size, 2000u * 20) << "acknowledged records were compacted";
  journal.reset();
  auto reopened = Open(10000);
  EXPECT_EQ(reopened->last_seq(), 5000u);
  EXPECT_EQ(reopened->pending_count(), 1u);
}

TEST(EventJournalMemoryTest, InMemoryWorksAndInstancesDiffer) {
  auto a = EventJournal::Open({});
  auto b = EventJournal::Open({});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->instance(), (*b)->instance());
  ASSERT_TRUE((*a)->Append({Attach("x")}).ok());
  EXPECT_EQ((*a)->pending_count(), 1u);
}

TEST(EventJournalMemoryTest, UnwritableStateDirIsAnError) {
  auto journal = EventJournal::Open({"/proc/no-such-dir/x", 10});
  EXPECT_FALSE(journal.ok());
}

}  // namespace
}  // namespace ghostpeer::agent
