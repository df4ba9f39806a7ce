// The aggregator's Prometheus metrics (issue 5), filled at scrape time from
// the Engine: its counters, its open findings and its nodes.
#ifndef GHOSTPEER_AGGREGATOR_ALERTS_METRICS_H_
#define GHOSTPEER_AGGREGATOR_ALERTS_METRICS_H_

#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "common/http/metrics.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::aggregator::alerts {

// The label value for a finding whose client has no swarm service (plain
// containers, namespaces, host processes).
inline constexpr absl::string_view kNoService = "_none";

// Everything one scrape reads from the Engine.
struct EngineReading {
  EngineCounters counters;
  v1::ListFindingsResponse open_findings;
  v1::ListNodesResponse nodes;
  absl::Time now;
};

// Registers the ghostpeer_* aggregator families on a registry and fills
// them from an EngineReading. Labels are bounded: kind, severity, source,
// service (capped, "_other" past the cap) and node (capped higher: one per
// cluster node). Thread-safe.
class AggregatorMetrics {
 public:
  struct Caps {
    size_t services = 500;
    size_t nodes = 2000;
  };
  // `registry` must outlive this object.
  explicit AggregatorMetrics(metrics::Registry* registry)
      : AggregatorMetrics(registry, Caps()) {}
  AggregatorMetrics(metrics::Registry* registry, Caps caps);

  // Publishes one reading. Pure apart from the families it writes.
  void Fill(const EngineReading& reading);

  // Adds a collector that reads `engine` (which must outlive the registry)
  // at each scrape.
  void CollectFrom(const Engine* engine, const Clock* clock);

 private:
  metrics::Registry* const registry_;
  metrics::GaugeFamily* findings_open_;
  metrics::GaugeFamily* bytes_at_risk_;
  metrics::CounterFamily* findings_opened_;
  metrics::CounterFamily* findings_resolved_;
  metrics::GaugeFamily* agents_connected_;
  metrics::GaugeFamily* nodes_known_;
  metrics::GaugeFamily* last_report_age_;
  metrics::GaugeFamily* node_lag_;
  metrics::GaugeFamily* translations_visible_;
  metrics::GaugeFamily* ipvs_blackhole_namespaces_;
  metrics::CounterFamily* records_ingested_;
  metrics::CounterFamily* snapshots_;
  metrics::CounterFamily* full_snapshots_required_;
  metrics::CounterFamily* address_events_;
  metrics::CounterFamily* address_events_replayed_;
  metrics::CounterFamily* messages_rejected_;
  metrics::CounterFamily* remediation_outcomes_;
  metrics::CounterFamily* remediations_;
  metrics::CounterFamily* messages_over_limit_;
  metrics::GaugeFamily* socket_state_bytes_;
  metrics::CounterFamily* store_errors_;
  metrics::GaugeFamily* history_intervals_;
  metrics::GaugeFamily* history_addresses_;
  metrics::HistogramFamily* ingest_latency_;
  metrics::HistogramFamily* detection_latency_;
  metrics::HistogramFamily* departure_to_finding_;
};

}  // namespace ghostpeer::aggregator::alerts

#endif  // GHOSTPEER_AGGREGATOR_ALERTS_METRICS_H_
