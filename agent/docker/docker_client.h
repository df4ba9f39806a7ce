// Typed calls on the Docker Engine API over a DockerTransport: paths and
// query strings built here, bodies parsed by docker_api.h, HTTP statuses
// turned into absl::Status codes. No state beyond the transport pointer.
#ifndef GHOSTPEER_AGENT_DOCKER_DOCKER_CLIENT_H_
#define GHOSTPEER_AGENT_DOCKER_DOCKER_CLIENT_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/docker/docker_api.h"
#include "agent/docker/docker_transport.h"

namespace ghostpeer::agent::docker {

// The /events filter the watcher needs: container start/die/destroy and
// network connect/disconnect, URL-encoded.
std::string EventsPath(absl::Time since);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(absl::string_view text);

class DockerClient {
 public:
  // `transport` is not owned and must outlive the client. Thread-safe if the
  // transport is (CurlDockerTransport is).
  explicit DockerClient(DockerTransport* transport) : transport_(transport) {}

  // Error codes shared by every call: Unavailable when dockerd cannot be
  // reached, InvalidArgument for a body that does not parse, Internal for an
  // unexpected HTTP status (with the daemon's message).

  absl::StatusOr<Info> GetInfo();
  // GET /containers/json?all=1.
  absl::StatusOr<std::vector<ContainerSummary>> ListContainers();
  // GET /containers/{id}/json. NotFound when the container does not exist;
  // InvalidArgument for an id that is not [A-Za-z0-9_.-]+.
  absl::StatusOr<ContainerDetails> InspectContainer(const std::string& id);
  // Manager-only calls: FailedPrecondition when the node is not a swarm
  // manager (HTTP 503) or not in a swarm.
  absl::StatusOr<std::vector<Task>> ListTasks();
  absl::StatusOr<std::vector<Service>> ListServices();
  absl::StatusOr<std::vector<Node>> ListNodes();
  absl::StatusOr<std::vector<Network>> ListNetworks();

  // Follows GET /events from `since` (dockerd replays up to 256 buffered
  // events from then), calling `on_event` with each parsed event, or with
  // the parse error of a line that is not a valid event. Returns as
  // DockerTransport::Stream does (Cancelled once `should_stop`, Unavailable
  // when the connection ends).
  absl::Status StreamEvents(
      absl::Time since,
      const std::function<void(absl::StatusOr<Event>)>& on_event,
      const std::function<bool()>& should_stop);

 private:
  // GET `path` and require HTTP 200; `what` names the call in errors.
  absl::StatusOr<std::string> GetOk(const std::string& path,
                                    absl::string_view what);

  DockerTransport* const transport_;
};

}  // namespace ghostpeer::agent::docker

#endif  // GHOSTPEER_AGENT_DOCKER_DOCKER_CLIENT_H_
