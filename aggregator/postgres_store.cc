#include "aggregator/postgres_store.h"

#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace ghostpeer::aggregator {
namespace {

// pg_advisory_xact_lock keys held by history and findings writes: "ghpst"
// and "ghpfd" in ASCII after the migration lock's "ghostpee", so a DBA
// listing pg_locks can tell whose they are.
constexpr int64_t kHistoryWriteLock = 0x6768707374;
constexpr int64_t kFindingsWriteLock = 0x6768706664;

std::string ScopeNode(const v1::AddressOwner& owner) {
  return IsClusterWide(owner) ? std::string() : owner.node();
}

}  // namespace

PostgresStore::PostgresStore(std::unique_ptr<PostgresConnection> conn,
                             absl::Time created_at)
    : name_(conn->name()), conn_(std::move(conn)), created_at_(created_at) {}

PostgresStore::~PostgresStore() = default;

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    const std::string& uri, absl::Time now) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::unique_ptr<PostgresConnection> conn,
      PostgresConnection::Open(uri, "ghostpeer-aggregator"));
  GHOSTPEER_ASSIGN_OR_RETURN(const absl::Time created_at,
                             MigratePostgresSchema(*conn, now));
  return std::unique_ptr<PostgresStore>(
      new PostgresStore(std::move(conn), created_at));
}

absl::StatusOr<StoredState> PostgresStore::Load() {
  absl::MutexLock lock(&mu_);
  StoredState state;
  state.created_at = created_at_;
  CommittedChanges all;
  int64_t history_last = 0;
  int64_t findings_last = 0;
  GHOSTPEER_RETURN_IF_ERROR(conn_->InTransaction(
      "load", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        // Every row has change_seq >= 0 (0: written before version 2).
        GHOSTPEER_RETURN_IF_ERROR(
            ReadHistorySince(-1, /*with_evidence=*/false, &all, &history_last));
        return ReadFindingsSince(-1, &all.findings, &findings_last);
      }));
  // The largest stamps in this snapshot: whatever commits later is stamped
  // past them (stamps are drawn under the write locks), so reading on from
  // here misses nothing.
  history_cursor_ = history_last;
  findings_cursor_ = findings_last;
  state.intervals = std::move(all.intervals);
  state.seqs = std::move(all.seqs);
  state.findings = std::move(all.findings);
  return state;
}

