// /proc/net/ip_vs_conn and /proc/net/nf_conntrack, read inside namespaces
// the agent does not control (their flows are made by whoever sends
// packets there). Input: a file's content, parsed as both.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/translation.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/translation_check.h"

namespace ghostpeer::agent {
namespace {

template <typename Parser>
void FuzzLines(absl::string_view content, Parser parse, Translator translator) {
  size_t malformed = 0;
  const std::vector<Translation> flows = parse(content, &malformed);
  // At most one flow or one malformed count per line.
  const size_t lines =
      static_cast<size_t>(std::count(content.begin(), content.end(), '\n') + 1);
  FUZZ_CHECK(flows.size() + malformed <= lines);
  for (const Translation& flow : flows) {
    fuzz::CheckTranslation(flow, translator);
  }
}

}  // namespace
}  // namespace ghostpeer::agent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ghostpeer::agent::Translator;
  const absl::string_view content(reinterpret_cast<const char*>(data), size);
  ghostpeer::agent::FuzzLines(content, ghostpeer::agent::ParseIpVsConn,
                              Translator::kIpvs);
  ghostpeer::agent::FuzzLines(content, ghostpeer::agent::ParseProcConntrack,
                              Translator::kConntrack);
  return 0;
}
