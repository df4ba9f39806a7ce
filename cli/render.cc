#include "cli/render.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "cli/flag_values.h"
#include "cli/humanize.h"
#include "cli/table.h"
#include "common/names.h"
#include "common/proto_json.h"
#include "common/story.h"
#include "common/time_util.h"

namespace ghostpeer::cli {
namespace {

// Widths past which a name stops helping a person scan the table; `wide`
// lifts them.
constexpr size_t kNameWidth = 28;
constexpr size_t kNodeWidth = 16;
constexpr size_t kProcessWidth = 20;
constexpr size_t kDockerWidth = 40;

size_t Cap(size_t width, const RenderOptions& options) {
  return options.wide ? 0 : width;
}

// Task names lose their 25-character id in the narrow table; -o wide keeps
// it.
std::string Name(const std::string& name, const RenderOptions& options) {
  return options.wide ? name : ShortTaskName(name);
}

std::string AgoOrDash(const google::protobuf::Timestamp& timestamp,
                      absl::Time now) {
  const auto time = TimeOf(timestamp);
  return time ? Ago(*time, now) : "-";
}

std::string ShortContainerId(const std::string& id) {
  return id.empty() ? "-" : id.substr(0, 12);
}

// tcp_info cells shared by the wide findings table and the sockets table.
struct TcpInfoCells {
  std::string backoff = "-", unacked = "-", rto = "-", last_ack = "-";
};

TcpInfoCells TcpCells(const v1::SocketRecord& socket) {
  TcpInfoCells cells;
  // A listener has no peer: its retransmission state means nothing.
  if (!socket.has_tcp_info() || socket.state() == v1::TCP_STATE_LISTEN) {
    return cells;
  }
  const v1::TcpInfo& info = socket.tcp_info();
  cells.backoff = absl::StrCat(info.backoff());
  cells.unacked = absl::StrCat(info.unacked());
  cells.rto = ShortLatency(absl::Microseconds(info.rto_us()));
  cells.last_ack = ShortLatency(absl::Milliseconds(info.last_ack_recv_ms()));
  return cells;
}

// The remote side; "*" for a listener's unspecified peer, as `ss` prints;
// "VIP:port -> backend:port" when a translation says where it really goes.
std::string PeerCell(const v1::SocketRecord& socket) {
  const std::string& ip = socket.remote_ip();
  if (socket.remote_port() == 0 &&
      (ip.empty() || ip == "0.0.0.0" || ip == "::")) {
    return "*";
  }
  std::string cell = Endpoint(ip, socket.remote_port());
  if (!socket.backend_ip().empty()) {
    absl::StrAppend(&cell, " -> ",
                    Endpoint(socket.backend_ip(), socket.backend_port()));
  }
  return cell;
}

// The state column: the TCP state, or "UDP" (a UDP socket's kernel state
// says only whether it is connected, which its peer column shows).
std::string StateCell(const v1::SocketRecord& socket) {
  if (socket.protocol() == v1::PROTOCOL_UDP) return "UDP";
  return StateName(socket.state());
}

// Whether the node sees through VIPs: "ok", "unavailable: ...", or
// "unknown" for an agent that does not say (older than translations).
std::string VipsCell(const v1::NodeStatus& node) {
  if (!node.has_last_report()) return "-";  // no agent ever reported
  if (node.translation_status().empty()) return "unknown";
  return node.translation_status();
}

// Whether the node's agent acts on remediation orders: "on", "off: <why>"
// (the agent's refusal, e.g. started without --remediation), "-" before any
// agent reported.
std::string RemediationCell(const v1::NodeStatus& node) {
  if (!node.has_last_report()) return "-";
  if (node.remediation_enabled()) return "on";
  if (node.remediation_refusal().empty()) return "off";
  return absl::StrCat("off: ", Printable(node.remediation_refusal()));
}

// IPVS namespaces that black-hole removed backends, of those the node has:
// "1/3"; "-" for a node without IPVS namespaces.
std::string BlackholeCell(const v1::NodeStatus& node) {
  if (node.ipvs_namespaces() == 0) return "-";
  return absl::StrCat(node.ipvs_blackhole_namespaces(), "/",
                      node.ipvs_namespaces());
}

// Open before resolved, then the most severe, then the most at risk; ties
// keep a stable order by id so repeated runs print the same table.
std::vector<const v1::Finding*> SortedFindings(
    const v1::ListFindingsResponse& response) {
  std::vector<const v1::Finding*> sorted;
  sorted.reserve(response.findings_size());
  for (const auto& finding : response.findings()) sorted.push_back(&finding);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const v1::Finding* a, const v1::Finding* b) {
                     const auto rank = [](const v1::Finding* f) {
                       return std::make_pair(f->status() != v1::OPEN,
                                             -static_cast<int>(f->severity()));
                     };
                     if (rank(a) != rank(b)) return rank(a) < rank(b);
                     if (a->bytes_at_risk() != b->bytes_at_risk()) {
                       return a->bytes_at_risk() > b->bytes_at_risk();
                     }
                     return a->id() < b->id();
                   });
  return sorted;
}

