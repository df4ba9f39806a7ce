#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "aggregator/alerts/metrics.h"
#include "gtest/gtest.h"
#include "test_findings.h"

namespace ghostpeer::aggregator::alerts {
namespace {

using testing::T0;
using testing::VanishedFinding;

TEST(AggregatorMetricsTest, FillsEveryIssue5Metric) {
  metrics::Registry registry;
  AggregatorMetrics m(&registry);
  EngineReading reading;
  reading.now = T0();
  reading.counters.socket_records_ingested = 1234;
  reading.counters.full_snapshots = 3;
  reading.counters.delta_snapshots = 9;
  reading.counters.address_events_by_source[v1::OBSERVATION] = 7;
  reading.counters.address_events_by_source[v1::DOCKER_EVENT] = 2;
  reading.counters.findings_opened_by_kind[v1::VANISHED_PEER] = 4;
  reading.counters.findings_resolved_by_kind[v1::VANISHED_PEER] = 1;
  reading.counters.agents_connected = 2;
  reading.counters.ingest_latency.Observe(absl::Milliseconds(3));
  reading.counters.detection_latency.Observe(absl::Microseconds(200));
  reading.counters.departure_to_finding.Observe(absl::Seconds(4.5));
  reading.counters.departure_to_finding.Observe(absl::Seconds(11));
  *reading.open_findings.add_findings() = VanishedFinding("a1");
  *reading.open_findings.add_findings() = VanishedFinding("a2");
  v1::Finding no_service = VanishedFinding("a3");
  no_service.mutable_socket()->clear_service();
  no_service.set_severity(v1::WARNING);
  no_service.set_bytes_at_risk(0);
  *reading.open_findings.add_findings() = no_service;
  v1::NodeStatus* node = reading.nodes.add_nodes();
  node->set_node("node-3");
  *node->mutable_last_report() = ToProto(T0() - absl::Seconds(4));
  *node->mutable_lag() = ToProto(absl::Milliseconds(250));
  reading.nodes.add_nodes()->set_node("never-reported");
  m.Fill(reading);

  const std::string text = registry.Render();
  const std::vector<std::string> want = {
      "ghostpeer_findings_open{kind=\"VANISHED_PEER\",severity=\"CRITICAL\"} "
      "2\n",
      "ghostpeer_findings_open{kind=\"VANISHED_PEER\",severity=\"WARNING\"} "
      "1\n",
      "ghostpeer_findings_open{kind=\"CLOSE_WAIT_WRITER\",severity=\"INFO\"} "
      "0\n",
      "ghostpeer_bytes_at_risk{kind=\"VANISHED_PEER\",service=\"orders\"} "
      "143360\n",
      "ghostpeer_bytes_at_risk{kind=\"VANISHED_PEER\",service=\"_none\"} 0\n",
      "ghostpeer_findings_opened_total{kind=\"VANISHED_PEER\"} 4\n",
      "ghostpeer_findings_resolved_total{kind=\"VANISHED_PEER\"} 1\n",
      "ghostpeer_findings_opened_total{kind=\"REASSIGNED_PEER\"} 0\n",
      "ghostpeer_agents_connected 2\n",
      "ghostpeer_agent_last_report_age_seconds{node=\"node-3\"} 4\n",
      "ghostpeer_agent_report_lag_seconds{node=\"node-3\"} 0.25\n",
      "ghostpeer_socket_records_ingested_total 1234\n",
      "ghostpeer_snapshots_ingested_total{type=\"delta\"} 9\n",
      "ghostpeer_address_events_total{source=\"observation\"} 7\n",
      "ghostpeer_address_events_total{source=\"docker_event\"} 2\n",
      "ghostpeer_address_events_total{source=\"swarm_tasks\"} 0\n",
      "ghostpeer_ingest_latency_seconds_bucket{le=\"0.005\"} 1\n",
      "ghostpeer_ingest_latency_seconds_bucket{le=\"0.0025\"} 0\n",
      "ghostpeer_ingest_latency_seconds_count 1\n",
      "ghostpeer_detection_latency_seconds_bucket{le=\"0.0005\"} 1\n",
      "ghostpeer_departure_to_finding_seconds_bucket{le=\"4\"} 0\n",
      "ghostpeer_departure_to_finding_seconds_bucket{le=\"5\"} 1\n",
      "ghostpeer_departure_to_finding_seconds_bucket{le=\"10\"} 1\n",
      "ghostpeer_departure_to_finding_seconds_bucket{le=\"12.5\"} 2\n",
      "ghostpeer_departure_to_finding_seconds_count 2\n",
      "ghostpeer_departure_to_finding_seconds_sum 15.5\n",
  };
  for (const std::string& line : want) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "in:\n" << text;
  }
  EXPECT_FALSE(absl::StrContains(text, "never-reported"));
}

// Whether each node sees through VIPs, and its black-holing lb namespaces.
TEST(AggregatorMetricsTest, TranslationVisibilityPerNode) {
  metrics::Registry registry;
  AggregatorMetrics m(&registry);
  EngineReading reading;
  reading.now = T0();
  auto add = [&](const std::string& name, const std::string& status,
                 uint32_t blackholes) {
    v1::NodeStatus* node = reading.nodes.add_nodes();
    node->set_node(name);
    *node->mutable_last_report() = ToProto(T0() - absl::Seconds(4));
    node->set_translation_status(status);
    node->set_ipvs_namespaces(blackholes + 1);
    node->set_ipvs_blackhole_namespaces(blackholes);
  };
  add("sees", "ok", 0);
  add("blind", "unavailable: conntrack: permission denied", 2);
  add("old-agent", "", 0);
  m.Fill(reading);
  const std::string text = registry.Render();
  for (const char* line : {
           "ghostpeer_node_translations_visible{node=\"sees\"} 1\n",
           "ghostpeer_node_translations_visible{node=\"blind\"} 0\n",
           "ghostpeer_ipvs_blackhole_namespaces{node=\"sees\"} 0\n",
           "ghostpeer_ipvs_blackhole_namespaces{node=\"blind\"} 2\n",
       }) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "in:\n" << text;
  }
  // An agent that does not say is not "blind": no series.
  EXPECT_FALSE(absl::StrContains(
      text, "ghostpeer_node_translations_visible{node=\"old-agent\"}"));
}

