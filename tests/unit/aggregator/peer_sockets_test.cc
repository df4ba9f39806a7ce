// MergePeerSockets over a fake peer client: which replicas are asked and
// for what, the merged order and limit, what a failing or lying peer
// leaves behind.
#include "aggregator/peer_sockets.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ghostpeer::aggregator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Answers per peer address what the test set; records every question.
class FakePeers final : public PeerSocketClient {
 public:
  absl::StatusOr<v1::ListSocketsResponse> ListSockets(
      const std::string& peer_address,
      const v1::ListSocketsRequest& request) override {
    asked.emplace_back(peer_address, request);
    auto it = answers.find(peer_address);
    if (it == answers.end()) return absl::UnavailableError("no answer");
    return it->second;
  }

  std::map<std::string, absl::StatusOr<v1::ListSocketsResponse>> answers;
  std::vector<std::pair<std::string, v1::ListSocketsRequest>> asked;
};

v1::SocketRecord Record(const std::string& node, uint32_t local_port) {
  v1::SocketRecord record;
  record.set_node(node);
  record.set_local_port(local_port);
  return record;
}

void Add(v1::ListSocketsResponse& response, const std::string& node,
         uint32_t local_port) {
  *response.add_sockets() = Record(node, local_port);
}

// node:port of each record, in order.
std::vector<std::string> Listed(const v1::ListSocketsResponse& response) {
  std::vector<std::string> listed;
  for (const v1::SocketRecord& record : response.sockets()) {
    listed.push_back(record.node() + ":" + std::to_string(record.local_port()));
  }
  return listed;
}

const PeerAddresses kPeers = {{"a:7070", "10.0.0.1:40001"},
                              {"c:7070/00ff", "10.0.0.3:40003"}};

TEST(MergePeerSocketsTest, NothingServedElsewhereAsksNobody) {
  FakePeers peers;
  v1::ListSocketsResponse local;
  Add(local, "node-b", 1);
  v1::ListSocketsResponse merged =
      MergePeerSockets(local, {}, 10, kPeers, peers);
  EXPECT_THAT(Listed(merged), ElementsAre("node-b:1"));
  EXPECT_THAT(peers.asked, IsEmpty());
}

TEST(MergePeerSocketsTest, AsksTheServingReplicaForTheNodeAndMergesByNode) {
  FakePeers peers;
  v1::ListSocketsResponse local;
  Add(local, "node-b", 1);
  (*local.mutable_served_elsewhere())["node-a"] = "a:7070";
  v1::ListSocketsResponse from_a;
  Add(from_a, "node-a", 7);
  Add(from_a, "node-a", 3);  // snapshot order, kept
  peers.answers["10.0.0.1:40001"] = from_a;

  v1::ListSocketsRequest request;
  request.set_state(v1::TCP_STATE_ESTABLISHED);
  request.set_remote_ip("10.0.9.9");
  v1::ListSocketsResponse merged =
      MergePeerSockets(local, request, 10, kPeers, peers);
  EXPECT_THAT(Listed(merged), ElementsAre("node-a:7", "node-a:3", "node-b:1"));
  EXPECT_FALSE(merged.truncated());
  EXPECT_THAT(merged.served_elsewhere(), IsEmpty());
  ASSERT_EQ(peers.asked.size(), 1u);
  EXPECT_EQ(peers.asked[0].first, "10.0.0.1:40001");
  const v1::ListSocketsRequest& question = peers.asked[0].second;
  EXPECT_EQ(question.node(), "node-a");
  EXPECT_EQ(question.limit(), 10u);
  EXPECT_EQ(question.state(), v1::TCP_STATE_ESTABLISHED);
  EXPECT_EQ(question.remote_ip(), "10.0.9.9");
}

TEST(MergePeerSocketsTest, SeveralNodesOfOneReplicaTakeOneQuestion) {
  FakePeers peers;
  v1::ListSocketsResponse local;
  (*local.mutable_served_elsewhere())["node-a"] = "a:7070";
  (*local.mutable_served_elsewhere())["node-d"] = "a:7070";
  v1::ListSocketsResponse from_a;
  Add(from_a, "node-a", 1);
  Add(from_a, "node-d", 2);
  peers.answers["10.0.0.1:40001"] = from_a;
  v1::ListSocketsResponse merged =
      MergePeerSockets(local, {}, 10, kPeers, peers);
  EXPECT_THAT(Listed(merged), ElementsAre("node-a:1", "node-d:2"));
  ASSERT_EQ(peers.asked.size(), 1u);
  EXPECT_EQ(peers.asked[0].second.node(), "");
}