absl::Status PostgresStore::ReadHistorySince(int64_t after, bool with_evidence,
                                             CommittedChanges* out,
                                             int64_t* last) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult rows,
      conn_->Run("SELECT id, owner, reporter, source, since_us, until_us, "
                 "close_reason, change_seq, ended_by FROM intervals "
                 "WHERE change_seq > $1",
                 PgParams().Int8(after), /*binary_result=*/true));
  for (int r = 0; r < rows.rows(); ++r) {
    OwnershipInterval interval;
    const std::optional<int64_t> id = rows.Int(r, 0);
    const std::optional<int64_t> source = rows.Int(r, 3);
    const std::optional<int64_t> since = rows.Int(r, 4);
    const std::optional<int64_t> reason = rows.Int(r, 6);
    const std::optional<int64_t> change = rows.Int(r, 7);
    const std::optional<int64_t> evidence = rows.Int(r, 8);
    if (!id || !source || !since || !reason || !change || !evidence ||
        (!rows.IsNull(r, 5) && !rows.Int(r, 5))) {
      return absl::DataLossError(absl::StrCat(
          "postgresql ", name_, ": interval row ", r, ": bad columns"));
    }
    interval.id = *id;
    if (!interval.owner.ParseFromArray(rows.Bytes(r, 1).data(),
                                       rows.Bytes(r, 1).size())) {
      return absl::DataLossError(absl::StrCat(
          "postgresql ", name_, ": interval ", *id, ": bad owner"));
    }
    interval.reporter = std::string(rows.Bytes(r, 2));
    interval.source = static_cast<v1::AddressEventSource>(*source);
    interval.since = PgFromMicros(*since);
    interval.until = rows.IsNull(r, 5) ? absl::InfiniteFuture()
                                       : PgFromMicros(*rows.Int(r, 5));
    // A reason this build does not know reads as unspecified.
    if (!interval.open() && *reason >= 0 && *reason <= INT32_MAX &&
        v1::CloseReason_IsValid(static_cast<int>(*reason))) {
      interval.close_reason = static_cast<v1::CloseReason>(*reason);
    }
    // What another replica saw end the interval, for the merge; a load
    // keeps the restart rule (address_history.h EndEvidence::kUnknown).
    if (with_evidence && !interval.open() &&
        *evidence == static_cast<int64_t>(EndEvidence::kDeparture)) {
      interval.ended_by = EndEvidence::kDeparture;
    } else if (with_evidence && !interval.open()) {
      interval.ended_by = EndEvidence::kAbsence;
    }
    *last = std::max(*last, *change);
    out->intervals.push_back(std::move(interval));
  }
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult seqs,
      conn_->Run("SELECT node, agent_instance, seq, change_seq "
                 "FROM agent_seqs WHERE change_seq > $1",
                 PgParams().Int8(after), /*binary_result=*/true));
  for (int r = 0; r < seqs.rows(); ++r) {
    const std::optional<int64_t> seq = seqs.Int(r, 2);
    const std::optional<int64_t> change = seqs.Int(r, 3);
    if (!seq || !change) {
      return absl::DataLossError(absl::StrCat(
          "postgresql ", name_, ": agent seq row ", r, ": bad seq"));
    }
    *last = std::max(*last, *change);
    out->seqs.push_back({std::string(seqs.Bytes(r, 0)),
                         std::string(seqs.Bytes(r, 1)),
                         static_cast<uint64_t>(*seq)});
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::ReadFindingsSince(int64_t after,
                                              std::vector<StoredFinding>* out,
                                              int64_t* last) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult findings,
      conn_->Run("SELECT id, finding, memory, change_seq FROM findings "
                 "WHERE change_seq > $1",
                 PgParams().Int8(after), /*binary_result=*/true));
  for (int r = 0; r < findings.rows(); ++r) {
    StoredFinding stored;
    const absl::string_view bytes = findings.Bytes(r, 1);
    const std::optional<int64_t> change = findings.Int(r, 3);
    if (!change || !stored.finding.ParseFromArray(bytes.data(), bytes.size())) {
      return absl::DataLossError(
          absl::StrCat("postgresql ", name_, ": finding ", findings.Bytes(r, 0),
                       ": bad record"));
    }
    stored.memory = std::string(findings.Bytes(r, 2));
    *last = std::max(*last, *change);
    out->push_back(std::move(stored));
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::WriteChanges(const HistoryChanges& changes,
                                         int64_t stamp) {
  // Inserts go first, as one statement; then closes and owner updates, one
  // statement each. Equivalent to applying the ops in order: an op only
  // closes or updates an interval inserted before it, closes and owner
  // updates touch different columns, and of several ops of one kind on one
  // interval the last carries its final state (`after`), so only the last
  // is kept (an UPDATE matching a row twice would pick one at random).
  PgArray ids(kPgInt8Oid), addresses(kPgTextOid), owners(kPgByteaOid),
      reporters(kPgTextOid), sources(kPgInt4Oid), sinces(kPgInt8Oid),
      untils(kPgInt8Oid), scopes(kPgTextOid), reasons(kPgInt4Oid),
      evidences(kPgInt4Oid);
  int inserts = 0;
  absl::flat_hash_map<IntervalId, const OwnershipInterval*> closes, updates;
  std::vector<IntervalId> close_order, update_order;
  for (const HistoryOp& op : changes) {
    const OwnershipInterval& interval = op.after;
    switch (op.kind) {
      case HistoryOp::Kind::kInsert:
        ids.Add(static_cast<int64_t>(interval.id));
        addresses.Add(interval.owner.address());
        owners.Add(interval.owner.SerializeAsString());
        reporters.Add(interval.reporter);
        sources.Add(static_cast<int32_t>(interval.source));
        sinces.Add(PgMicros(interval.since));
        if (interval.open()) {
          untils.AddNull();
        } else {
          untils.Add(PgMicros(interval.until));
        }
        scopes.Add(ScopeNode(interval.owner));
        reasons.Add(static_cast<int32_t>(interval.close_reason));
        evidences.Add(static_cast<int32_t>(interval.ended_by));
        ++inserts;
        break;
      case HistoryOp::Kind::kClose:
        if (closes.insert_or_assign(interval.id, &interval).second) {
          close_order.push_back(interval.id);
        }
        break;
      case HistoryOp::Kind::kUpdateOwner:
        if (updates.insert_or_assign(interval.id, &interval).second) {
          update_order.push_back(interval.id);
        }
        break;
    }
  }
  if (inserts > 0) {
    GHOSTPEER_RETURN_IF_ERROR(
        conn_
            ->Run(
                "INSERT INTO intervals (id, address, owner, reporter, source, "
                "since_us, until_us, scope_node, close_reason, ended_by, "
                "change_seq) "
                "SELECT u.*, $11 FROM unnest($1::bigint[], $2::text[], "
                "$3::bytea[], $4::text[], $5::integer[], $6::bigint[], "
                "$7::bigint[], $8::text[], $9::integer[], $10::integer[]) "
                "AS u",
                PgParams()
                    .Array(kPgInt8ArrayOid, ids)
                    .Array(kPgTextArrayOid, addresses)
                    .Array(kPgByteaArrayOid, owners)
                    .Array(kPgTextArrayOid, reporters)
                    .Array(kPgInt4ArrayOid, sources)
                    .Array(kPgInt8ArrayOid, sinces)
                    .Array(kPgInt8ArrayOid, untils)
                    .Array(kPgTextArrayOid, scopes)
                    .Array(kPgInt4ArrayOid, reasons)
                    .Array(kPgInt4ArrayOid, evidences)
                    .Int8(stamp))
            .status());
  }
  if (!close_order.empty()) {
    PgArray close_ids(kPgInt8Oid), close_untils(kPgInt8Oid),
        close_reasons(kPgInt4Oid), close_evidences(kPgInt4Oid);
    for (IntervalId id : close_order) {
      const OwnershipInterval& interval = *closes[id];
      close_ids.Add(static_cast<int64_t>(id));
      close_untils.Add(PgMicros(interval.until));
      close_reasons.Add(static_cast<int32_t>(interval.close_reason));
      close_evidences.Add(static_cast<int32_t>(interval.ended_by));
    }
    GHOSTPEER_RETURN_IF_ERROR(
        conn_
            ->Run("UPDATE intervals AS i SET until_us = c.until_us, "
                  "close_reason = c.close_reason, ended_by = c.ended_by, "
                  "change_seq = $5 "
                  "FROM unnest($1::bigint[], $2::bigint[], $3::integer[], "
                  "$4::integer[]) AS c (id, until_us, close_reason, ended_by) "
                  "WHERE i.id = c.id",
                  PgParams()
                      .Array(kPgInt8ArrayOid, close_ids)
                      .Array(kPgInt8ArrayOid, close_untils)
                      .Array(kPgInt4ArrayOid, close_reasons)
                      .Array(kPgInt4ArrayOid, close_evidences)
                      .Int8(stamp))
            .status());
  }
  if (!update_order.empty()) {
    PgArray update_ids(kPgInt8Oid), update_owners(kPgByteaOid),
        update_scopes(kPgTextOid);
    for (IntervalId id : update_order) {
      const OwnershipInterval& interval = *updates[id];
      update_ids.Add(static_cast<int64_t>(id));
      update_owners.Add(interval.owner.SerializeAsString());
      update_scopes.Add(ScopeNode(interval.owner));  // a merge may scope it
    }
    GHOSTPEER_RETURN_IF_ERROR(
        conn_
            ->Run("UPDATE intervals AS i SET owner = u.owner, "
                  "scope_node = u.scope_node, change_seq = $4 "
                  "FROM unnest($1::bigint[], $2::bytea[], $3::text[]) "
                  "AS u (id, owner, scope_node) WHERE i.id = u.id",
                  PgParams()
                      .Array(kPgInt8ArrayOid, update_ids)
                      .Array(kPgByteaArrayOid, update_owners)
                      .Array(kPgTextArrayOid, update_scopes)
                      .Int8(stamp))
            .status());
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::LockHistory() {
  return conn_
      ->Run("SELECT pg_advisory_xact_lock($1)",
            PgParams().Int8(kHistoryWriteLock))
      .status();
}

absl::Status PostgresStore::WriteStamped(const HistoryWrite& write,
                                         absl::Time now, int64_t* stamp) {
  *stamp = 0;
  const bool has_changes = write.changes != nullptr && !write.changes->empty();
  if (!has_changes && !write.seq.has_value()) return absl::OkStatus();
  GHOSTPEER_ASSIGN_OR_RETURN(
      PgResult next, conn_->Run("SELECT nextval('history_changes')", PgParams(),
                                /*binary_result=*/true));
  if (next.rows() != 1 || !next.Int(0, 0).has_value()) {
    return conn_->Error(absl::StatusCode::kInternal, "stamp history write",
                        "nextval answered no value");
  }
  *stamp = *next.Int(0, 0);
  if (has_changes) {
    GHOSTPEER_RETURN_IF_ERROR(WriteChanges(*write.changes, *stamp));
  }
  if (!write.seq.has_value()) return absl::OkStatus();
  // The uint64 seq's bit pattern in a bigint, compared as SqliteStore does
  // (see there): the larger of two seqs is the larger signed value when
  // their signs agree, the negative one when they differ.
  return conn_
      ->Run(R"sql(
      INSERT INTO agent_seqs AS s (node, agent_instance, seq, updated_us,
                                   change_seq)
      VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (node, agent_instance) DO UPDATE SET
        seq = CASE
          WHEN (s.seq < 0) = (excluded.seq < 0)
            THEN GREATEST(s.seq, excluded.seq)
          WHEN s.seq < 0 THEN s.seq
          ELSE excluded.seq
        END,
        updated_us = excluded.updated_us,
        change_seq = excluded.change_seq)sql",
            PgParams()
                .Text(write.seq->node)
                .Text(write.seq->agent_instance)
                .Int8(static_cast<int64_t>(write.seq->seq))
                .Int8(PgMicros(now))
                .Int8(*stamp))
      .status();
}

absl::Status PostgresStore::WriteHistory(
    absl::FunctionRef<void(CommittedChanges)> merge,
    absl::FunctionRef<HistoryWrite()> compute, absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::optional<int64_t> merged_up_to;
  int64_t stamp = 0;
  absl::Status status = conn_->InTransaction(
      "store history", "BEGIN", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        GHOSTPEER_RETURN_IF_ERROR(LockHistory());
        // READ COMMITTED: this statement sees every write committed before
        // the lock was granted, i.e. every stamp below the one drawn next.
        CommittedChanges others;
        int64_t last = history_cursor_;
        GHOSTPEER_RETURN_IF_ERROR(ReadHistorySince(
            history_cursor_, /*with_evidence=*/true, &others, &last));
        merge(std::move(others));
        merged_up_to = last;
        return WriteStamped(compute(), now, &stamp);
      });
  // What was merged stays merged (committed by others), even when this
  // write failed; this write's own rows are past the cursor only once they
  // surely committed — after an ambiguous COMMIT they are read back.
  if (merged_up_to.has_value()) history_cursor_ = *merged_up_to;
  if (status.ok() && stamp > 0) history_cursor_ = stamp;
  return status;
}

absl::Status PostgresStore::CommitAddressBatch(
    const std::string& node, const std::string& agent_instance, uint64_t seq,
    const HistoryChanges& changes, absl::Time now) {
  absl::MutexLock lock(&mu_);
  HistoryWrite write;
  write.changes = &changes;
  write.seq = AgentSeq{node, agent_instance, seq};
  int64_t stamp = 0;
  return conn_->InTransaction("store address events", "BEGIN",
                              [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                                GHOSTPEER_RETURN_IF_ERROR(LockHistory());
                                return WriteStamped(write, now, &stamp);
                              });
}

absl::Status PostgresStore::CommitHistoryChanges(
    const HistoryChanges& changes) {
  if (changes.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  HistoryWrite write;
  write.changes = &changes;
  int64_t stamp = 0;
  return conn_->InTransaction("store history changes", "BEGIN",
                              [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                                GHOSTPEER_RETURN_IF_ERROR(LockHistory());
                                return WriteStamped(write, absl::Now(), &stamp);
                              });
}

absl::StatusOr<CommittedChanges> PostgresStore::ReadCommitted() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<CommittedChanges> committed = ReadCommittedOnce();
  // A read changes nothing, so it may be tried again: the first call after
  // a server restart finds the old connection dead, the second reconnects.
  if (committed.status().code() == absl::StatusCode::kUnavailable) {
    committed = ReadCommittedOnce();
  }
  return committed;
}

absl::StatusOr<CommittedChanges> PostgresStore::ReadCommittedOnce() {
  CommittedChanges committed;
  int64_t history_last = history_cursor_;
  int64_t findings_last = findings_cursor_;
  GHOSTPEER_RETURN_IF_ERROR(conn_->InTransaction(
      "read other aggregators' writes",
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        GHOSTPEER_RETURN_IF_ERROR(ReadHistorySince(history_cursor_,
                                                   /*with_evidence=*/true,
                                                   &committed, &history_last));
        GHOSTPEER_RETURN_IF_ERROR(ReadFindingsSince(
            findings_cursor_, &committed.findings, &findings_last));
        GHOSTPEER_ASSIGN_OR_RETURN(
            PgResult rows,
            conn_->Run("SELECT node, replica, connected, last_contact_us, "
                       "last_report_us FROM node_presence",
                       PgParams(), /*binary_result=*/true));
        for (int r = 0; r < rows.rows(); ++r) {
          const std::optional<int64_t> connected = rows.Int(r, 2);
          const std::optional<int64_t> contact = rows.Int(r, 3);
          if (!connected || !contact ||
              (!rows.IsNull(r, 4) && !rows.Int(r, 4))) {
            return absl::DataLossError(absl::StrCat(
                "postgresql ", name_, ": presence row ", r, ": bad columns"));
          }
          NodePresence& presence = committed.presence.emplace_back();
          presence.node = std::string(rows.Bytes(r, 0));
          presence.replica = std::string(rows.Bytes(r, 1));
          presence.connected = *connected != 0;
          presence.last_contact = PgFromMicros(*contact);
          if (!rows.IsNull(r, 4)) {
            presence.last_report = PgFromMicros(*rows.Int(r, 4));
          }
        }
        return absl::OkStatus();
      }));
  history_cursor_ = history_last;
  findings_cursor_ = findings_last;
  return committed;
}

