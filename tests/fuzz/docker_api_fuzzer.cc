// Docker Engine API responses: dockerd writes the JSON, but container names,
// labels, service and network names inside it are anyone's who may start a
// container or create a service. One executable per endpoint (CMake sets
// GHOSTPEER_FUZZ_DOCKER_<ENDPOINT>), so each keeps its own corpus and
// coverage. Input: a response body, or for events the streamed body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/docker/address_book.h"
#include "agent/docker/docker_api.h"
#include "common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

namespace ghostpeer::agent::docker {
namespace {

// An element without its identity is refused, never returned half-empty.
template <typename T>
void CheckIdentities(const absl::StatusOr<std::vector<T>>& parsed) {
  if (!parsed.ok()) return;
  for (const T& element : *parsed) FUZZ_CHECK(!element.id.empty());
}

// Whether the body is a JSON array (else an object, or not JSON). Each
// parser refuses the other top-level type right after parsing the JSON, so
// handing a body only to the parsers of its type loses no coverage and
// saves parsing it again (the parse is most of each execution's time).
bool LooksLikeArray(absl::string_view body) {
  const absl::string_view text = absl::StripLeadingAsciiWhitespace(body);
  return !text.empty() && text.front() == '[';
}

[[maybe_unused]] void FuzzContainers(absl::string_view body) {
  // /containers/json and /containers/{id}/json share the network shapes;
  // an error body comes from either.
  if (LooksLikeArray(body)) {
    CheckIdentities(ParseContainerList(body));
    return;
  }
  absl::StatusOr<ContainerDetails> details = ParseContainerDetails(body);
  if (details.ok()) FUZZ_CHECK(!details->id.empty());
  ErrorMessage(body);
}

[[maybe_unused]] void FuzzTasks(absl::string_view body) {
  absl::StatusOr<std::vector<Task>> tasks = ParseTaskList(body);
  CheckIdentities(tasks);
  if (!tasks.ok()) return;
  for (const Task& task : *tasks) {
    for (const TaskAttachment& attachment : task.attachments) {
      for (const std::string& address : attachment.addresses) {
        FUZZ_CHECK(address.find('/') == std::string::npos);
      }
    }
  }
}

[[maybe_unused]] void FuzzServices(absl::string_view body) {
  absl::StatusOr<std::vector<Service>> services = ParseServiceList(body);
  CheckIdentities(services);
  if (!services.ok()) return;
  for (const Service& service : *services) {
    for (const VirtualIp& vip : service.virtual_ips) {
      FUZZ_CHECK(vip.address.find('/') == std::string::npos);
    }
    // Whatever the body, a label that survives is short printable ASCII.
    FUZZ_CHECK(service.remediation_label.size() <= kMaxRemediationLabelLength);
    for (char c : service.remediation_label) FUZZ_CHECK(c > 0x20 && c < 0x7f);
  }
}

[[maybe_unused]] void FuzzNetworks(absl::string_view body) {
  // The other small bodies: /networks, /nodes (arrays), /info (an object).
  if (LooksLikeArray(body)) {
    CheckIdentities(ParseNetworkList(body));
    absl::StatusOr<std::vector<Node>> nodes = ParseNodeList(body);
    CheckIdentities(nodes);
    if (!nodes.ok()) return;
    // What a manager's agent reports of them (NodeSnapshot.swarm_nodes) is
    // valid UTF-8, whatever bytes a node's name or message held.
    for (const Node& node : *nodes) {
      const v1::SwarmNode reported =
          ToSwarmNode(node, absl::FromUnixSeconds(1800000000));
      FUZZ_CHECK(IsValidUtf8(reported.id()));
      FUZZ_CHECK(IsValidUtf8(reported.hostname()));
      FUZZ_CHECK(IsValidUtf8(reported.address()));
      FUZZ_CHECK(IsValidUtf8(reported.message()));
    }
    return;
  }
  ParseInfo(body).IgnoreError();
}

// /events is one JSON object per line, each parsed on its own (as the
// transport hands them over: split at '\n', empty lines skipped).
[[maybe_unused]] void FuzzEvents(absl::string_view stream) {
  for (absl::string_view line :
       absl::StrSplit(stream, '\n', absl::SkipEmpty())) {
    absl::StatusOr<Event> event = ParseEvent(line);
    if (!event.ok()) continue;
    FUZZ_CHECK(!event->type.empty() && !event->action.empty());
    if (event->type == "container") {
      FUZZ_CHECK(event->container_id == event->actor_id);
    }
  }
}

void FuzzEndpoint(absl::string_view body) {
#if defined(GHOSTPEER_FUZZ_DOCKER_CONTAINERS)
  FuzzContainers(body);
#elif defined(GHOSTPEER_FUZZ_DOCKER_TASKS)
  FuzzTasks(body);
#elif defined(GHOSTPEER_FUZZ_DOCKER_SERVICES)
  FuzzServices(body);
#elif defined(GHOSTPEER_FUZZ_DOCKER_NETWORKS)
  FuzzNetworks(body);
#elif defined(GHOSTPEER_FUZZ_DOCKER_EVENTS)
  FuzzEvents(body);
#else
#error "define GHOSTPEER_FUZZ_DOCKER_<ENDPOINT> (see tests/fuzz/CMakeLists.txt)"
#endif
}

}  // namespace
}  // namespace ghostpeer::agent::docker

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ghostpeer::agent::docker::FuzzEndpoint(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
