// A private PostgreSQL 15 server for one test program: initdb into a temp
// directory, postgres on a unix socket in that directory only (no TCP), and
// stopped by pid. Debian 12's `postgresql` package (scripts/install-deps.sh)
// provides the binaries under /usr/lib/postgresql/15/bin.
//
// initdb and postgres refuse to run as root. As root (CI), the server runs
// as the `postgres` system user the package creates, or else as a
// `ghostpeer-pg` system user created here once (useradd --system); as
// anyone else, as that user.
#ifndef GHOSTPEER_TESTS_SUPPORT_POSTGRES_CLUSTER_H_
#define GHOSTPEER_TESTS_SUPPORT_POSTGRES_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ghostpeer::testing {

class PostgresCluster {
 public:
  // initdb (trust authentication for the socket, superuser "ghostpeer"),
  // then Start(). `durable`: fsync as in production (benchmarks); off by
  // default (tests stop and kill the server, never the machine). Errors
  // name the step and carry its log.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Create(
      bool durable = false);
  // Stop(), then removes the directory.
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // Starts postgres on the existing data directory and waits (at most
  // `timeout`) until it accepts connections. FailedPrecondition if running.
  absl::Status Start(absl::Duration timeout = absl::Seconds(60));
  // Fast shutdown (SIGINT: disconnects clients, checkpoints; SIGTERM's
  // "smart" shutdown would wait for every client to leave), waits at most
  // `timeout`, then SIGKILL. OK when not running.
  absl::Status Stop(absl::Duration timeout = absl::Seconds(30));
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // CREATE DATABASE `name` (letters, digits, '_'); its URI.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // A URI for database `database` over the unix socket, as user ghostpeer.
  // `password` goes into the URI's user part (trust authentication
  // ignores it: tests of its redaction).
  std::string Uri(const std::string& database,
                  const std::string& password = "") const;
  // Runs `sql` (no parameters) on `database`; the first column of the first
  // row, or "" for a command.
  absl::StatusOr<std::string> Query(const std::string& database,
                                    const std::string& sql) const;

  const std::string& directory() const { return directory_; }

 private:
  PostgresCluster(std::string directory, uid_t uid, gid_t gid, bool durable);

  const std::string directory_;
  const uid_t uid_;
  const gid_t gid_;
  const bool durable_;
  pid_t pid_ = -1;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_POSTGRES_CLUSTER_H_
