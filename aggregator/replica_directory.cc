#include "aggregator/replica_directory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/status_macros.h"

namespace ghostpeer::aggregator {
namespace {

// Rows are written by other processes: anything longer is not an address.
constexpr size_t kMaxPeerAddressBytes = 300;
// Far more replicas than anyone runs; a table holding more is not trusted
// beyond this.
constexpr int kMaxReplicas = 256;

constexpr char kDatabaseMicros[] =
    "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaDirectory>> ReplicaDirectory::Open(
    const std::string& uri, const std::string& name) {
  GHOSTPEER_ASSIGN_OR_RETURN(
      std::unique_ptr<PostgresConnection> conn,
      PostgresConnection::Open(uri, "ghostpeer-aggregator replicas"));
  return std::unique_ptr<ReplicaDirectory>(
      new ReplicaDirectory(std::move(conn), name));
}

absl::Status ReplicaDirectory::Heartbeat(const std::string& peer_address) {
  absl::flat_hash_map<std::string, std::string> peers;
  {
    absl::MutexLock lock(&conn_mu_);
    GHOSTPEER_RETURN_IF_ERROR(conn_->Connect());
    static const std::string upsert = absl::StrCat(
        "INSERT INTO replicas (name, peer_address, heard_us) VALUES ($1, $2, ",
        kDatabaseMicros,
        ") ON CONFLICT (name) DO UPDATE SET peer_address = "
        "EXCLUDED.peer_address, heard_us = EXCLUDED.heard_us");
    GHOSTPEER_RETURN_IF_ERROR(
        conn_->Run(upsert.c_str(), PgParams().Text(name_).Text(peer_address))
            .status());
    static const std::string fresh = absl::StrCat(
        "SELECT name, peer_address FROM replicas WHERE name <> $1 ",
        "AND heard_us > ", kDatabaseMicros, " - $2 ORDER BY name LIMIT ",
        kMaxReplicas);
    GHOSTPEER_ASSIGN_OR_RETURN(
        PgResult rows,
        conn_->Run(fresh.c_str(),
                   PgParams().Text(name_).Int8(
                       absl::ToInt64Microseconds(kReplicaStaleAfter)),
                   /*binary_result=*/true));
    for (int row = 0; row < rows.rows(); ++row) {
      const absl::string_view address = rows.Bytes(row, 1);
      if (address.size() > kMaxPeerAddressBytes ||
          !ParseHostPort(address, PortUse::kDial).ok()) {
        continue;
      }
      peers.emplace(std::string(rows.Bytes(row, 0)), std::string(address));
    }
  }
  absl::MutexLock lock(&mu_);
  peers_ = std::move(peers);
  read_at_ = absl::Now();
  return absl::OkStatus();
}

absl::flat_hash_map<std::string, std::string> ReplicaDirectory::PeerAddresses()
    const {
  absl::MutexLock lock(&mu_);
  if (absl::Now() - read_at_ > kReplicaStaleAfter) return {};
  return peers_;
}

}  // namespace ghostpeer::aggregator
