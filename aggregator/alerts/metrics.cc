#include "aggregator/alerts/metrics.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator::alerts {
namespace {

// The --remediation words (remediation/policy.h ModeName).
const char* RemediationModeLabel(v1::RemediationMode mode) {
  switch (mode) {
    case v1::REMEDIATION_MODE_OFF:
      return "off";
    case v1::REMEDIATION_MODE_DRY_RUN:
      return "dry-run";
    default:
      return "auto";
  }
}

const v1::FindingKind kKinds[] = {v1::VANISHED_PEER, v1::REASSIGNED_PEER,
                                  v1::CLOSE_WAIT_WRITER};
const v1::Severity kSeverities[] = {v1::CRITICAL, v1::WARNING, v1::INFO};
const v1::AddressEventSource kSources[] = {v1::OBSERVATION, v1::DOCKER_EVENT,
                                           v1::SWARM_TASKS};

std::string SourceName(v1::AddressEventSource source) {
  return absl::AsciiStrToLower(v1::AddressEventSource_Name(source));
}

template <typename Histogram>
std::vector<double> Bounds() {
  return std::vector<double>(Histogram::kBoundsSeconds.begin(),
                             Histogram::kBoundsSeconds.end());
}

template <typename Histogram>
std::vector<uint64_t> Buckets(const Histogram& histogram) {
  return std::vector<uint64_t>(histogram.buckets.begin(),
                               histogram.buckets.end());
}

}  // namespace

AggregatorMetrics::AggregatorMetrics(metrics::Registry* registry, Caps caps)
    : registry_(registry),
      findings_open_(registry->AddGauge(
          "ghostpeer_findings_open",
          "Open findings: clients writing (or about to write) to a peer "
          "address nobody will answer for.",
          {"kind", "severity"})),
      bytes_at_risk_(registry->AddGauge(
          "ghostpeer_bytes_at_risk",
          "Bytes written by clients of open findings that no application "
          "will read, by kind and the client's service.",
          {"kind", "service"}, caps.services)),
      findings_opened_(registry->AddCounter("ghostpeer_findings_opened_total",
                                            "Findings opened.", {"kind"})),
      findings_resolved_(registry->AddCounter(
          "ghostpeer_findings_resolved_total", "Findings resolved.", {"kind"})),
      agents_connected_(
          registry->AddGauge("ghostpeer_agents_connected",
                             "Agents with an ingest stream open now.")),
      nodes_known_(registry->AddGauge("ghostpeer_nodes_known",
                                      "Nodes that have reported and are "
                                      "not forgotten.")),
      last_report_age_(registry->AddGauge(
          "ghostpeer_agent_last_report_age_seconds",
          "Seconds since the node's last snapshot reached the aggregator.",
          {"node"}, caps.nodes)),
      node_lag_(registry->AddGauge(
          "ghostpeer_agent_report_lag_seconds",
          "Receive time minus snapshot time of the node's last snapshot "
          "(transit plus clock skew).",
          {"node"}, caps.nodes)),
      translations_visible_(registry->AddGauge(
          "ghostpeer_node_translations_visible",
          "1 when the node's agent reads the translations (conntrack, IPVS) "
          "of every namespace, so it sees through VIPs; 0 when some could "
          "not be read or reading is off. Absent for agents that do not "
          "say (older than translations).",
          {"node"}, caps.nodes)),
      ipvs_blackhole_namespaces_(registry->AddGauge(
          "ghostpeer_ipvs_blackhole_namespaces",
          "IPVS namespaces of the node (Docker's lb_* and ingress_sbox) "
          "with expire_nodest_conn 0: connections to a removed backend are "
          "silently dropped instead of reset.",
          {"node"}, caps.nodes)),
      records_ingested_(registry->AddCounter(
          "ghostpeer_socket_records_ingested_total",
          "Socket records carried by accepted snapshots (deltas count what "
          "they carried).")),
      snapshots_(registry->AddCounter("ghostpeer_snapshots_ingested_total",
                                      "Snapshots accepted, full or delta.",
                                      {"type"})),
      full_snapshots_required_(registry->AddCounter(
          "ghostpeer_full_snapshots_required_total",
          "Deltas dropped for an unknown base (the agent sends a full "
          "snapshot next).")),
      address_events_(registry->AddCounter(
          "ghostpeer_address_events_total",
          "Address events stored, by source (observation, docker_event, "
          "swarm_tasks).",
          {"source"})),
      address_events_replayed_(registry->AddCounter(
          "ghostpeer_address_events_replayed_total",
          "Address events resent by agents and acknowledged without being "
          "applied again.")),
      messages_rejected_(
          registry->AddCounter("ghostpeer_messages_rejected_total",
                               "Agent messages refused as invalid.")),
      remediation_outcomes_(registry->AddCounter(
          "ghostpeer_remediation_outcomes_received_total",
          "Remediation outcomes agents reported, by outcome (destroyed, "
          "already_gone, refused, failed, would_destroy).",
          {"outcome"})),
      // Outcomes: the agents' answers (destroyed, already_gone, refused,
      // failed, would_destroy: a re-check passed in a person's dry run) and
      // the aggregator's own verdicts (would_destroy: a dry-run decision,
      // declined: a guard said no, rate_limited). Mode: off, dry-run, auto.
      remediations_(registry->AddCounter(
          "ghostpeer_remediations_total",
          "Remediation decisions and outcomes, by outcome (destroyed, "
          "already_gone, refused, failed, would_destroy, declined, "
          "rate_limited) and the mode that applied (off, dry-run, auto).",
          {"outcome", "mode"})),
      messages_over_limit_(registry->AddCounter(
          "ghostpeer_messages_over_limit_total",
          "Agent messages refused because they would cross an ingest limit "
          "(max_nodes, max_sockets_per_node, max_socket_bytes).",
          {"limit"})),
      socket_state_bytes_(registry->AddGauge(
          "ghostpeer_socket_state_bytes",
          "Socket state held for all nodes, as counted against "
          "--max-socket-bytes (serialized size of the snapshots kept).")),
      store_errors_(registry->AddCounter("ghostpeer_store_errors_total",
                                         "Failed writes to the store.")),
      history_intervals_(
          registry->AddGauge("ghostpeer_history_intervals",
                             "Address ownership intervals retained.")),
      history_addresses_(
          registry->AddGauge("ghostpeer_history_addresses",
                             "Distinct addresses in the retained history.")),
      ingest_latency_(registry->AddHistogram(
          "ghostpeer_ingest_latency_seconds",
          "Time to ingest one snapshot, validation to acknowledgement.", {},
          Bounds<LatencyHistogram>())),
      detection_latency_(
          registry->AddHistogram("ghostpeer_detection_latency_seconds",
                                 "Time the detector took for one snapshot.", {},
                                 Bounds<LatencyHistogram>())),
      departure_to_finding_(registry->AddHistogram(
          "ghostpeer_departure_to_finding_seconds",
          "From a peer's departure (its owner's interval end, as the "
          "reporting node dated it) to the VANISHED_PEER or REASSIGNED_PEER "
          "finding opened for a client still connected to it.",
          {}, Bounds<DepartureHistogram>())) {}

