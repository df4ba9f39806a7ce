// The Docker Engine API 1.41 responses ghostpeer reads, as plain structs, and
// their parsers. Pure: bytes in, structs or a Status out; no I/O, no logging.
//
// Every parser is defensive: the daemon is another process, so a missing
// field reads as its zero value, a field of the wrong type or a body that is
// not JSON is InvalidArgument with the offending path in the message, and no
// input makes a parser crash or throw. The shapes were captured from Debian
// 12's docker.io 20.10.24 (tests/testdata/docker/).
#ifndef GHOSTPEER_AGENT_DOCKER_DOCKER_API_H_
#define GHOSTPEER_AGENT_DOCKER_DOCKER_API_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ghostpeer::agent::docker {

// Label keys swarm puts on every task container.
inline constexpr absl::string_view kLabelServiceName =
    "com.docker.swarm.service.name";
inline constexpr absl::string_view kLabelServiceId =
    "com.docker.swarm.service.id";
inline constexpr absl::string_view kLabelTaskName =
    "com.docker.swarm.task.name";
inline constexpr absl::string_view kLabelTaskId = "com.docker.swarm.task.id";
inline constexpr absl::string_view kLabelNodeId = "com.docker.swarm.node.id";
// A service's own label choosing ghostpeer's remediation for its clients
// (issue 11): "auto", "dry-run" or "off".
inline constexpr char kLabelRemediation[] = "ghostpeer.remediation";
// Longer label values than this are nobody's choice of "dry-run": dropped.
inline constexpr size_t kMaxRemediationLabelLength = 64;

using Labels = std::map<std::string, std::string>;

// One entry of NetworkSettings.Networks (list and inspect share the shape).
struct NetworkEndpoint {
  std::string network_name;  // the key in NetworkSettings.Networks
  std::string network_id;
  std::string ip_address;  // IPAddress: "" once the container has died
  int ip_prefix_len = 0;
  std::string global_ipv6_address;
  // IPAMConfig.IPv4Address/IPv6Address: the requested or swarm-assigned
  // address, which survives the container's death for swarm tasks.
  std::string ipam_ipv4_address;
  std::string ipam_ipv6_address;
};

// One element of GET /containers/json?all=1.
struct ContainerSummary {
  std::string id;
  std::string name;  // Names[0] without the leading '/'
  std::string image;
  Labels labels;
  std::string state;  // "running", "exited", "created", ...
  std::vector<NetworkEndpoint> networks;
};

// GET /containers/{id}/json.
struct ContainerDetails {
  std::string id;
  std::string name;      // without the leading '/'
  std::string image;     // Config.Image (the name it was run with)
  Labels labels;         // Config.Labels
  bool running = false;  // State.Running (true while paused, too)
  int pid = 0;           // State.Pid, 0 when not running
  absl::Time started_at = absl::InfinitePast();   // unset: InfinitePast
  absl::Time finished_at = absl::InfinitePast();  // unset: InfinitePast
  std::string sandbox_key;                        // NetworkSettings.SandboxKey
  std::vector<NetworkEndpoint> networks;
};

// One line of GET /events.
struct Event {
  std::string type;    // "container", "network", ...
  std::string action;  // "start", "die", "connect", ...
  std::string actor_id;
  Labels attributes;                       // Actor.Attributes
  absl::Time time = absl::InfinitePast();  // timeNano, else time
  // The container the event is about: the actor for container events,
  // Attributes.container for network events; "" otherwise.
  std::string container_id;
};

// One element of NetworksAttachments of a task.
struct TaskAttachment {
  std::string network_id;
  std::string network_name;
  std::vector<std::string> addresses;  // without the "/24" prefix length
};

// One element of GET /tasks (managers only).
struct Task {
  std::string id;
  std::string service_id;
  std::string node_id;
  int slot = 0;  // 0 for global services, which have no slot
  std::string desired_state;
  std::string state;  // Status.State
  absl::Time created_at = absl::InfinitePast();
  absl::Time status_time = absl::InfinitePast();  // Status.Timestamp
  std::string container_id;  // Status.ContainerStatus.ContainerID
  int pid = 0;
  std::vector<TaskAttachment> attachments;
};

