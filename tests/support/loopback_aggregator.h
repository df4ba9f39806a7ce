// The real aggregator (Engine, Ingest and Query services, auth) on
// 127.0.0.1 for unprivileged tests: a kernel-picked port, an in-memory
// history store or a SQLite file, and a restart that keeps the port.
#ifndef GHOSTPEER_TESTS_SUPPORT_LOOPBACK_AGGREGATOR_H_
#define GHOSTPEER_TESTS_SUPPORT_LOOPBACK_AGGREGATOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aggregator/engine.h"
#include "aggregator/remediation/coordinator.h"
#include "aggregator/server.h"
#include "grpcpp/grpcpp.h"
#include "tests/fakes/in_memory_history_store.h"

namespace ghostpeer::testing {

struct LoopbackAggregatorOptions {
  // Empty: an InMemoryHistoryStore (see store()), lost on Restart().
  // Otherwise a SQLite file, which survives it.
  std::string db_path;
  // When set, both services require "authorization: Bearer <token>".
  std::string token;
  // Findings open on the first snapshot that shows them.
  int confirmations = 1;
  // ServerOptions::max_watch_backlog: small, a slow follower is cheap.
  size_t max_watch_backlog = aggregator::kDefaultMaxWatchBacklog;
  // Runs the remediation coordinator (as --remediation does) with these
  // options; its records go beside db_path (<db_path>-remediations), or in
  // memory without one.
  bool remediation = false;
  aggregator::remediation::CoordinatorOptions remediation_options;
};

class LoopbackAggregator {
 public:
  // Opens the Engine and starts serving on 127.0.0.1:0.
  static absl::StatusOr<std::unique_ptr<LoopbackAggregator>> Start(
      LoopbackAggregatorOptions options);
  ~LoopbackAggregator();

  // "127.0.0.1:<port>", for clients.
  std::string address() const;
  int port() const { return port_; }
  // Valid while serving (between Start/Restart and Stop).
  aggregator::Engine& engine() { return *engine_; }
  // The in-memory store, for fault injection; null with a db_path.
  fakes::InMemoryHistoryStore* store() { return store_; }
  // The remediation coordinator; null unless options.remediation.
  aggregator::remediation::Coordinator* remediation() {
    return coordinator_.get();
  }

  // A fresh plaintext channel to the server (a bearer token, when one is
  // configured, goes in each call's metadata).
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Stops serving (streams end) and closes the Engine, as a process exit.
  void Stop();
  // Stop(), then reopen the Engine and serve on the same port, as a process
  // restart: with a db_path the Engine reloads what it stored, without one
  // it starts from a fresh, empty in-memory store.
  absl::Status Restart();

 private:
  explicit LoopbackAggregator(LoopbackAggregatorOptions options)
      : options_(std::move(options)) {}
  // Opens the Engine and serves on `listen`.
  absl::Status Serve(const std::string& listen);

  const LoopbackAggregatorOptions options_;
  std::unique_ptr<aggregator::Engine> engine_;
  std::unique_ptr<aggregator::remediation::Coordinator> coordinator_;
  fakes::InMemoryHistoryStore* store_ = nullptr;  // owned by engine_
  std::unique_ptr<aggregator::AggregatorServer> server_;
  int port_ = 0;
};

}  // namespace ghostpeer::testing

#endif  // GHOSTPEER_TESTS_SUPPORT_LOOPBACK_AGGREGATOR_H_
