// The agent's own /metrics: what its reporter and snapshots are doing, from
// plain numbers so this library needs nothing of the agent's.
//
// Wiring in agent main (sketch):
//   metrics::Registry registry;
//   http::AgentMetrics agent_metrics(&registry);
//   registry.AddCollector([&] { agent_metrics.Update(ValuesFrom(reporter)); });
//   auto server = http::HttpServer::Start(
//       {.listen = flag, .routes = http::StandardRoutes(&registry, nullptr)});
#ifndef GHOSTPEER_COMMON_HTTP_AGENT_METRICS_H_
#define GHOSTPEER_COMMON_HTTP_AGENT_METRICS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http/metrics.h"

namespace ghostpeer::http {

// One reading of the agent's state; totals are process-lifetime counters.
// Mirrors agent/report/reporter.h ReporterStats plus the journal's backlog.
struct AgentMetricsValues {
  absl::Duration last_snapshot_duration;
  uint32_t sockets = 0;            // in the last snapshot
  uint32_t namespaces_seen = 0;    // in the last snapshot
  uint32_t namespaces_failed = 0;  // in the last snapshot
  // VIP translations in the last snapshot: whether every namespace's could
  // be read (translation_status "ok"), how many flows were read, how many
  // namespaces could not be read, and how many have IPVS that silently
  // drops connections to a removed backend (expire_nodest_conn=0).
  bool translations_ok = false;
  uint32_t translations = 0;
  uint32_t translation_namespaces_failed = 0;
  uint32_t ipvs_blackhole_namespaces = 0;
  uint64_t buffered_events = 0;  // address events not yet acknowledged
  bool connected = false;        // the ingest stream is up
  absl::Time last_ack = absl::InfinitePast();
  uint64_t reconnects_total = 0;
  uint64_t streams_opened_total = 0;
  uint64_t snapshots_sent_total = 0;
  uint64_t full_snapshots_sent_total = 0;
  uint64_t snapshot_errors_total = 0;
  uint64_t events_sent_total = 0;
  // The aggregator in use (streaming to it, or trying to); empty: none yet.
  std::string aggregator;
  uint64_t aggregator_failovers_total = 0;
  // Remediation orders answered, by outcome label ("destroyed", "refused",
  // ...; agent/report/remediation_dispatcher.h), each counted once.
  std::vector<std::pair<std::string, uint64_t>> remediations_total;
};

// Registers the agent's families (ghostpeer_agent_*) on a registry and fills
// them. Thread-safe.
class AgentMetrics {
 public:
  // `registry` must outlive this object; the family names must not be taken.
  explicit AgentMetrics(metrics::Registry* registry);

  // Publishes one reading. `now` dates the last-ack age.
  void Update(const AgentMetricsValues& values, absl::Time now);

 private:
  metrics::GaugeFamily* snapshot_duration_;
  metrics::HistogramFamily* snapshot_duration_histogram_;
  metrics::GaugeFamily* sockets_;
  metrics::GaugeFamily* namespaces_seen_;
  metrics::GaugeFamily* namespaces_failed_;
  metrics::GaugeFamily* translations_ok_;
  metrics::GaugeFamily* translations_;
  metrics::GaugeFamily* translation_namespaces_failed_;
  metrics::GaugeFamily* ipvs_blackhole_namespaces_;
  metrics::GaugeFamily* buffered_events_;
  metrics::GaugeFamily* connected_;
  metrics::GaugeFamily* last_ack_age_;
  metrics::CounterFamily* reconnects_;
  metrics::CounterFamily* streams_opened_;
  metrics::CounterFamily* snapshots_sent_;
  metrics::CounterFamily* full_snapshots_sent_;
  metrics::CounterFamily* snapshot_errors_;
  metrics::CounterFamily* events_sent_;
  metrics::GaugeFamily* aggregator_;
  metrics::CounterFamily* aggregator_failovers_;
  metrics::CounterFamily* remediations_;
  absl::Mutex mu_;
  uint64_t last_snapshots_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ghostpeer::http

#endif  // GHOSTPEER_COMMON_HTTP_AGENT_METRICS_H_