void AggregatorMetrics::Fill(const EngineReading& reading) {
  const EngineCounters& c = reading.counters;

  // Every kind x severity, zeros included: an alert rule on `> 0` then
  // resolves on a real 0, not on a vanished series.
  std::map<std::pair<int, int>, double> open;
  for (v1::FindingKind kind : kKinds) {
    for (v1::Severity severity : kSeverities) open[{kind, severity}] = 0;
  }
  std::map<std::pair<int, std::string>, double> at_risk;
  for (const v1::Finding& finding : reading.open_findings.findings()) {
    if (finding.status() != v1::OPEN) continue;
    open[{finding.kind(), finding.severity()}] += 1;
    const std::string& service = finding.socket().service();
    at_risk[{finding.kind(),
             service.empty() ? std::string(kNoService) : service}] +=
        static_cast<double>(finding.bytes_at_risk());
  }
  std::vector<std::pair<metrics::LabelValues, double>> open_values;
  for (const auto& [key, count] : open) {
    open_values.push_back(
        {{v1::FindingKind_Name(static_cast<v1::FindingKind>(key.first)),
          v1::Severity_Name(static_cast<v1::Severity>(key.second))},
         count});
  }
  findings_open_->ReplaceAll(open_values);
  std::vector<std::pair<metrics::LabelValues, double>> risk_values;
  for (const auto& [key, bytes] : at_risk) {
    risk_values.push_back(
        {{v1::FindingKind_Name(static_cast<v1::FindingKind>(key.first)),
          key.second},
         bytes});
  }
  bytes_at_risk_->ReplaceAll(risk_values);

  for (v1::FindingKind kind : kKinds) {
    const std::string name = v1::FindingKind_Name(kind);
    findings_opened_->SetTotal(
        {name}, static_cast<double>(c.findings_opened_by_kind[kind]));
    findings_resolved_->SetTotal(
        {name}, static_cast<double>(c.findings_resolved_by_kind[kind]));
  }
  for (v1::AddressEventSource source : kSources) {
    address_events_->SetTotal(
        {SourceName(source)},
        static_cast<double>(c.address_events_by_source[source]));
  }

  agents_connected_->Set({}, c.agents_connected);
  nodes_known_->Set({}, c.nodes_known);
  std::vector<std::pair<metrics::LabelValues, double>> ages, lags, visible,
      blackholes;
  for (const v1::NodeStatus& node : reading.nodes.nodes()) {
    if (!node.has_last_report()) continue;
    if (!node.translation_status().empty()) {
      visible.push_back(
          {{node.node()}, node.translation_status() == "ok" ? 1.0 : 0.0});
    }
    blackholes.push_back(
        {{node.node()}, static_cast<double>(node.ipvs_blackhole_namespaces())});
    ages.push_back(
        {{node.node()},
         absl::ToDoubleSeconds(reading.now - FromProto(node.last_report()))});
    lags.push_back(
        {{node.node()}, absl::ToDoubleSeconds(FromProto(node.lag()))});
  }
  last_report_age_->ReplaceAll(ages);
  node_lag_->ReplaceAll(lags);
  translations_visible_->ReplaceAll(visible);
  ipvs_blackhole_namespaces_->ReplaceAll(blackholes);

  records_ingested_->SetTotal({},
                              static_cast<double>(c.socket_records_ingested));
  snapshots_->SetTotal({"full"}, static_cast<double>(c.full_snapshots));
  snapshots_->SetTotal({"delta"}, static_cast<double>(c.delta_snapshots));
  full_snapshots_required_->SetTotal(
      {}, static_cast<double>(c.full_snapshots_required));
  address_events_replayed_->SetTotal(
      {}, static_cast<double>(c.address_events_replayed));
  messages_rejected_->SetTotal({}, static_cast<double>(c.messages_rejected));
  for (v1::RemediationOutcomeKind kind :
       {v1::REMEDIATION_DESTROYED, v1::REMEDIATION_ALREADY_GONE,
        v1::REMEDIATION_REFUSED, v1::REMEDIATION_FAILED,
        v1::REMEDIATION_WOULD_DESTROY}) {
    // "REMEDIATION_ALREADY_GONE" -> "already_gone", as the agent labels it.
    std::string label =
        absl::AsciiStrToLower(v1::RemediationOutcomeKind_Name(kind).substr(
            sizeof("REMEDIATION_") - 1));
    remediation_outcomes_->SetTotal(
        {std::move(label)},
        static_cast<double>(c.remediation_outcomes_received[kind]));
  }
  for (size_t metric = 0; metric < kRemediationMetricCount; ++metric) {
    for (v1::RemediationMode mode :
         {v1::REMEDIATION_MODE_OFF, v1::REMEDIATION_MODE_DRY_RUN,
          v1::REMEDIATION_MODE_AUTO}) {
      remediations_->SetTotal(
          {RemediationMetricName(static_cast<RemediationMetric>(metric)),
           RemediationModeLabel(mode)},
          static_cast<double>(c.remediations[metric][mode]));
    }
  }
  for (IngestLimit limit :
       {IngestLimit::kMaxNodes, IngestLimit::kMaxSocketsPerNode,
        IngestLimit::kMaxSocketBytes}) {
    messages_over_limit_->SetTotal(
        {IngestLimitName(limit)},
        static_cast<double>(c.messages_over_limit[static_cast<size_t>(limit)]));
  }
  socket_state_bytes_->Set({}, static_cast<double>(c.socket_bytes_held));
  store_errors_->SetTotal({}, static_cast<double>(c.store_errors));
  history_intervals_->Set({}, static_cast<double>(c.history_intervals));
  history_addresses_->Set({}, static_cast<double>(c.history_addresses));
  ingest_latency_->SetTotals({}, Buckets(c.ingest_latency),
                             c.ingest_latency.sum_seconds);
  detection_latency_->SetTotals({}, Buckets(c.detection_latency),
                                c.detection_latency.sum_seconds);
  departure_to_finding_->SetTotals({}, Buckets(c.departure_to_finding),
                                   c.departure_to_finding.sum_seconds);
}

void AggregatorMetrics::CollectFrom(const Engine* engine, const Clock* clock) {
  registry_->AddCollector([this, engine, clock] {
    EngineReading reading;
    reading.counters = engine->Counters();
    v1::ListFindingsRequest open;
    open.set_status(v1::OPEN);
    reading.open_findings = engine->ListFindings(open);
    reading.nodes = engine->ListNodes();
    reading.now = clock->Now();
    Fill(reading);
  });
}

}  // namespace ghostpeer::aggregator::alerts
