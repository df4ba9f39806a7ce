#include "aggregator/engine.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/in_memory_history_store.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::fakes::InMemoryHistoryStore;
using testing::Attach;
using testing::Batch;
using testing::Container;
using testing::Delta;
using testing::Detach;
using testing::FakeClock;
using testing::Full;
using ::testing::HasSubstr;
using testing::HelloFrom;
using testing::Recorder;
using testing::Socket;
using testing::SocketSpec;
using testing::Stuck;
using testing::T;
using testing::TempDb;

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");

class EngineTest : public ::testing::Test {
 protected:
  // Findings open on the first snapshot that shows them unless
  // `confirmations` says otherwise (the default's two are pinned by the
  // restart test and the detector's own tests).
  EngineOptions Options(int confirmations = 1) {
    EngineOptions options;
    options.detector.confirmations = confirmations;
    options.clock = &clock_;
    options.retention = absl::Hours(1);
    return options;
  }
  std::unique_ptr<Engine> OpenEngine(const std::string& path = ":memory:",
                                     int confirmations = 1) {
    EngineOptions options = Options(confirmations);
    options.db_path = path;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Open(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  FakeClock clock_{T(0)};
};

TEST_F(EngineTest, VanishedPeerOpensAndResolvesEndToEnd) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  Recorder recorder;
  const int subscription = engine->Subscribe(recorder.Listener());

  ASSERT_EQ(*engine->Hello(HelloFrom("node-2", "srv-agent")), 0u);
  ASSERT_EQ(*engine->Hello(HelloFrom("node-1", "cli-agent")), 0u);
  clock_.Set(T(10));
  EXPECT_EQ(*engine->IngestAddressEvents("node-2", "srv-agent",
                                         Batch({Attach(1, T(1), kServer)})),
            1u);

  // Full snapshot: the client talks to a live server; nothing to report.
  clock_.Set(T(15));
  auto ack = engine->IngestSnapshot("node-1", "cli-agent",
                                    Full(1, T(15), {Socket(Stuck(0))}), T(15));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->full_snapshot_id(), 1u);
  EXPECT_EQ(ack->snapshot_id(), 1u);
  EXPECT_FALSE(ack->full_snapshot_required());
  EXPECT_TRUE(engine->ListFindings({}).findings().empty());

  // The server vanishes; the next delta shows the queue growing.
  clock_.Set(T(18));
  ASSERT_EQ(*engine->IngestAddressEvents("node-2", "srv-agent",
                                         Batch({Detach(2, T(18), kServer)})),
            2u);
  clock_.Set(T(20));
  ack = engine->IngestSnapshot("node-1", "cli-agent",
                               Delta(2, 1, T(20), {Socket(Stuck(720))}, {}),
                               T(20));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->full_snapshot_id(), 1u);
  v1::ListFindingsResponse findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  const v1::Finding& f = findings.findings(0);
  EXPECT_EQ(f.kind(), v1::VANISHED_PEER);
  EXPECT_EQ(f.severity(), v1::CRITICAL);
  EXPECT_EQ(f.status(), v1::OPEN);
  EXPECT_EQ(f.bytes_at_risk(), 720u);
  EXPECT_EQ(f.peer_last_owner().task(), "gpx-srv.1");
  EXPECT_EQ(FromProto(f.first_seen()), T(20));
  EXPECT_THAT(f.story(), HasSubstr("nobody holds it now"));
  EXPECT_THAT(recorder.Take(), ::testing::ElementsAre("OPENED VANISHED_PEER"));

  // Queue grows: UPDATED.
  clock_.Set(T(25));
  ASSERT_TRUE(
      engine
          ->IngestSnapshot("node-1", "cli-agent",
                           Delta(3, 1, T(25), {Socket(Stuck(1440))}, {}), T(25))
          .ok());
  EXPECT_THAT(recorder.Take(), ::testing::ElementsAre("UPDATED VANISHED_PEER"));

  // The client socket goes away: RESOLVED.
  clock_.Set(T(30));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(4, 1, T(30), {}, {Socket(Stuck(0))}),
                                   T(30))
                  .ok());
  EXPECT_THAT(recorder.Take(), ::testing::ElementsAre("CLOSED VANISHED_PEER"));
  v1::ListFindingsRequest open_only;
  open_only.set_status(v1::OPEN);
  EXPECT_TRUE(engine->ListFindings(open_only).findings().empty());
  findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(findings.findings(0).status(), v1::RESOLVED);
  EXPECT_EQ(FromProto(findings.findings(0).resolved_at()), T(30));

  engine->Unsubscribe(subscription);
  EngineCounters counters = engine->Counters();
  EXPECT_EQ(counters.full_snapshots, 1u);
  EXPECT_EQ(counters.delta_snapshots, 3u);
  EXPECT_EQ(counters.socket_records_ingested, 3u);
  EXPECT_EQ(counters.address_events_by_source[v1::OBSERVATION], 2u);
  EXPECT_EQ(counters.findings_opened_by_kind[v1::VANISHED_PEER], 1u);
  EXPECT_EQ(counters.findings_resolved_by_kind[v1::VANISHED_PEER], 1u);
  EXPECT_EQ(counters.ingest_latency.count, 4u);
  EXPECT_EQ(counters.agents_connected, 2u);
}

