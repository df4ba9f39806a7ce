// Column-aligned text tables for terminals: a header row, then one row per
// record, columns padded to their widest cell and separated by two spaces.
#ifndef GHOSTPEER_CLI_TABLE_H_
#define GHOSTPEER_CLI_TABLE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ghostpeer::cli {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
  // Cells wider than this are cut and end in "…"; 0 means never cut.
  size_t max_width = 0;
};

// The number of terminal cells `text` takes, counting one per UTF-8 code
// point (ghostpeer prints no wide or combining characters of its own).
size_t DisplayWidth(absl::string_view text);

// `text` cut to at most `width` display cells, the last one an ellipsis
// when anything was cut. Never splits a UTF-8 sequence. `width` 0 gives "".
std::string Truncate(absl::string_view text, size_t width);

// Not thread-safe; build it on one thread, then Render().
class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // Appends a row. `cells` must have exactly one entry per column (a broken
  // renderer, so it aborts otherwise). Control characters in cells are
  // replaced (see Printable), and cells are cut to their column's max_width.
  void AddRow(std::vector<std::string> cells);

  size_t row_count() const { return rows_.size(); }

  // The header and every row, each line ending in '\n', without trailing
  // blanks. An empty table still renders its header.
  std::string Render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace ghostpeer::cli

#endif  // GHOSTPEER_CLI_TABLE_H_
