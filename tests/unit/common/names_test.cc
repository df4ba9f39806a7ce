#include "common/names.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer {
namespace {

TEST(NamesTest, ShortTaskNameDropsOnlyASwarmTaskId) {
  struct Case {
    std::string name;
    std::string full;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"replicated task", "gp-e2e-cli.1.jv5rd47ey9nutvqzfed7jvk77",
       "gp-e2e-cli.1"},
      {"dotted service", "stack.orders.2.jv5rd47ey9nutvqzfed7jvk77",
       "stack.orders.2"},
      {"already short", "orders.2", "orders.2"},
      {"id of the wrong length", "orders.2.jv5rd47ey9", "orders.2.jv5rd47ey9"},
      {"upper case is no task id", "orders.2.JV5RD47EY9NUTVQZFED7JVK77",
       "orders.2.JV5RD47EY9NUTVQZFED7JVK77"},
      {"id alone", "x.jv5rd47ey9nutvqzfed7jvk77",
       "x.jv5rd47ey9nutvqzfed7jvk77"},
      {"plain container", "adhoc", "adhoc"},
      {"empty", "", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ShortTaskName(c.full), c.want) << c.name;
  }
}

}  // namespace
}  // namespace ghostpeer
