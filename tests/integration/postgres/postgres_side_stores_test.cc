// Alert deliveries and remediation records on a real PostgreSQL 15 this
// program starts for itself (tests/support/postgres_cluster.h; one server,
// a database per test), shared by two replicas: the DeliveryStore and
// RecordStore contracts, then what only the server stores have — the
// schema migrated beside the history's, and a restarted server.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "aggregator/alerts/postgres_delivery_store.h"
#include "aggregator/postgres_schema.h"
#include "aggregator/remediation/postgres_record_store.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_cluster.h"
#include "tests/unit/aggregator/remediation/record_store_contract.h"
#include "tests/unit/alerts/delivery_store_contract.h"
#include "tests/unit/alerts/test_findings.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::testing::PostgresCluster;

PostgresCluster* cluster = nullptr;

class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> created =
        PostgresCluster::Create();
    ASSERT_TRUE(created.ok()) << created.status();
    owned_ = std::move(*created);
    cluster = owned_.get();
  }
  void TearDown() override {
    cluster = nullptr;
    owned_.reset();
  }

 private:
  std::unique_ptr<PostgresCluster> owned_;
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);

// A new, empty database; its URI.
std::string NewDatabase() {
  static std::atomic<int> next{0};
  const std::string name = absl::StrCat("side", ++next);
  absl::StatusOr<std::string> uri = cluster->CreateDatabase(name);
  EXPECT_TRUE(uri.ok()) << uri.status();
  return uri.ok() ? *uri : std::string();
}

alerts::testing::SharedDeliveryDatabase NewDeliveryDatabase() {
  const std::string uri = NewDatabase();
  return {[uri](const std::string& replica)
              -> absl::StatusOr<std::unique_ptr<alerts::DeliveryStore>> {
            return alerts::PostgresDeliveryStore::Open(uri, replica,
                                                       alerts::testing::T0());
          },
          {}};
}

remediation::testing::SharedRecordDatabase NewRecordDatabase() {
  const std::string uri = NewDatabase();
  return {[uri]() -> absl::StatusOr<std::unique_ptr<remediation::RecordStore>> {
            return remediation::PostgresRecordStore::Open(
                uri, alerts::testing::T0());
          },
          {}};
}

}  // namespace

namespace alerts::testing {
INSTANTIATE_TEST_SUITE_P(Postgres, DeliveryStoreContractTest,
                         ::testing::Values(DeliveryBackend{
                             "postgres", NewDeliveryDatabase}),
                         DeliveryBackendName);
}  // namespace alerts::testing

namespace remediation::testing {
INSTANTIATE_TEST_SUITE_P(Postgres, RecordStoreContractTest,
                         ::testing::Values(RecordBackend{"postgres",
                                                         NewRecordDatabase}),
                         RecordBackendName);
}  // namespace remediation::testing

namespace {

// The history store, deliveries and records open one database in any
// order and agree on one schema version.
TEST(PostgresSideStoresTest, ShareOneSchemaVersion) {
  const std::string uri = NewDatabase();
  absl::StatusOr<std::unique_ptr<remediation::PostgresRecordStore>> records =
      remediation::PostgresRecordStore::Open(uri, alerts::testing::T0());
  ASSERT_TRUE(records.ok()) << records.status();
  absl::StatusOr<std::unique_ptr<alerts::PostgresDeliveryStore>> deliveries =
      alerts::PostgresDeliveryStore::Open(uri, "", alerts::testing::T0());
  ASSERT_TRUE(deliveries.ok()) << deliveries.status();
  EXPECT_FALSE((*deliveries)->replica_id().empty());
  const std::string database =
      uri.substr(uri.find("@/") + 2, uri.find('?') - uri.find("@/") - 2);
  absl::StatusOr<std::string> version =
      cluster->Query(database, "SELECT version FROM schema_version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, std::to_string(kPostgresSchemaVersion));
}

// The server restarts under running stores: the call that finds the
// connection gone fails Unavailable, the next one reconnects, and nothing
// stored is lost.
TEST(PostgresSideStoresTest, SurviveAServerRestart) {
  const std::string uri = NewDatabase();
  absl::StatusOr<std::unique_ptr<alerts::PostgresDeliveryStore>> store =
      alerts::PostgresDeliveryStore::Open(uri, "a", alerts::testing::T0());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)
                  ->Enqueue("sink", alerts::DeliveryEvent::kOpened,
                            alerts::testing::VanishedFinding(),
                            alerts::testing::T0())
                  .ok());
  ASSERT_TRUE(cluster->Stop().ok());
  EXPECT_FALSE((*store)->Ping().ok());
  ASSERT_TRUE(cluster->Start().ok());
  absl::Status ping = (*store)->Ping();
  if (!ping.ok()) ping = (*store)->Ping();  // the first may find it gone
  EXPECT_TRUE(ping.ok()) << ping;
  absl::StatusOr<std::map<std::string, int64_t>> pending =
      (*store)->PendingBySink();
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ((*pending)["sink"], 1);
}

}  // namespace
}  // namespace ghostpeer::aggregator
