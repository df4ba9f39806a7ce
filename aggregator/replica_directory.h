// Where each aggregator replica sharing a PostgreSQL store answers the
// others (issue 12): a replica's name (--advertise-address, which under
// --share-port is not an address at all) -> its peer address (--peer-listen,
// a port of its own), in the `replicas` table, with a heartbeat. ListSockets
// uses it to ask the replica serving a node for that node's sockets
// (peer_sockets.h).
#ifndef GHOSTPEER_AGGREGATOR_REPLICA_DIRECTORY_H_
#define GHOSTPEER_AGGREGATOR_REPLICA_DIRECTORY_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/postgres_connection.h"

namespace ghostpeer::aggregator {

// How often a replica renews its row; a row older than three of these is a
// replica gone (or cut off from the database): it is not asked.
inline constexpr absl::Duration kReplicaHeartbeat = absl::Seconds(2);
inline constexpr absl::Duration kReplicaStaleAfter =
    absl::Seconds(6);  // 3 heartbeats

// Thread-safe. Its connection is its own: a heartbeat never waits behind
// the history store's transactions.
class ReplicaDirectory {
 public:
  // Connects to the database `uri` names; its schema must be current (the
  // Engine opened on it first migrates it). `name` is this replica's.
  static absl::StatusOr<std::unique_ptr<ReplicaDirectory>> Open(
      const std::string& uri, const std::string& name);

  // Records (or renews) this replica at `peer_address`, then reads every
  // other replica heard from within kReplicaStaleAfter, by the database's
  // clock. On error the previous reading is kept until it is itself stale.
  absl::Status Heartbeat(const std::string& peer_address);

  // Other replicas' fresh peer addresses, by replica name, as the latest
  // Heartbeat read them; empty when that reading is older than
  // kReplicaStaleAfter (this replica cannot reach the database).
  absl::flat_hash_map<std::string, std::string> PeerAddresses() const;

 private:
  ReplicaDirectory(std::unique_ptr<PostgresConnection> conn, std::string name)
      : conn_(std::move(conn)), name_(std::move(name)) {}

  absl::Mutex conn_mu_;
  const std::unique_ptr<PostgresConnection> conn_ ABSL_GUARDED_BY(conn_mu_);
  const std::string name_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> peers_ ABSL_GUARDED_BY(mu_);
  absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_REPLICA_DIRECTORY_H_
