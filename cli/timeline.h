// `ghostpeer history`: who held an address, as a table of ownership
// intervals and a text drawing of the timeline, so the gap where nobody held
// it (the ghost window) is visible at a glance. Pure; thread-safe.
#ifndef GHOSTPEER_CLI_TIMELINE_H_
#define GHOSTPEER_CLI_TIMELINE_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "cli/render.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace ghostpeer::cli {

// Draws `intervals` (any order; an unset `until` means "still held") on a
// shared time axis `width` cells wide (at least 8):
//
//             12:00:01                                    now
//   gpx-srv.1 ████████████████·······························
//   gpx-srv.2 ·························█████████████████████████
//   nobody    ················█████████·························
//                            ^ 12:04:00
//
// One row per distinct owner name, in order of first appearance; a cell is
// filled when the owner held the address during any part of it. The
// "nobody" row appears only when some cell's midpoint is covered by no
// interval. The `^` line marks `at` when given. The axis runs from the
// earliest `since` to now (so an address nobody took back shows as a
// trailing "nobody"), stretched to include `at` and any `until` past now
// (clock skew). Empty string for no intervals.
std::string DrawTimeline(
    const google::protobuf::RepeatedPtrField<v1::AddressOwner>& intervals,
    std::optional<absl::Time> at, const RenderOptions& options, int width = 48);

// The whole `history` answer for `address`: for `at`, first a line saying
// who held it then; a table (OWNER, KIND, SCOPE, NODE, NETWORK, FROM, UNTIL,
// HELD; wide adds the container id and namespace); the drawing; and how far
// back the history goes. A clear sentence when there is no interval at all.
std::string RenderHistory(const v1::GetAddressHistoryResponse& response,
                          const std::string& address,
                          std::optional<absl::Time> at,
                          const RenderOptions& options);

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_TIMELINE_H_