// With the production confirmations (2): Docker's die on node-2 makes the
// client on node-1 a finding at its first snapshot after it, and the wait
// from the departure is measured.
TEST_F(EngineTest, ADockerDieIsAFindingAtTheFirstSnapshotAfterIt) {
  std::unique_ptr<Engine> engine = OpenEngine(":memory:", 2);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Hello(HelloFrom("node-2", "srv-agent")).ok());
  ASSERT_TRUE(engine->Hello(HelloFrom("node-1", "cli-agent")).ok());
  clock_.Set(T(10));
  ASSERT_TRUE(engine
                  ->IngestAddressEvents(
                      "node-2", "srv-agent",
                      Batch({Attach(1, T(1), kServer, v1::DOCKER_EVENT)}))
                  .ok());
  SocketSpec healthy = Stuck(0);
  healthy.last_ack_recv_ms = healthy.last_data_recv_ms = 50;
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Full(1, T(15), {Socket(healthy)}), T(15))
                  .ok());

  clock_.Set(T(16.2));
  ASSERT_TRUE(engine
                  ->IngestAddressEvents(
                      "node-2", "srv-agent",
                      Batch({Detach(2, T(16), kServer, v1::DOCKER_EVENT)}))
                  .ok());
  SocketSpec stuck = Stuck(720);
  stuck.last_ack_recv_ms = stuck.last_data_recv_ms = 4100;
  clock_.Set(T(20.1));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(2, 1, T(20), {Socket(stuck)}, {}),
                                   T(20.1))
                  .ok());
  v1::ListFindingsResponse findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(findings.findings(0).kind(), v1::VANISHED_PEER);
  EXPECT_EQ(findings.findings(0).severity(), v1::CRITICAL);
  EXPECT_EQ(FromProto(findings.findings(0).first_seen()), T(20.1));

  const DepartureHistogram waits = engine->Counters().departure_to_finding;
  EXPECT_EQ(waits.count, 1u);
  EXPECT_NEAR(waits.sum_seconds, 4.1, 1e-6);
  EXPECT_EQ(waits.buckets[4], 1u);  // (4 s, 5 s]
}

// Two nodes hand out 172.18.0.3 on their docker_gwbridge at once. A client
// on node-1 is judged by node-1's holder only, and `history --node` shows
// what each node reaches.
TEST_F(EngineTest, NodeLocalAddressesAreJudgedOnTheClientsNodeOnly) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  auto local = [](const std::string& name, const std::string& node) {
    v1::AddressOwner owner = Container("172.18.0.3", name, node);
    owner.set_network("docker_gwbridge");
    owner.set_scope(v1::ADDRESS_SCOPE_NODE);
    return owner;
  };
  const v1::AddressOwner here = local("gpx-a.1", "node-1");
  const v1::AddressOwner there = local("gpx-b.1", "node-2");
  ASSERT_TRUE(engine->Hello(HelloFrom("node-1", "a1")).ok());
  ASSERT_TRUE(engine->Hello(HelloFrom("node-2", "a2")).ok());
  ASSERT_TRUE(
      engine
          ->IngestAddressEvents("node-1", "a1", Batch({Attach(1, T(1), here)}))
          .ok());
  ASSERT_TRUE(
      engine
          ->IngestAddressEvents("node-2", "a2", Batch({Attach(1, T(1), there)}))
          .ok());
  SocketSpec stuck = Stuck(720);
  stuck.remote_ip = "172.18.0.3";
  stuck.local_ip = "172.18.0.9";
  clock_.Set(T(10));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "a1",
                                   Full(1, T(10), {Socket(stuck)}), T(10))
                  .ok());

  // node-2's container dies: not the client's peer.
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "a2",
                                        Batch({Detach(2, T(12), there)}))
                  .ok());
  clock_.Set(T(15));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "a1",
                                   Full(2, T(15), {Socket(stuck)}), T(15))
                  .ok());
  EXPECT_EQ(engine->ListFindings({}).findings_size(), 0);

  v1::GetAddressHistoryRequest request;
  request.set_address("172.18.0.3");
  EXPECT_EQ(engine->GetAddressHistory(request)->intervals_size(), 2);
  request.set_node("node-1");
  auto reached = engine->GetAddressHistory(request);
  ASSERT_TRUE(reached.ok()) << reached.status();
  ASSERT_EQ(reached->intervals_size(), 1);
  EXPECT_EQ(reached->intervals(0).task(), "gpx-a.1");
  EXPECT_EQ(reached->intervals(0).scope(), v1::ADDRESS_SCOPE_NODE);

  // node-1's own peer leaves: a ghost, though node-2 reuses the address.
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "a2",
                                        Batch({Attach(3, T(16), there)}))
                  .ok());
  ASSERT_TRUE(
      engine
          ->IngestAddressEvents("node-1", "a1", Batch({Detach(2, T(16), here)}))
          .ok());
  clock_.Set(T(20));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "a1",
                                   Full(3, T(20), {Socket(stuck)}), T(20))
                  .ok());
  v1::ListFindingsResponse findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(findings.findings(0).kind(), v1::VANISHED_PEER);
  EXPECT_EQ(findings.findings(0).peer_last_owner().task(), "gpx-a.1");
  EXPECT_EQ(findings.findings(0).peer_last_owner().node(), "node-1");
}

// The same departure seen only as an address missing from node-2's
// observation waits for a second snapshot of the client.
TEST_F(EngineTest, AnObservedAbsenceWaitsForTheSecondSnapshot) {
  std::unique_ptr<Engine> engine = OpenEngine(":memory:", 2);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Hello(HelloFrom("node-2", "srv-agent")).ok());
  ASSERT_TRUE(engine->Hello(HelloFrom("node-1", "cli-agent")).ok());
  clock_.Set(T(20));
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "srv-agent",
                                        Batch({Attach(1, T(1), kServer),
                                               Detach(2, T(16), kServer)}))
                  .ok());
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Full(1, T(20), {Socket(Stuck(720))}), T(20))
                  .ok());
  EXPECT_TRUE(engine->ListFindings({}).findings().empty());
  clock_.Set(T(25));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(2, 1, T(25), {Socket(Stuck(720))}, {}),
                                   T(25))
                  .ok());
  ASSERT_EQ(engine->ListFindings({}).findings_size(), 1);
  const DepartureHistogram waits = engine->Counters().departure_to_finding;
  EXPECT_EQ(waits.count, 1u);
  EXPECT_NEAR(waits.sum_seconds, 9.0, 1e-6);
}

