#include "cli/timeline.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/flag_values.h"
#include "cli/humanize.h"
#include "cli/table.h"
#include "common/names.h"
#include "common/story.h"

namespace ghostpeer::cli {
namespace {

// The SCOPE column: "cluster", "node" (the address is NODE's alone: other
// nodes may hold the same text at the same time), or "unscoped" (an agent
// older than scopes; the aggregator reads it as cluster-wide).
std::string ScopeName(const v1::AddressOwner& owner) {
  switch (owner.scope()) {
    case v1::ADDRESS_SCOPE_CLUSTER:
      return "cluster";
    case v1::ADDRESS_SCOPE_NODE:
      return "node";
    default:
      return "unscoped";
  }
}

constexpr absl::string_view kHeld = "\u2588";  // full block
constexpr absl::string_view kFree = "\u00b7";  // middle dot
constexpr size_t kLabelWidth = 24;

struct Tenure {
  absl::Time from;
  absl::Time until;
};

Tenure TenureOf(const v1::AddressOwner& interval, absl::Time now) {
  const absl::Time from = TimeOf(interval.since()).value_or(now);
  const absl::Time until = TimeOf(interval.until()).value_or(now);
  return {from, std::max(from, until)};
}

// The owner's name; task ids dropped unless `full` (-o wide's table).
std::string Label(const v1::AddressOwner& owner, bool full = false) {
  const std::string name = OwnerName(owner);
  if (name.empty()) return "?";
  return full ? name : ShortTaskName(name);
}

std::string PadRight(absl::string_view text, size_t width) {
  std::string out(text);
  out.append(width - std::min(width, DisplayWidth(text)), ' ');
  return out;
}

std::string Cells(const std::vector<bool>& filled) {
  std::string out;
  for (bool cell : filled) {
    const absl::string_view glyph = cell ? kHeld : kFree;
    out.append(glyph.data(), glyph.size());
  }
  return out;
}

std::string WhoHeldAt(const v1::GetAddressHistoryResponse& response,
                      const std::string& address, absl::Time at,
                      const RenderOptions& options) {
  const std::string when = ClockTime(at, options.now, options.zone);
  for (const v1::AddressOwner& interval : response.intervals()) {
    const Tenure span = TenureOf(interval, options.now);
    if (span.from <= at && at <= span.until) {
      std::string line = absl::StrCat("at ", when, " ", address,
                                      " was held by ", Label(interval));
      // "host node-1 on node-1" would say the node twice.
      if (!interval.node().empty() && interval.kind() != v1::OWNER_KIND_HOST) {
        absl::StrAppend(&line, " on ", interval.node());
      }
      return absl::StrCat(Printable(line), "\n");
    }
  }
  return absl::StrCat("at ", when, " nobody held ", Printable(address), "\n");
}

}  // namespace

std::string DrawTimeline(
    const google::protobuf::RepeatedPtrField<v1::AddressOwner>& intervals,
    std::optional<absl::Time> at, const RenderOptions& options, int width) {
  if (intervals.empty()) return "";
  width = std::max(width, 8);
  const absl::Time now = options.now;

  // The axis always runs to now: an address nobody took back since its
  // owner left is the very thing to see.
  absl::Time start = now;
  absl::Time end = now;
  for (const v1::AddressOwner& interval : intervals) {
    const Tenure span = TenureOf(interval, now);
    start = std::min(start, span.from);
    end = std::max(end, span.until);
  }
  if (at) {
    start = std::min(start, *at);
    end = std::max(end, *at);
  }
  // A zero-length axis would divide by zero; one second is as good as any.
  const absl::Duration axis = std::max(end - start, absl::Seconds(1));
  const auto cell_at = [&](absl::Time t) {
    return absl::FDivDuration(t - start, axis) * width;
  };
  // The half-open cell range [first, last) an interval touches; at least one
  // cell, so that a blink of ownership still shows.
  const auto cells_of = [&](const Tenure& span) {
    int first = static_cast<int>(std::floor(cell_at(span.from)));
    int last = static_cast<int>(std::ceil(cell_at(span.until)));
    first = std::clamp(first, 0, width - 1);
    last = std::clamp(last, first + 1, width);
    return std::make_pair(first, last);
  };

  std::vector<std::string> labels;
  std::vector<std::vector<bool>> rows;
  for (const v1::AddressOwner& interval : intervals) {
    const std::string label = Printable(Truncate(Label(interval), kLabelWidth));
    auto it = std::find(labels.begin(), labels.end(), label);
    if (it == labels.end()) {
      labels.push_back(label);
      rows.emplace_back(width, false);
      it = labels.end() - 1;
    }
    std::vector<bool>& row = rows[it - labels.begin()];
    const auto [first, last] = cells_of(TenureOf(interval, now));
    std::fill(row.begin() + first, row.begin() + last, true);
  }

  std::vector<bool> nobody(width, false);
  for (int cell = 0; cell < width; ++cell) {
    const absl::Time mid = start + axis * ((cell + 0.5) / width);
    nobody[cell] = std::none_of(intervals.begin(), intervals.end(),
                                [&](const v1::AddressOwner& i) {
                                  const Tenure span = TenureOf(i, now);
                                  return span.from <= mid && mid < span.until;
                                });
  }
  const bool show_nobody = std::count(nobody.begin(), nobody.end(), true) > 0;

  size_t label_width = show_nobody ? DisplayWidth("nobody") : 0;
  for (const auto& label : labels)
    label_width = std::max(label_width, DisplayWidth(label));
  const std::string indent(label_width + 2, ' ');

  const std::string left = ClockTime(start, now, options.zone);
  // Later than now only when a node's clock runs ahead.
  const std::string right =
      end == now ? "now" : ClockTime(end, now, options.zone);
  const size_t gap =
      static_cast<size_t>(width) > DisplayWidth(left) + DisplayWidth(right)
          ? width - DisplayWidth(left) - DisplayWidth(right)
          : 1;
  std::string out =
      absl::StrCat(indent, left, std::string(gap, ' '), right, "\n");
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, PadRight(labels[i], label_width + 2), Cells(rows[i]),
                    "\n");
  }
  if (show_nobody) {
    absl::StrAppend(&out, PadRight("nobody", label_width + 2), Cells(nobody),
                    "\n");
  }
  if (at) {
    const int cell = std::clamp(static_cast<int>(cell_at(*at)), 0, width - 1);
    absl::StrAppend(&out, indent, std::string(cell, ' '), "^ ",
                    ClockTime(*at, now, options.zone), "\n");
  }
  return out;
}