TEST(MergePeerSocketsTest, SilentOrUnknownReplicasLeaveTheirNodesNoted) {
  FakePeers peers;  // answers nobody
  v1::ListSocketsResponse local;
  Add(local, "node-b", 1);
  (*local.mutable_served_elsewhere())["node-a"] = "a:7070";
  (*local.mutable_served_elsewhere())["node-x"] = "gone:7070";
  v1::ListSocketsResponse merged =
      MergePeerSockets(local, {}, 10, kPeers, peers);
  EXPECT_THAT(Listed(merged), ElementsAre("node-b:1"));
  EXPECT_THAT(merged.served_elsewhere(),
              UnorderedElementsAre(Pair("node-a", "a:7070"),
                                   Pair("node-x", "gone:7070")));
  ASSERT_EQ(peers.asked.size(), 1u);  // gone:7070 has no fresh address
}

TEST(MergePeerSocketsTest, TheLimitCutsTheMergedOrder) {
  FakePeers peers;
  v1::ListSocketsResponse local;
  Add(local, "node-b", 1);
  Add(local, "node-b", 2);
  (*local.mutable_served_elsewhere())["node-a"] = "a:7070";
  v1::ListSocketsResponse from_a;
  Add(from_a, "node-a", 5);
  Add(from_a, "node-a", 6);
  peers.answers["10.0.0.1:40001"] = from_a;
  v1::ListSocketsResponse merged =
      MergePeerSockets(local, {}, 3, kPeers, peers);
  EXPECT_THAT(Listed(merged), ElementsAre("node-a:5", "node-a:6", "node-b:1"));
  EXPECT_TRUE(merged.truncated());
}

TEST(MergePeerSocketsTest, ATruncatedPeerTruncatesTheAnswer) {
  FakePeers peers;
  v1::ListSocketsResponse local;
  (*local.mutable_served_elsewhere())["node-a"] = "a:7070";
  v1::ListSocketsResponse from_a;
  Add(from_a, "node-a", 5);
  from_a.set_truncated(true);
  peers.answers["10.0.0.1:40001"] = from_a;
  EXPECT_TRUE(MergePeerSockets(local, {}, 1, kPeers, peers).truncated());
}

TEST(MergePeerSocketsTest, APeerIsNotBelievedBeyondWhatItWasAsked) {
  FakePeers peers;
  v1::ListSocketsResponse local;
  Add(local, "node-b", 1);
  (*local.mutable_served_elsewhere())["node-a"] = "a:7070";
  v1::ListSocketsResponse from_a;
  Add(from_a, "node-b", 99);  // this replica's node: not a's to say
  Add(from_a, "node-z", 98);  // never asked about
  for (uint32_t port = 10; port < 20; ++port) Add(from_a, "node-a", port);
  peers.answers["10.0.0.1:40001"] = from_a;
  v1::ListSocketsResponse merged =
      MergePeerSockets(local, {}, 3, kPeers, peers);
  EXPECT_THAT(Listed(merged),
              ElementsAre("node-a:10", "node-a:11", "node-a:12"));
  EXPECT_TRUE(merged.truncated());
}

TEST(MergePeerSocketsTest, ANodeThePeerNoLongerServesStaysNoted) {
  FakePeers peers;
  v1::ListSocketsResponse local;
  (*local.mutable_served_elsewhere())["node-a"] = "a:7070";
  v1::ListSocketsResponse from_a;
  (*from_a.mutable_served_elsewhere())["node-a"] = "c:7070/00ff";
  peers.answers["10.0.0.1:40001"] = from_a;
  v1::ListSocketsResponse merged =
      MergePeerSockets(local, {}, 10, kPeers, peers);
  EXPECT_THAT(merged.sockets(), IsEmpty());
  EXPECT_THAT(merged.served_elsewhere(),
              UnorderedElementsAre(Pair("node-a", "a:7070")));
}

}  // namespace
}  // namespace ghostpeer::aggregator