TEST_F(EngineTest, DeltaWithUnknownBaseAsksForAFullSnapshot) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_TRUE(engine->Hello(HelloFrom("node-1", "a")).ok());
  auto ack = engine->IngestSnapshot("node-1", "a",
                                    Delta(5, 4, T(0), {Socket({})}, {}), T(0));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_TRUE(ack->full_snapshot_required());
  EXPECT_EQ(engine->ListSockets({}).sockets_size(), 0);

  // A new agent instance cannot use the old instance's base either.
  ASSERT_TRUE(
      engine->IngestSnapshot("node-1", "a", Full(1, T(0), {Socket({})}), T(0))
          .ok());
  ack = engine->IngestSnapshot("node-1", "b", Delta(2, 1, T(1), {}, {}), T(1));
  ASSERT_TRUE(ack.ok());
  EXPECT_TRUE(ack->full_snapshot_required());
  EXPECT_EQ(engine->Counters().full_snapshots_required, 2u);
}

TEST_F(EngineTest, RestartKeepsHistorySeqsAndOpenFindings) {
  TempDb db("restart");
  std::string finding_id;
  const EngineOptions defaults;
  ASSERT_EQ(defaults.detector.confirmations, 2);
  {
    std::unique_ptr<Engine> engine = OpenEngine(db.path(), 2);
    ASSERT_NE(engine, nullptr);
    clock_.Set(T(6));
    ASSERT_TRUE(engine
                    ->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Attach(1, T(0), kServer),
                                                 Detach(2, T(5), kServer)}))
                    .ok());
    clock_.Set(T(8));
    ASSERT_TRUE(engine
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Full(1, T(8), {Socket(Stuck(100))}), T(8))
                    .ok());
    EXPECT_EQ(engine->ListFindings({}).findings_size(), 0)
        << "one snapshot of a vanished peer is not yet a finding";
    clock_.Set(T(10));
    ASSERT_TRUE(engine
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Full(2, T(10), {Socket(Stuck(100))}),
                                     T(10))
                    .ok());
    auto findings = engine->ListFindings({});
    ASSERT_EQ(findings.findings_size(), 1);
    finding_id = findings.findings(0).id();
  }
  clock_.Set(T(60));
  std::unique_ptr<Engine> engine = OpenEngine(db.path(), 2);
  ASSERT_NE(engine, nullptr);
  // Acknowledged seqs survive: a reconnecting agent resumes after them.
  EXPECT_EQ(*engine->Hello(HelloFrom("node-2", "srv-agent")), 2u);
  // History survives.
  v1::GetAddressHistoryRequest request;
  request.set_address("10.0.1.6");
  auto history = engine->GetAddressHistory(request);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->intervals_size(), 1);
  EXPECT_EQ(history->intervals(0).task(), "gpx-srv.1");
  EXPECT_EQ(FromProto(history->intervals(0).until()), T(5));
  // The open finding survives with its first_seen...
  auto findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(findings.findings(0).id(), finding_id);
  EXPECT_EQ(findings.findings(0).status(), v1::OPEN);
  EXPECT_EQ(FromProto(findings.findings(0).first_seen()), T(10));
  // ...and continues (not re-opened) when the client's agent reports again.
  Recorder recorder;
  engine->Subscribe(recorder.Listener());
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent-2",
                                   Full(1, T(65), {Socket(Stuck(100))}), T(65))
                  .ok());
  EXPECT_THAT(recorder.Take(), ::testing::IsEmpty());
  findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(FromProto(findings.findings(0).first_seen()), T(10));
  EXPECT_EQ(FromProto(findings.findings(0).last_seen()), T(65));

  // A replay of already stored events is acknowledged, not re-applied.
  auto acked = engine->IngestAddressEvents(
      "node-2", "srv-agent",
      Batch({Attach(1, T(0), kServer), Detach(2, T(5), kServer)}));
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(*acked, 2u);
  EXPECT_EQ(engine->Counters().address_events_replayed, 2u);
  EXPECT_EQ(engine->GetAddressHistory(request)->intervals_size(), 1);
}