TEST(AggregatorMetricsTest, IngestLimitRefusalsAreCountedPerLimit) {
  metrics::Registry registry;
  AggregatorMetrics m(&registry);
  EngineReading reading;
  reading.now = T0();
  reading.counters.messages_over_limit[static_cast<size_t>(
      IngestLimit::kMaxSocketsPerNode)] = 3;
  reading.counters.socket_bytes_held = 4096;
  m.Fill(reading);

  const std::string text = registry.Render();
  for (const char* line : {
           "ghostpeer_messages_over_limit_total{limit=\"max_nodes\"} 0\n",
           "ghostpeer_messages_over_limit_total{limit=\"max_sockets_per_"
           "node\"} 3\n",
           "ghostpeer_messages_over_limit_total{limit=\"max_socket_bytes\"} "
           "0\n",
           "ghostpeer_socket_state_bytes 4096\n",
       }) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "in:\n" << text;
  }
}

TEST(AggregatorMetricsTest, RemediationsByOutcomeAndMode) {
  metrics::Registry registry;
  AggregatorMetrics m(&registry);
  EngineReading reading;
  reading.now = T0();
  reading.counters.remediations[static_cast<size_t>(
      RemediationMetric::kDestroyed)][v1::REMEDIATION_MODE_AUTO] = 2;
  reading.counters.remediations[static_cast<size_t>(
      RemediationMetric::kWouldDestroy)][v1::REMEDIATION_MODE_DRY_RUN] = 5;
  m.Fill(reading);

  const std::string text = registry.Render();
  for (const char* line : {
           "ghostpeer_remediations_total{outcome=\"destroyed\",mode=\"auto\"} "
           "2\n",
           "ghostpeer_remediations_total{outcome=\"would_destroy\",mode=\"dry-"
           "run\"} 5\n",
           "ghostpeer_remediations_total{outcome=\"rate_limited\",mode=\"off\"}"
           " "
           "0\n",
           "ghostpeer_remediations_total{outcome=\"declined\",mode=\"auto\"} "
           "0\n",
       }) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "in:\n" << text;
  }
}

TEST(AggregatorMetricsTest, ServiceCardinalityIsCapped) {
  metrics::Registry registry;
  AggregatorMetrics m(&registry, {/*services=*/5, /*nodes=*/5});
  EngineReading reading;
  reading.now = T0();
  for (int i = 0; i < 50; ++i) {
    v1::Finding f = VanishedFinding("f" + std::to_string(i));
    f.mutable_socket()->set_service("svc" + std::to_string(i));
    f.set_bytes_at_risk(10);
    *reading.open_findings.add_findings() = f;
  }
  m.Fill(reading);
  const std::string text = registry.Render();
  size_t series = 0;
  for (size_t at = text.find("\nghostpeer_bytes_at_risk{");
       at != std::string::npos;
       at = text.find("\nghostpeer_bytes_at_risk{", at + 1)) {
    ++series;
  }
  EXPECT_EQ(series, 5u) << text;
  // Totals survive the cap: 4 named services x 10 + 46 folded x 10.
  EXPECT_TRUE(absl::StrContains(
      text,
      "ghostpeer_bytes_at_risk{kind=\"_other\",service=\"_other\"} 460\n"))
      << text;
}

TEST(AggregatorMetricsTest, ResolvedFindingsLeaveTheGauges) {
  metrics::Registry registry;
  AggregatorMetrics m(&registry);
  EngineReading reading;
  reading.now = T0();
  *reading.open_findings.add_findings() = VanishedFinding();
  m.Fill(reading);
  reading.open_findings.clear_findings();
  m.Fill(reading);
  const std::string text = registry.Render();
  EXPECT_TRUE(absl::StrContains(text,
                                "ghostpeer_findings_open{kind=\"VANISHED_"
                                "PEER\",severity=\"CRITICAL\"} 0\n"));
  EXPECT_FALSE(absl::StrContains(text, "service=\"orders\""));
}

}  // namespace
}  // namespace ghostpeer::aggregator::alerts