std::string CurrentOwnerCell(const v1::Finding& finding,
                             const RenderOptions& options) {
  if (finding.has_peer_current_owner()) {
    const std::string owner = OwnerName(finding.peer_current_owner());
    if (!owner.empty()) return Name(owner, options);
  }
  return finding.kind() == v1::VANISHED_PEER ? "nobody" : "-";
}

}  // namespace

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonStyle style) {
  std::string json = ProtoToJson(message, style == JsonStyle::kDocument
                                              ? JsonLayout::kIndented
                                              : JsonLayout::kCompact);
  // An indented document ends with a newline; a line for a stream must too.
  if (!json.empty() && json.back() != '\n') json += '\n';
  return json;
}

std::string RenderFindings(const v1::ListFindingsResponse& response,
                           const RenderOptions& options) {
  if (response.findings().empty()) return "";
  const std::vector<const v1::Finding*> findings = SortedFindings(response);
  const bool show_status =
      std::any_of(findings.begin(), findings.end(),
                  [](const v1::Finding* f) { return f->status() != v1::OPEN; });

  std::vector<Column> columns;
  if (options.wide) columns.push_back({"ID"});
  columns.push_back({"SEVERITY"});
  columns.push_back({"KIND"});
  if (show_status) columns.push_back({"STATUS"});
  columns.push_back({"CLIENT", Align::kLeft, Cap(kNameWidth, options)});
  columns.push_back({"NODE", Align::kLeft, Cap(kNodeWidth, options)});
  columns.push_back({"PROCESS", Align::kLeft, Cap(kProcessWidth, options)});
  if (options.wide) columns.push_back({"LOCAL"});
  columns.push_back({"PEER"});
  columns.push_back({"LAST OWNER", Align::kLeft, Cap(kNameWidth, options)});
  columns.push_back({"LEFT"});
  columns.push_back({"NOW HELD BY", Align::kLeft, Cap(kNameWidth, options)});
  columns.push_back({"STATE"});
  columns.push_back({"SEND-Q", Align::kRight});
  columns.push_back({"AT RISK", Align::kRight});
  columns.push_back({"AGE", Align::kRight});
  if (options.wide) {
    columns.push_back({"NETNS"});
    columns.push_back({"CONTAINER"});
    columns.push_back({"BACKOFF", Align::kRight});
    columns.push_back({"UNACKED", Align::kRight});
    columns.push_back({"RTO", Align::kRight});
    columns.push_back({"LAST ACK", Align::kRight});
  }
  Table table(std::move(columns));

  for (const v1::Finding* finding : findings) {
    const v1::SocketRecord& socket = finding->socket();
    std::vector<std::string> row;
    if (options.wide)
      row.push_back(finding->id().empty() ? "-" : finding->id());
    row.push_back(SeverityName(finding->severity()));
    row.push_back(KindName(finding->kind()));
    if (show_status) row.push_back(StatusName(finding->status()));
    row.push_back(Name(ClientName(socket), options));
    row.push_back(socket.node().empty() ? "-" : socket.node());
    row.push_back(ProcessName(socket));
    if (options.wide)
      row.push_back(Endpoint(socket.local_ip(), socket.local_port()));
    row.push_back(PeerCell(socket));
    const std::string last_owner =
        finding->has_peer_last_owner()
            ? Name(OwnerName(finding->peer_last_owner()), options)
            : "";
    row.push_back(last_owner.empty() ? "-" : last_owner);
    row.push_back(AgoOrDash(finding->peer_last_owner().until(), options.now));
    row.push_back(CurrentOwnerCell(*finding, options));
    row.push_back(StateCell(socket));
    row.push_back(absl::StrCat(socket.send_queue()));
    row.push_back(HumanBytes(finding->bytes_at_risk()));
    const auto first_seen = TimeOf(finding->first_seen());
    row.push_back(first_seen ? CompactDuration(options.now - *first_seen)
                             : "-");
    if (options.wide) {
      row.push_back(
          socket.netns_inode() == 0 ? "-" : absl::StrCat(socket.netns_inode()));
      row.push_back(ShortContainerId(socket.container_id()));
      TcpInfoCells tcp = TcpCells(socket);
      row.push_back(std::move(tcp.backoff));
      row.push_back(std::move(tcp.unacked));
      row.push_back(std::move(tcp.rto));
      row.push_back(std::move(tcp.last_ack));
    }
    table.AddRow(std::move(row));
  }

  std::string out = table.Render();
  out += '\n';
  const StoryContext story{options.now, options.zone};
  for (const v1::Finding* finding : findings) {
    absl::StrAppend(&out, FindingStory(*finding, story), "\n");
    if (!finding->remediation().empty()) {
      absl::StrAppend(
          &out, "  remediation: ", Printable(finding->remediation()), "\n");
    }
  }
  return out;
}