struct VirtualIp {
  std::string network_id;
  std::string address;  // without the prefix length
};

// One element of GET /services (managers only).
struct Service {
  std::string id;
  std::string name;
  std::string mode;           // "replicated", "global", "replicated-job", ...
  std::string endpoint_mode;  // Spec.EndpointSpec.Mode: "vip", "dnsrr", ""
  absl::Time created_at = absl::InfinitePast();
  std::vector<VirtualIp> virtual_ips;  // Endpoint.VirtualIPs
  // Spec.Labels["ghostpeer.remediation"] as written, when present and
  // plausible: non-empty, at most kMaxRemediationLabelLength bytes of
  // printable ASCII (whoever may create a service chooses it; what it
  // means is the aggregator's to judge). Empty otherwise.
  std::string remediation_label;
};

// One element of GET /networks.
struct Network {
  std::string id;
  std::string name;
  std::string driver;
  std::string scope;
};

// One element of GET /nodes (managers only): the node as the managers see
// it.
struct Node {
  std::string id;
  std::string hostname;  // Description.Hostname
  std::string address;   // Status.Addr
  // Status.State: "ready", "down", "unknown", "disconnected". A node the
  // managers lost stays "down" while its tasks keep their last observed
  // state ("running").
  std::string state;
  std::string message;       // Status.Message ("heartbeat failure", ...)
  std::string availability;  // Spec.Availability: "active", "pause", "drain"
  std::string role;          // Spec.Role: "worker", "manager"
  // UpdatedAt: the managers' last change to the node; for a down node, when
  // they marked it down (or a later change). Unset: InfinitePast.
  absl::Time updated_at = absl::InfinitePast();
};

// The parts of GET /info that decide what the watcher may ask.
struct Info {
  std::string name;  // the daemon host's name
  std::string swarm_node_id;
  std::string swarm_state;  // Swarm.LocalNodeState: "active", "inactive", ...
  bool swarm_manager = false;  // Swarm.ControlAvailable
};

// Parsers. Each returns InvalidArgument for a body that is not JSON or whose
// top level has the wrong type, and for an element whose required identity
// (Id/ID) is missing or not a string. Optional fields of the wrong type are
// InvalidArgument too: a daemon that changes a field's type is better noticed
// than silently misread.
absl::StatusOr<std::vector<ContainerSummary>> ParseContainerList(
    absl::string_view body);
absl::StatusOr<ContainerDetails> ParseContainerDetails(absl::string_view body);
absl::StatusOr<Event> ParseEvent(absl::string_view line);
absl::StatusOr<std::vector<Task>> ParseTaskList(absl::string_view body);
absl::StatusOr<std::vector<Service>> ParseServiceList(absl::string_view body);
absl::StatusOr<std::vector<Network>> ParseNetworkList(absl::string_view body);
absl::StatusOr<std::vector<Node>> ParseNodeList(absl::string_view body);
absl::StatusOr<Info> ParseInfo(absl::string_view body);

// The "message" of a Docker error body ({"message":"No such container: x"}),
// or the body itself (truncated) when it has none. Never fails.
std::string ErrorMessage(absl::string_view body);

// Docker's RFC 3339 timestamps with nanoseconds. "0001-01-01T00:00:00Z" (Go's
// zero time) and "" mean unset: InfinitePast. InvalidArgument otherwise.
absl::StatusOr<absl::Time> ParseDockerTime(absl::string_view text);

// "10.0.1.8/24" -> "10.0.1.8"; an address without a prefix is returned as is.
std::string StripPrefixLength(absl::string_view cidr);

// The task slot in a swarm task name "service.SLOT.taskid": "SLOT" when the
// middle part is a number, "" otherwise (global services put the node id
// there).
std::string TaskSlotFromName(absl::string_view task_name,
                             absl::string_view service_name);

}  // namespace ghostpeer::agent::docker

#endif  // GHOSTPEER_AGENT_DOCKER_DOCKER_API_H_
