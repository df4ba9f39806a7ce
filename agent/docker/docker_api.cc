#include "agent/docker/docker_api.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace ghostpeer::agent::docker {
namespace {

using Json = nlohmann::json;

const Json& EmptyObject() {
  static const Json* const kEmpty = new Json(Json::object());
  return *kEmpty;
}

const Json& EmptyArray() {
  static const Json* const kEmpty = new Json(Json::array());
  return *kEmpty;
}

// Reads fields with the first error remembered, so a parser reads like the
// shape it parses instead of a ladder of early returns. Absent and null
// fields read as zero values (Docker writes null for empty maps and lists);
// a present field of the wrong type is an error naming its path.
// A label value short enough and printable enough to be someone's choice
// among a few words; anything else is dropped rather than carried around.
bool PlausibleLabelValue(absl::string_view value) {
  if (value.empty() || value.size() > kMaxRemediationLabelLength) return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return c > 0x20 && c < 0x7f; });
}

class Reader {
 public:
  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

  const Json& Object(const Json& parent, const char* key,
                     absl::string_view where) {
    const Json* child = Find(parent, key);
    if (child == nullptr) return EmptyObject();
    if (!child->is_object()) {
      Fail(where, key, "an object", *child);
      return EmptyObject();
    }
    return *child;
  }

  const Json& Array(const Json& parent, const char* key,
                    absl::string_view where) {
    const Json* child = Find(parent, key);
    if (child == nullptr) return EmptyArray();
    if (!child->is_array()) {
      Fail(where, key, "an array", *child);
      return EmptyArray();
    }
    return *child;
  }

  std::string String(const Json& parent, const char* key,
                     absl::string_view where) {
    const Json* child = Find(parent, key);
    if (child == nullptr) return "";
    if (!child->is_string()) {
      Fail(where, key, "a string", *child);
      return "";
    }
    return child->get<std::string>();
  }

  // A string that must be present and non-empty (an object's identity).
  std::string RequiredString(const Json& parent, const char* key,
                             absl::string_view where) {
    std::string value = String(parent, key, where);
    if (ok() && value.empty()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(where, key, ": missing or empty"));
    }
    return value;
  }

  int64_t Int(const Json& parent, const char* key, absl::string_view where) {
    const Json* child = Find(parent, key);
    if (child == nullptr) return 0;
    // nlohmann counts unsigned numbers as integers too: check them first.
    if (child->is_number_unsigned()) {
      const uint64_t value = child->get<uint64_t>();
      if (value <= static_cast<uint64_t>(INT64_MAX)) {
        return static_cast<int64_t>(value);
      }
    } else if (child->is_number_integer()) {
      return child->get<int64_t>();
    }
    Fail(where, key, "a 64-bit integer", *child);
    return 0;
  }

  // An integer that must fit an int (pids, slots, prefix lengths).
  int Int32(const Json& parent, const char* key, absl::string_view where) {
    const int64_t value = Int(parent, key, where);
    if (value < INT32_MIN || value > INT32_MAX) {
      if (ok()) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat(where, key, ": ", value, " out of range"));
      }
      return 0;
    }
    return static_cast<int>(value);
  }

  bool Bool(const Json& parent, const char* key, absl::string_view where) {
    const Json* child = Find(parent, key);
    if (child == nullptr) return false;
    if (!child->is_boolean()) {
      Fail(where, key, "a boolean", *child);
      return false;
    }
    return child->get<bool>();
  }

  absl::Time Time(const Json& parent, const char* key,
                  absl::string_view where) {
    const std::string text = String(parent, key, where);
    absl::StatusOr<absl::Time> time = ParseDockerTime(text);
    if (!time.ok()) {
      if (ok()) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat(where, key, ": ", time.status().message()));
      }
      return absl::InfinitePast();
    }
    return *time;
  }

  // A map of string to string; null or absent is empty.
  Labels StringMap(const Json& parent, const char* key,
                   absl::string_view where) {
    Labels labels;
    const Json& object = Object(parent, key, where);
    for (const auto& [name, value] : object.items()) {
      if (!value.is_string()) {
        Fail(absl::StrCat(where, key, "."), name.c_str(), "a string", value);
        continue;
      }
      labels.emplace(name, value.get<std::string>());
    }
    return labels;
  }

  void Require(const Json& value, bool condition, absl::string_view what,
               absl::string_view where) {
    if (!condition && ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          where, ": expected ", what, ", got ", value.type_name()));
    }
  }

 private:
  static const Json* Find(const Json& parent, const char* key) {
    if (!parent.is_object()) return nullptr;
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return nullptr;
    return &*it;
  }

  void Fail(absl::string_view where, const char* key, absl::string_view what,
            const Json& got) {
    if (!ok()) return;
    status_ = absl::InvalidArgumentError(absl::StrCat(
        where, key, ": expected ", what, ", got ", got.type_name()));
  }

  absl::Status status_;
};