std::string RenderFindingLines(const v1::ListFindingsResponse& response,
                               const RenderOptions& options) {
  const StoryContext story{options.now, options.zone};
  Table table({{"SEVERITY"}, {"KIND"}, {"STORY"}});
  for (const v1::Finding* finding : SortedFindings(response)) {
    table.AddRow({SeverityName(finding->severity()), KindName(finding->kind()),
                  FindingStory(*finding, story)});
  }
  // The brief list is for a log or a terminal: no header line.
  const std::string rendered = table.Render();
  return rendered.substr(rendered.find('\n') + 1);
}

namespace {

// Aggregator replicas sharing a store: which nodes' sockets another holds.
std::string ServedElsewhereNotes(const v1::ListSocketsResponse& response) {
  // Sorted: the map's order is not stable.
  std::vector<std::pair<std::string, std::string>> elsewhere(
      response.served_elsewhere().begin(), response.served_elsewhere().end());
  std::sort(elsewhere.begin(), elsewhere.end());
  std::string out;
  for (const auto& [node, replica] : elsewhere) {
    absl::StrAppend(&out, "(node ", Printable(node),
                    ": its agent streams to aggregator replica ",
                    Printable(replica), ", which holds its sockets)\n");
  }
  return out;
}

}  // namespace

std::string RenderSockets(const v1::ListSocketsResponse& response,
                          const RenderOptions& options) {
  if (response.sockets().empty()) return ServedElsewhereNotes(response);
  std::vector<Column> columns = {
      {"NODE", Align::kLeft, Cap(kNodeWidth, options)},
      {"CLIENT", Align::kLeft, Cap(kNameWidth, options)},
      {"PROCESS", Align::kLeft, Cap(kProcessWidth, options)},
      {"LOCAL"},
      {"PEER"},
      {"STATE"},
      {"SEND-Q", Align::kRight},
      {"RECV-Q", Align::kRight},
      {"BACKOFF", Align::kRight},
      {"UNACKED", Align::kRight},
      {"LAST ACK", Align::kRight},
  };
  if (options.wide) {
    for (Column column : std::vector<Column>{{"RTO", Align::kRight},
                                             {"RETRANS", Align::kRight},
                                             {"NOTSENT", Align::kRight},
                                             {"SENT", Align::kRight},
                                             {"ACKED", Align::kRight},
                                             {"NETNS"},
                                             {"INODE"},
                                             {"CONTAINER"}}) {
      columns.push_back(std::move(column));
    }
  }
  Table table(std::move(columns));
  for (const v1::SocketRecord& socket : response.sockets()) {
    TcpInfoCells tcp = TcpCells(socket);
    std::vector<std::string> row = {
        socket.node().empty() ? "-" : socket.node(),
        Name(ClientName(socket), options),
        ProcessName(socket),
        Endpoint(socket.local_ip(), socket.local_port()),
        PeerCell(socket),
        StateCell(socket),
        absl::StrCat(socket.send_queue()),
        absl::StrCat(socket.recv_queue()),
        std::move(tcp.backoff),
        std::move(tcp.unacked),
        std::move(tcp.last_ack),
    };
    if (options.wide) {
      const bool info =
          socket.has_tcp_info() && socket.state() != v1::TCP_STATE_LISTEN;
      const v1::TcpInfo& t = socket.tcp_info();
      row.push_back(std::move(tcp.rto));
      row.push_back(info ? absl::StrCat(t.total_retrans()) : "-");
      row.push_back(info ? absl::StrCat(t.notsent_bytes()) : "-");
      row.push_back(info ? absl::StrCat(t.bytes_sent()) : "-");
      row.push_back(info ? absl::StrCat(t.bytes_acked()) : "-");
      row.push_back(
          socket.netns_inode() == 0 ? "-" : absl::StrCat(socket.netns_inode()));
      row.push_back(socket.inode() == 0 ? "-" : absl::StrCat(socket.inode()));
      row.push_back(ShortContainerId(socket.container_id()));
    }
    table.AddRow(std::move(row));
  }
  std::string out = table.Render();
  if (response.truncated()) {
    absl::StrAppend(&out, "\n(first ", response.sockets_size(),
                    " sockets only: the aggregator has more; narrow with "
                    "--peer, --state or --node, or raise --limit)\n");
  }
  if (!response.served_elsewhere().empty()) {
    absl::StrAppend(&out, "\n", ServedElsewhereNotes(response));
  }
  return out;
}