// One socket, one finding: a ghost in CLOSE_WAIT is announced as a
// close-wait writer, then updated (same id) to the vanished peer it is; the
// counters see one kind end and the other start; a restart keeps its past.
TEST_F(EngineTest, ACloseWaitGhostIsOneFindingThatChangesKind) {
  TempDb db("kind_change");
  auto close_wait = [](uint32_t queue) {
    SocketSpec spec = Stuck(queue);
    spec.state = v1::TCP_STATE_CLOSE_WAIT;
    return Socket(spec);
  };
  std::string id;
  {
    std::unique_ptr<Engine> engine = OpenEngine(db.path(), 2);
    ASSERT_NE(engine, nullptr);
    Recorder recorder;
    engine->Subscribe(recorder.Listener());
    clock_.Set(T(6));
    ASSERT_TRUE(engine
                    ->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Attach(1, T(0), kServer)}))
                    .ok());
    clock_.Set(T(8));
    ASSERT_TRUE(engine
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Full(1, T(8), {close_wait(0)}), T(8))
                    .ok());
    clock_.Set(T(9));
    ASSERT_TRUE(engine
                    ->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Detach(2, T(9), kServer)}))
                    .ok());
    clock_.Set(T(10));
    ASSERT_TRUE(engine
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Full(2, T(10), {close_wait(300)}), T(10))
                    .ok());
    EXPECT_THAT(recorder.Take(),
                ::testing::ElementsAre("OPENED CLOSE_WAIT_WRITER"));
    clock_.Set(T(15));
    ASSERT_TRUE(engine
                    ->IngestSnapshot("node-1", "cli-agent",
                                     Full(3, T(15), {close_wait(300)}), T(15))
                    .ok());
    EXPECT_THAT(recorder.Take(),
                ::testing::ElementsAre("UPDATED VANISHED_PEER"));
    v1::ListFindingsResponse findings = engine->ListFindings({});
    ASSERT_EQ(findings.findings_size(), 1);
    const v1::Finding& f = findings.findings(0);
    id = f.id();
    EXPECT_EQ(f.kind(), v1::VANISHED_PEER);
    EXPECT_EQ(f.severity(), v1::CRITICAL);
    EXPECT_EQ(f.previous_kind(), v1::CLOSE_WAIT_WRITER);
    EXPECT_EQ(FromProto(f.first_seen()), T(10));
    EXPECT_THAT(f.story(), HasSubstr("the peer had closed the connection"));
    EXPECT_THAT(f.story(), HasSubstr("reported as a close-wait writer before"));
    const EngineCounters counters = engine->Counters();
    EXPECT_EQ(counters.findings_opened_by_kind[v1::CLOSE_WAIT_WRITER], 1u);
    EXPECT_EQ(counters.findings_resolved_by_kind[v1::CLOSE_WAIT_WRITER], 1u);
    EXPECT_EQ(counters.findings_opened_by_kind[v1::VANISHED_PEER], 1u);
    // The ghost was raised at T(15), 6 s after its peer left.
    EXPECT_EQ(counters.departure_to_finding.count, 1u);
    EXPECT_NEAR(counters.departure_to_finding.sum_seconds, 6.0, 1e-6);
  }
  clock_.Set(T(20));
  std::unique_ptr<Engine> engine = OpenEngine(db.path(), 2);
  ASSERT_NE(engine, nullptr);
  v1::ListFindingsResponse findings = engine->ListFindings({});
  ASSERT_EQ(findings.findings_size(), 1);
  EXPECT_EQ(findings.findings(0).id(), id);
  EXPECT_EQ(findings.findings(0).previous_kind(), v1::CLOSE_WAIT_WRITER);
}

// Seqs are uint64: one from 2^63 up was acknowledged, then persisted below
// the previous one, so after a restart the ack went back and the agent's
// replay was stored a second time.
TEST_F(EngineTest, SeqPast2To63SurvivesRestartAndReplayIsNotStoredTwice) {
  constexpr uint64_t kBigSeq = (uint64_t{1} << 63) + 5;
  TempDb db("seq64");
  clock_.Set(T(6));
  {
    std::unique_ptr<Engine> engine = OpenEngine(db.path());
    ASSERT_NE(engine, nullptr);
    ASSERT_TRUE(engine
                    ->IngestAddressEvents("node-2", "srv-agent",
                                          Batch({Attach(1, T(0), kServer)}))
                    .ok());
    auto acked = engine->IngestAddressEvents(
        "node-2", "srv-agent", Batch({Detach(kBigSeq, T(5), kServer)}));
    ASSERT_TRUE(acked.ok()) << acked.status();
    EXPECT_EQ(*acked, kBigSeq);
  }
  std::unique_ptr<Engine> engine = OpenEngine(db.path());
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(*engine->Hello(HelloFrom("node-2", "srv-agent")), kBigSeq);
  auto acked = engine->IngestAddressEvents(
      "node-2", "srv-agent", Batch({Detach(kBigSeq, T(5), kServer)}));
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(*acked, kBigSeq);
  EXPECT_EQ(engine->Counters().address_events_replayed, 1u);
  v1::GetAddressHistoryRequest request;
  request.set_address("10.0.1.6");
  auto history = engine->GetAddressHistory(request);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->intervals_size(), 1);
  EXPECT_EQ(FromProto(history->intervals(0).until()), T(5));
}

TEST_F(EngineTest, TransitionsAreSavedAtOnceRefreshesAtMostEveryMinute) {
  TempDb db("refresh");
  auto last_seen_after_restart = [&]() {
    std::unique_ptr<Engine> reopened = OpenEngine(db.path());
    auto findings = reopened->ListFindings({});
    EXPECT_EQ(findings.findings_size(), 1);
    return findings.findings_size() == 1
               ? FromProto(findings.findings(0).last_seen())
               : absl::InfinitePast();
  };
  std::unique_ptr<Engine> engine = OpenEngine(db.path());
  clock_.Set(T(6));
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "s",
                                        Batch({Attach(1, T(0), kServer),
                                               Detach(2, T(5), kServer)}))
                  .ok());
  auto ingest = [&](double at, uint32_t queue) {
    clock_.Set(T(at));
    ASSERT_TRUE(engine
                    ->IngestSnapshot("node-1", "a",
                                     Full(static_cast<uint64_t>(at), T(at),
                                          {Socket(Stuck(queue))}),
                                     T(at))
                    .ok());
  };
  ingest(10, 100);  // OPENED: saved
  EXPECT_EQ(last_seen_after_restart(), T(10));
  ingest(20, 100);  // silent refresh, 10 s after the save: not saved
  EXPECT_EQ(last_seen_after_restart(), T(10));
  ingest(30, 200);  // UPDATED (bytes at risk): saved at once
  EXPECT_EQ(last_seen_after_restart(), T(30));
  ingest(95, 200);  // silent, but a minute since the last save
  EXPECT_EQ(last_seen_after_restart(), T(95));
}

