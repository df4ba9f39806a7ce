#include "common/http/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace ghostpeer::metrics {
namespace {

TEST(FormatValueTest, Table) {
  struct Case {
    std::string name;
    double value;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"zero", 0, "0"},
      {"integer", 42, "42"},
      {"large integer keeps every digit", 1234567890123.0, "1234567890123"},
      {"negative", -3, "-3"},
      {"fraction shortest form", 0.1, "0.1"},
      {"small fraction", 0.005, "0.005"},
      {"fixed, not 5e-04", 0.0005, "0.0005"},
      {"tiny stays short", 1.5e-9, "1.5e-09"},
      {"huge non-integer-range", 1e300, "1e+300"},
      {"plus infinity", std::numeric_limits<double>::infinity(), "+Inf"},
      {"minus infinity", -std::numeric_limits<double>::infinity(), "-Inf"},
      {"nan", std::nan(""), "NaN"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatValue(c.value), c.want) << c.name;
  }
}

TEST(EscapeTest, Table) {
  struct Case {
    std::string name;
    std::string in;
    std::string label_want;
    std::string help_want;
  };
  const std::vector<Case> cases = {
      {"plain", "orders", "orders", "orders"},
      {"backslash", R"(a\b)", R"(a\\b)", R"(a\\b)"},
      {"quote only escaped in labels", R"(say "hi")", R"(say \"hi\")",
       R"(say "hi")"},
      {"newline", "a\nb", R"(a\nb)", R"(a\nb)"},
      {"utf8 untouched", "caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(EscapeLabelValue(c.in), c.label_want) << c.name;
    EXPECT_EQ(EscapeHelp(c.in), c.help_want) << c.name;
  }
}

TEST(RegistryTest, RendersCountersAndGaugesWithEscapedLabels) {
  Registry registry;
  CounterFamily* opened =
      registry.AddCounter("ghostpeer_findings_opened_total",
                          "Findings opened.\nBy kind.", {"kind"});
  GaugeFamily* connected =
      registry.AddGauge("ghostpeer_agents_connected", "Agents connected.");
  opened->Increment({"VANISHED_PEER"});
  opened->Increment({"VANISHED_PEER"}, 2);
  opened->Increment({"say \"x\"\\"}, 1);
  opened->Increment({"VANISHED_PEER"}, -5);  // ignored: counters only grow
  connected->Set({}, 3);

  EXPECT_EQ(registry.Render(),
            "# HELP ghostpeer_findings_opened_total Findings opened.\\nBy "
            "kind.\n"
            "# TYPE ghostpeer_findings_opened_total counter\n"
            "ghostpeer_findings_opened_total{kind=\"VANISHED_PEER\"} 3\n"
            "ghostpeer_findings_opened_total{kind=\"say \\\"x\\\"\\\\\"} 1\n"
            "# HELP ghostpeer_agents_connected Agents connected.\n"
            "# TYPE ghostpeer_agents_connected gauge\n"
            "ghostpeer_agents_connected 3\n");
}

TEST(RegistryTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  HistogramFamily* latency = registry.AddHistogram(
      "ghostpeer_ingest_seconds", "Ingest latency.", {"what"}, {0.01, 0.1, 1});
  struct Observation {
    std::string name;
    double value;
  };
  const std::vector<Observation> observations = {
      {"below first bound", 0.001},
      {"exactly on a bound counts in it (le)", 0.1},
      {"middle", 0.5},
      {"above every bound", 7},
  };
  for (const Observation& o : observations) {
    latency->Observe({"snapshot"}, o.value);
  }
  latency->Observe({"snapshot"}, 0.05, 0);  // count 0 records nothing

  const std::string text = registry.Render();
  const std::vector<std::string> want = {
      R"(ghostpeer_ingest_seconds_bucket{what="snapshot",le="0.01"} 1)",
      R"(ghostpeer_ingest_seconds_bucket{what="snapshot",le="0.1"} 2)",
      R"(ghostpeer_ingest_seconds_bucket{what="snapshot",le="1"} 3)",
      R"(ghostpeer_ingest_seconds_bucket{what="snapshot",le="+Inf"} 4)",
      R"(ghostpeer_ingest_seconds_sum{what="snapshot"} 7.601)",
      R"(ghostpeer_ingest_seconds_count{what="snapshot"} 4)",
      "# TYPE ghostpeer_ingest_seconds histogram",
  };
  for (const std::string& line : want) {
    EXPECT_TRUE(absl::StrContains(text, line + "\n"))
        << "missing line: " << line << "\nin:\n"
        << text;
  }
}

TEST(RegistryTest, HistogramMergeAddsBucketCounts) {
  Registry registry;
  HistogramFamily* h = registry.AddHistogram("h_seconds", "h", {}, {1, 2});
  h->Merge({}, {1, 0, 2}, 10);
  h->Observe({}, 1.5);
  const std::string text = registry.Render();
  EXPECT_TRUE(absl::StrContains(text, "h_seconds_bucket{le=\"1\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(text, "h_seconds_bucket{le=\"2\"} 2\n"));
  EXPECT_TRUE(absl::StrContains(text, "h_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_TRUE(absl::StrContains(text, "h_seconds_sum 11.5\n"));
  EXPECT_TRUE(absl::StrContains(text, "h_seconds_count 4\n"));
}

TEST(RegistryTest, CardinalityCapFoldsIntoOverflowSeries) {
  Registry registry;
  CounterFamily* by_service = registry.AddCounter(
      "c_total", "c", {"kind", "service"}, /*max_series=*/3);
  for (int i = 0; i < 10; ++i) {
    by_service->Increment({"VANISHED_PEER", "svc" + std::to_string(i)});
  }
  by_service->Increment({"VANISHED_PEER", "svc0"});  // existing: stays itself
  EXPECT_EQ(by_service->series_count(), 3u);
  EXPECT_EQ(by_service->overflowed(), 8u);
  const std::string text = registry.Render();
  EXPECT_TRUE(absl::StrContains(
      text, "c_total{kind=\"VANISHED_PEER\",service=\"svc0\"} 2\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "c_total{kind=\"VANISHED_PEER\",service=\"svc1\"} 1\n"));
  EXPECT_TRUE(absl::StrContains(
      text, "c_total{kind=\"_other\",service=\"_other\"} 8\n"))
      << text;
}

TEST(RegistryTest, GaugeReplaceAllDropsGoneSeriesAndSumsOverflow) {
  Registry registry;
  GaugeFamily* bytes =
      registry.AddGauge("bytes", "b", {"service"}, /*max_series=*/3);
  bytes->ReplaceAll({{{"a"}, 1}, {{"b"}, 2}, {{"c"}, 3}, {{"d"}, 4}});
  std::string text = registry.Render();
  EXPECT_TRUE(absl::StrContains(text, "bytes{service=\"a\"} 1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "bytes{service=\"b\"} 2\n"));
  EXPECT_TRUE(absl::StrContains(text, "bytes{service=\"_other\"} 7\n"));

  bytes->ReplaceAll({{{"b"}, 5}});
  text = registry.Render();
  EXPECT_FALSE(absl::StrContains(text, "service=\"a\"")) << text;
  EXPECT_FALSE(absl::StrContains(text, "_other")) << text;
  EXPECT_TRUE(absl::StrContains(text, "bytes{service=\"b\"} 5\n"));
}

TEST(RegistryTest, CollectorsRunBeforeEachRender) {
  Registry registry;
  GaugeFamily* g = registry.AddGauge("g", "g");
  int calls = 0;
  registry.AddCollector([&] { g->Set({}, ++calls); });
  EXPECT_TRUE(absl::StrContains(registry.Render(), "\ng 1\n"));
  EXPECT_TRUE(absl::StrContains(registry.Render(), "\ng 2\n"));
}

TEST(RegistryTest, EveryLineIsWellFormed) {
  // Each non-comment line is `name{labels} value` with a parseable value.
  Registry registry;
  registry.AddCounter("a_total", "a", {"x"})->Increment({"1"});
  registry.AddHistogram("b_seconds", "b", {}, ExponentialBuckets(0.001, 4, 5))
      ->Observe({}, 0.3);
  registry.AddGauge("c", "c")->Set({}, std::numeric_limits<double>::infinity());
  for (absl::string_view line :
       absl::StrSplit(registry.Render(), '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    const size_t space = line.rfind(' ');
    ASSERT_NE(space, absl::string_view::npos) << line;
    const std::string value(line.substr(space + 1));
    if (value == "+Inf" || value == "-Inf" || value == "NaN") continue;
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    EXPECT_EQ(*end, '\0') << line;
  }
}

TEST(ExponentialBucketsTest, Grows) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

TEST(RegistryDeathTest, MisuseDies) {
  Registry registry;
  registry.AddGauge("g", "g", {"a"});
  EXPECT_DEATH(registry.AddGauge("g", "again"), "registered twice");
  EXPECT_DEATH(registry.AddGauge("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {"le"}, {1}),
               "invalid label name");
  GaugeFamily* g = registry.AddGauge("g2", "g", {"a", "b"});
  EXPECT_DEATH(g->Set({"only-one"}, 1), "label values");
}

}  // namespace
}  // namespace ghostpeer::metrics
