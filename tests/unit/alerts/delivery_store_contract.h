// The DeliveryStore contract (delivery_store.h) as value-parameterized
// tests over a backend, with two replicas on one database: once-only rows,
// claims that hand each delivery to one replica, leases that expire. The
// unit test instantiates it with SQLite (two connections on one file),
// tests/integration/postgres with PostgreSQL on a private server.
#ifndef GHOSTPEER_TESTS_UNIT_ALERTS_DELIVERY_STORE_CONTRACT_H_
#define GHOSTPEER_TESTS_UNIT_ALERTS_DELIVERY_STORE_CONTRACT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "aggregator/alerts/delivery_store.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator::alerts::testing {

// One empty database several replicas share.
struct SharedDeliveryDatabase {
  // Opens a store on it for replica `replica_id`.
  std::function<absl::StatusOr<std::unique_ptr<DeliveryStore>>(
      const std::string& replica_id)>
      open;
  // Removes what it left (files); may be empty.
  std::function<void()> cleanup;
};

struct DeliveryBackend {
  std::string name;
  std::function<SharedDeliveryDatabase()> new_database;
};

class DeliveryStoreContractTest
    : public ::testing::TestWithParam<DeliveryBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  SharedDeliveryDatabase database_;
  std::unique_ptr<DeliveryStore> a_;  // replica "a"
  std::unique_ptr<DeliveryStore> b_;  // replica "b"
};

inline std::string DeliveryBackendName(
    const ::testing::TestParamInfo<DeliveryBackend>& info) {
  return info.param.name;
}

}  // namespace ghostpeer::aggregator::alerts::testing

#endif  // GHOSTPEER_TESTS_UNIT_ALERTS_DELIVERY_STORE_CONTRACT_H_