TEST_F(EngineTest, ReplayedSeqsAreSkippedAndGapsAccepted) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_EQ(*engine->IngestAddressEvents("node-2", "a",
                                         Batch({Attach(1, T(0), kServer)})),
            1u);
  // 1 is a replay; 5 follows a gap: accepted.
  ASSERT_EQ(*engine->IngestAddressEvents(
                "node-2", "a",
                Batch({Attach(1, T(0), kServer), Detach(5, T(3), kServer)})),
            5u);
  // Seqs count per agent instance: a new instance starts again from 1.
  ASSERT_EQ(*engine->IngestAddressEvents("node-2", "b",
                                         Batch({Attach(1, T(4), kServer)})),
            1u);
  v1::GetAddressHistoryRequest request;
  request.set_address("10.0.1.6");
  auto history = engine->GetAddressHistory(request);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->intervals_size(), 2);
}

TEST_F(EngineTest, BadInputIsRefusedAndStoresNothing) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_TRUE(
      engine
          ->IngestAddressEvents(
              "node-3", "x",
              Batch({Attach(1, T(0), Container("10.0.1.9", "other.1"))}))
          .ok());
  v1::AddressOwner bad = kServer;
  bad.set_address("10.0.1.999");
  auto result = engine->IngestAddressEvents(
      "node-2", "a", Batch({Attach(1, T(0), kServer), Attach(2, T(0), bad)}));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("events[1].owner.address"));
  // Nothing of the batch, not even its good first event.
  v1::GetAddressHistoryRequest request;
  request.set_address("10.0.1.6");
  EXPECT_EQ(engine->GetAddressHistory(request)->intervals_size(), 0);
  EXPECT_EQ(*engine->Hello(HelloFrom("node-2", "a")), 0u);
  // Other nodes' history is untouched.
  request.set_address("10.0.1.9");
  EXPECT_EQ(engine->GetAddressHistory(request)->intervals_size(), 1);

  v1::SocketSnapshot snapshot = Full(1, T(0), {Socket({})});
  snapshot.mutable_snapshot()->mutable_sockets(0)->set_remote_port(99999);
  EXPECT_EQ(
      engine->IngestSnapshot("node-1", "a", snapshot, T(0)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->Hello(HelloFrom("", "a")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->Counters().messages_rejected, 3u);
}

TEST_F(EngineTest, FutureEventsAreRefusedSlightlyAheadClamped) {
  std::unique_ptr<Engine> engine = OpenEngine();
  clock_.Set(T(100));
  EXPECT_EQ(engine
                ->IngestAddressEvents(
                    "node-2", "a",
                    Batch({Attach(1, T(100) + absl::Hours(1), kServer)}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine
                  ->IngestAddressEvents(
                      "node-2", "a",
                      Batch({Attach(1, T(100) + absl::Minutes(1), kServer)}))
                  .ok());
  v1::GetAddressHistoryRequest request;
  request.set_address("10.0.1.6");
  auto history = engine->GetAddressHistory(request);
  ASSERT_EQ(history->intervals_size(), 1);
  EXPECT_EQ(FromProto(history->intervals(0).since()), T(100));
}

TEST_F(EngineTest, HistoryQueriesAndRetention) {
  std::unique_ptr<Engine> engine = OpenEngine();  // created at T(0)
  const v1::AddressOwner other = Container("10.0.1.6", "other.1", "node-3");
  clock_.Set(T(100));
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "a",
                                        Batch({Attach(1, T(10), kServer),
                                               Detach(2, T(20), kServer),
                                               Attach(3, T(30), other)}))
                  .ok());
  v1::GetAddressHistoryRequest request;
  request.set_address("::ffff:10.0.1.6");  // any form of the address
  auto all = engine->GetAddressHistory(request);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->intervals_size(), 2);
  EXPECT_EQ(all->intervals(0).task(), "gpx-srv.1");  // oldest first
  EXPECT_EQ(all->intervals(1).task(), "other.1");
  EXPECT_FALSE(all->intervals(1).has_until());
  EXPECT_EQ(FromProto(all->retained_since()), T(0));

  *request.mutable_at() = ToProto(T(15));
  auto at = engine->GetAddressHistory(request);
  ASSERT_EQ(at->intervals_size(), 1);
  EXPECT_EQ(at->intervals(0).task(), "gpx-srv.1");
  *request.mutable_at() = ToProto(T(25));
  EXPECT_EQ(engine->GetAddressHistory(request)->intervals_size(), 0);

  // Before the database existed: out of range.
  *request.mutable_at() = ToProto(T(-10));
  auto before = engine->GetAddressHistory(request);
  EXPECT_EQ(before.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(before.status().message()),
              HasSubstr("history retained since"));

  request.set_address("not-an-ip");
  EXPECT_EQ(engine->GetAddressHistory(request).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Two hours later (retention 1 h): the ended interval is purged, the open
  // one stays, and T(15) is now out of range.
  clock_.Set(T(7300));
  ASSERT_TRUE(engine->Tick().ok());
  request.set_address("10.0.1.6");
  request.clear_at();
  auto purged = engine->GetAddressHistory(request);
  ASSERT_EQ(purged->intervals_size(), 1);
  EXPECT_EQ(purged->intervals(0).task(), "other.1");
  *request.mutable_at() = ToProto(T(15));
  EXPECT_EQ(engine->GetAddressHistory(request).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(EngineTest, ListSocketsFiltersAndTruncates) {
  std::unique_ptr<Engine> engine = OpenEngine();
  std::vector<v1::SocketRecord> sockets;
  for (int i = 0; i < 5; ++i) {
    SocketSpec spec;
    spec.local_port = 40000 + i;
    spec.state = i < 2 ? v1::TCP_STATE_CLOSE_WAIT : v1::TCP_STATE_ESTABLISHED;
    spec.remote_ip = i == 4 ? "10.0.1.99" : "10.0.1.6";
    sockets.push_back(Socket(spec));
  }
  ASSERT_TRUE(
      engine->IngestSnapshot("node-1", "a", Full(1, T(0), sockets), T(0)).ok());
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-9", "b",
                                   Full(1, T(0), {Socket({})}, "node-9"), T(0))
                  .ok());
  v1::ListSocketsRequest request;
  EXPECT_EQ(engine->ListSockets(request).sockets_size(), 6);
  request.set_node("node-1");
  EXPECT_EQ(engine->ListSockets(request).sockets_size(), 5);
  request.set_remote_ip("::ffff:10.0.1.6");
  EXPECT_EQ(engine->ListSockets(request).sockets_size(), 4);
  request.set_state(v1::TCP_STATE_CLOSE_WAIT);
  EXPECT_EQ(engine->ListSockets(request).sockets_size(), 2);
  request.clear_state();
  // A translated socket is found by its VIP and by its backend.
  {
    SocketSpec spec;
    spec.local_port = 40009;
    spec.remote_ip = "10.0.1.2";
    spec.backend_ip = "10.0.1.77";
    spec.backend_port = 5432;
    std::vector<v1::SocketRecord> with_vip = sockets;
    with_vip.push_back(Socket(spec));
    ASSERT_TRUE(
        engine->IngestSnapshot("node-1", "a", Full(2, T(1), with_vip), T(1))
            .ok());
    v1::ListSocketsRequest by_vip;
    by_vip.set_remote_ip("10.0.1.2");
    EXPECT_EQ(engine->ListSockets(by_vip).sockets_size(), 1);
    v1::ListSocketsRequest by_backend;
    by_backend.set_remote_ip("10.0.1.77");
    ASSERT_EQ(engine->ListSockets(by_backend).sockets_size(), 1);
    EXPECT_EQ(engine->ListSockets(by_backend).sockets(0).remote_ip(),
              "10.0.1.2");
  }
  request.set_limit(3);
  auto limited = engine->ListSockets(request);
  EXPECT_EQ(limited.sockets_size(), 3);
  EXPECT_TRUE(limited.truncated());
}

TEST_F(EngineTest, NodesShowConnectionLagAndStaleness) {
  std::unique_ptr<Engine> engine = OpenEngine();
  const v1::AddressOwner gone = kServer;
  ASSERT_TRUE(engine->Hello(HelloFrom("node-1", "a")).ok());
  ASSERT_TRUE(engine
                  ->IngestAddressEvents(
                      "node-2", "s",
                      Batch({Attach(1, T(0), gone), Detach(2, T(1), gone)}))
                  .ok());
  clock_.Set(T(12));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "a",
                                   Full(1, T(10), {Socket(Stuck(5))}), T(12))
                  .ok());
  auto nodes = engine->ListNodes();
  // Address events alone do not make a node known: node-2 never said hello.
  ASSERT_EQ(nodes.nodes_size(), 1);
  const v1::NodeStatus* node1 = nullptr;
  for (const auto& n : nodes.nodes()) {
    if (n.node() == "node-1") node1 = &n;
  }
  ASSERT_NE(node1, nullptr);
  EXPECT_TRUE(node1->connected());
  EXPECT_EQ(FromProto(node1->lag()), absl::Seconds(2));
  EXPECT_EQ(node1->sockets(), 1u);
  EXPECT_EQ(node1->kernel(), "6.18.0");
  // One aggregator on its own store: no replica to name.
  EXPECT_EQ(node1->served_by(), "");

  engine->Disconnected("node-1", "a");
  clock_.Set(T(12) + absl::Minutes(6));
  ASSERT_TRUE(engine->Tick().ok());
  nodes = engine->ListNodes();
  for (const auto& n : nodes.nodes()) {
    if (n.node() != "node-1") continue;
    EXPECT_FALSE(n.connected());
    EXPECT_EQ(n.sockets(), 0u);  // stale: the socket view is dropped
  }
  // Its finding stays open: no evidence the socket went away.
  v1::ListFindingsRequest open_only;
  open_only.set_status(v1::OPEN);
  EXPECT_EQ(engine->ListFindings(open_only).findings_size(), 1);
}

