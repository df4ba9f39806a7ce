// Query.WatchFindings over gRPC on 127.0.0.1:0: what a follower is promised
// (query_service.h) — the open findings first, then changes as they happen;
// a reconnecting follower is caught up by that same backlog; one that
// cannot keep up is ended, not buffered without bound.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/support/loopback_aggregator.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using ::ghostpeer::testing::LoopbackAggregator;
using ::ghostpeer::testing::LoopbackAggregatorOptions;
using testing::Attach;
using testing::Container;
using testing::Delta;
using testing::Detach;
using ::testing::ElementsAre;
using testing::Full;
using ::testing::HasSubstr;
using testing::Socket;
using testing::SocketSpec;

constexpr absl::Duration kDeadline = absl::Seconds(20);
// The server's bound on a follower's queue; the default (10,000) behaves
// the same, only slower to fill.
constexpr size_t kMaxBacklog = 200;

const v1::AddressOwner kServer = Container("10.0.1.6", "gpx-srv.1");

// A client socket on node-1 whose peer (kServer) stopped answering long
// ago; `port` tells sockets apart (each is a finding of its own).
v1::SocketRecord StuckSocket(uint32_t port, uint32_t queue) {
  SocketSpec spec;
  spec.local_port = port;
  spec.inode = 900000 + port;
  spec.send_queue = queue;
  spec.last_ack_recv_ms = 600000;
  spec.last_data_recv_ms = 600000;
  spec.unacked = 1;
  spec.backoff = 3;
  return Socket(spec);
}

std::vector<v1::SocketRecord> StuckSockets(int count, uint32_t queue) {
  std::vector<v1::SocketRecord> sockets;
  for (int i = 0; i < count; ++i)
    sockets.push_back(StuckSocket(1024 + i, queue));
  return sockets;
}

// "TYPE port": what a follower saw, compactly.
std::string Describe(const v1::FindingEvent& event) {
  return absl::StrCat(v1::FindingEventType_Name(event.type()), " ",
                      event.finding().socket().local_port());
}

class WatchFindingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LoopbackAggregatorOptions options;
    options.max_watch_backlog = kMaxBacklog;
    absl::StatusOr<std::unique_ptr<LoopbackAggregator>> started =
        LoopbackAggregator::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    aggregator_ = std::move(*started);
    query_ = v1::Query::NewStub(aggregator_->NewChannel());

    // The server held its address a minute ago and let go of it.
    Engine& engine = aggregator_->engine();
    v1::Hello hello;
    hello.set_node("node-2");
    hello.set_agent_instance("srv-agent");
    ASSERT_TRUE(engine.Hello(hello).ok());
    v1::AddressEventBatch batch;
    *batch.add_events() = Attach(1, now_ - absl::Seconds(60), kServer);
    *batch.add_events() = Detach(2, now_ - absl::Seconds(30), kServer);
    ASSERT_TRUE(engine.IngestAddressEvents("node-2", "srv-agent", batch).ok());
    hello.set_node("node-1");
    hello.set_agent_instance("cli-agent");
    ASSERT_TRUE(engine.Hello(hello).ok());
  }

  // node-1 now holds exactly `sockets` (a full snapshot).
  void Report(const std::vector<v1::SocketRecord>& sockets) {
    const absl::Time now = absl::Now();
    absl::StatusOr<v1::Ack> ack = aggregator_->engine().IngestSnapshot(
        "node-1", "cli-agent", Full(++snapshot_id_, now, sockets), now);
    ASSERT_TRUE(ack.ok()) << ack.status();
  }

  std::unique_ptr<grpc::ClientReader<v1::FindingEvent>> Watch(
      grpc::ClientContext& context, const std::string& node = "") {
    context.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
    v1::WatchFindingsRequest request;
    request.mutable_filter()->set_node(node);
    return query_->WatchFindings(&context, request);
  }

  // Reads `count` events (fewer if the stream ends first).
  static std::vector<std::string> Read(grpc::ClientReader<v1::FindingEvent>& in,
                                       int count) {
    std::vector<std::string> seen;
    v1::FindingEvent event;
    while (static_cast<int>(seen.size()) < count && in.Read(&event)) {
      seen.push_back(Describe(event));
    }
    return seen;
  }

  static grpc::Status Cancel(grpc::ClientContext& context,
                             grpc::ClientReader<v1::FindingEvent>& in) {
    context.TryCancel();
    v1::FindingEvent event;
    while (in.Read(&event)) {
    }
    return in.Finish();
  }

  const absl::Time now_ = absl::Now();
  uint64_t snapshot_id_ = 0;
  std::unique_ptr<LoopbackAggregator> aggregator_;
  std::unique_ptr<v1::Query::Stub> query_;
};

