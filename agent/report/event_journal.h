// The agent's outbox of address events: numbered, kept until acknowledged.
#ifndef GHOSTPEER_AGENT_REPORT_EVENT_JOURNAL_H_
#define GHOSTPEER_AGENT_REPORT_EVENT_JOURNAL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ghostpeer/v1/ingest.pb.h"

namespace ghostpeer::agent {

struct EventJournalOptions {
  // Directory for the journal files; empty keeps events in memory only (an
  // agent restart then starts a new instance and resends an inventory).
  std::string state_dir;
  // Unacknowledged events kept at most; past it the oldest are dropped and
  // counted. The next INVENTORY repairs what the aggregator missed.
  size_t max_events = 100000;
};

// Assigns sequence numbers to address events and keeps every event until the
// aggregator acknowledges it, on disk when a state directory is given, so an
// agent or aggregator restart loses no address history.
//
// On disk: `<state_dir>/instance` (the agent instance id and nothing else),
// `<state_dir>/events.log` (records of a 4-byte little-endian length and a
// serialized v1::AddressEvent, appended and fsync'ed), `<state_dir>/acked`
// (the highest acknowledged seq, replaced atomically). A torn last record,
// as a crash mid-append leaves, is dropped on open.
//
// Thread-safe.
class EventJournal {
 public:
  // Opens (creating if needed) the journal. Errors: the state directory
  // cannot be created or read (PermissionDenied/Internal), or its files are
  // corrupt beyond a torn tail (DataLoss).
  static absl::StatusOr<std::unique_ptr<EventJournal>> Open(
      EventJournalOptions options);
  ~EventJournal();
  EventJournal(const EventJournal&) = delete;
  EventJournal& operator=(const EventJournal&) = delete;

  // A stable id for this agent's event numbering: persisted with a state
  // directory, fresh for each process otherwise.
  const std::string& instance() const { return instance_; }

  // Numbers `events` (seq = last + 1, ...) and stores them. With a state
  // directory the events are on disk when this returns OK.
  absl::Status Append(std::vector<v1::AddressEvent> events);

  // Up to `max` unacknowledged events with seq > `after`, oldest first.
  std::vector<v1::AddressEvent> Pending(uint64_t after, size_t max) const;

  // Everything up to and including `seq` is stored by the aggregator.
  absl::Status Acknowledge(uint64_t seq);

  uint64_t last_seq() const;
  uint64_t acked_seq() const;
  size_t pending_count() const;
  uint64_t dropped_count() const;

 private:
  explicit EventJournal(EventJournalOptions options);
  absl::Status Load();
  absl::Status Compact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EventJournalOptions options_;
  std::string instance_;
  mutable absl::Mutex mu_;
  std::deque<v1::AddressEvent> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acked_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  // Records in events.log that are acknowledged (compaction trigger).
  size_t log_acked_records_ ABSL_GUARDED_BY(mu_) = 0;
  int log_fd_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_REPORT_EVENT_JOURNAL_H_