// Heard from within this long, an agent is reporting (it sends a snapshot
// every 5 s by default); a stream can look open for a while after its node
// died (the aggregator's keepalive notices after ~40 s).
constexpr absl::Duration kReportingWithin = absl::Seconds(15);

// The node as its agent shows it: "reporting", "silent 2m" (since it was
// last heard from), "none" (no agent ever spoke for it).
std::string AgentCell(const v1::NodeStatus& node, absl::Time now) {
  std::optional<absl::Time> heard = TimeOf(node.last_contact());
  if (!heard) heard = TimeOf(node.last_report());
  if (!heard) return node.connected() ? "reporting" : "none";
  if (node.connected() && now - *heard < kReportingWithin) return "reporting";
  return absl::StrCat("silent ", CompactDuration(now - *heard));
}

// The node as the swarm managers show it: "ready", "down 45s" (since they
// marked it so), ", lost" once its addresses were closed; "-" when no
// manager's agent reported it.
std::string SwarmCell(const v1::NodeStatus& node, absl::Time now) {
  if (!node.has_swarm()) return "-";
  const v1::SwarmNodeState state = node.swarm().state();
  std::string cell =
      state == v1::SWARM_NODE_STATE_UNSPECIFIED ||
              !v1::SwarmNodeState_IsValid(state)
          ? "?"
          : absl::AsciiStrToLower(absl::StripPrefix(
                v1::SwarmNodeState_Name(state), "SWARM_NODE_STATE_"));
  const auto since = TimeOf(node.swarm().state_since());
  if (since && state != v1::SWARM_NODE_STATE_READY) {
    absl::StrAppend(&cell, " ", CompactDuration(now - *since));
  }
  if (node.lost()) absl::StrAppend(&cell, ", lost");
  return cell;
}

std::string RenderNodes(const v1::ListNodesResponse& response,
                        const RenderOptions& options) {
  if (response.nodes().empty()) return "";
  std::vector<const v1::NodeStatus*> nodes;
  for (const auto& node : response.nodes()) nodes.push_back(&node);
  std::stable_sort(nodes.begin(), nodes.end(),
                   [](const v1::NodeStatus* a, const v1::NodeStatus* b) {
                     return a->node() < b->node();
                   });
  std::vector<Column> columns = {
      {"NODE", Align::kLeft, Cap(kNodeWidth * 2, options)},
      {"SWARM"},
      {"AGENT"},
      {"LAST REPORT"},
      {"LAG", Align::kRight},
      {"VERSION"},
      {"NAMESPACES", Align::kRight},
      {"FAILED", Align::kRight},
      {"SOCKETS", Align::kRight},
      {"DOCKER", Align::kLeft, Cap(kDockerWidth, options)},
      {"VIPS", Align::kLeft, Cap(kDockerWidth, options)},
      {"LB BLACKHOLE", Align::kRight},
      {"REMEDIATION", Align::kLeft, Cap(kDockerWidth, options)},
  };
  if (options.wide) {
    columns.push_back({"KERNEL"});
    // Replicas sharing one store: the one the node's agent streams to.
    columns.push_back({"SERVED BY"});
  }
  Table table(std::move(columns));
  for (const v1::NodeStatus* node : nodes) {
    std::vector<std::string> row = {
        node->node().empty() ? "-" : node->node(),
        SwarmCell(*node, options.now),
        AgentCell(*node, options.now),
        AgoOrDash(node->last_report(), options.now),
        node->has_lag() ? ShortLatency(FromProto(node->lag())) : "-",
        node->agent_version().empty() ? "-" : node->agent_version(),
        absl::StrCat(node->namespaces_seen()),
        absl::StrCat(node->namespaces_failed()),
        absl::StrCat(node->sockets()),
        node->docker_status().empty() ? "-" : node->docker_status(),
        VipsCell(*node),
        BlackholeCell(*node),
        RemediationCell(*node),
    };
    if (options.wide) {
      row.push_back(node->kernel().empty() ? "-" : node->kernel());
      row.push_back(node->served_by().empty() ? "-"
                                              : Printable(node->served_by()));
    }
    table.AddRow(std::move(row));
  }
  return table.Render();
}