TEST_F(WatchFindingsTest, OpenFindingsFirstThenChangesAsTheyHappen) {
  Report({StuckSocket(1024, 720)});
  grpc::ClientContext context;
  auto watch = Watch(context);
  // The backlog: what is open at subscribe time, as OPENED.
  EXPECT_THAT(Read(*watch, 1), ElementsAre("OPENED 1024"));

  Report({StuckSocket(1024, 1440), StuckSocket(1025, 720)});
  std::vector<std::string> seen = Read(*watch, 2);
  EXPECT_THAT(seen,
              ::testing::UnorderedElementsAre("UPDATED 1024", "OPENED 1025"));
  Report({StuckSocket(1025, 720)});
  EXPECT_THAT(Read(*watch, 1), ElementsAre("CLOSED 1024"));
  EXPECT_EQ(Cancel(context, *watch).error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(WatchFindingsTest, TheFilterAppliesToBacklogAndChanges) {
  Report({StuckSocket(1024, 720)});
  grpc::ClientContext elsewhere_context;
  auto elsewhere = Watch(elsewhere_context, "node-9");
  grpc::ClientContext here_context;
  auto here = Watch(here_context, "node-1");
  EXPECT_THAT(Read(*here, 1), ElementsAre("OPENED 1024"));
  Report({});
  EXPECT_THAT(Read(*here, 1), ElementsAre("CLOSED 1024"));
  // node-9's follower heard of none of it.
  elsewhere_context.TryCancel();
  v1::FindingEvent event;
  EXPECT_FALSE(elsewhere->Read(&event)) << Describe(event);
  EXPECT_EQ(elsewhere->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(Cancel(here_context, *here).error_code(),
            grpc::StatusCode::CANCELLED);
}

// There is no resume token: a follower that reconnects is caught up by the
// backlog — every finding open now, as OPENED — and never hears of one
// that opened and closed while it was away.
TEST_F(WatchFindingsTest, AReconnectingFollowerIsCaughtUpByTheBacklog) {
  Report({StuckSocket(1024, 720)});
  {
    grpc::ClientContext context;
    auto watch = Watch(context);
    EXPECT_THAT(Read(*watch, 1), ElementsAre("OPENED 1024"));
    EXPECT_EQ(Cancel(context, *watch).error_code(),
              grpc::StatusCode::CANCELLED);
  }
  // Away: 1025 opens and closes, 1026 opens, 1024 stays open.
  Report({StuckSocket(1024, 720), StuckSocket(1025, 720)});
  Report({StuckSocket(1024, 720), StuckSocket(1026, 720)});

  grpc::ClientContext context;
  auto watch = Watch(context);
  EXPECT_THAT(Read(*watch, 2),
              ::testing::UnorderedElementsAre("OPENED 1024", "OPENED 1026"));
  Report({StuckSocket(1026, 720)});
  EXPECT_THAT(Read(*watch, 1), ElementsAre("CLOSED 1024"));
  EXPECT_EQ(Cancel(context, *watch).error_code(), grpc::StatusCode::CANCELLED);
}

// A follower that stops reading while more changes pile up than the
// server's bound is ended with RESOURCE_EXHAUSTED; what was already on its
// way still arrives, and the server keeps serving others.
TEST_F(WatchFindingsTest, AFollowerTooSlowIsEndedNotBufferedWithoutBound) {
  Report({StuckSocket(1024, 720)});
  grpc::ClientContext context;
  auto slow = Watch(context);
  // Subscribed once its backlog arrives. Then a flood it does not read:
  // the transport's flow-control window holds some events (about a hundred
  // of these), the server's queue the rest, up to its bound.
  ASSERT_THAT(Read(*slow, 1), ElementsAre("OPENED 1024"));
  const int kFlood = 3000;
  Report(StuckSockets(kFlood, 720));

  int received = 0;
  v1::FindingEvent event;
  while (slow->Read(&event)) ++received;
  grpc::Status status = slow->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message() << " after " << received << " events";
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat(kMaxBacklog, " events behind")));
  EXPECT_GT(received, 0);
  EXPECT_LT(received, kFlood - 1);

  // Others are unaffected: a new follower gets the whole backlog.
  grpc::ClientContext fresh_context;
  auto fresh = Watch(fresh_context);
  EXPECT_EQ(Read(*fresh, kFlood).size(), static_cast<size_t>(kFlood));
  EXPECT_EQ(Cancel(fresh_context, *fresh).error_code(),
            grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace ghostpeer::aggregator
