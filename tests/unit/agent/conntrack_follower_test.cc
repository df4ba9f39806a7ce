#include "agent/conntrack_follower.h"

#include <linux/netlink.h>
#include <netinet/in.h>

#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "agent/translation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Events recorded on Linux 6.18 by tests/support/record_conntrack_events.sh,
// one message per datagram, in this order: a TCP connection to the VIP
// 10.77.9.9:8080 DNAT'ed to 10.77.2.11:8080 (NEW); its entry removed with
// `conntrack -D` (DESTROY, sent with conntrack's port id); the VIP re-pointed
// to 10.77.2.12 and the same socket sending again, which re-DNATs the flow
// to the new backend (NEW), then RST (DESTROY); a UDP flow to the DNAT'ed
// 10.77.9.9:5353 (NEW); a UDP flow without NAT (NEW, skipped); the table
// flushed (DESTROY of both, the second skipped).
const std::vector<uint8_t> kEvents =
    test::ReadTestdata("agent/conntrack_events.nlbin");

std::vector<std::vector<uint8_t>> Datagrams(const std::vector<uint8_t>& bytes) {
  std::vector<std::vector<uint8_t>> datagrams;
  size_t offset = 0;
  while (offset + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr header;
    std::memcpy(&header, bytes.data() + offset, sizeof(header));
    const size_t length = NLMSG_ALIGN(header.nlmsg_len);
    if (header.nlmsg_len < sizeof(header) || offset + length > bytes.size()) {
      break;
    }
    datagrams.emplace_back(bytes.begin() + offset,
                           bytes.begin() + offset + length);
    offset += length;
  }
  return datagrams;
}

std::string Backend(const Translation& t) {
  return t.backend_ip + ":" + std::to_string(t.backend_port);
}

std::vector<std::string> Backends(const std::vector<Translation>& flows) {
  std::vector<std::string> backends;
  for (const Translation& t : flows) backends.push_back(Backend(t));
  return backends;
}

Translation Flow(Translator translator, const std::string& client,
                 uint16_t client_port, const std::string& backend) {
  Translation t;
  t.translator = translator;
  t.protocol = IPPROTO_TCP;
  t.client_ip = client;
  t.client_port = client_port;
  t.service_ip = "10.77.9.9";
  t.service_port = 8080;
  t.backend_ip = backend;
  t.backend_port = 8080;
  t.state = "ESTABLISHED";
  return t;
}

TEST(ParseConntrackEvents, RecordedEventsInOrder) {
  ASSERT_FALSE(kEvents.empty())
      << "tests/testdata/agent/conntrack_events.nlbin";
  std::vector<ConntrackEvent> events;
  const absl::Status status = ParseConntrackEvents(kEvents, &events);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(events.size(), 6u);  // not the two of the flow without NAT
  using Kind = ConntrackEvent::Kind;
  const Kind kinds[] = {Kind::kNew,     Kind::kDestroy, Kind::kNew,
                        Kind::kDestroy, Kind::kNew,     Kind::kDestroy};
  const char* backends[] = {"10.77.2.11:8080", "10.77.2.11:8080",
                            "10.77.2.12:8080", "10.77.2.12:8080",
                            "10.77.2.12:5353", "10.77.2.12:5353"};
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].kind, kinds[i]) << i;
    EXPECT_EQ(Backend(events[i].flow), backends[i]) << i;
    EXPECT_EQ(events[i].flow.translator, Translator::kConntrack);
    EXPECT_EQ(events[i].flow.service_ip, "10.77.9.9");
  }
  // The re-DNAT keeps the original tuple: the same socket.
  EXPECT_EQ(events[0].flow.client_port, events[2].flow.client_port);
  EXPECT_EQ(events[0].flow.protocol, IPPROTO_TCP);
  EXPECT_EQ(events[0].flow.state, "SYN_SENT");
  EXPECT_EQ(events[4].flow.protocol, IPPROTO_UDP);
  EXPECT_EQ(events[4].flow.state, "UNREPLIED");
}

TEST(ParseConntrackEvents, TruncatedMessageIsInvalidAndKeepsWhatCameBefore) {
  const std::vector<std::vector<uint8_t>> datagrams = Datagrams(kEvents);
  ASSERT_GE(datagrams.size(), 2u);
  std::vector<uint8_t> bytes = datagrams[0];
  bytes.insert(bytes.end(), datagrams[1].begin(), datagrams[1].end() - 8);
  std::vector<ConntrackEvent> events;
  EXPECT_TRUE(absl::IsInvalidArgument(ParseConntrackEvents(bytes, &events)));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, ConntrackEvent::Kind::kNew);
}