TEST_F(EngineTest, NodesSayWhetherTheySeeThroughVipsAndWhoBlackHoles) {
  std::unique_ptr<Engine> engine = OpenEngine();
  v1::SocketSnapshot snapshot = Full(1, T(10), {});
  v1::NodeSnapshot* body = snapshot.mutable_snapshot();
  body->set_translation_status("unavailable: conntrack: permission denied");
  for (int value : {0, 1, -1}) {  // black-holes, flushes, unreadable
    v1::NamespaceInfo* ns = body->add_namespaces();
    ns->set_inode(4026532000 + value + 1);
    ns->mutable_ipvs()->set_expire_nodest_conn(value);
  }
  body->add_namespaces()->set_inode(4026531840);  // no IPVS
  ASSERT_TRUE(engine->IngestSnapshot("node-1", "a", snapshot, T(10)).ok());
  v1::ListNodesResponse nodes = engine->ListNodes();
  ASSERT_EQ(nodes.nodes_size(), 1);
  EXPECT_EQ(nodes.nodes(0).translation_status(),
            "unavailable: conntrack: permission denied");
  EXPECT_EQ(nodes.nodes(0).ipvs_namespaces(), 3u);
  EXPECT_EQ(nodes.nodes(0).ipvs_blackhole_namespaces(), 1u);

  // The next snapshot's word replaces it.
  snapshot = Full(2, T(15), {});
  snapshot.mutable_snapshot()->set_translation_status("ok");
  ASSERT_TRUE(engine->IngestSnapshot("node-1", "a", snapshot, T(15)).ok());
  nodes = engine->ListNodes();
  EXPECT_EQ(nodes.nodes(0).translation_status(), "ok");
  EXPECT_EQ(nodes.nodes(0).ipvs_namespaces(), 0u);
  EXPECT_EQ(nodes.nodes(0).ipvs_blackhole_namespaces(), 0u);
}

