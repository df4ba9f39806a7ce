#include "common/http/agent_metrics.h"

#include <limits>

namespace ghostpeer::http {

AgentMetrics::AgentMetrics(metrics::Registry* registry)
    : snapshot_duration_(registry->AddGauge(
          "ghostpeer_agent_snapshot_duration_seconds",
          "Time the last node snapshot took (every namespace, attribution "
          "included).")),
      snapshot_duration_histogram_(registry->AddHistogram(
          "ghostpeer_agent_snapshot_seconds",
          "Snapshot durations, one observation per snapshot sent.", {},
          metrics::ExponentialBuckets(0.005, 2, 12))),
      sockets_(registry->AddGauge("ghostpeer_agent_sockets",
                                  "TCP sockets in the last snapshot.")),
      namespaces_seen_(
          registry->AddGauge("ghostpeer_agent_namespaces_seen",
                             "Network namespaces found in the last snapshot.")),
      namespaces_failed_(registry->AddGauge(
          "ghostpeer_agent_namespaces_failed",
          "Network namespaces that could not be entered or dumped in the "
          "last snapshot.")),
      translations_ok_(registry->AddGauge(
          "ghostpeer_agent_translations_ok",
          "1 when the last snapshot read the VIP translations (conntrack "
          "DNAT, IPVS) of every namespace that has them; 0 when the node "
          "cannot see through VIPs (some unreadable, or turned off).")),
      translations_(registry->AddGauge(
          "ghostpeer_agent_translations",
          "Translated flows (conntrack DNAT, IPVS) read in the last "
          "snapshot, all namespaces.")),
      translation_namespaces_failed_(registry->AddGauge(
          "ghostpeer_agent_translation_namespaces_failed",
          "Namespaces whose translations could not be read in the last "
          "snapshot.")),
      ipvs_blackhole_namespaces_(registry->AddGauge(
          "ghostpeer_agent_ipvs_blackhole_namespaces",
          "Namespaces with IPVS whose expire_nodest_conn is 0: connections "
          "to a removed backend are silently dropped, not reset.")),
      buffered_events_(registry->AddGauge(
          "ghostpeer_agent_buffered_address_events",
          "Address events kept until the aggregator acknowledges them.")),
      connected_(registry->AddGauge(
          "ghostpeer_agent_connected",
          "1 while the ingest stream to the aggregator is up.")),
      last_ack_age_(registry->AddGauge(
          "ghostpeer_agent_last_ack_age_seconds",
          "Seconds since the aggregator last acknowledged anything; +Inf "
          "before the first acknowledgement.")),
      reconnects_(registry->AddCounter(
          "ghostpeer_agent_reconnects_total",
          "Times the ingest stream broke and was opened again.")),
      streams_opened_(registry->AddCounter(
          "ghostpeer_agent_streams_opened_total",
          "Ingest streams opened, the first one included.")),
      snapshots_sent_(registry->AddCounter(
          "ghostpeer_agent_snapshots_sent_total", "Socket snapshots sent.")),
      full_snapshots_sent_(
          registry->AddCounter("ghostpeer_agent_full_snapshots_sent_total",
                               "Full (non-delta) socket snapshots sent.")),
      snapshot_errors_(
          registry->AddCounter("ghostpeer_agent_snapshot_errors_total",
                               "Snapshots that failed as a whole.")),
      events_sent_(
          registry->AddCounter("ghostpeer_agent_address_events_sent_total",
                               "Address events sent (resends included).")),
      aggregator_(registry->AddGauge(
          "ghostpeer_agent_aggregator_info",
          "1 for the aggregator endpoint (as given to --aggregator) the agent "
          "streams to, or is trying to.",
          {"endpoint"})),
      aggregator_failovers_(registry->AddCounter(
          "ghostpeer_agent_aggregator_failovers_total",
          "Times the agent moved from one aggregator to another after a "
          "failure (--aggregator with several endpoints).")),
      remediations_(registry->AddCounter(
          "ghostpeer_agent_remediations_total",
          "Remediation orders from the aggregator answered, by outcome: "
          "destroyed, already_gone, refused, failed, would_destroy (dry "
          "run). Replays of an answered order are not counted again.",
          {"outcome"})) {}

void AgentMetrics::Update(const AgentMetricsValues& values, absl::Time now) {
  snapshot_duration_->Set({},
                          absl::ToDoubleSeconds(values.last_snapshot_duration));
  // One observation per snapshot sent since the previous reading: the
  // values carry only the last duration, so when scrapes are rarer than
  // snapshots the latest duration stands for each of them.
  {
    absl::MutexLock lock(&mu_);
    if (values.snapshots_sent_total > last_snapshots_sent_) {
      snapshot_duration_histogram_->Observe(
          {}, absl::ToDoubleSeconds(values.last_snapshot_duration),
          values.snapshots_sent_total - last_snapshots_sent_);
    }
    last_snapshots_sent_ = values.snapshots_sent_total;
  }
  sockets_->Set({}, values.sockets);
  namespaces_seen_->Set({}, values.namespaces_seen);
  namespaces_failed_->Set({}, values.namespaces_failed);
  translations_ok_->Set({}, values.translations_ok ? 1 : 0);
  translations_->Set({}, values.translations);
  translation_namespaces_failed_->Set({}, values.translation_namespaces_failed);
  ipvs_blackhole_namespaces_->Set({}, values.ipvs_blackhole_namespaces);
  buffered_events_->Set({}, static_cast<double>(values.buffered_events));
  connected_->Set({}, values.connected ? 1 : 0);
  last_ack_age_->Set({}, values.last_ack == absl::InfinitePast()
                             ? std::numeric_limits<double>::infinity()
                             : absl::ToDoubleSeconds(now - values.last_ack));
  reconnects_->SetTotal({}, static_cast<double>(values.reconnects_total));
  streams_opened_->SetTotal({},
                            static_cast<double>(values.streams_opened_total));
  snapshots_sent_->SetTotal({},
                            static_cast<double>(values.snapshots_sent_total));
  full_snapshots_sent_->SetTotal(
      {}, static_cast<double>(values.full_snapshots_sent_total));
  snapshot_errors_->SetTotal({},
                             static_cast<double>(values.snapshot_errors_total));
  events_sent_->SetTotal({}, static_cast<double>(values.events_sent_total));
  // Only the current endpoint: the one before it must not linger at 1.
  if (values.aggregator.empty()) {
    aggregator_->ReplaceAll({});
  } else {
    aggregator_->ReplaceAll({{{values.aggregator}, 1}});
  }
  aggregator_failovers_->SetTotal(
      {}, static_cast<double>(values.aggregator_failovers_total));
  for (const auto& [outcome, total] : values.remediations_total) {
    remediations_->SetTotal({outcome}, static_cast<double>(total));
  }
}

}  // namespace ghostpeer::http
