#include "aggregator/peer_sockets.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace ghostpeer::aggregator {

v1::ListSocketsResponse MergePeerSockets(v1::ListSocketsResponse local,
                                         const v1::ListSocketsRequest& request,
                                         uint32_t limit,
                                         const PeerAddresses& peers,
                                         PeerSocketClient& client) {
  if (local.served_elsewhere().empty()) return local;
  // Ordered, so that replicas are asked in the same order every time.
  absl::btree_map<std::string, absl::flat_hash_set<std::string>> asked;
  for (const auto& [node, replica] : local.served_elsewhere()) {
    if (peers.contains(replica)) asked[replica].insert(node);
  }
  if (asked.empty()) return local;

  std::vector<v1::SocketRecord> merged(
      std::make_move_iterator(local.mutable_sockets()->begin()),
      std::make_move_iterator(local.mutable_sockets()->end()));
  local.clear_sockets();
  bool truncated = local.truncated();
  for (const auto& [replica, nodes] : asked) {
    v1::ListSocketsRequest question = request;
    question.set_limit(limit);
    // One node: the peer walks only it. Several (no node filter): the
    // peer's whole answer, of which only these nodes are kept.
    if (nodes.size() == 1) question.set_node(*nodes.begin());
    absl::StatusOr<v1::ListSocketsResponse> answer =
        client.ListSockets(peers.at(replica), question);
    if (!answer.ok()) {
      GP_LOG_DEBUG("sockets of replica {}: {}", replica,
                   answer.status().ToString());
      continue;
    }
    uint32_t taken = 0;
    for (v1::SocketRecord& record : *answer->mutable_sockets()) {
      if (!nodes.contains(record.node())) continue;
      if (taken == limit) {
        truncated = true;
        break;
      }
      merged.push_back(std::move(record));
      ++taken;
    }
    if (answer->truncated()) truncated = true;
    for (const std::string& node : nodes) {
      // The peer lost the node's stream meanwhile: still not here.
      if (answer->served_elsewhere().contains(node)) continue;
      local.mutable_served_elsewhere()->erase(node);
    }
  }
  // Stable: each node's records keep their snapshot order, and no node
  // comes from two sources (served_elsewhere nodes have no local records).
  std::stable_sort(merged.begin(), merged.end(),
                   [](const v1::SocketRecord& a, const v1::SocketRecord& b) {
                     return a.node() < b.node();
                   });
  if (merged.size() > limit) {
    merged.resize(limit);
    truncated = true;
  }
  local.mutable_sockets()->Reserve(static_cast<int>(merged.size()));
  for (v1::SocketRecord& record : merged) {
    *local.add_sockets() = std::move(record);
  }
  local.set_truncated(truncated);
  return local;
}

SocketFanOut MakeSocketFanOut(const Engine* engine,
                              const ReplicaDirectory* directory,
                              PeerSocketClient* client) {
  return [engine, directory, client](v1::ListSocketsResponse local,
                                     const v1::ListSocketsRequest& request) {
    return MergePeerSockets(std::move(local), request,
                            engine->ListSocketsLimit(request),
                            directory->PeerAddresses(), *client);
  };
}

GrpcPeerSocketClient::GrpcPeerSocketClient(GrpcPeerSocketClientOptions options)
    : options_(std::move(options)) {}

std::shared_ptr<grpc::Channel> GrpcPeerSocketClient::ChannelTo(
    const std::string& peer_address) {
  absl::MutexLock lock(&mu_);
  auto it = channels_.find(peer_address);
  if (it != channels_.end()) return it->second;
  if (channels_.size() >= kMaxChannels) channels_.clear();
  grpc::ChannelArguments arguments = options_.channel_arguments;
  arguments.SetMaxReceiveMessageSize(options_.max_message_bytes);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      peer_address,
      options_.credentials ? options_.credentials
                           : grpc::InsecureChannelCredentials(),
      arguments);
  channels_.emplace(peer_address, channel);
  return channel;
}

absl::StatusOr<v1::ListSocketsResponse> GrpcPeerSocketClient::ListSockets(
    const std::string& peer_address, const v1::ListSocketsRequest& request) {
  std::unique_ptr<v1::Query::Stub> stub =
      v1::Query::NewStub(ChannelTo(peer_address));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
  context.AddMetadata(kPeerQueryHeader, "1");
  if (!options_.token.empty()) {
    context.AddMetadata("authorization",
                        absl::StrCat("Bearer ", options_.token));
  }
  v1::ListSocketsResponse response;
  const grpc::Status status = stub->ListSockets(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("ListSockets at ", peer_address,
                                               ": ", status.error_message()));
  }
  return response;
}

}  // namespace ghostpeer::aggregator
