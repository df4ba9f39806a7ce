// ListSockets across aggregator replicas sharing one PostgreSQL store
// (issue 12): a replica holds only the sockets of agents streaming to it,
// so for a node another replica serves it asks that replica (fan-out)
// instead of storing every live socket in the database (10 million sockets
// rewritten every 5 s is no load for a shared database).
//
// A fan-out request carries kPeerQueryHeader; a replica answering one
// answers from its own memory only, so a request never travels further
// than one hop, whatever the replicas believe about each other.
#ifndef GHOSTPEER_AGGREGATOR_PEER_SOCKETS_H_
#define GHOSTPEER_AGGREGATOR_PEER_SOCKETS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aggregator/engine.h"
#include "aggregator/query_service.h"
#include "aggregator/replica_directory.h"
#include "ghostpeer/v1/query.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ghostpeer::aggregator {

// Metadata key marking a replica's question to another replica: answer
// from memory, never ask further.
inline constexpr char kPeerQueryHeader[] = "ghostpeer-peer-query";

// Asks one replica, at its peer address, for sockets.
class PeerSocketClient {
 public:
  virtual ~PeerSocketClient() = default;
  // The replica's own answer (it must not fan out); any error when it does
  // not answer in time.
  virtual absl::StatusOr<v1::ListSocketsResponse> ListSockets(
      const std::string& peer_address,
      const v1::ListSocketsRequest& request) = 0;
};

// Replica name -> peer address, of replicas heard from recently.
using PeerAddresses = absl::flat_hash_map<std::string, std::string>;

// Completes `local` (this replica's ListSockets answer to `request`, at
// most `limit` records) with the sockets of the nodes it lists in
// served_elsewhere, asked of the replicas serving them when `peers` knows
// their address. Each replica is asked once, for `limit` records: its nodes
// may sort before this replica's, so the merged first `limit` records (by
// node name, then snapshot order, as ListSockets answers) may all be its.
// A node leaves served_elsewhere only when its replica answered and did
// not itself say another serves it; a replica that fails or is unknown
// leaves its nodes there, and the query still succeeds.
//
// A peer's answer is not trusted: records of nodes it was not asked about
// are dropped, and at most `limit` records are taken from it.
v1::ListSocketsResponse MergePeerSockets(v1::ListSocketsResponse local,
                                         const v1::ListSocketsRequest& request,
                                         uint32_t limit,
                                         const PeerAddresses& peers,
                                         PeerSocketClient& client);

struct GrpcPeerSocketClientOptions {
  // Null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Sent as "authorization: Bearer <token>" when not empty (the cluster
  // token: the only one allowed to query).
  std::string token;
  absl::Duration deadline = absl::Seconds(2);
  int max_message_bytes = 64 << 20;
  // TLS: channel arguments (server name override), as the CLI's.
  grpc::ChannelArguments channel_arguments;
};

// Over gRPC: one channel per peer address, kept for later questions.
class GrpcPeerSocketClient final : public PeerSocketClient {
 public:
  explicit GrpcPeerSocketClient(GrpcPeerSocketClientOptions options);
  absl::StatusOr<v1::ListSocketsResponse> ListSockets(
      const std::string& peer_address,
      const v1::ListSocketsRequest& request) override;

 private:
  // At most this many channels are kept (replica names come and go).
  static constexpr size_t kMaxChannels = 64;
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& peer_address);

  const GrpcPeerSocketClientOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_
      ABSL_GUARDED_BY(mu_);
};

// QueryService's SocketFanOut for a replica: MergePeerSockets over the
// fresh replicas `directory` knows, through `client`, within the Engine's
// limit for the request. All three must outlive the function.
SocketFanOut MakeSocketFanOut(const Engine* engine,
                              const ReplicaDirectory* directory,
                              PeerSocketClient* client);

}  // namespace ghostpeer::aggregator

#endif  // GHOSTPEER_AGGREGATOR_PEER_SOCKETS_H_