namespace {

// Who the remediated client is: its task, container or service, else its
// process ("logc/4242"), else its namespace.
std::string RemediationClient(const v1::SocketRecord& socket,
                              const RenderOptions& options) {
  if (!socket.task().empty() || !socket.container_name().empty() ||
      !socket.service().empty()) {
    return Printable(Name(ClientName(socket), options));
  }
  const std::string process = ProcessName(socket);
  return Printable(process != "-" ? process : ClientName(socket));
}

// The judged peer: the socket's own (VIP -> backend) when recorded, else the
// address the decision names.
std::string RemediationPeer(const v1::Remediation& remediation) {
  if (remediation.has_socket() && !remediation.socket().remote_ip().empty()) {
    return Printable(PeerCell(remediation.socket()));
  }
  return remediation.peer_ip().empty() ? "-" : Printable(remediation.peer_ip());
}

// The outcome column: the agent's answer, or "pending" for an order still
// waiting for one.
std::string OutcomeCell(const v1::Remediation& remediation) {
  if (remediation.has_outcome() &&
      remediation.outcome().outcome() != v1::REMEDIATION_OUTCOME_UNSPECIFIED) {
    return RemediationOutcomeName(remediation.outcome().outcome());
  }
  return remediation.decision() == v1::REMEDIATION_DECISION_ORDERED ? "pending"
                                                                    : "-";
}

// The outcome's detail ("errno 1: ..."), else the decision's reason.
std::string DetailCell(const v1::Remediation& remediation) {
  std::string detail;
  if (remediation.has_outcome()) {
    const v1::RemediationOutcome& outcome = remediation.outcome();
    detail = outcome.detail();
    if (outcome.error_number() != 0) {
      detail = absl::StrCat("errno ", outcome.error_number(),
                            detail.empty() ? "" : ": ", detail);
    }
  }
  if (detail.empty()) detail = remediation.reason();
  return detail.empty() ? "-" : Printable(detail);
}

}  // namespace

std::string RenderRemediations(const v1::ListRemediationsResponse& response,
                               const RenderOptions& options) {
  if (response.remediations().empty()) return "";
  std::vector<Column> columns;
  if (options.wide) {
    columns.push_back({"ID"});
    columns.push_back({"FINDING"});
  }
  for (Column column : std::vector<Column>{
           {"WHEN"},
           {"NODE", Align::kLeft, Cap(kNodeWidth, options)},
           {"CLIENT", Align::kLeft, Cap(kNameWidth, options)},
           {"PEER"},
           {"MODE"},
           {"BY", Align::kLeft, Cap(kNameWidth, options)},
           {"DECISION"},
           {"OUTCOME"},
       }) {
    columns.push_back(std::move(column));
  }
  if (options.wide) {
    columns.push_back({"SENDS", Align::kRight});
    columns.push_back({"ANSWERED"});
  }
  // Last: the longest, and what a narrow terminal can lose.
  columns.push_back({"DETAIL", Align::kLeft, Cap(kDockerWidth * 2, options)});
  Table table(std::move(columns));
  for (const v1::Remediation& r : response.remediations()) {
    std::vector<std::string> row;
    if (options.wide) {
      row.push_back(r.id().empty() ? "-" : Printable(r.id()));
      row.push_back(r.finding_id().empty() ? "-" : Printable(r.finding_id()));
    }
    const auto decided = TimeOf(r.decided_at());
    row.push_back(decided ? ClockTime(*decided, options.now, options.zone)
                          : "-");
    const std::string& node = !r.node().empty() ? r.node() : r.socket().node();
    row.push_back(node.empty() ? "-" : Printable(node));
    row.push_back(RemediationClient(r.socket(), options));
    row.push_back(RemediationPeer(r));
    row.push_back(RemediationModeName(r.mode()));
    row.push_back(r.requested_by().empty() ? "-" : Printable(r.requested_by()));
    row.push_back(RemediationDecisionName(r.decision()));
    row.push_back(OutcomeCell(r));
    if (options.wide) {
      row.push_back(absl::StrCat(r.attempts()));
      const auto answered = TimeOf(r.outcome_received_at());
      row.push_back(answered ? ClockTime(*answered, options.now, options.zone)
                             : "-");
    }
    row.push_back(DetailCell(r));
    table.AddRow(std::move(row));
  }
  return table.Render();
}