TEST(ConntrackFlowTable, FollowsTheRecordedEventsThroughTheReDnat) {
  const std::vector<std::vector<uint8_t>> datagrams = Datagrams(kEvents);
  ASSERT_EQ(datagrams.size(), 8u);
  ConntrackFlowTable table;
  std::vector<std::vector<std::string>> seen;
  size_t applied = 0;
  for (const std::vector<uint8_t>& datagram : datagrams) {
    ASSERT_TRUE(table.ApplyDatagram(datagram, &applied).ok());
    seen.push_back(Backends(table.Flows()));
  }
  EXPECT_EQ(applied, 6u);
  EXPECT_THAT(seen[0], ElementsAre("10.77.2.11:8080"));
  EXPECT_THAT(seen[1], IsEmpty());                       // conntrack -D
  EXPECT_THAT(seen[2], ElementsAre("10.77.2.12:8080"));  // the new backend
  EXPECT_THAT(seen[3], IsEmpty());
  EXPECT_THAT(seen[4], ElementsAre("10.77.2.12:5353"));
  EXPECT_THAT(seen[5], ElementsAre("10.77.2.12:5353"));  // no NAT: not kept
  EXPECT_THAT(seen[7], IsEmpty());
}

TEST(ConntrackFlowTable, NewOfAnEntryTheDumpHadChangesNothing) {
  std::vector<ConntrackEvent> events;
  ASSERT_TRUE(ParseConntrackEvents(Datagrams(kEvents)[0], &events).ok());
  ASSERT_EQ(events.size(), 1u);
  ConntrackFlowTable table;
  table.Reset({events[0].flow});
  table.Apply(events[0]);
  table.Apply(events[0]);
  EXPECT_EQ(table.Flows(), std::vector<Translation>{events[0].flow});
}

TEST(ConntrackFlowTable, DestroyOfAnOlderEntryKeepsItsSuccessor) {
  const Translation old_entry =
      Flow(Translator::kConntrack, "10.0.0.1", 40000, "10.77.2.11");
  const Translation successor =
      Flow(Translator::kConntrack, "10.0.0.1", 40000, "10.77.2.12");
  ConntrackFlowTable table;
  table.Apply({ConntrackEvent::Kind::kNew, old_entry});
  table.Apply({ConntrackEvent::Kind::kNew, successor});
  table.Apply({ConntrackEvent::Kind::kDestroy, old_entry});
  EXPECT_THAT(Backends(table.Flows()), ElementsAre("10.77.2.12:8080"));
  table.Apply({ConntrackEvent::Kind::kDestroy, successor});
  EXPECT_EQ(table.size(), 0u);
}

TEST(ConntrackFlowTable, ResetKeepsConntrackFlowsOnly) {
  ConntrackFlowTable table;
  table.Apply({ConntrackEvent::Kind::kNew,
               Flow(Translator::kConntrack, "10.0.0.9", 1, "10.77.2.11")});
  table.Reset({Flow(Translator::kConntrack, "10.0.0.1", 1, "10.77.2.11"),
               Flow(Translator::kIpvs, "10.0.0.2", 2, "10.77.2.12")});
  EXPECT_THAT(Backends(table.Flows()), ElementsAre("10.77.2.11:8080"));
  EXPECT_EQ(table.Flows()[0].client_ip, "10.0.0.1");
}

// Datagrams or errors handed out in order, one batch per Drain.
class FakeEvents final : public ConntrackEventSource {
 public:
  struct Batch {
    std::vector<std::vector<uint8_t>> datagrams;
    absl::Status end = absl::OkStatus();
  };
  explicit FakeEvents(std::deque<Batch>* batches) : batches_(batches) {}
  absl::Status Drain(
      size_t max_datagrams,
      const std::function<absl::Status(absl::Span<const uint8_t>)>& on_datagram)
      override {
    if (batches_->empty()) return absl::OkStatus();
    Batch batch = std::move(batches_->front());
    batches_->pop_front();
    size_t handed = 0;
    for (const std::vector<uint8_t>& datagram : batch.datagrams) {
      if (handed++ == max_datagrams) break;
      absl::Status status = on_datagram(datagram);
      if (!status.ok()) return status;
    }
    return batch.end;
  }

 private:
  std::deque<FakeEvents::Batch>* batches_;
};

class ConntrackFollowerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ConntrackFollower> Make(int resync_every) {
    ConntrackFollowerOptions options;
    options.resync_every = resync_every;
    return std::make_unique<ConntrackFollower>(
        std::make_unique<FakeEvents>(&batches_),
        [this] {
          ++full_reads_;
          return full_;
        },
        [this] {
          ++ipvs_reads_;
          NamespaceTranslations ipvs;
          ipvs.flows = {ipvs_flow_};
          return ipvs;
        },
        options);
  }
  // The recorded datagram `i`.
  static std::vector<uint8_t> Event(size_t i) { return Datagrams(kEvents)[i]; }

  std::deque<FakeEvents::Batch> batches_;
  NamespaceTranslations full_;
  const Translation ipvs_flow_ =
      Flow(Translator::kIpvs, "10.0.0.5", 5, "10.0.1.8");
  int full_reads_ = 0;
  int ipvs_reads_ = 0;
};

TEST_F(ConntrackFollowerTest, ReadsOnceThenFollowsTheEvents) {
  full_.flows = {Flow(Translator::kConntrack, "10.0.0.1", 1, "10.77.2.13"),
                 ipvs_flow_};
  std::unique_ptr<ConntrackFollower> follower = Make(0);
  // Queued while the first read ran: NEW .11.
  batches_.push_back({{Event(0)}});
  NamespaceTranslations first = follower->Read();
  EXPECT_EQ(full_reads_, 1);
  EXPECT_THAT(Backends(first.flows),
              UnorderedElementsAre("10.77.2.13:8080", "10.77.2.11:8080",
                                   "10.0.1.8:8080"));
  // conntrack -D, then the retransmission re-DNATs to .12.
  batches_.push_back({{Event(1), Event(2)}});
  NamespaceTranslations second = follower->Read();
  EXPECT_EQ(full_reads_, 1);
  EXPECT_EQ(ipvs_reads_, 1);
  EXPECT_THAT(Backends(second.flows),
              UnorderedElementsAre("10.77.2.13:8080", "10.77.2.12:8080",
                                   "10.0.1.8:8080"));
  EXPECT_EQ(follower->events(), 3u);
  EXPECT_EQ(follower->resyncs(), 1u);
}

TEST_F(ConntrackFollowerTest, LostEventsResync) {
  std::unique_ptr<ConntrackFollower> follower = Make(0);
  follower->Read();
  // One event came through, then the buffer overflowed.
  batches_.push_back({{Event(0)}, absl::ResourceExhaustedError("ENOBUFS")});
  full_.flows = {Flow(Translator::kConntrack, "10.0.0.1", 1, "10.77.2.13")};
  NamespaceTranslations read = follower->Read();
  EXPECT_EQ(full_reads_, 2);
  EXPECT_THAT(Backends(read.flows), ElementsAre("10.77.2.13:8080"));
}

TEST_F(ConntrackFollowerTest, AnEventThatDoesNotParseResyncs) {
  std::unique_ptr<ConntrackFollower> follower = Make(0);
  follower->Read();
  std::vector<uint8_t> cut = Event(0);
  cut.resize(cut.size() - 8);
  batches_.push_back({{cut}});
  follower->Read();
  EXPECT_EQ(full_reads_, 2);
  follower->Read();
  EXPECT_EQ(full_reads_, 2);
}

TEST_F(ConntrackFollowerTest, ResyncsEveryNReadsAndAfterAnIncompleteRead) {
  std::unique_ptr<ConntrackFollower> follower = Make(3);
  for (int i = 0; i < 7; ++i) follower->Read();
  EXPECT_EQ(full_reads_, 3);  // reads 1, 4 and 7
  full_.error = "conntrack: more than 10 NAT flows";
  NamespaceTranslations read = follower->Read();
  EXPECT_EQ(full_reads_, 3);  // read 8 follows
  EXPECT_TRUE(read.error.empty());
  follower->Read();
  follower->Read();
  EXPECT_EQ(full_reads_, 4);  // read 10 resyncs, incompletely
  read = follower->Read();
  EXPECT_EQ(full_reads_, 5);  // so read 11 does again
  EXPECT_EQ(read.error, full_.error);
}

TEST_F(ConntrackFollowerTest, EventsLostDuringTheResyncResyncAgain) {
  std::unique_ptr<ConntrackFollower> follower = Make(0);
  batches_.push_back({{}, absl::ResourceExhaustedError("ENOBUFS")});
  follower->Read();
  follower->Read();
  EXPECT_EQ(full_reads_, 2);
  follower->Read();
  EXPECT_EQ(full_reads_, 2);
}

}  // namespace
}  // namespace ghostpeer::agent
