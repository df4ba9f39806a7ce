// An address-event burst stored in each HistoryStore: how long one
// CommitAddressBatch takes for the changes of N address events at once (a
// node reboot: every container's address attaches again), on SQLite and on
// PostgreSQL, and PostgreSQL's time as a ratio to SQLite's measured in the
// same run. Issue 12's target: a 10,000-event burst stored (and so
// acknowledged) within 2 s.
//
//   store_bench [--events=10000] [--rounds=5] [--dir=/tmp]
//               [--postgres=postgresql://...]
//
// Each round, on a fresh database of each kind:
//   attach  N ATTACHes, N new intervals in one batch;
//   churn   N DETACHes and N ATTACHes of the same owners (N closes and N
//           inserts) in the next batch;
//   load    Load() of the 2N intervals (an aggregator's start).
// SQLite is a file in --dir (WAL, synchronous=NORMAL: what --db FILE gets).
// PostgreSQL is a private PostgreSQL 15 this program starts (initdb in a
// temp directory, unix socket, fsync on as in production;
// tests/support/postgres_cluster.h), a new database each round; or the
// server --postgres names (a real deployment's, over TCP), which must be an
// empty database the bench may fill: then one round only.
//
// Times are medians over the rounds, with the worst in brackets. Both stores
// share the machine with whatever else runs: compare the ratio, not the
// absolute times, across machines.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "aggregator/address_history.h"
#include "aggregator/history_store.h"
#include "common/time_util.h"
#include "tests/support/postgres_cluster.h"