TEST_F(EngineTest, FindingFilters) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "s",
                                        Batch({Attach(1, T(0), kServer),
                                               Detach(2, T(1), kServer)}))
                  .ok());
  SocketSpec idle;
  idle.local_port = 1111;
  ASSERT_TRUE(engine
                  ->IngestSnapshot(
                      "node-1", "a",
                      Full(1, T(5), {Socket(Stuck(5)), Socket(idle)}), T(5))
                  .ok());
  v1::ListFindingsRequest request;
  auto all = engine->ListFindings(request);
  ASSERT_EQ(all.findings_size(), 2);
  EXPECT_EQ(all.findings(0).severity(), v1::CRITICAL);  // highest first
  request.set_min_severity(v1::CRITICAL);
  EXPECT_EQ(engine->ListFindings(request).findings_size(), 1);
  request.clear_min_severity();
  request.set_service("gpx-cli");
  EXPECT_EQ(engine->ListFindings(request).findings_size(), 2);
  request.set_service("nope");
  EXPECT_EQ(engine->ListFindings(request).findings_size(), 0);
  request.clear_service();
  request.set_kind(v1::REASSIGNED_PEER);
  EXPECT_EQ(engine->ListFindings(request).findings_size(), 0);
  request.clear_kind();
  request.set_node("node-2");
  EXPECT_EQ(engine->ListFindings(request).findings_size(), 0);
}

TEST_F(EngineTest, ConcurrentIngestQueriesAndHousekeeping) {
  std::unique_ptr<Engine> engine = OpenEngine();
  constexpr int kNodes = 4;
  constexpr int kRounds = 50;  // bounded: a few hundred ms
  std::atomic<int> events_seen{0};
  engine->Subscribe([&](const v1::FindingEvent&) { ++events_seen; });
  std::vector<std::thread> threads;
  for (int n = 0; n < kNodes; ++n) {
    threads.emplace_back([&, n] {
      const std::string node = absl::StrCat("node-", n);
      const v1::AddressOwner owner =
          Container(absl::StrCat("10.0.2.", n + 1), absl::StrCat("srv.", n));
      ASSERT_TRUE(engine->Hello(HelloFrom(node, "i")).ok());
      for (int round = 1; round <= kRounds; ++round) {
        // The server comes and goes; the client's socket stays stuck.
        v1::AddressEvent event = round % 2 == 1 ? Attach(round, T(0), owner)
                                                : Detach(round, T(0), owner);
        ASSERT_TRUE(
            engine->IngestAddressEvents(node, "i", Batch({event})).ok());
        SocketSpec spec = Stuck(100 + round);
        spec.remote_ip = owner.address();
        ASSERT_TRUE(
            engine
                ->IngestSnapshot(node, "i",
                                 Full(round, T(0), {Socket(spec)}, node), T(0))
                .ok());
      }
      engine->Disconnected(node, "i");
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < kRounds; ++i) {
      engine->ListFindings({});
      engine->ListSockets({});
      engine->ListNodes();
      engine->Counters();
      ASSERT_TRUE(engine->Tick().ok());
    }
  });
  for (std::thread& t : threads) t.join();
  // Every node ends on a detach: one open VANISHED_PEER per node.
  v1::ListFindingsRequest open_only;
  open_only.set_status(v1::OPEN);
  EXPECT_EQ(engine->ListFindings(open_only).findings_size(), kNodes);
  EXPECT_GE(events_seen.load(), kNodes);
  EXPECT_EQ(engine->Counters().full_snapshots,
            static_cast<uint64_t>(kNodes * kRounds));
}

TEST_F(EngineTest, OpenFailsClearlyOnACorruptDatabase) {
  TempDb db("corrupt");
  {
    FILE* f = std::fopen(db.path().c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(std::string(4096, 'z').c_str(), f);
    std::fclose(f);
  }
  EngineOptions options;
  options.db_path = db.path();
  options.clock = &clock_;
  auto engine = Engine::Open(options);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr(db.path()));
}