absl::Status PostgresStore::WritePresence(
    const std::vector<NodePresence>& presence, absl::Time now) {
  if (presence.empty()) return absl::OkStatus();
  // ON CONFLICT cannot touch one row twice in a statement: the last row of
  // a node wins.
  absl::flat_hash_map<std::string, const NodePresence*> last;
  std::vector<std::string> order;
  for (const NodePresence& row : presence) {
    if (last.insert_or_assign(row.node, &row).second) order.push_back(row.node);
  }
  PgArray nodes(kPgTextOid), replicas(kPgTextOid), connected(kPgInt4Oid),
      contacts(kPgInt8Oid), reports(kPgInt8Oid);
  for (const std::string& node : order) {
    const NodePresence& row = *last[node];
    nodes.Add(row.node);
    replicas.Add(row.replica);
    connected.Add(static_cast<int32_t>(row.connected ? 1 : 0));
    contacts.Add(PgMicros(row.last_contact));
    if (row.last_report == absl::InfinitePast()) {
      reports.AddNull();
    } else {
      reports.Add(PgMicros(row.last_report));
    }
  }
  absl::MutexLock lock(&mu_);
  return conn_->InTransaction("store node presence", "BEGIN",
                              [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                                // A replica whose stream ended says so only for
                                // a node still recorded as its own: the node
                                // may have moved on already.
                                return conn_
                                    ->Run(R"sql(
            INSERT INTO node_presence AS p (node, replica, connected,
              last_contact_us, last_report_us, updated_us)
            SELECT r.*, $6 FROM unnest($1::text[], $2::text[],
              $3::integer[], $4::bigint[], $5::bigint[]) AS r
            ON CONFLICT (node) DO UPDATE SET
              replica = excluded.replica,
              connected = excluded.connected,
              last_contact_us = excluded.last_contact_us,
              last_report_us = excluded.last_report_us,
              updated_us = excluded.updated_us
            WHERE excluded.connected = 1 OR p.replica = excluded.replica)sql",
                                          PgParams()
                                              .Array(kPgTextArrayOid, nodes)
                                              .Array(kPgTextArrayOid, replicas)
                                              .Array(kPgInt4ArrayOid, connected)
                                              .Array(kPgInt8ArrayOid, contacts)
                                              .Array(kPgInt8ArrayOid, reports)
                                              .Int8(PgMicros(now)))
                                    .status();
                              });
}