namespace ghostpeer::aggregator {
namespace {

struct BenchOptions {
  int events = 10000;
  int rounds = 5;
  std::string dir = "/tmp";
  std::string postgres;  // empty: start a private server
};

bool ParseFlag(const std::string& arg, BenchOptions* options) {
  auto value = [&arg](const char* name) -> const char* {
    const std::string prefix = absl::StrCat("--", name, "=");
    return absl::StartsWith(arg, prefix) ? arg.c_str() + prefix.size()
                                         : nullptr;
  };
  if (const char* v = value("events")) {
    return absl::SimpleAtoi(v, &options->events) && options->events > 0;
  }
  if (const char* v = value("rounds")) {
    return absl::SimpleAtoi(v, &options->rounds) && options->rounds > 0;
  }
  if (const char* v = value("dir")) return (options->dir = v, true);
  if (const char* v = value("postgres")) return (options->postgres = v, true);
  return false;
}

absl::Time Base() { return absl::FromUnixSeconds(1800000000); }

v1::AddressOwner Owner(int i) {
  v1::AddressOwner owner;
  owner.set_kind(v1::OWNER_KIND_CONTAINER);
  owner.set_address(
      absl::StrCat("10.", 1 + i / 62500, ".", (i / 250) % 250, ".", i % 250));
  owner.set_container_id(absl::StrCat("c0ffee", i, "0123456789abcdef"));
  owner.set_container_name(absl::StrCat("svc", i % 40, ".", i, ".task"));
  owner.set_service(absl::StrCat("svc", i % 40));
  owner.set_task(absl::StrCat("svc", i % 40, ".", i));
  owner.set_node("node-7");
  owner.set_netns_inode(4026530000 + i);
  owner.set_network("overlay-1");
  return owner;
}

v1::AddressEvent Event(v1::AddressEventType type, uint64_t seq, absl::Time time,
                       const v1::AddressOwner& owner) {
  v1::AddressEvent event;
  event.set_seq(seq);
  event.set_type(type);
  *event.mutable_time() = ToProto(time);
  event.set_source(v1::DOCKER_EVENT);
  *event.mutable_owner() = owner;
  return event;
}

struct Round {
  double attach_ms = 0;
  double churn_ms = 0;
  double load_ms = 0;
};

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// One round on an empty store.
absl::StatusOr<Round> RunRound(HistoryStore& store, int events) {
  AddressHistory history;
  HistoryChanges attach, churn;
  uint64_t seq = 0;
  for (int i = 0; i < events; ++i) {
    history.Apply("node-7", Event(v1::ATTACH, ++seq, Base(), Owner(i)),
                  &attach);
  }
  for (int i = 0; i < events; ++i) {
    history.Apply(
        "node-7",
        Event(v1::DETACH, ++seq, Base() + absl::Seconds(60), Owner(i)), &churn);
    history.Apply(
        "node-7",
        Event(v1::ATTACH, ++seq, Base() + absl::Seconds(61), Owner(i)), &churn);
  }
  Round round;
  absl::Time start = absl::Now();
  absl::Status status = store.CommitAddressBatch(
      "node-7", "instance-1", events, attach, Base() + absl::Seconds(1));
  round.attach_ms = Ms(absl::Now() - start);
  if (!status.ok()) return status;
  start = absl::Now();
  status = store.CommitAddressBatch("node-7", "instance-1", seq, churn,
                                    Base() + absl::Seconds(62));
  round.churn_ms = Ms(absl::Now() - start);
  if (!status.ok()) return status;
  start = absl::Now();
  absl::StatusOr<StoredState> state = store.Load();
  round.load_ms = Ms(absl::Now() - start);
  if (!state.ok()) return state.status();
  if (state->intervals.size() != static_cast<size_t>(2 * events)) {
    return absl::InternalError(absl::StrCat("loaded ", state->intervals.size(),
                                            " intervals, want ", 2 * events));
  }
  return round;
}

struct Summary {
  double median = 0;
  double worst = 0;
};

Summary Summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return {values[values.size() / 2], values.back()};
}

int Main(const BenchOptions& options) {
  std::unique_ptr<testing::PostgresCluster> cluster;
  if (options.postgres.empty()) {
    absl::StatusOr<std::unique_ptr<testing::PostgresCluster>> created =
        testing::PostgresCluster::Create(/*durable=*/true);
    if (!created.ok()) {
      std::fprintf(stderr, "store_bench: %s\n",
                   created.status().ToString().c_str());
      return 1;
    }
    cluster = std::move(*created);
  }
  // Opens a fresh, empty store of each kind for round `r`; `cleanup`
  // empties it afterwards.
  struct Kind {
    std::string name;
    std::function<std::string(int)> location;
    std::function<void(int)> cleanup;
    std::vector<Round> rounds;
  };
  std::vector<Kind> kinds;
  kinds.push_back({"sqlite",
                   [&](int r) {
                     return absl::StrCat(options.dir, "/store_bench-", getpid(),
                                         "-", r, ".db");
                   },
                   [&](int r) {
                     const std::string path = absl::StrCat(
                         options.dir, "/store_bench-", getpid(), "-", r, ".db");
                     for (const char* suffix : {"", "-wal", "-shm"}) {
                       std::error_code ignored;
                       std::filesystem::remove(path + suffix, ignored);
                     }
                   },
                   {}});
  kinds.push_back(
      {"postgresql",
       [&](int r) -> std::string {
         if (!cluster) return options.postgres;
         absl::StatusOr<std::string> uri =
             cluster->CreateDatabase(absl::StrCat("bench", r));
         return uri.ok() ? *uri : std::string("postgresql://create-failed");
       },
       [&](int r) {
         if (cluster) {
           cluster->Query("postgres", absl::StrCat("DROP DATABASE bench", r))
               .IgnoreError();
         }
       },
       {}});
  if (!options.postgres.empty()) {
    kinds.back().cleanup = [](int) {};
    std::fprintf(stderr,
                 "store_bench: --postgres: each round needs an empty "
                 "database; running one round\n");
  }
  const int rounds = options.postgres.empty() ? options.rounds : 1;
  for (int r = 0; r < rounds; ++r) {
    for (Kind& kind : kinds) {
      absl::StatusOr<std::unique_ptr<HistoryStore>> store =
          OpenHistoryStore(kind.location(r), Base());
      if (!store.ok()) {
        std::fprintf(stderr, "store_bench: %s: %s\n", kind.name.c_str(),
                     store.status().ToString().c_str());
        return 1;
      }
      absl::StatusOr<Round> round = RunRound(**store, options.events);
      store->reset();
      kind.cleanup(r);
      if (!round.ok()) {
        std::fprintf(stderr, "store_bench: %s: %s\n", kind.name.c_str(),
                     round.status().ToString().c_str());
        return 1;
      }
      kind.rounds.push_back(*round);
    }
  }

  std::printf(
      "store_bench: %d-event address burst, %d round(s); ms median "
      "[worst]\n",
      options.events, rounds);
  std::printf("%-12s %20s %20s %20s\n", "store", "attach (N inserts)",
              "churn (N+N)", "load (2N)");
  std::vector<Summary> sqlite;
  for (const Kind& kind : kinds) {
    std::vector<double> attach, churn, load;
    for (const Round& round : kind.rounds) {
      attach.push_back(round.attach_ms);
      churn.push_back(round.churn_ms);
      load.push_back(round.load_ms);
    }
    const std::vector<Summary> summary = {Summarize(attach), Summarize(churn),
                                          Summarize(load)};
    std::printf("%-12s", kind.name.c_str());
    for (const Summary& s : summary) {
      std::printf(" %10.1f [%7.1f]", s.median, s.worst);
    }
    std::printf("\n");
    if (sqlite.empty()) {
      sqlite = summary;
    } else {
      std::printf("%-12s", "  / sqlite");
      for (size_t i = 0; i < summary.size(); ++i) {
        std::printf(" %19.2fx", summary[i].median / sqlite[i].median);
      }
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace
}  // namespace ghostpeer::aggregator

int main(int argc, char** argv) {
  ghostpeer::aggregator::BenchOptions options;
  for (int i = 1; i < argc; ++i) {
    if (!ghostpeer::aggregator::ParseFlag(argv[i], &options)) {
      std::fprintf(stderr, "store_bench: bad flag %s (see the source)\n",
                   argv[i]);
      return 2;
    }
  }
  return ghostpeer::aggregator::Main(options);
}