absl::StatusOr<Json> ParseJson(absl::string_view body, absl::string_view what) {
  Json json = Json::parse(body.begin(), body.end(), /*cb=*/nullptr,
                          /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not JSON (", body.size(), " bytes)"));
  }
  return json;
}

std::vector<NetworkEndpoint> ReadNetworks(Reader& r, const Json& settings,
                                          absl::string_view where) {
  std::vector<NetworkEndpoint> networks;
  const std::string prefix = absl::StrCat(where, "Networks.");
  for (const auto& [name, endpoint] :
       r.Object(settings, "Networks", where).items()) {
    const std::string at = absl::StrCat(prefix, name, ".");
    r.Require(endpoint, endpoint.is_object(), "an object",
              absl::StrCat(prefix, name));
    NetworkEndpoint& n = networks.emplace_back();
    n.network_name = name;
    n.network_id = r.String(endpoint, "NetworkID", at);
    n.ip_address = r.String(endpoint, "IPAddress", at);
    n.ip_prefix_len = r.Int32(endpoint, "IPPrefixLen", at);
    n.global_ipv6_address = r.String(endpoint, "GlobalIPv6Address", at);
    const Json& ipam = r.Object(endpoint, "IPAMConfig", at);
    const std::string ipam_at = absl::StrCat(at, "IPAMConfig.");
    n.ipam_ipv4_address = r.String(ipam, "IPv4Address", ipam_at);
    n.ipam_ipv6_address = r.String(ipam, "IPv6Address", ipam_at);
  }
  return networks;
}

std::string TrimSlash(std::string name) {
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  return name;
}

// Runs `parse_one` over the elements of a top-level array.
template <typename T, typename ParseOne>
absl::StatusOr<std::vector<T>> ParseArray(absl::string_view body,
                                          absl::string_view what,
                                          ParseOne parse_one) {
  absl::StatusOr<Json> json = ParseJson(body, what);
  if (!json.ok()) return json.status();
  if (!json->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected an array, got ", json->type_name()));
  }
  std::vector<T> out;
  out.reserve(json->size());
  Reader r;
  for (size_t i = 0; i < json->size(); ++i) {
    const Json& element = (*json)[i];
    const std::string where = absl::StrCat(what, "[", i, "].");
    r.Require(element, element.is_object(), "an object",
              absl::StrCat(what, "[", i, "]"));
    if (!r.ok()) break;
    out.push_back(parse_one(r, element, where));
    if (!r.ok()) break;
  }
  if (!r.ok()) return r.status();
  return out;
}

}  // namespace

absl::StatusOr<absl::Time> ParseDockerTime(absl::string_view text) {
  // Go's zero time.Time marshals as year 1; Docker uses it for "never".
  if (text.empty() || absl::StartsWith(text, "0001-01-01T")) {
    return absl::InfinitePast();
  }
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad time \"", text, "\": ", error));
  }
  return time;
}

std::string StripPrefixLength(absl::string_view cidr) {
  const size_t slash = cidr.find('/');
  return std::string(slash == absl::string_view::npos ? cidr
                                                      : cidr.substr(0, slash));
}

std::string TaskSlotFromName(absl::string_view task_name,
                             absl::string_view service_name) {
  // The service name may itself contain dots, so strip it as a prefix
  // rather than splitting the whole name.
  if (service_name.empty() || !absl::ConsumePrefix(&task_name, service_name) ||
      !absl::ConsumePrefix(&task_name, ".")) {
    return "";
  }
  const absl::string_view slot = task_name.substr(0, task_name.find('.'));
  int value = 0;
  if (slot.empty() || !absl::SimpleAtoi(slot, &value) || value <= 0) return "";
  return std::string(slot);
}

std::string ErrorMessage(absl::string_view body) {
  constexpr size_t kMaxEcho = 200;
  Json json = Json::parse(body.begin(), body.end(), nullptr, false);
  if (json.is_object()) {
    auto it = json.find("message");
    if (it != json.end() && it->is_string()) return it->get<std::string>();
  }
  std::string text(absl::StripAsciiWhitespace(body.substr(0, kMaxEcho)));
  if (body.size() > kMaxEcho) text += "...";
  return text;
}

absl::StatusOr<std::vector<ContainerSummary>> ParseContainerList(
    absl::string_view body) {
  return ParseArray<ContainerSummary>(
      body, "containers", [](Reader& r, const Json& c, const std::string& at) {
        ContainerSummary s;
        s.id = r.RequiredString(c, "Id", at);
        const Json& names = r.Array(c, "Names", at);
        if (!names.empty() && names[0].is_string()) {
          s.name = TrimSlash(names[0].get<std::string>());
        }
        s.image = r.String(c, "Image", at);
        s.labels = r.StringMap(c, "Labels", at);
        s.state = r.String(c, "State", at);
        s.networks = ReadNetworks(r, r.Object(c, "NetworkSettings", at),
                                  absl::StrCat(at, "NetworkSettings."));
        return s;
      });
}

