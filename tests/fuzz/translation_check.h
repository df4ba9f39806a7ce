// The invariants every translation the agent parsed must satisfy whatever
// bytes it came from: what the join and the aggregator rely on.
#ifndef GHOSTPEER_TESTS_FUZZ_TRANSLATION_CHECK_H_
#define GHOSTPEER_TESTS_FUZZ_TRANSLATION_CHECK_H_

#include <netinet/in.h>

#include "absl/strings/ascii.h"
#include "agent/translation.h"
#include "tests/fuzz/fuzz_check.h"

namespace ghostpeer::fuzz {

inline void CheckTranslation(const agent::Translation& flow,
                             agent::Translator translator) {
  FUZZ_CHECK(flow.translator == translator);
  FUZZ_CHECK(flow.protocol == IPPROTO_TCP || flow.protocol == IPPROTO_UDP);
  FUZZ_CHECK(IsIpLiteral(flow.client_ip));
  FUZZ_CHECK(IsIpLiteral(flow.service_ip));
  FUZZ_CHECK(IsIpLiteral(flow.backend_ip));
  // A state name is the kernel's vocabulary, never arbitrary bytes.
  FUZZ_CHECK(flow.state.size() <= 16);
  for (char c : flow.state) {
    FUZZ_CHECK(absl::ascii_isupper(static_cast<unsigned char>(c)) ||
               absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_' ||
               c == '!');
  }
}

}  // namespace ghostpeer::fuzz

#endif  // GHOSTPEER_TESTS_FUZZ_TRANSLATION_CHECK_H_
