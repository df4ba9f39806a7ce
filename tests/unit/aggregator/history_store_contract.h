// The HistoryStore contract (history_store.h) as value-parameterized tests
// over a StoreKind: each test binary instantiates HistoryStoreContractTest
// with the stores it can open — history_store_contract_test.cc with SQLite
// and the in-memory fake (which the other tests trust to behave like them),
// tests/integration/postgres with PostgreSQL on a private server.
#ifndef GHOSTPEER_TESTS_UNIT_AGGREGATOR_HISTORY_STORE_CONTRACT_H_
#define GHOSTPEER_TESTS_UNIT_AGGREGATOR_HISTORY_STORE_CONTRACT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator/history_store.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator::testing {

struct StoreKind {
  std::string name;
  // Opens an empty store created at `now`.
  std::function<absl::StatusOr<std::unique_ptr<HistoryStore>>(absl::Time now)>
      open;
};

class HistoryStoreContractTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override;

  std::unique_ptr<HistoryStore> store_;
};

// For INSTANTIATE_TEST_SUITE_P: tests named by the store.
inline std::string StoreKindName(
    const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param.name;
}

}  // namespace ghostpeer::aggregator::testing

#endif  // GHOSTPEER_TESTS_UNIT_AGGREGATOR_HISTORY_STORE_CONTRACT_H_
