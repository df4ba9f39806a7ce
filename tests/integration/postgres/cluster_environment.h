// One private PostgreSQL server (tests/support/postgres_cluster.h) for a
// whole test program: started before the first test, stopped after the
// last; each test makes itself a database on it.
#ifndef GHOSTPEER_TESTS_INTEGRATION_POSTGRES_CLUSTER_ENVIRONMENT_H_
#define GHOSTPEER_TESTS_INTEGRATION_POSTGRES_CLUSTER_ENVIRONMENT_H_

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "tests/support/postgres_cluster.h"

namespace ghostpeer::testing {

// Register with ::testing::AddGlobalTestEnvironment; `cluster` points at
// the server while the tests run, null otherwise.
class PostgresClusterEnvironment : public ::testing::Environment {
 public:
  explicit PostgresClusterEnvironment(PostgresCluster** cluster)
      : cluster_(cluster) {}
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> created =
        PostgresCluster::Create();
    ASSERT_TRUE(created.ok()) << created.status();
    owned_ = std::move(*created);
    *cluster_ = owned_.get();
  }
  void TearDown() override {
    *cluster_ = nullptr;
    owned_.reset();
  }

 private:
  PostgresCluster** const cluster_;
  std::unique_ptr<PostgresCluster> owned_;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_INTEGRATION_POSTGRES_CLUSTER_ENVIRONMENT_H_
