// The HistoryStore contract (history_store_contract.cc) against SQLite and
// the in-memory fake the other tests trust to behave like it (PostgreSQL's
// run, which needs a server: tests/integration/postgres), and what
// OpenHistoryStore opens or refuses without a server.
#include "tests/unit/aggregator/history_store_contract.h"

#include <memory>
#include <string>
#include <vector>

#include "aggregator/history_store.h"
#include "aggregator/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/in_memory_history_store.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::fakes::InMemoryHistoryStore;
using ::testing::HasSubstr;
using testing::HistoryStoreContractTest;
using ::testing::Not;
using testing::StoreKind;
using testing::StoreKindName;
using testing::T;

const StoreKind kSqlite = {
    "sqlite", [](absl::Time now) { return OpenHistoryStore(":memory:", now); }};
const StoreKind kInMemory = {
    "in_memory",
    [](absl::Time now) -> absl::StatusOr<std::unique_ptr<HistoryStore>> {
      return std::make_unique<InMemoryHistoryStore>(now);
    }};

INSTANTIATE_TEST_SUITE_P(Stores, HistoryStoreContractTest,
                         ::testing::Values(kSqlite, kInMemory), StoreKindName);

TEST(OpenHistoryStoreTest, OpensSqliteAndRefusesWhatItCannotOpen) {
  struct Case {
    std::string name;
    std::string location;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"sqlite in memory", ":memory:", absl::StatusCode::kOk, ""},
      {"empty", "", absl::StatusCode::kInvalidArgument, "empty location"},
      {"a server this build has no client for", "mysql://db.example/gp",
       absl::StatusCode::kInvalidArgument, "\"mysql://\""},
      // A unix socket in no directory: refused at once, no server needed.
      {"postgresql, no server", "postgresql:///gp?host=/nonexistent-dir-gp",
       absl::StatusCode::kUnavailable, "postgresql postgresql:///gp"},
      {"postgresql, bad uri", "postgresql://[::1/gp",
       absl::StatusCode::kInvalidArgument, "postgresql://[::1/gp"},
      {"a file in no directory", "/nonexistent-dir-ghostpeer/sub/g.db",
       absl::StatusCode::kFailedPrecondition, "/nonexistent-dir-ghostpeer"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        OpenHistoryStore(c.location, T(1));
    EXPECT_EQ(store.status().code(), c.code) << store.status();
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(c.message));
  }
}

// No message or log line shows a password (issue 12): the user part's and a
// password= parameter's, whatever characters they hold.
TEST(RedactPostgresUriTest, HidesPasswordsAndKeepsTheRest) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"postgresql://gp:s3cret@db.example:5432/ghostpeer?sslmode=require",
       "postgresql://gp:***@db.example:5432/ghostpeer?sslmode=require"},
      {"postgres://gp@db/ghostpeer", "postgres://gp@db/ghostpeer"},
      {"postgresql:///ghostpeer?host=/run/pg",
       "postgresql:///ghostpeer?host=/run/pg"},
      {"postgresql://db/gp?user=gp&password=s3cret&sslmode=verify-full",
       "postgresql://db/gp?user=gp&password=***&sslmode=verify-full"},
      {"postgresql://db/gp?PASSWORD=s3cret", "postgresql://db/gp?PASSWORD=***"},
      // Unescaped '@', '/', '?' in a password: hidden, with whatever the
      // parser cannot tell apart from it.
      {"postgresql://gp:s3@c/r?et@db/gp", "postgresql://gp:***@db/gp"},
      {"postgresql://gp:a%40b@db/gp", "postgresql://gp:***@db/gp"},
      {"/var/lib/ghostpeer/ghostpeer.db", "/var/lib/ghostpeer/ghostpeer.db"},
  };
  for (const auto& [uri, want] : cases) {
    EXPECT_EQ(RedactPostgresUri(uri), want) << uri;
    EXPECT_EQ(RedactStoreLocation(uri), want) << uri;
  }
}

TEST(PostgresStoreTest, ConnectErrorsNameTheStoreWithoutItsPassword) {
  const std::vector<std::pair<std::string, absl::StatusCode>> cases = {
      {"postgresql://gp:s3cret-pw@/gp?host=/nonexistent-dir-gp",
       absl::StatusCode::kUnavailable},
      {"postgresql:///gp?host=/nonexistent-dir-gp&password=s3cret-pw",
       absl::StatusCode::kUnavailable},
      // libpq quotes an unparsable URI whole in its message.
      {"postgresql://gp:s3cret-pw@[::1/nonexistent-dir-gp",
       absl::StatusCode::kInvalidArgument},
  };
  for (const auto& [uri, code] : cases) {
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        OpenHistoryStore(uri, T(1));
    EXPECT_EQ(store.status().code(), code) << store.status();
    const std::string message(store.status().message());
    EXPECT_THAT(message, HasSubstr("nonexistent-dir-gp"));
    EXPECT_THAT(message, HasSubstr("***"));
    EXPECT_THAT(message, Not(HasSubstr("s3cret")));
  }
}

// The fake's own knob: exactly the next N writes of one kind fail, store
// nothing, and are not counted as successes.
TEST(InMemoryHistoryStoreTest, FailsExactlyTheInjectedWrites) {
  InMemoryHistoryStore store(T(1));
  store.FailNext(InMemoryHistoryStore::Write::kAddressBatch, 2,
                 absl::ResourceExhaustedError("disk full"));
  EXPECT_EQ(store.CommitAddressBatch("n", "i", 1, {}, T(2)).code(),
            absl::StatusCode::kResourceExhausted);
  // Other kinds of writes are not affected.
  StoredFinding finding;
  finding.finding.set_id("f");
  EXPECT_TRUE(store.SaveFindings({finding}, T(2)).ok());
  EXPECT_EQ(store.CommitAddressBatch("n", "i", 2, {}, T(3)).code(),
            absl::StatusCode::kResourceExhausted);
  auto state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->seqs.empty());
  EXPECT_EQ(store.successful_writes(InMemoryHistoryStore::Write::kAddressBatch),
            0);

  EXPECT_TRUE(store.CommitAddressBatch("n", "i", 3, {}, T(4)).ok());
  state = store.Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->seqs.size(), 1u);
  EXPECT_EQ(state->seqs[0].seq, 3u);
  EXPECT_EQ(store.successful_writes(InMemoryHistoryStore::Write::kAddressBatch),
            1);
  EXPECT_EQ(store.successful_writes(InMemoryHistoryStore::Write::kFindings), 1);
}

}  // namespace
}  // namespace ghostpeer::aggregator
