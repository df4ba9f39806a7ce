// Numbers in the CLI's `-o json` output, which is proto3 JSON: 64-bit
// integers come as strings ("2510"), 32-bit ones as numbers.
#ifndef GHOSTPEER_TESTS_INTEGRATION_SYSTEM_JSON_NUMBER_H_
#define GHOSTPEER_TESTS_INTEGRATION_SYSTEM_JSON_NUMBER_H_

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"

namespace ghostpeer::testing {

// `value` as an unsigned integer, from either form; 0 if it is neither.
inline uint64_t AsU64(const nlohmann::json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer())
    return static_cast<uint64_t>(value.get<int64_t>());
  uint64_t out = 0;
  if (value.is_string()) (void)absl::SimpleAtoi(value.get<std::string>(), &out);
  return out;
}

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_INTEGRATION_SYSTEM_JSON_NUMBER_H_