std::string RenderRemediationDecision(const v1::Remediation& remediation,
                                      const RenderOptions& options) {
  const std::string client = RemediationClient(remediation.socket(), options);
  const std::string node =
      remediation.node().empty() ? "its node" : Printable(remediation.node());
  const std::string peer = RemediationPeer(remediation);
  const std::string reason =
      remediation.reason().empty() ? "" : Printable(remediation.reason());
  std::string out;
  switch (remediation.decision()) {
    case v1::REMEDIATION_DECISION_ORDERED:
      out = absl::StrCat("ordered: the agent on ", node,
                         " will destroy the socket of ", client, " to ", peer,
                         " after checking again that it is still a ghost");
      break;
    case v1::REMEDIATION_DECISION_WOULD_DESTROY:
      out = absl::StrCat("would destroy: the socket of ", client, " on ", node,
                         " to ", peer,
                         " passes every guard; nothing was touched (dry run)");
      break;
    case v1::REMEDIATION_DECISION_DECLINED:
      out = absl::StrCat("refused: ",
                         reason.empty() ? "a guard said no" : reason);
      break;
    case v1::REMEDIATION_DECISION_RATE_LIMITED:
      out = absl::StrCat("refused: rate limit reached",
                         reason.empty() ? "" : ": ", reason);
      break;
    default:
      out = "the aggregator recorded a decision this ghostpeer does not know";
      break;
  }
  out += '\n';
  const bool refused =
      remediation.decision() == v1::REMEDIATION_DECISION_DECLINED ||
      remediation.decision() == v1::REMEDIATION_DECISION_RATE_LIMITED;
  if (!refused && !reason.empty())
    absl::StrAppend(&out, "  why: ", reason, "\n");
  if (OutcomeCell(remediation) != "-" &&
      OutcomeCell(remediation) != "pending") {
    absl::StrAppend(&out, "  outcome: ", OutcomeCell(remediation), " (",
                    DetailCell(remediation), ")\n");
  }
  const std::string finding = remediation.finding_id().empty()
                                  ? std::string()
                                  : Printable(remediation.finding_id());
  if (!remediation.id().empty()) {
    absl::StrAppend(&out, "  recorded as ", Printable(remediation.id()));
    if (!finding.empty()) {
      absl::StrAppend(&out,
                      "; follow it with: ghostpeer remediations "
                      "--finding ",
                      finding);
    }
    out += '\n';
  }
  return out;
}

std::string RenderFindingEvent(const v1::FindingEvent& event,
                               const RenderOptions& options) {
  const v1::Finding& finding = event.finding();
  std::optional<absl::Time> when;
  switch (event.type()) {
    case v1::OPENED:
      when = TimeOf(finding.first_seen());
      break;
    case v1::UPDATED:
      when = TimeOf(finding.last_seen());
      break;
    case v1::CLOSED:
      when = TimeOf(finding.resolved_at());
      break;
    default:
      break;
  }
  const absl::Time time = when.value_or(options.now);
  const StoryContext story{options.now, options.zone};
  // Fixed-width leading fields keep a scrolling log aligned without a table.
  std::string told = FindingStory(finding, story);
  if (!finding.remediation().empty()) {
    absl::StrAppend(&told, " [remediation: ", Printable(finding.remediation()),
                    "]");
  }
  return absl::StrFormat(
      "%-8s  %-7s  %-8s  %-17s  %s\n",
      ClockTime(time, options.now, options.zone), EventTypeName(event.type()),
      SeverityName(finding.severity()), KindName(finding.kind()), told);
}

}  // namespace ghostpeer::cli