absl::StatusOr<ContainerDetails> ParseContainerDetails(absl::string_view body) {
  absl::StatusOr<Json> json = ParseJson(body, "container");
  if (!json.ok()) return json.status();
  Reader r;
  r.Require(*json, json->is_object(), "an object", "container");
  if (!r.ok()) return r.status();
  const Json& c = *json;
  ContainerDetails d;
  d.id = r.RequiredString(c, "Id", "container.");
  d.name = TrimSlash(r.String(c, "Name", "container."));
  const Json& config = r.Object(c, "Config", "container.");
  d.image = r.String(config, "Image", "container.Config.");
  d.labels = r.StringMap(config, "Labels", "container.Config.");
  const Json& state = r.Object(c, "State", "container.");
  d.running = r.Bool(state, "Running", "container.State.");
  d.pid = r.Int32(state, "Pid", "container.State.");
  d.started_at = r.Time(state, "StartedAt", "container.State.");
  d.finished_at = r.Time(state, "FinishedAt", "container.State.");
  const Json& settings = r.Object(c, "NetworkSettings", "container.");
  d.sandbox_key =
      r.String(settings, "SandboxKey", "container.NetworkSettings.");
  d.networks = ReadNetworks(r, settings, "container.NetworkSettings.");
  if (!r.ok()) return r.status();
  return d;
}

absl::StatusOr<Event> ParseEvent(absl::string_view line) {
  absl::StatusOr<Json> json = ParseJson(line, "event");
  if (!json.ok()) return json.status();
  Reader r;
  r.Require(*json, json->is_object(), "an object", "event");
  if (!r.ok()) return r.status();
  const Json& e = *json;
  Event event;
  event.type = r.String(e, "Type", "event.");
  event.action = r.String(e, "Action", "event.");
  const Json& actor = r.Object(e, "Actor", "event.");
  event.actor_id = r.String(actor, "ID", "event.Actor.");
  event.attributes = r.StringMap(actor, "Attributes", "event.Actor.");
  const int64_t time_nano = r.Int(e, "timeNano", "event.");
  const int64_t time_sec = r.Int(e, "time", "event.");
  if (!r.ok()) return r.status();
  if (time_nano > 0) {
    event.time = absl::FromUnixNanos(time_nano);
  } else if (time_sec > 0) {
    event.time = absl::FromUnixSeconds(time_sec);
  }
  if (event.type == "container") {
    event.container_id = event.actor_id;
  } else if (event.type == "network") {
    auto it = event.attributes.find("container");
    if (it != event.attributes.end()) event.container_id = it->second;
  }
  if (event.type.empty() || event.action.empty()) {
    return absl::InvalidArgumentError("event: Type or Action missing");
  }
  return event;
}

absl::StatusOr<std::vector<Task>> ParseTaskList(absl::string_view body) {
  return ParseArray<Task>(
      body, "tasks", [](Reader& r, const Json& t, const std::string& at) {
        Task task;
        task.id = r.RequiredString(t, "ID", at);
        task.service_id = r.String(t, "ServiceID", at);
        task.node_id = r.String(t, "NodeID", at);
        task.slot = r.Int32(t, "Slot", at);
        task.desired_state = r.String(t, "DesiredState", at);
        task.created_at = r.Time(t, "CreatedAt", at);
        const std::string status_at = absl::StrCat(at, "Status.");
        const Json& status = r.Object(t, "Status", at);
        task.state = r.String(status, "State", status_at);
        task.status_time = r.Time(status, "Timestamp", status_at);
        const std::string cs_at = absl::StrCat(status_at, "ContainerStatus.");
        const Json& cs = r.Object(status, "ContainerStatus", status_at);
        task.container_id = r.String(cs, "ContainerID", cs_at);
        task.pid = r.Int32(cs, "PID", cs_at);
        const Json& attachments = r.Array(t, "NetworksAttachments", at);
        for (size_t i = 0; i < attachments.size() && r.ok(); ++i) {
          const Json& a = attachments[i];
          const std::string a_at =
              absl::StrCat(at, "NetworksAttachments[", i, "].");
          r.Require(a, a.is_object(), "an object", a_at);
          TaskAttachment& attachment = task.attachments.emplace_back();
          const Json& network = r.Object(a, "Network", a_at);
          attachment.network_id =
              r.String(network, "ID", absl::StrCat(a_at, "Network."));
          attachment.network_name = r.String(
              r.Object(network, "Spec", absl::StrCat(a_at, "Network.")), "Name",
              absl::StrCat(a_at, "Network.Spec."));
          const Json& addresses = r.Array(a, "Addresses", a_at);
          for (const Json& address : addresses) {
            r.Require(address, address.is_string(), "a string",
                      absl::StrCat(a_at, "Addresses"));
            if (!r.ok()) break;
            attachment.addresses.push_back(
                StripPrefixLength(address.get<std::string>()));
          }
        }
        return task;
      });
}

