#include "tests/unit/alerts/delivery_store_contract.h"

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "tests/unit/alerts/test_findings.h"

namespace ghostpeer::aggregator::alerts::testing {

void DeliveryStoreContractTest::SetUp() {
  database_ = GetParam().new_database();
  ASSERT_TRUE(database_.open);
  absl::StatusOr<std::unique_ptr<DeliveryStore>> a = database_.open("a");
  ASSERT_TRUE(a.ok()) << a.status();
  a_ = *std::move(a);
  absl::StatusOr<std::unique_ptr<DeliveryStore>> b = database_.open("b");
  ASSERT_TRUE(b.ok()) << b.status();
  b_ = *std::move(b);
}

void DeliveryStoreContractTest::TearDown() {
  a_.reset();
  b_.reset();
  if (database_.cleanup) database_.cleanup();
}

namespace {

constexpr absl::Duration kLease = absl::Seconds(30);

std::vector<Delivery> Claimed(DeliveryStore& store, absl::Time now,
                              int limit = 100) {
  absl::StatusOr<std::vector<Delivery>> claimed =
      store.Claim("sink", now, limit, kLease);
  EXPECT_TRUE(claimed.ok()) << claimed.status();
  return claimed.ok() ? *std::move(claimed) : std::vector<Delivery>{};
}

std::string FindingId(int i) { return absl::StrFormat("%016x", 0xf000 + i); }

TEST_P(DeliveryStoreContractTest, ReplicasEnqueueingOneNotificationMakeOneRow) {
  const v1::Finding f = VanishedFinding();
  EXPECT_TRUE(*a_->Enqueue("sink", DeliveryEvent::kOpened, f, T0()));
  EXPECT_FALSE(*b_->Enqueue("sink", DeliveryEvent::kOpened, f, T0()));
  EXPECT_FALSE(*a_->Enqueue("sink", DeliveryEvent::kOpened, f, T0()));
  EXPECT_TRUE(*b_->Enqueue("sink", DeliveryEvent::kRemediated, f, T0(), "c1"));
  EXPECT_FALSE(*a_->Enqueue("sink", DeliveryEvent::kRemediated, f, T0(), "c1"));
  EXPECT_TRUE(*b_->Known("sink", f.id(), EpisodeOf(f), DeliveryEvent::kOpened));
  EXPECT_EQ((*a_->PendingBySink())["sink"], 2);
  absl::StatusOr<std::vector<Delivery>> due = b_->Due("sink", T0(), 10);
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u);  // the REMEDIATED waits behind its OPENED
  EXPECT_EQ((*due)[0].event, DeliveryEvent::kOpened);
  EXPECT_EQ((*due)[0].finding.SerializeAsString(), f.SerializeAsString());
}

// Both replicas enqueue every notification (as their reconciles do) and
// claim concurrently: each notification is delivered exactly once.
TEST_P(DeliveryStoreContractTest, ConcurrentClaimsDeliverEachNotificationOnce) {
  constexpr int kFindings = 150;
  absl::Mutex mu;
  std::map<std::string, int> sends;  // finding id -> times sent
  auto replica = [&](DeliveryStore* store) {
    for (int i = 0; i < kFindings; ++i) {
      v1::Finding f = VanishedFinding(FindingId(i));
      ASSERT_TRUE(store->Enqueue("sink", DeliveryEvent::kOpened, f, T0()).ok());
    }
    // Bounded: every round either delivers or finds the queue empty.
    for (int round = 0; round < 10 * kFindings; ++round) {
      std::vector<Delivery> claimed = Claimed(*store, T0(), 7);
      if (claimed.empty()) {
        absl::StatusOr<std::map<std::string, int64_t>> pending =
            store->PendingBySink();
        ASSERT_TRUE(pending.ok()) << pending.status();
        if (pending->empty()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      for (const Delivery& d : claimed) {
        {
          absl::MutexLock lock(&mu);
          ++sends[d.finding_id];
        }
        ASSERT_TRUE(store->MarkDelivered(d.id, T0()).ok());
      }
    }
    ADD_FAILURE() << "deliveries left after the bound";
  };
  std::thread a(replica, a_.get());
  std::thread b(replica, b_.get());
  a.join();
  b.join();
  EXPECT_EQ(sends.size(), static_cast<size_t>(kFindings));
  for (const auto& [id, count] : sends) {
    EXPECT_EQ(count, 1) << "finding " << id << " sent " << count << " times";
  }
}

TEST_P(DeliveryStoreContractTest, AClaimExpiresAndAnotherReplicaTakesIt) {
  ASSERT_TRUE(
      a_->Enqueue("sink", DeliveryEvent::kOpened, VanishedFinding(), T0())
          .ok());
  std::vector<Delivery> by_a = Claimed(*a_, T0());
  ASSERT_EQ(by_a.size(), 1u);
  EXPECT_EQ(by_a[0].claimed_until, T0() + kLease);
  EXPECT_EQ(a_->replica_id(), "a");
  // While a holds it, b gets nothing, and knows when it may look again.
  EXPECT_TRUE(Claimed(*b_, T0() + kLease - absl::Seconds(1)).empty());
  EXPECT_EQ(**b_->NextDue("sink"), T0() + kLease);
  // a died mid-send: its lease ends, b takes the row over.
  std::vector<Delivery> by_b = Claimed(*b_, T0() + kLease);
  ASSERT_EQ(by_b.size(), 1u);
  EXPECT_EQ(by_b[0].id, by_a[0].id);
  // a comes back late with a failure: the row is b's to decide about.
  EXPECT_TRUE(
      absl::IsAborted(a_->MarkFailed(by_a[0].id, 1, T0() + kLease, "timeout")));
  EXPECT_TRUE(
      absl::IsAborted(a_->MarkAbandoned(by_a[0].id, T0() + kLease, "timeout")));
  ASSERT_TRUE(b_->MarkDelivered(by_b[0].id, T0() + kLease).ok());
  // An acknowledgement arriving late still only records what is true.
  EXPECT_TRUE(a_->MarkDelivered(by_a[0].id, T0() + kLease).ok());
  EXPECT_TRUE(Claimed(*a_, T0() + absl::Hours(1)).empty());
  EXPECT_TRUE(a_->PendingBySink()->empty());
}

TEST_P(DeliveryStoreContractTest, AFailureReleasesTheClaimForAnyReplica) {
  ASSERT_TRUE(
      a_->Enqueue("sink", DeliveryEvent::kOpened, VanishedFinding(), T0())
          .ok());
  std::vector<Delivery> by_a = Claimed(*a_, T0());
  ASSERT_EQ(by_a.size(), 1u);
  ASSERT_TRUE(
      a_->MarkFailed(by_a[0].id, 1, T0() + absl::Seconds(5), "503").ok());
  EXPECT_EQ(**b_->NextDue("sink"), T0() + absl::Seconds(5));
  EXPECT_TRUE(Claimed(*b_, T0() + absl::Seconds(4)).empty());
  std::vector<Delivery> by_b = Claimed(*b_, T0() + absl::Seconds(5));
  ASSERT_EQ(by_b.size(), 1u);
  EXPECT_EQ(by_b[0].attempts, 1);
}

// A RESOLVED never overtakes its OPENED, even when another replica holds
// the OPENED's claim.
TEST_P(DeliveryStoreContractTest, ClaimsKeepAFindingsOrderAcrossReplicas) {
  const v1::Finding f = VanishedFinding();
  ASSERT_TRUE(a_->Enqueue("sink", DeliveryEvent::kOpened, f, T0()).ok());
  ASSERT_TRUE(b_->Enqueue("sink", DeliveryEvent::kResolved,
                          Resolved(f, T0() + absl::Seconds(1)), T0())
                  .ok());
  std::vector<Delivery> by_a = Claimed(*a_, T0());
  ASSERT_EQ(by_a.size(), 1u);
  EXPECT_EQ(by_a[0].event, DeliveryEvent::kOpened);
  EXPECT_TRUE(Claimed(*b_, T0()).empty());
  ASSERT_TRUE(a_->MarkDelivered(by_a[0].id, T0()).ok());
  std::vector<Delivery> by_b = Claimed(*b_, T0());
  ASSERT_EQ(by_b.size(), 1u);
  EXPECT_EQ(by_b[0].event, DeliveryEvent::kResolved);
}

// A replica restarted under the same id resumes its own claims at once.
TEST_P(DeliveryStoreContractTest, AReplicaReclaimsItsOwnRows) {
  ASSERT_TRUE(
      a_->Enqueue("sink", DeliveryEvent::kOpened, VanishedFinding(), T0())
          .ok());
  ASSERT_EQ(Claimed(*a_, T0()).size(), 1u);
  a_.reset();
  absl::StatusOr<std::unique_ptr<DeliveryStore>> again = database_.open("a");
  ASSERT_TRUE(again.ok()) << again.status();
  a_ = *std::move(again);
  EXPECT_EQ(Claimed(*a_, T0() + absl::Seconds(1)).size(), 1u);
  EXPECT_TRUE(Claimed(*b_, T0() + absl::Seconds(1)).empty());
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts::testing
