#include "agent/docker/docker_client.h"

#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ghostpeer::agent::docker {
namespace {

bool IsSafeId(absl::string_view id) {
  if (id.empty() || id.size() > 256) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string UrlEncode(absl::string_view text) {
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

std::string EventsPath(absl::Time since) {
  // `since` as seconds.nanoseconds, the form dockerd's timetypes parse.
  const int64_t nanos = absl::ToUnixNanos(since);
  return absl::StrCat(
      "/events?since=",
      absl::StrFormat("%d.%09d", nanos / 1000000000, nanos % 1000000000),
      "&filters=",
      UrlEncode(
          R"({"type":["container","network"],)"
          R"("event":["start","die","destroy","connect","disconnect"]})"));
}

absl::StatusOr<std::string> DockerClient::GetOk(const std::string& path,
                                                absl::string_view what) {
  absl::StatusOr<HttpResponse> response = transport_->Get(path);
  if (!response.ok()) return response.status();
  if (response->status == 200) return std::move(response->body);
  const std::string message =
      absl::StrCat("docker ", what, ": HTTP ", response->status, ": ",
                   ErrorMessage(response->body));
  switch (response->status) {
    case 404:
      return absl::NotFoundError(message);
    case 503:
      // Workers answer the manager-only endpoints with 503 "This node is
      // not a swarm manager", nodes outside a swarm likewise.
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<Info> DockerClient::GetInfo() {
  absl::StatusOr<std::string> body = GetOk("/info", "info");
  if (!body.ok()) return body.status();
  return ParseInfo(*body);
}

absl::StatusOr<std::vector<ContainerSummary>> DockerClient::ListContainers() {
  absl::StatusOr<std::string> body =
      GetOk("/containers/json?all=1", "list containers");
  if (!body.ok()) return body.status();
  return ParseContainerList(*body);
}

absl::StatusOr<ContainerDetails> DockerClient::InspectContainer(
    const std::string& id) {
  if (!IsSafeId(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("docker inspect: bad container id \"",
                     absl::CEscape(id.substr(0, 80)), "\""));
  }
  absl::StatusOr<std::string> body =
      GetOk(absl::StrCat("/containers/", id, "/json"), "inspect " + id);
  if (!body.ok()) return body.status();
  return ParseContainerDetails(*body);
}

absl::StatusOr<std::vector<Task>> DockerClient::ListTasks() {
  absl::StatusOr<std::string> body = GetOk("/tasks", "list tasks");
  if (!body.ok()) return body.status();
  return ParseTaskList(*body);
}

absl::StatusOr<std::vector<Service>> DockerClient::ListServices() {
  absl::StatusOr<std::string> body = GetOk("/services", "list services");
  if (!body.ok()) return body.status();
  return ParseServiceList(*body);
}

absl::StatusOr<std::vector<Node>> DockerClient::ListNodes() {
  absl::StatusOr<std::string> body = GetOk("/nodes", "list nodes");
  if (!body.ok()) return body.status();
  return ParseNodeList(*body);
}

absl::StatusOr<std::vector<Network>> DockerClient::ListNetworks() {
  absl::StatusOr<std::string> body = GetOk("/networks", "list networks");
  if (!body.ok()) return body.status();
  return ParseNetworkList(*body);
}

absl::Status DockerClient::StreamEvents(
    absl::Time since,
    const std::function<void(absl::StatusOr<Event>)>& on_event,
    const std::function<bool()>& should_stop) {
  return transport_->Stream(
      EventsPath(since),
      [&on_event](absl::string_view line) { on_event(ParseEvent(line)); },
      should_stop);
}

}  // namespace ghostpeer::agent::docker
