// The RecordStore contract (record_store.h) as value-parameterized tests
// over a backend, with two replicas on one database: what is put comes
// back newest first, filtered, and purged with retention; one decision
// follows a record across replicas; an answered record is never replaced
// by an unanswered one. The unit test instantiates it with SQLite (two
// connections on one file), tests/integration/postgres with PostgreSQL.
#ifndef GHOSTPEER_TESTS_UNIT_AGGREGATOR_REMEDIATION_RECORD_STORE_CONTRACT_H_
#define GHOSTPEER_TESTS_UNIT_AGGREGATOR_REMEDIATION_RECORD_STORE_CONTRACT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "aggregator/remediation/record_store.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator::remediation::testing {

// One empty database several replicas share.
struct SharedRecordDatabase {
  // Opens another store on it (a replica, or the same one restarted).
  std::function<absl::StatusOr<std::unique_ptr<RecordStore>>()> open;
  // Removes what it left (files); may be empty.
  std::function<void()> cleanup;
};

struct RecordBackend {
  std::string name;
  std::function<SharedRecordDatabase()> new_database;
};

class RecordStoreContractTest : public ::testing::TestWithParam<RecordBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Replaces a_ with a store opened anew on the database.
  void ReopenA();

  SharedRecordDatabase database_;
  std::unique_ptr<RecordStore> a_;
  std::unique_ptr<RecordStore> b_;
};

inline std::string RecordBackendName(
    const ::testing::TestParamInfo<RecordBackend>& info) {
  return info.param.name;
}

}  // namespace ghostpeer::aggregator::remediation::testing

#endif  // GHOSTPEER_TESTS_UNIT_AGGREGATOR_REMEDIATION_RECORD_STORE_CONTRACT_H_