absl::Status PostgresStore::SaveFindings(
    const std::vector<StoredFinding>& findings, absl::Time now) {
  if (findings.empty()) return absl::OkStatus();
  // ON CONFLICT cannot touch one row twice in a statement: the last of
  // several findings with one id wins, as sequential replaces would.
  absl::flat_hash_map<std::string, const StoredFinding*> last;
  std::vector<std::string> order;
  for (const StoredFinding& stored : findings) {
    if (last.insert_or_assign(stored.finding.id(), &stored).second) {
      order.push_back(stored.finding.id());
    }
  }
  PgArray ids(kPgTextOid), nodes(kPgTextOid), statuses(kPgInt4Oid),
      records(kPgByteaOid), memories(kPgByteaOid);
  for (const std::string& id : order) {
    const StoredFinding& stored = *last[id];
    ids.Add(id);
    nodes.Add(stored.finding.socket().node());
    statuses.Add(static_cast<int32_t>(stored.finding.status()));
    records.Add(stored.finding.SerializeAsString());
    memories.Add(stored.memory);
  }
  absl::MutexLock lock(&mu_);
  return conn_->InTransaction(
      "store findings", "BEGIN", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        // Stamped under a lock, as history writes are (WriteHistory): other
        // replicas read findings on from their cursor with no gap.
        GHOSTPEER_RETURN_IF_ERROR(conn_
                                      ->Run("SELECT pg_advisory_xact_lock($1)",
                                            PgParams().Int8(kFindingsWriteLock))
                                      .status());
        return conn_
            ->Run(
                "INSERT INTO findings (id, node, status, updated_us, "
                "finding, memory, change_seq) "
                "SELECT f.id, f.node, f.status, $4, f.finding, f.memory, "
                "nextval('finding_changes') "
                "FROM unnest($1::text[], $2::text[], $3::integer[], "
                "$5::bytea[], $6::bytea[]) "
                "AS f (id, node, status, finding, memory) "
                "ON CONFLICT (id) DO UPDATE SET node = excluded.node, "
                "status = excluded.status, "
                "updated_us = excluded.updated_us, "
                "finding = excluded.finding, memory = excluded.memory, "
                "change_seq = excluded.change_seq",
                PgParams()
                    .Array(kPgTextArrayOid, ids)
                    .Array(kPgTextArrayOid, nodes)
                    .Array(kPgInt4ArrayOid, statuses)
                    .Int8(PgMicros(now))
                    .Array(kPgByteaArrayOid, records)
                    .Array(kPgByteaArrayOid, memories))
            .status();
      });
}

absl::Status PostgresStore::Purge(absl::Time horizon) {
  absl::MutexLock lock(&mu_);
  const int64_t horizon_us = PgMicros(horizon);
  return conn_->InTransaction(
      "purge", "BEGIN", [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        const char* const kStatements[] = {
            "DELETE FROM intervals WHERE until_us IS NOT NULL AND "
            "until_us < $1",
            "DELETE FROM findings WHERE status = 2 AND updated_us < $1",
            "DELETE FROM agent_seqs WHERE updated_us < $1",
            "DELETE FROM node_presence WHERE updated_us < $1",
        };
        static_assert(v1::RESOLVED == 2);
        for (const char* sql : kStatements) {
          GHOSTPEER_RETURN_IF_ERROR(
              conn_->Run(sql, PgParams().Int8(horizon_us)).status());
        }
        return absl::OkStatus();
      });
}

}  // namespace ghostpeer::aggregator
