#include "common/names.h"

#include "absl/strings/ascii.h"

namespace ghostpeer {

std::string ShortTaskName(absl::string_view name) {
  // Swarm task ids: 25 characters of [0-9a-z] (swarmkit identity.NewID).
  constexpr size_t kTaskIdLength = 25;
  const size_t dot = name.rfind('.');
  if (dot == absl::string_view::npos || dot == 0 ||
      name.size() - dot - 1 != kTaskIdLength ||
      name.substr(0, dot).find('.') == absl::string_view::npos) {
    return std::string(name);
  }
  for (char c : name.substr(dot + 1)) {
    if (!absl::ascii_isdigit(c) && !absl::ascii_islower(c)) {
      return std::string(name);
    }
  }
  return std::string(name.substr(0, dot));
}

std::string Printable(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  return out;
}

}  // namespace ghostpeer