absl::StatusOr<std::vector<Service>> ParseServiceList(absl::string_view body) {
  return ParseArray<Service>(
      body, "services", [](Reader& r, const Json& s, const std::string& at) {
        Service service;
        service.id = r.RequiredString(s, "ID", at);
        service.created_at = r.Time(s, "CreatedAt", at);
        const std::string spec_at = absl::StrCat(at, "Spec.");
        const Json& spec = r.Object(s, "Spec", at);
        service.name = r.String(spec, "Name", spec_at);
        // Mode is {"Replicated":{...}} or {"Global":{}}: the key is the mode.
        const Json& mode = r.Object(spec, "Mode", spec_at);
        if (!mode.empty()) {
          service.mode = absl::AsciiStrToLower(mode.begin().key());
          // "ReplicatedJob" -> "replicated-job", as the CLI spells it.
          if (service.mode == "replicatedjob") service.mode = "replicated-job";
          if (service.mode == "globaljob") service.mode = "global-job";
        }
        service.endpoint_mode =
            r.String(r.Object(spec, "EndpointSpec", spec_at), "Mode",
                     absl::StrCat(spec_at, "EndpointSpec."));
        const std::string label =
            r.String(r.Object(spec, "Labels", spec_at), kLabelRemediation,
                     absl::StrCat(spec_at, "Labels."));
        if (PlausibleLabelValue(label)) service.remediation_label = label;
        const std::string ep_at = absl::StrCat(at, "Endpoint.");
        const Json& vips =
            r.Array(r.Object(s, "Endpoint", at), "VirtualIPs", ep_at);
        for (size_t i = 0; i < vips.size() && r.ok(); ++i) {
          const std::string vip_at =
              absl::StrCat(ep_at, "VirtualIPs[", i, "].");
          r.Require(vips[i], vips[i].is_object(), "an object", vip_at);
          VirtualIp vip;
          vip.network_id = r.String(vips[i], "NetworkID", vip_at);
          vip.address = StripPrefixLength(r.String(vips[i], "Addr", vip_at));
          if (!vip.address.empty()) service.virtual_ips.push_back(vip);
        }
        return service;
      });
}

absl::StatusOr<std::vector<Network>> ParseNetworkList(absl::string_view body) {
  return ParseArray<Network>(
      body, "networks", [](Reader& r, const Json& n, const std::string& at) {
        Network network;
        network.id = r.RequiredString(n, "Id", at);
        network.name = r.String(n, "Name", at);
        network.driver = r.String(n, "Driver", at);
        network.scope = r.String(n, "Scope", at);
        return network;
      });
}

absl::StatusOr<std::vector<Node>> ParseNodeList(absl::string_view body) {
  return ParseArray<Node>(
      body, "nodes", [](Reader& r, const Json& n, const std::string& at) {
        Node node;
        node.id = r.RequiredString(n, "ID", at);
        node.hostname = r.String(r.Object(n, "Description", at), "Hostname",
                                 absl::StrCat(at, "Description."));
        const std::string status_at = absl::StrCat(at, "Status.");
        const Json& status = r.Object(n, "Status", at);
        node.address = r.String(status, "Addr", status_at);
        node.state = r.String(status, "State", status_at);
        node.message = r.String(status, "Message", status_at);
        const std::string spec_at = absl::StrCat(at, "Spec.");
        const Json& spec = r.Object(n, "Spec", at);
        node.availability = r.String(spec, "Availability", spec_at);
        node.role = r.String(spec, "Role", spec_at);
        node.updated_at = r.Time(n, "UpdatedAt", at);
        return node;
      });
}

absl::StatusOr<Info> ParseInfo(absl::string_view body) {
  absl::StatusOr<Json> json = ParseJson(body, "info");
  if (!json.ok()) return json.status();
  Reader r;
  r.Require(*json, json->is_object(), "an object", "info");
  if (!r.ok()) return r.status();
  Info info;
  info.name = r.String(*json, "Name", "info.");
  const Json& swarm = r.Object(*json, "Swarm", "info.");
  info.swarm_node_id = r.String(swarm, "NodeID", "info.Swarm.");
  info.swarm_state = r.String(swarm, "LocalNodeState", "info.Swarm.");
  info.swarm_manager = r.Bool(swarm, "ControlAvailable", "info.Swarm.");
  if (!r.ok()) return r.status();
  return info;
}

}  // namespace ghostpeer::agent::docker
