// What the agent knows about a container beyond its id. The capture code
// (sockets, namespaces) finds container ids from cgroups; a ContainerResolver
// (Docker, in agent/docker/) fills in the rest when one is configured.
#ifndef GHOSTPEER_AGENT_CONTAINER_INFO_H_
#define GHOSTPEER_AGENT_CONTAINER_INFO_H_

#include <map>
#include <optional>
#include <string>

#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

struct ContainerInfo {
  std::string id;       // 64 hex characters
  std::string name;     // without the leading '/'
  std::string service;  // com.docker.swarm.service.name, empty if none
  std::string task;     // com.docker.swarm.task.name (e.g. "srv.1.<taskid>")
  std::string task_slot;
  std::string node_id;  // com.docker.swarm.node.id
  std::string image;
  int pid =
      0;  // the container's init pid (host pid namespace), 0 if not running
  // The addresses Docker says the container holds, with the scope of each
  // one's network (agent/docker/address_book.h ScopeOfNetwork).
  std::map<std::string, v1::AddressScope> address_scopes;
};

// Looks up container identities. Implementations must be thread-safe: the
// snapshotter and the reporter may call from different threads.
class ContainerResolver {
 public:
  virtual ~ContainerResolver() = default;
  // Returns what is known of `container_id`, or nullopt if nothing is.
  // Never blocks on the network for long: implementations answer from a
  // cache kept fresh elsewhere.
  virtual std::optional<ContainerInfo> Lookup(
      const std::string& container_id) = 0;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_CONTAINER_INFO_H_
