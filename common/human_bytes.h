// Byte counts the way every ghostpeer surface prints them: the stories the
// aggregator writes, its alerts, and the CLI's tables.
#ifndef GHOSTPEER_COMMON_HUMAN_BYTES_H_
#define GHOSTPEER_COMMON_HUMAN_BYTES_H_

#include <cstdint>
#include <string>

namespace ghostpeer {

// Powers of 1024: "0 B", "1023 B", "1.8 KB", "70 KB", "1.2 MB". One decimal
// below 10 of a unit, none above; a value that rounds up to 1024 moves to
// the next unit ("1.0 MB", never "1024 KB"). Pure.
std::string HumanBytes(uint64_t bytes);

}  // namespace ghostpeer

#endif  // GHOSTPEER_COMMON_HUMAN_BYTES_H_
