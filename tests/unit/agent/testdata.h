// Reading files under tests/testdata/ (golden captures, inputs found by the
// fuzzers) in the agent's unit tests.
#ifndef GHOSTPEER_TESTS_UNIT_AGENT_TESTDATA_H_
#define GHOSTPEER_TESTS_UNIT_AGENT_TESTDATA_H_

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ghostpeer::agent::test {

// The bytes of tests/testdata/<path>; empty when the file is missing.
inline std::vector<uint8_t> ReadTestdata(const std::string& path) {
  std::ifstream file(GHOSTPEER_TESTDATA_DIR "/" + path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(file)),
                              std::istreambuf_iterator<char>());
}

// The same as text.
inline std::string ReadTestdataText(const std::string& path) {
  const std::vector<uint8_t> bytes = ReadTestdata(path);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace ghostpeer::agent::test

#endif  // GHOSTPEER_TESTS_UNIT_AGENT_TESTDATA_H_
