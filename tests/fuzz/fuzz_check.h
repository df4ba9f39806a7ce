// Shared pieces of the libFuzzer targets: invariant checks that crash (so
// libFuzzer keeps the input and stops), and the invariants every parsed
// socket record must satisfy whatever bytes it came from.
#ifndef GHOSTPEER_TESTS_FUZZ_FUZZ_CHECK_H_
#define GHOSTPEER_TESTS_FUZZ_FUZZ_CHECK_H_

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ghostpeer/v1/model.pb.h"

// Like assert(), but never compiled out: a fuzz build may be NDEBUG.
#define FUZZ_CHECK(condition)                                          \
  do {                                                                 \
    if (!(condition)) {                                                \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #condition);                              \
      std::abort();                                                    \
    }                                                                  \
  } while (false)

namespace ghostpeer::fuzz {

// True for the text form of an IPv4 or IPv6 address.
inline bool IsIpLiteral(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// What the aggregator's validation will demand of a record the agent sends:
// addresses that parse, ports that fit 16 bits, a known state, source and
// protocol; a UDP record is a connected socket without tcp_info.
inline void CheckSocketRecord(const v1::SocketRecord& record,
                              v1::CaptureSource source) {
  FUZZ_CHECK(record.protocol() == v1::PROTOCOL_TCP ||
             record.protocol() == v1::PROTOCOL_UDP);
  if (record.protocol() == v1::PROTOCOL_UDP) {
    FUZZ_CHECK(record.remote_port() != 0);
    FUZZ_CHECK(record.remote_ip() != "0.0.0.0" && record.remote_ip() != "::");
    FUZZ_CHECK(!record.has_tcp_info());
    FUZZ_CHECK(!record.peer_closed());
  }
  FUZZ_CHECK(IsIpLiteral(record.local_ip()));
  FUZZ_CHECK(IsIpLiteral(record.remote_ip()));
  FUZZ_CHECK(record.local_port() <= 65535);
  FUZZ_CHECK(record.remote_port() <= 65535);
  FUZZ_CHECK(v1::TcpState_IsValid(record.state()));
  FUZZ_CHECK(record.source() == source);
}

}  // namespace ghostpeer::fuzz

#endif  // GHOSTPEER_TESTS_FUZZ_FUZZ_CHECK_H_