// Over the in-memory store, whose writes a test can make fail: the Engine
// never acknowledges what is not stored, and never runs ahead of the store.
class EngineOverFailingStoreTest : public EngineTest {
 protected:
  void SetUp() override {
    auto store = std::make_unique<InMemoryHistoryStore>(T(0));
    store_ = store.get();
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Open(Options(), std::move(store));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  InMemoryHistoryStore* store_ = nullptr;  // owned by engine_
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineOverFailingStoreTest, AFailedAddressWriteAcksNothingAndUndoes) {
  ASSERT_TRUE(engine_->Hello(HelloFrom("node-2", "srv-agent")).ok());
  clock_.Set(T(10));
  store_->FailNext(InMemoryHistoryStore::Write::kAddressBatch, 1,
                   absl::ResourceExhaustedError("disk full"));
  absl::StatusOr<uint64_t> ack = engine_->IngestAddressEvents(
      "node-2", "srv-agent", Batch({Attach(1, T(1), kServer)}));
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(ack.status().message()), HasSubstr("disk full"));
  EXPECT_EQ(engine_->Counters().store_errors, 1u);
  // Memory is as before: no interval, the seq not advanced.
  v1::GetAddressHistoryRequest request;
  request.set_address("10.0.1.6");
  absl::StatusOr<v1::GetAddressHistoryResponse> history =
      engine_->GetAddressHistory(request);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->intervals_size(), 0);
  EXPECT_EQ(*engine_->Hello(HelloFrom("node-2", "srv-agent")), 0u);

  // The agent resends; now it is stored and acknowledged.
  ack = engine_->IngestAddressEvents("node-2", "srv-agent",
                                     Batch({Attach(1, T(1), kServer)}));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(*ack, 1u);
  history = engine_->GetAddressHistory(request);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->intervals_size(), 1);
}

TEST_F(EngineOverFailingStoreTest, UnsavedFindingsAreSavedAtTheNextSnapshot) {
  ASSERT_TRUE(engine_->Hello(HelloFrom("node-2", "srv-agent")).ok());
  ASSERT_TRUE(engine_->Hello(HelloFrom("node-1", "cli-agent")).ok());
  clock_.Set(T(10));
  ASSERT_TRUE(engine_
                  ->IngestAddressEvents("node-2", "srv-agent",
                                        Batch({Attach(1, T(1), kServer),
                                               Detach(2, T(5), kServer)}))
                  .ok());
  store_->FailNext(InMemoryHistoryStore::Write::kFindings, 1,
                   absl::UnavailableError("database is locked"));
  clock_.Set(T(20));
  // The ingest goes on: the finding opens in memory, unsaved.
  ASSERT_TRUE(engine_
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Full(1, T(20), {Socket(Stuck(720))}), T(20))
                  .ok());
  EXPECT_EQ(engine_->ListFindings({}).findings_size(), 1);
  EXPECT_EQ(engine_->Counters().store_errors, 1u);
  absl::StatusOr<StoredState> stored = store_->Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->findings.empty());

  clock_.Set(T(25));
  ASSERT_TRUE(engine_
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Full(2, T(25), {Socket(Stuck(720))}), T(25))
                  .ok());
  stored = store_->Load();
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->findings.size(), 1u);
  EXPECT_EQ(stored->findings[0].finding.status(), v1::OPEN);
  EXPECT_EQ(engine_->Counters().store_errors, 1u);
}

TEST_F(EngineTest, OpenRefusesANullStore) {
  EngineOptions options;
  options.clock = &clock_;
  auto engine = Engine::Open(options, nullptr);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, RemediationSummaryIsAnnouncedWhileOpenAndKept) {
  std::unique_ptr<Engine> engine = OpenEngine();
  ASSERT_NE(engine, nullptr);
  Recorder recorder;
  const int subscription = engine->Subscribe(recorder.Listener());
  clock_.Set(T(10));
  ASSERT_TRUE(engine->Hello(HelloFrom("node-2", "srv-agent")).ok());
  v1::Hello client = HelloFrom("node-1", "cli-agent");
  client.set_remediation_enabled(true);
  ASSERT_TRUE(engine->Hello(client).ok());
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "srv-agent",
                                        Batch({Attach(1, T(1), kServer)}))
                  .ok());
  clock_.Set(T(15));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Full(1, T(15), {Socket(Stuck(0))}), T(15))
                  .ok());
  clock_.Set(T(18));
  ASSERT_TRUE(engine
                  ->IngestAddressEvents("node-2", "srv-agent",
                                        Batch({Detach(2, T(18), kServer)}))
                  .ok());
  clock_.Set(T(20));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(2, 1, T(20), {Socket(Stuck(720))}, {}),
                                   T(20))
                  .ok());
  const NodeReportFacts facts = engine->NodeFacts("node-1");
  EXPECT_TRUE(facts.known);
  EXPECT_TRUE(facts.remediation_enabled);
  EXPECT_EQ(facts.last_report, T(20));
  EXPECT_EQ(facts.report_interval, absl::Seconds(5));
  EXPECT_FALSE(engine->NodeFacts("node-9").known);
  recorder.Take();
  const std::string id = engine->ListFindings({}).findings(0).id();
  EXPECT_EQ(engine->SetFindingRemediation("node-1", "nope", "x").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(engine->SetFindingRemediation("node-1", id, "ordered").ok());
  EXPECT_THAT(recorder.Take(), ::testing::ElementsAre("UPDATED VANISHED_PEER"));
  ASSERT_TRUE(engine->SetFindingRemediation("node-1", id, "ordered").ok());
  EXPECT_TRUE(recorder.Take().empty());  // unchanged: no news
  EXPECT_EQ(engine->FindFinding(id)->remediation(), "ordered");

  // Resolved (the socket went away): a late answer is kept, not announced.
  clock_.Set(T(25));
  ASSERT_TRUE(engine
                  ->IngestSnapshot("node-1", "cli-agent",
                                   Delta(3, 1, T(25), {}, {Socket(Stuck(0))}),
                                   T(25))
                  .ok());
  recorder.Take();
  ASSERT_TRUE(engine->SetFindingRemediation("node-1", id, "destroyed").ok());
  EXPECT_TRUE(recorder.Take().empty());
  EXPECT_EQ(engine->FindFinding(id)->status(), v1::RESOLVED);
  EXPECT_EQ(engine->FindFinding(id)->remediation(), "destroyed");
  engine->Unsubscribe(subscription);
}

}  // namespace
}  // namespace ghostpeer::aggregator
