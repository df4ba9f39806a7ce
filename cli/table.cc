#include "cli/table.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cli/humanize.h"

namespace ghostpeer::cli {
namespace {

constexpr absl::string_view kEllipsis = "\u2026";
constexpr absl::string_view kGap = "  ";

bool IsContinuationByte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

void AppendPadded(std::string& line, absl::string_view cell, size_t width,
                  Align align) {
  const size_t padding = width - std::min(width, DisplayWidth(cell));
  if (align == Align::kRight) line.append(padding, ' ');
  line.append(cell.data(), cell.size());
  if (align == Align::kLeft) line.append(padding, ' ');
}

}  // namespace

size_t DisplayWidth(absl::string_view text) {
  return static_cast<size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return !IsContinuationByte(c); }));
}

std::string Truncate(absl::string_view text, size_t width) {
  if (DisplayWidth(text) <= width) return std::string(text);
  if (width == 0) return "";
  // Keep width-1 code points, then the ellipsis takes the last cell.
  size_t kept = 0;
  size_t end = 0;
  while (end < text.size()) {
    if (!IsContinuationByte(text[end])) {
      if (kept == width - 1) break;
      ++kept;
    }
    ++end;
  }
  return std::string(text.substr(0, end)) + std::string(kEllipsis);
}

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  if (cells.size() != columns_.size()) {
    // A renderer that builds rows of the wrong shape is a bug, not input.
    std::fprintf(
        stderr,
        "ghostpeer: internal error: table row of %zu cells for %zu columns\n",
        cells.size(), columns_.size());
    std::abort();
  }
  for (size_t i = 0; i < cells.size(); ++i) {
    cells[i] = Printable(cells[i]);
    if (columns_[i].max_width > 0) {
      cells[i] = Truncate(cells[i], columns_[i].max_width);
    }
  }
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(columns_.size());
  for (size_t i = 0; i < columns_.size(); ++i) {
    widths[i] = DisplayWidth(columns_[i].header);
    for (const auto& row : rows_) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  std::string out;
  auto append_line = [&](auto cell_of) {
    std::string line;
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) line.append(kGap.data(), kGap.size());
      AppendPadded(line, cell_of(i), widths[i], columns_[i].align);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  append_line(
      [&](size_t i) -> absl::string_view { return columns_[i].header; });
  for (const auto& row : rows_) {
    append_line([&](size_t i) -> absl::string_view { return row[i]; });
  }
  return out;
}

}  // namespace ghostpeer::cli
