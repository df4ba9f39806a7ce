#include "common/human_bytes.h"

#include <cmath>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ghostpeer {

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  // Decide the unit on the value as it will be printed: 1,048,064 bytes (1023.5
  // KB) is "1.0 MB", not "1024 KB".
  while (unit + 1 < std::size(kUnits)) {
    const double shown =
        value < 9.95 ? std::round(value * 10) / 10 : std::round(value);
    if (shown < 1024) break;
    value /= 1024.0;
    ++unit;
  }
  if (value < 9.95) return absl::StrFormat("%.1f %s", value, kUnits[unit]);
  return absl::StrFormat("%.0f %s", value, kUnits[unit]);
}

}  // namespace ghostpeer
