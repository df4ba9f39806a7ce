// Validation of everything an agent sends, before any of it touches state.
//
// One bad agent must never corrupt stored history or another node's view, so
// every message is checked as a whole first: a message with one bad field is
// refused entirely with InvalidArgument naming that field
// ("events[3].owner.address: '10.0.0.300' is not an IP address"), and
// nothing of it is applied.
//
// The functions also normalise what they accept, so later code can compare
// strings directly: IP addresses become canonical (see ip_address.h), times
// slightly ahead of the aggregator's clock are clamped to it, and empty node
// fields of records are filled with the stream's node.
//
// Pure functions (the caller passes `now`), thread-safe.
#ifndef GHOSTPEER_AGGREGATOR_VALIDATION_H_
#define GHOSTPEER_AGGREGATOR_VALIDATION_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"
#include "ghostpeer/v1/query.pb.h"

namespace ghostpeer::aggregator {

struct ValidationLimits {
  // Node names are host names (RFC 1123: at most 253 characters).
  size_t max_node_name_length = 253;
  // Any other identity or descriptive string (ids, names, images, errors).
  size_t max_string_length = 1024;
  // 10x the largest node the design targets (10,000 sockets), and the
  // 100,000-socket node the agent is benchmarked against, with room.
  size_t max_sockets_per_snapshot = 250000;
  size_t max_removed_per_snapshot = 250000;
  size_t max_namespaces_per_snapshot = 20000;
  size_t max_addresses_per_namespace = 1024;
  size_t max_events_per_batch = 10000;
  size_t max_inventory_size = 100000;
  // Swarm nodes in one manager's view (NodeSnapshot.swarm_nodes); swarm
  // itself is tested to a few thousand.
  size_t max_swarm_nodes_per_snapshot = 10000;
  // NodeSnapshot.service_remediation: labelled services in one manager's
  // view, and the length of a label value ("dry-run" is 7 bytes).
  size_t max_labelled_services_per_snapshot = 10000;
  size_t max_remediation_label_length = 64;
  // Agents' clocks are their own. An event or snapshot up to this far ahead
  // of the aggregator's clock is clamped to the aggregator's now (ordinary
  // skew); further ahead it is impossible and the message is refused.
  absl::Duration max_clock_ahead = absl::Minutes(5);
  // Earlier than this is not a time any agent can have observed (before
  // Docker existed): an unset or garbage clock.
  absl::Time earliest_time = absl::FromUnixSeconds(1262304000);  // 2010-01-01
};

// Checks a time field named `field` and returns it clamped to `now` when it
// is at most `max_clock_ahead` ahead. InvalidArgument when unset, before
// `earliest_time`, malformed (nanos out of range) or too far ahead.
absl::StatusOr<absl::Time> CheckAgentTime(
    const google::protobuf::Timestamp& time, absl::string_view field,
    absl::Time now, const ValidationLimits& limits);

// A Timestamp as timestamp.proto defines it: nanos in [0, 1e9), seconds
// within years 1 to 9999. InvalidArgument naming `field` otherwise.
absl::Status CheckTimestamp(const google::protobuf::Timestamp& time,
                            absl::string_view field);

// Query requests, checked as strictly as what agents send, so that a typo
// or a client built from newer protos gets InvalidArgument naming the
// field rather than an empty answer that looks like "nothing found".
//
// A finding filter (ListFindings, WatchFindings): kind, min_severity and
// status are values the proto declares (UNSPECIFIED matches all).
absl::Status ValidateFindingFilter(const v1::ListFindingsRequest& filter);
// ListSockets: a declared TcpState; remote_ip empty or an IP address, made
// canonical so that it compares equal to stored records.
absl::Status ValidateListSocketsRequest(v1::ListSocketsRequest* request);
// GetAddressHistory: an IP address (made canonical), if set a valid `at`
// (see CheckTimestamp), and if set a node name (ValidateNodeName).
absl::Status ValidateAddressHistoryRequest(
    v1::GetAddressHistoryRequest* request);

// The most remediation records one ListRemediations answers with (its
// `limit`); 0 asks for the server's default, kDefaultListedRemediations.
inline constexpr uint32_t kMaxListedRemediations = 10000;
inline constexpr uint32_t kDefaultListedRemediations = 1000;

// NodeSnapshot.service_remediation as ValidateSocketSnapshot checks it:
// InvalidArgument for more entries than the limit; implausible entries are
// erased. Exposed for the tests.
absl::Status CheckServiceRemediation(
    google::protobuf::Map<std::string, std::string>* labels,
    const ValidationLimits& limits);

// A finding id as the detector makes them (FindingId): 16 hex digits.
// Upper case is accepted (people retype ids) and made lower case, as stored.
// InvalidArgument naming `field` otherwise.
absl::Status CheckFindingId(absl::string_view field, std::string* id);

// Remediate: finding_id a finding id (CheckFindingId, normalised).
absl::Status ValidateRemediateRequest(v1::RemediateRequest* request);

// ListRemediations: finding_id empty or a finding id (normalised), node
// empty or a node name (ValidateNodeName), limit at most
// kMaxListedRemediations. InvalidArgument naming the field otherwise.
absl::Status ValidateListRemediationsRequest(
    v1::ListRemediationsRequest* request);

// Node names: non-empty, bounded, printable (no spaces or control
// characters). InvalidArgument otherwise.
absl::Status ValidateNodeName(absl::string_view node,
                              const ValidationLimits& limits);

// Hello: node name, a non-empty bounded agent_instance, bounded version and
// kernel strings. InvalidArgument otherwise.
absl::Status ValidateHello(const v1::Hello& hello,
                           const ValidationLimits& limits);

// A RemediationOutcome an agent sends back for an order: a non-empty
// bounded order_id, a declared non-UNSPECIFIED outcome, a bounded detail
// (repaired like names: the agent may quote what the kernel said), an
// error_number in 0..4095, `at` as CheckAgentTime (clamped). InvalidArgument
// naming the field otherwise.
absl::Status ValidateRemediationOutcome(v1::RemediationOutcome* outcome,
                                        absl::Time now,
                                        const ValidationLimits& limits);

// Checks and normalises an address batch sent by `node`: size, seqs (> 0 and
// strictly increasing within the batch; replays against stored seqs are the
// store's business, not an error), known event types and sources, owners
// (address parses, kind known, bounded strings; empty owner.node becomes
// `node`; an unknown scope becomes ADDRESS_SCOPE_NODE), times (see
// CheckAgentTime). An INVENTORY carries its owners in `inventory` (each checked
// like an owner; their own times are ignored); ATTACH/DETACH carry one `owner`.
// InvalidArgument on the first bad field; `batch` may then be partly normalised
// and must be discarded.
absl::Status ValidateAddressEventBatch(v1::AddressEventBatch* batch,
                                       absl::string_view node, absl::Time now,
                                       const ValidationLimits& limits);

// Names that come from the node (process, container, service, task,
// namespace and interface names, in owners, sockets and namespaces) are
// not refused for a control character: it is escaped as RepairUtf8 does
// (common/utf8.h), because anyone on the node may choose such a name.
//
// Checks and normalises a socket snapshot sent by `node`: sizes, taken_at,
// snapshot_id > 0, a delta's base_snapshot_id > 0 (full snapshots carry no
// removed keys), every socket (addresses, ports <= 65535, known non-zero
// TcpState, known CaptureSource, bounded strings, node equal to `node` or
// empty -> filled), every namespace (addresses, prefix lengths, status),
// every removed key, every swarm node (bounded, repaired names; times as
// CheckAgentTime; a state, role or availability this build does not know
// becomes UNSPECIFIED rather than refusing a newer manager's whole view),
// service_remediation at most max_labelled_services_per_snapshot entries
// (refused beyond), each entry whose service name is empty, longer than a
// node name or holds a space or control character, or whose label value is
// empty, longer than max_remediation_label_length or not printable ASCII,
// dropped: anyone who may create a service chooses its labels, and one odd
// label must not blind the manager's whole snapshot.
// InvalidArgument on the first bad field; `snapshot` may
// then be partly normalised and must be discarded.
absl::Status ValidateSocketSnapshot(v1::SocketSnapshot* snapshot,
                                    absl::string_view node, absl::Time now,
                                    const ValidationLimits& limits);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_VALIDATION_H_
