// The ghostpeer CLI run against one aggregator, as the system tests drive
// it: the plain output for people (and failure messages), `-o json`
// parsed.
#ifndef GHOSTPEER_TESTS_INTEGRATION_SYSTEM_CLI_CLIENT_H_
#define GHOSTPEER_TESTS_INTEGRATION_SYSTEM_CLI_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/integration/system/process.h"

namespace ghostpeer::testing {

class CliClient {
 public:
  // `binary`: the ghostpeer CLI; `server`: the aggregator's HOST:PORT.
  CliClient(std::string binary, std::string server)
      : binary_(std::move(binary)), server_(std::move(server)) {}

  // `ghostpeer --server <server> args...`, killed after 20 s.
  CommandResult Run(std::vector<std::string> args) const {
    args.insert(args.begin(), {binary_, "--server", server_});
    return RunBinary(args, absl::Seconds(20));
  }

  // `args` with `-o json`, parsed; an empty object when the command failed
  // or printed something else.
  nlohmann::json Json(std::vector<std::string> args) const {
    args.insert(args.end(), {"-o", "json"});
    const CommandResult result = Run(std::move(args));
    if (result.exit_code != 0) return nlohmann::json::object();
    nlohmann::json parsed = nlohmann::json::parse(result.out, nullptr, false);
    return parsed.is_discarded() ? nlohmann::json::object() : parsed;
  }

 private:
  std::string binary_;
  std::string server_;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_INTEGRATION_SYSTEM_CLI_CLIENT_H_