std::string RenderHistory(const v1::GetAddressHistoryResponse& response,
                          const std::string& address,
                          std::optional<absl::Time> at,
                          const RenderOptions& options) {
  std::string retained;
  if (auto since = TimeOf(response.retained_since())) {
    retained = absl::StrCat("history retained since ",
                            ClockTime(*since, options.now, options.zone), " (",
                            Ago(*since, options.now), ")");
  }
  if (response.intervals().empty()) {
    std::string line =
        at ? absl::StrCat("nobody held ", address, " at ",
                          ClockTime(*at, options.now, options.zone))
           : absl::StrCat("no owner of ", address, " is known");
    if (!retained.empty()) absl::StrAppend(&line, " (", retained, ")");
    return absl::StrCat(Printable(line), "\n");
  }

  std::string out;
  if (at)
    absl::StrAppend(&out, WhoHeldAt(response, address, *at, options), "\n");

  std::vector<Column> columns = {
      {"OWNER", Align::kLeft, options.wide ? 0 : kLabelWidth + 4},
      {"KIND"},
      {"SCOPE"},
      {"NODE"},
      {"NETWORK"},
      {"FROM"},
      {"UNTIL"},
      {"HELD", Align::kRight},
      {"WHY"},  // why it ended
  };
  if (options.wide) {
    columns.push_back({"CONTAINER"});
    columns.push_back({"NETNS"});
  }
  Table table(std::move(columns));
  for (const v1::AddressOwner& interval : response.intervals()) {
    const Tenure span = TenureOf(interval, options.now);
    const auto until = TimeOf(interval.until());
    std::vector<std::string> row = {
        Label(interval, /*full=*/options.wide),
        OwnerKindName(interval.kind()),
        ScopeName(interval),
        interval.node().empty() ? "-" : interval.node(),
        interval.network().empty() ? "-" : interval.network(),
        TimeOf(interval.since())
            ? ClockTime(span.from, options.now, options.zone)
            : "?",
        until ? ClockTime(*until, options.now, options.zone) : "now",
        CompactDuration(span.until - span.from),
        until ? CloseReasonName(interval.close_reason()) : "-",
    };
    if (options.wide) {
      row.push_back(interval.container_id().empty()
                        ? "-"
                        : interval.container_id().substr(0, 12));
      row.push_back(!interval.netns().empty() ? interval.netns()
                    : interval.netns_inode() != 0
                        ? absl::StrCat("inode:", interval.netns_inode())
                        : "-");
    }
    table.AddRow(std::move(row));
  }
  absl::StrAppend(&out, table.Render(), "\n");
  absl::StrAppend(&out, DrawTimeline(response.intervals(), at, options));
  if (!retained.empty()) absl::StrAppend(&out, "\n", retained, "\n");
  return out;
}

}  // namespace ghostpeer::cli
