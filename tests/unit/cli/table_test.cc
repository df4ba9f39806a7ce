#include "cli/table.h"

#include "gtest/gtest.h"

namespace ghostpeer::cli {
namespace {

TEST(TableTest, TruncateCountsCodePointsAndEndsInAnEllipsis) {
  struct Case {
    const char* name;
    const char* text;
    size_t width;
    const char* want;
  };
  const Case cases[] = {
      {"fits", "gpx-srv.1", 9, "gpx-srv.1"},
      {"cut", "orders.2.xk2j3l4k5j6h", 10, "orders.2.\u2026"},
      {"width one", "orders", 1, "\u2026"},
      {"width zero", "orders", 0, ""},
      {"empty", "", 3, ""},
      {"multibyte fits", "na\u00efve", 5, "na\u00efve"},
      {"multibyte never split", "\u00e9\u00e9\u00e9\u00e9", 3,
       "\u00e9\u00e9\u2026"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Truncate(c.text, c.width), c.want) << c.name;
    EXPECT_LE(DisplayWidth(Truncate(c.text, c.width)), c.width) << c.name;
  }
}

TEST(TableTest, AlignsColumnsAndTrimsTrailingBlanks) {
  Table table({{"NAME"}, {"SEND-Q", Align::kRight}, {"NOTE"}});
  table.AddRow({"gpx-cli.1", "1833", ""});
  table.AddRow({"a", "7", "x"});
  EXPECT_EQ(table.Render(),
            "NAME       SEND-Q  NOTE\n"
            "gpx-cli.1    1833\n"
            "a               7  x\n");
}

TEST(TableTest, CutsToMaxWidthAndNeutralizesControlCharacters) {
  Table table({{"CLIENT", Align::kLeft, 8}, {"PEER"}});
  table.AddRow({"orders.2.xk2j3l4k5j6h", "10.0.1.6:27017"});
  table.AddRow({"bad\x1b[2Jname", "x"});
  EXPECT_EQ(table.Render(),
            "CLIENT    PEER\n"
            "orders.\u2026  10.0.1.6:27017\n"
            "bad?[2J\u2026  x\n");
}

TEST(TableTest, EmptyTableRendersItsHeader) {
  Table table({{"A"}, {"B"}});
  EXPECT_EQ(table.row_count(), 0u);
  EXPECT_EQ(table.Render(), "A  B\n");
}

TEST(TableDeathTest, RowOfTheWrongShapeIsABug) {
  Table table({{"A"}, {"B"}});
  EXPECT_DEATH(table.AddRow({"only one"}),
               "table row of 1 cells for 2 columns");
}

}  // namespace
}  // namespace ghostpeer::cli
