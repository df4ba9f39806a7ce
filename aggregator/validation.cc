#include "aggregator/validation.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "aggregator/ip_address.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "common/utf8.h"

namespace ghostpeer::aggregator {
namespace {

constexpr uint32_t kMaxPort = 65535;

// Field paths are built only on the error path: the happy path of a 10,000
// socket snapshot must not allocate a path per field.
template <typename... Parts>
absl::Status Prefixed(const absl::Status& status, const Parts&... parts) {
  return absl::InvalidArgumentError(
      absl::StrCat(parts..., ".", status.message()));
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

bool HasControlCharacter(absl::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// Identity strings end up in map keys and persisted identity keys: bounded
// and free of control characters.
absl::Status CheckIdentity(absl::string_view field, absl::string_view value,
                           const ValidationLimits& limits) {
  if (value.size() > limits.max_string_length) {
    return Invalid(field, absl::StrCat("longer than ", limits.max_string_length,
                                       " bytes"));
  }
  if (HasControlCharacter(value)) {
    return Invalid(field, "contains a control character");
  }
  return absl::OkStatus();
}

// Names the agent read from its node (process, container, service, task,
// namespace and interface names): anyone on the node may have chosen them,
// so a control character in one is a fact to show, not a reason to refuse
// the node's whole snapshot (that would let one process blind its node).
// Current agents send them repaired already (RepairUtf8); for any other
// sender the aggregator repairs them the same way, then bounds the length.
absl::Status RepairName(absl::string_view field, std::string* value,
                        const ValidationLimits& limits) {
  if (HasControlCharacter(*value)) *value = RepairUtf8(*value);
  return CheckIdentity(field, *value, limits);
}

// Free text (error messages, status lines): bounded only.
absl::Status CheckText(absl::string_view field, absl::string_view value,
                       const ValidationLimits& limits) {
  if (value.size() > limits.max_string_length) {
    return Invalid(field, absl::StrCat("longer than ", limits.max_string_length,
                                       " bytes"));
  }
  return absl::OkStatus();
}

// Status lines that may quote what the node holds (a namespace's name in
// "conntrack: cannot enter lb_x"): repaired like names (valid UTF-8, no
// control characters: shown on one line), then bounded.
absl::Status RepairText(absl::string_view field, std::string* value,
                        const ValidationLimits& limits) {
  if (HasControlCharacter(*value) || !IsValidUtf8(*value)) {
    *value = RepairUtf8(*value);
  }
  return CheckText(field, *value, limits);
}

// Rewrites `*address` to its canonical form; `allow_empty` for fields that
// may legitimately be absent.
absl::Status CheckAddress(absl::string_view field, std::string* address,
                          bool allow_empty = false) {
  if (address->empty()) {
    if (allow_empty) return absl::OkStatus();
    return Invalid(field, "missing");
  }
  if (IsCanonicalIpAddress(*address)) return absl::OkStatus();
  absl::StatusOr<std::string> normalized = NormalizeIpAddress(*address);
  if (!normalized.ok()) return Invalid(field, normalized.status().message());
  *address = std::move(*normalized);
  return absl::OkStatus();
}

absl::Status CheckPort(absl::string_view field, uint32_t port) {
  if (port > kMaxPort) {
    return Invalid(field, absl::StrCat(port, " is not a port (0..65535)"));
  }
  return absl::OkStatus();
}

absl::Status CheckOwner(v1::AddressOwner* owner, absl::string_view node,
                        const ValidationLimits& limits) {
  GHOSTPEER_RETURN_IF_ERROR(CheckAddress("address", owner->mutable_address()));
  if (!v1::OwnerKind_IsValid(owner->kind()) ||
      owner->kind() == v1::OWNER_KIND_UNSPECIFIED) {
    return Invalid("kind", absl::StrCat("unknown owner kind ", owner->kind()));
  }
  if (owner->node().empty()) owner->set_node(std::string(node));
  if (owner->node().size() > limits.max_node_name_length ||
      HasControlCharacter(owner->node())) {
    return Invalid("node", "not a node name");
  }
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("container_id", owner->mutable_container_id(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("container_name", owner->mutable_container_name(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("service", owner->mutable_service(), limits));
  GHOSTPEER_RETURN_IF_ERROR(RepairName("task", owner->mutable_task(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("netns", owner->mutable_netns(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("network", owner->mutable_network(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("task_slot", owner->mutable_task_slot(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("image", owner->mutable_image(), limits));
  // A scope this build does not know (a newer agent's) is read as the
  // narrower one: a node-local reading can miss a ghost, a cluster-wide one
  // of a repeated private range can page for another node's container.
  // Refusing would drop the whole batch over a description.
  if (!v1::AddressScope_IsValid(owner->scope())) {
    owner->set_scope(v1::ADDRESS_SCOPE_NODE);
  }
  // An owner's interval times are the aggregator's to set, from event times.
  owner->clear_since();
  owner->clear_until();
  return absl::OkStatus();
}

absl::Status CheckSwarmNode(v1::SwarmNode* swarm_node, absl::Time now,
                            const ValidationLimits& limits) {
  GHOSTPEER_RETURN_IF_ERROR(RepairName("id", swarm_node->mutable_id(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("hostname", swarm_node->mutable_hostname(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("address", swarm_node->mutable_address(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("message", swarm_node->mutable_message(), limits));
  if (!v1::SwarmNodeState_IsValid(swarm_node->state())) {
    swarm_node->set_state(v1::SWARM_NODE_STATE_UNSPECIFIED);
  }
  if (!v1::SwarmNodeRole_IsValid(swarm_node->role())) {
    swarm_node->set_role(v1::SWARM_NODE_ROLE_UNSPECIFIED);
  }
  if (!v1::SwarmNodeAvailability_IsValid(swarm_node->availability())) {
    swarm_node->set_availability(v1::SWARM_NODE_AVAILABILITY_UNSPECIFIED);
  }
  // Optional times: unset stays unset (the managers gave none).
  auto check_time = [&](absl::string_view field,
                        google::protobuf::Timestamp* time) -> absl::Status {
    absl::StatusOr<absl::Time> checked =
        CheckAgentTime(*time, field, now, limits);
    if (!checked.ok()) return checked.status();
    *time = ToProto(*checked);
    return absl::OkStatus();
  };
  if (swarm_node->has_state_since()) {
    GHOSTPEER_RETURN_IF_ERROR(
        check_time("state_since", swarm_node->mutable_state_since()));
  }
  if (swarm_node->has_observed_at()) {
    GHOSTPEER_RETURN_IF_ERROR(
        check_time("observed_at", swarm_node->mutable_observed_at()));
  }
  return absl::OkStatus();
}

absl::Status CheckSocket(v1::SocketRecord* socket, absl::string_view node,
                         const ValidationLimits& limits) {
  if (socket->node().empty()) {
    socket->set_node(std::string(node));
  } else if (socket->node() != node) {
    return Invalid("node", absl::StrCat("'", EscapeForLog(socket->node(), 256),
                                        "' on a stream of node '", node, "'"));
  }
  GHOSTPEER_RETURN_IF_ERROR(
      CheckAddress("local_ip", socket->mutable_local_ip()));
  GHOSTPEER_RETURN_IF_ERROR(
      CheckAddress("remote_ip", socket->mutable_remote_ip()));
  GHOSTPEER_RETURN_IF_ERROR(CheckPort("local_port", socket->local_port()));
  GHOSTPEER_RETURN_IF_ERROR(CheckPort("remote_port", socket->remote_port()));
  // The backend is judged like a remote address (detector rule 7): the same
  // canonical text, or the history would not find it.
  GHOSTPEER_RETURN_IF_ERROR(CheckAddress(
      "backend_ip", socket->mutable_backend_ip(), /*allow_empty=*/true));
  GHOSTPEER_RETURN_IF_ERROR(CheckPort("backend_port", socket->backend_port()));
  if (socket->backend_ip().empty() &&
      (socket->backend_port() != 0 ||
       socket->translated_by() != v1::TRANSLATOR_UNSPECIFIED ||
       socket->translation_netns_inode() != 0)) {
    return Invalid("backend_ip", "missing while the translation is described");
  }
  if (!v1::Translator_IsValid(socket->translated_by())) {
    return Invalid("translated_by", absl::StrCat("unknown translator ",
                                                 socket->translated_by()));
  }
  // A protocol this build does not know would be judged by the wrong rules
  // (TCP's, as UNSPECIFIED): refused, like an unknown TCP state.
  if (!v1::Protocol_IsValid(socket->protocol())) {
    return Invalid("protocol",
                   absl::StrCat("unknown protocol ", socket->protocol()));
  }
  // A UDP socket has no TCP state to speak of (the kernel reports
  // ESTABLISHED for a connected one, CLOSE otherwise); an agent may leave
  // it unset.
  if (!v1::TcpState_IsValid(socket->state()) ||
      (socket->state() == v1::TCP_STATE_UNSPECIFIED &&
       socket->protocol() != v1::PROTOCOL_UDP)) {
    return Invalid("state",
                   absl::StrCat("unknown TCP state ", socket->state()));
  }
  if (!v1::CaptureSource_IsValid(socket->source())) {
    return Invalid("source",
                   absl::StrCat("unknown capture source ", socket->source()));
  }
  if (socket->pid() < 0) {
    return Invalid("pid", absl::StrCat(socket->pid(), " is negative"));
  }
  GHOSTPEER_RETURN_IF_ERROR(RepairName("comm", socket->mutable_comm(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("container_id", socket->mutable_container_id(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("container_name", socket->mutable_container_name(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("service", socket->mutable_service(), limits));
  GHOSTPEER_RETURN_IF_ERROR(RepairName("task", socket->mutable_task(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("task_slot", socket->mutable_task_slot(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("node_id", socket->mutable_node_id(), limits));
  return absl::OkStatus();
}

absl::Status CheckNamespace(v1::NamespaceInfo* ns,
                            const ValidationLimits& limits) {
  if (ns->addresses_size() >
      static_cast<int>(limits.max_addresses_per_namespace)) {
    return Invalid("addresses",
                   absl::StrCat(ns->addresses_size(), " addresses, more than ",
                                limits.max_addresses_per_namespace));
  }
  for (int i = 0; i < ns->addresses_size(); ++i) {
    v1::InterfaceAddress* address = ns->mutable_addresses(i);
    absl::Status s = CheckAddress("address", address->mutable_address());
    if (s.ok() && address->prefix_len() > 128) {
      s = Invalid("prefix_len", absl::StrCat(address->prefix_len(),
                                             " is not a prefix length"));
    }
    if (s.ok())
      s = RepairName("interface", address->mutable_interface(), limits);
    if (!s.ok()) return Prefixed(s, "addresses[", i, "]");
  }
  if (!v1::NamespaceStatus_IsValid(ns->status())) {
    return Invalid("status",
                   absl::StrCat("unknown namespace status ", ns->status()));
  }
  if (ns->pid() < 0) return Invalid("pid", "negative");
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("netns_name", ns->mutable_netns_name(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("container_id", ns->mutable_container_id(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("container_name", ns->mutable_container_name(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairName("service", ns->mutable_service(), limits));
  GHOSTPEER_RETURN_IF_ERROR(RepairName("task", ns->mutable_task(), limits));
  GHOSTPEER_RETURN_IF_ERROR(CheckText("error", ns->error(), limits));
  GHOSTPEER_RETURN_IF_ERROR(CheckText("path", ns->path(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      RepairText("translation_error", ns->mutable_translation_error(), limits));
  if (ns->has_ipvs()) {
    // sysctls: expire_nodest_conn and expire_quiescent_template are
    // booleans, conn_reuse_mode a small mode (0..3 in kernels so far); -1
    // where the agent could not read the file. Anything else is not a
    // value these files hold.
    const v1::IpvsSettings& ipvs = ns->ipvs();
    auto check = [](absl::string_view field, int32_t value,
                    int32_t max) -> absl::Status {
      if (value < -1 || value > max) {
        return Invalid(field, absl::StrCat(value, " is not a value of it (-1..",
                                           max, ")"));
      }
      return absl::OkStatus();
    };
    GHOSTPEER_RETURN_IF_ERROR(
        check("ipvs.expire_nodest_conn", ipvs.expire_nodest_conn(), 1));
    GHOSTPEER_RETURN_IF_ERROR(check("ipvs.expire_quiescent_template",
                                    ipvs.expire_quiescent_template(), 1));
    GHOSTPEER_RETURN_IF_ERROR(
        check("ipvs.conn_reuse_mode", ipvs.conn_reuse_mode(), 255));
  }
  return absl::OkStatus();
}

absl::Status CheckSocketKey(v1::SocketKey* key) {
  GHOSTPEER_RETURN_IF_ERROR(CheckAddress("local_ip", key->mutable_local_ip()));
  GHOSTPEER_RETURN_IF_ERROR(
      CheckAddress("remote_ip", key->mutable_remote_ip()));
  GHOSTPEER_RETURN_IF_ERROR(CheckPort("local_port", key->local_port()));
  GHOSTPEER_RETURN_IF_ERROR(CheckPort("remote_port", key->remote_port()));
  if (!v1::Protocol_IsValid(key->protocol())) {
    return Invalid("protocol",
                   absl::StrCat("unknown protocol ", key->protocol()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<absl::Time> CheckAgentTime(
    const google::protobuf::Timestamp& time, absl::string_view field,
    absl::Time now, const ValidationLimits& limits) {
  if (time.seconds() == 0 && time.nanos() == 0) {
    return Invalid(field, "missing");
  }
  GHOSTPEER_RETURN_IF_ERROR(CheckTimestamp(time, field));
  const absl::Time t = FromProto(time);
  if (t < limits.earliest_time) {
    return Invalid(field, absl::StrCat(ghostpeer::FormatTime(t),
                                       " is before any possible observation"));
  }
  if (t > now + limits.max_clock_ahead) {
    return Invalid(field,
                   absl::StrCat(ghostpeer::FormatTime(t), " is ",
                                absl::FormatDuration(t - now),
                                " ahead of the aggregator's clock (tolerance ",
                                absl::FormatDuration(limits.max_clock_ahead),
                                "); check the agent's clock"));
  }
  return t > now ? now : t;
}

absl::Status CheckTimestamp(const google::protobuf::Timestamp& time,
                            absl::string_view field) {
  // google/protobuf/timestamp.proto: 0001-01-01T00:00:00Z to
  // 9999-12-31T23:59:59.999999999Z, nanos in [0, 1e9).
  constexpr int64_t kMinSeconds = -62135596800;
  constexpr int64_t kMaxSeconds = 253402300799;
  if (time.nanos() < 0 || time.nanos() >= 1000000000) {
    return Invalid(field,
                   absl::StrCat("nanos ", time.nanos(), " out of range"));
  }
  if (time.seconds() < kMinSeconds || time.seconds() > kMaxSeconds) {
    return Invalid(field, absl::StrCat("seconds ", time.seconds(),
                                       " outside years 1 to 9999"));
  }
  return absl::OkStatus();
}

absl::Status ValidateFindingFilter(const v1::ListFindingsRequest& filter) {
  if (!v1::FindingKind_IsValid(filter.kind())) {
    return Invalid("kind",
                   absl::StrCat("unknown finding kind ", filter.kind()));
  }
  if (!v1::Severity_IsValid(filter.min_severity())) {
    return Invalid("min_severity",
                   absl::StrCat("unknown severity ", filter.min_severity()));
  }
  if (!v1::FindingStatus_IsValid(filter.status())) {
    return Invalid("status",
                   absl::StrCat("unknown finding status ", filter.status()));
  }
  return absl::OkStatus();
}

absl::Status ValidateListSocketsRequest(v1::ListSocketsRequest* request) {
  if (!v1::TcpState_IsValid(request->state())) {
    return Invalid("state",
                   absl::StrCat("unknown TCP state ", request->state()));
  }
  return CheckAddress("remote_ip", request->mutable_remote_ip(),
                      /*allow_empty=*/true);
}

absl::Status ValidateAddressHistoryRequest(
    v1::GetAddressHistoryRequest* request) {
  GHOSTPEER_RETURN_IF_ERROR(
      CheckAddress("address", request->mutable_address()));
  if (request->has_at()) {
    GHOSTPEER_RETURN_IF_ERROR(CheckTimestamp(request->at(), "at"));
  }
  if (!request->node().empty()) {
    GHOSTPEER_RETURN_IF_ERROR(
        ValidateNodeName(request->node(), ValidationLimits()));
  }
  return absl::OkStatus();
}

namespace {

// Printable ASCII without spaces: all a service name or a label value
// meant for ghostpeer is made of.
bool IsPlainWord(absl::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

absl::Status CheckServiceRemediation(
    google::protobuf::Map<std::string, std::string>* labels,
    const ValidationLimits& limits) {
  if (labels->size() > limits.max_labelled_services_per_snapshot) {
    return Invalid("snapshot.service_remediation",
                   absl::StrCat(labels->size(), " services, more than ",
                                limits.max_labelled_services_per_snapshot));
  }
  for (auto it = labels->begin(); it != labels->end();) {
    const bool plausible =
        !it->first.empty() && it->first.size() <= limits.max_node_name_length &&
        IsPlainWord(it->first) && !it->second.empty() &&
        it->second.size() <= limits.max_remediation_label_length &&
        IsPlainWord(it->second);
    it = plausible ? std::next(it) : labels->erase(it);
  }
  return absl::OkStatus();
}

absl::Status CheckFindingId(absl::string_view field, std::string* id) {
  constexpr size_t kFindingIdLength = 16;
  if (id->empty()) return Invalid(field, "missing");
  if (id->size() != kFindingIdLength ||
      !std::all_of(id->begin(), id->end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    // Not quoted back: it may be anything a client chose to send.
    return Invalid(field, absl::StrCat("not a finding id (", kFindingIdLength,
                                       " hex digits, as `ghostpeer findings "
                                       "-o wide` shows them)"));
  }
  absl::AsciiStrToLower(id);
  return absl::OkStatus();
}

absl::Status ValidateRemediateRequest(v1::RemediateRequest* request) {
  return CheckFindingId("finding_id", request->mutable_finding_id());
}

absl::Status ValidateListRemediationsRequest(
    v1::ListRemediationsRequest* request) {
  if (!request->finding_id().empty()) {
    GHOSTPEER_RETURN_IF_ERROR(
        CheckFindingId("finding_id", request->mutable_finding_id()));
  }
  if (!request->node().empty()) {
    GHOSTPEER_RETURN_IF_ERROR(
        ValidateNodeName(request->node(), ValidationLimits()));
  }
  if (request->limit() > kMaxListedRemediations) {
    return Invalid("limit", absl::StrCat(request->limit(), " is more than ",
                                         kMaxListedRemediations));
  }
  return absl::OkStatus();
}

absl::Status ValidateNodeName(absl::string_view node,
                              const ValidationLimits& limits) {
  if (node.empty()) return Invalid("node", "missing");
  if (node.size() > limits.max_node_name_length) {
    return Invalid("node", absl::StrCat("longer than ",
                                        limits.max_node_name_length, " bytes"));
  }
  for (char c : node) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return Invalid("node", "contains a space or control character");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHello(const v1::Hello& hello,
                           const ValidationLimits& limits) {
  GHOSTPEER_RETURN_IF_ERROR(ValidateNodeName(hello.node(), limits));
  if (hello.agent_instance().empty()) {
    return Invalid("agent_instance", "missing");
  }
  GHOSTPEER_RETURN_IF_ERROR(
      CheckIdentity("agent_instance", hello.agent_instance(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      CheckIdentity("agent_version", hello.agent_version(), limits));
  GHOSTPEER_RETURN_IF_ERROR(CheckText("kernel", hello.kernel(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      CheckText("remediation_refusal", hello.remediation_refusal(), limits));
  return absl::OkStatus();
}

absl::Status ValidateRemediationOutcome(v1::RemediationOutcome* outcome,
                                        absl::Time now,
                                        const ValidationLimits& limits) {
  if (outcome->order_id().empty()) return Invalid("order_id", "missing");
  GHOSTPEER_RETURN_IF_ERROR(
      CheckIdentity("order_id", outcome->order_id(), limits));
  if (outcome->outcome() == v1::REMEDIATION_OUTCOME_UNSPECIFIED ||
      !v1::RemediationOutcomeKind_IsValid(outcome->outcome())) {
    return Invalid(
        "outcome",
        absl::StrCat("unknown kind ", static_cast<int>(outcome->outcome())));
  }
  // Shown on one line in logs, records and the CLI; repaired only when it
  // needs it, so validating twice changes nothing (RepairUtf8 itself
  // escapes its own escapes again).
  GHOSTPEER_RETURN_IF_ERROR(
      RepairText("detail", outcome->mutable_detail(), limits));
  // errno values are small and positive (MAX_ERRNO is 4095).
  if (outcome->error_number() < 0 || outcome->error_number() > 4095) {
    return Invalid("error_number",
                   absl::StrCat(outcome->error_number(), " is no errno"));
  }
  GHOSTPEER_ASSIGN_OR_RETURN(absl::Time at,
                             CheckAgentTime(outcome->at(), "at", now, limits));
  *outcome->mutable_at() = ToProto(at);
  return absl::OkStatus();
}

absl::Status ValidateAddressEventBatch(v1::AddressEventBatch* batch,
                                       absl::string_view node, absl::Time now,
                                       const ValidationLimits& limits) {
  if (batch->events_size() > static_cast<int>(limits.max_events_per_batch)) {
    return Invalid("events",
                   absl::StrCat(batch->events_size(), " events, more than ",
                                limits.max_events_per_batch));
  }
  uint64_t previous_seq = 0;
  for (int i = 0; i < batch->events_size(); ++i) {
    v1::AddressEvent* event = batch->mutable_events(i);
    auto field = [i](absl::string_view name) {
      return absl::StrCat("events[", i, "].", name);
    };
    if (event->seq() == 0) return Invalid(field("seq"), "must be > 0");
    if (event->seq() <= previous_seq) {
      return Invalid(field("seq"),
                     absl::StrCat(event->seq(), " does not follow ",
                                  previous_seq, " (seqs must increase)"));
    }
    previous_seq = event->seq();
    if (!v1::AddressEventType_IsValid(event->type()) ||
        event->type() == v1::ADDRESS_EVENT_TYPE_UNSPECIFIED) {
      return Invalid(field("type"),
                     absl::StrCat("unknown event type ", event->type()));
    }
    if (!v1::AddressEventSource_IsValid(event->source()) ||
        event->source() == v1::ADDRESS_EVENT_SOURCE_UNSPECIFIED) {
      return Invalid(field("source"),
                     absl::StrCat("unknown event source ", event->source()));
    }
    absl::StatusOr<absl::Time> time =
        CheckAgentTime(event->time(), field("time"), now, limits);
    if (!time.ok()) return time.status();
    *event->mutable_time() = ToProto(*time);
    if (event->type() == v1::INVENTORY) {
      if (event->inventory_size() >
          static_cast<int>(limits.max_inventory_size)) {
        return Invalid(
            field("inventory"),
            absl::StrCat(event->inventory_size(), " owners, more than ",
                         limits.max_inventory_size));
      }
      for (int j = 0; j < event->inventory_size(); ++j) {
        absl::Status s = CheckOwner(event->mutable_inventory(j), node, limits);
        if (!s.ok()) return Prefixed(s, "events[", i, "].inventory[", j, "]");
      }
      event->clear_owner();
    } else {
      if (!event->has_owner()) return Invalid(field("owner"), "missing");
      absl::Status s = CheckOwner(event->mutable_owner(), node, limits);
      if (!s.ok()) return Prefixed(s, "events[", i, "].owner");
      event->clear_inventory();
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSocketSnapshot(v1::SocketSnapshot* snapshot,
                                    absl::string_view node, absl::Time now,
                                    const ValidationLimits& limits) {
  if (snapshot->snapshot_id() == 0) {
    return Invalid("snapshot_id", "must be > 0");
  }
  if (snapshot->full()) {
    if (snapshot->removed_size() > 0) {
      return Invalid("removed", "a full snapshot removes nothing");
    }
  } else if (snapshot->base_snapshot_id() == 0) {
    return Invalid("base_snapshot_id", "a delta needs its base");
  }
  v1::NodeSnapshot* body = snapshot->mutable_snapshot();
  if (!body->node().empty() && body->node() != node) {
    return Invalid("snapshot.node",
                   absl::StrCat("'", EscapeForLog(body->node(), 256),
                                "' on a stream of node '", node, "'"));
  }
  body->set_node(std::string(node));
  absl::StatusOr<absl::Time> taken_at =
      CheckAgentTime(body->taken_at(), "snapshot.taken_at", now, limits);
  if (!taken_at.ok()) return taken_at.status();
  *body->mutable_taken_at() = ToProto(*taken_at);
  if (body->sockets_size() >
      static_cast<int>(limits.max_sockets_per_snapshot)) {
    return Invalid("snapshot.sockets",
                   absl::StrCat(body->sockets_size(), " sockets, more than ",
                                limits.max_sockets_per_snapshot));
  }
  if (snapshot->removed_size() >
      static_cast<int>(limits.max_removed_per_snapshot)) {
    return Invalid("removed",
                   absl::StrCat(snapshot->removed_size(), " keys, more than ",
                                limits.max_removed_per_snapshot));
  }
  if (body->namespaces_size() >
      static_cast<int>(limits.max_namespaces_per_snapshot)) {
    return Invalid(
        "snapshot.namespaces",
        absl::StrCat(body->namespaces_size(), " namespaces, more than ",
                     limits.max_namespaces_per_snapshot));
  }
  GHOSTPEER_RETURN_IF_ERROR(
      CheckIdentity("snapshot.agent_version", body->agent_version(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      CheckText("snapshot.kernel", body->kernel(), limits));
  GHOSTPEER_RETURN_IF_ERROR(
      CheckText("snapshot.docker_status", body->docker_status(), limits));
  GHOSTPEER_RETURN_IF_ERROR(RepairText("snapshot.translation_status",
                                       body->mutable_translation_status(),
                                       limits));
  for (int i = 0; i < body->namespaces_size(); ++i) {
    absl::Status s = CheckNamespace(body->mutable_namespaces(i), limits);
    if (!s.ok()) return Prefixed(s, "snapshot.namespaces[", i, "]");
  }
  for (int i = 0; i < body->sockets_size(); ++i) {
    absl::Status s = CheckSocket(body->mutable_sockets(i), node, limits);
    if (!s.ok()) return Prefixed(s, "snapshot.sockets[", i, "]");
  }
  for (int i = 0; i < snapshot->removed_size(); ++i) {
    absl::Status s = CheckSocketKey(snapshot->mutable_removed(i));
    if (!s.ok()) return Prefixed(s, "removed[", i, "]");
  }
  if (body->swarm_nodes_size() >
      static_cast<int>(limits.max_swarm_nodes_per_snapshot)) {
    return Invalid("snapshot.swarm_nodes",
                   absl::StrCat(body->swarm_nodes_size(), " nodes, more than ",
                                limits.max_swarm_nodes_per_snapshot));
  }
  for (int i = 0; i < body->swarm_nodes_size(); ++i) {
    absl::Status s = CheckSwarmNode(body->mutable_swarm_nodes(i), now, limits);
    if (!s.ok()) return Prefixed(s, "snapshot.swarm_nodes[", i, "]");
  }
  return CheckServiceRemediation(body->mutable_service_remediation(), limits);
}

}  // namespace ghostpeer::aggregator
