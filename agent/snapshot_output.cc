#include "agent/snapshot_output.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/tcp_state.h"
#include "common/proto_json.h"
#include "common/time_util.h"

namespace ghostpeer::agent {
namespace {

std::string Endpoint(const std::string& ip, uint32_t port) {
  if (ip.find(':') != std::string::npos)
    return absl::StrCat("[", ip, "]:", port);
  return absl::StrCat(ip, ":", port);
}

std::string NamespaceLabel(const v1::NamespaceInfo& info) {
  if (info.is_host()) return "host";
  if (!info.container_name().empty()) return info.container_name();
  if (!info.container_id().empty()) return info.container_id().substr(0, 12);
  if (!info.netns_name().empty()) return info.netns_name();
  return absl::StrCat("netns:", info.inode());
}

std::string Hints(const v1::SocketRecord& socket) {
  std::vector<std::string> hints;
  if (socket.peer_closed()) hints.push_back("peer-fin");
  if (socket.translated_by() == v1::TRANSLATOR_IPVS) {
    hints.push_back("via:ipvs");
  } else if (socket.translated_by() == v1::TRANSLATOR_CONNTRACK) {
    hints.push_back("via:conntrack");
  }
  if (socket.has_tcp_info()) {
    const v1::TcpInfo& info = socket.tcp_info();
    if (info.backoff() > 0)
      hints.push_back(absl::StrCat("backoff:", info.backoff()));
    if (info.unacked() > 0)
      hints.push_back(absl::StrCat("unacked:", info.unacked()));
    if (info.retransmits() > 0 || info.total_retrans() > 0) {
      hints.push_back(absl::StrCat("retrans:", info.retransmits(), "/",
                                   info.total_retrans()));
    }
    if (info.notsent_bytes() > 0) {
      hints.push_back(absl::StrCat("notsent:", info.notsent_bytes()));
    }
    if (info.unacked() > 0 && info.last_ack_recv_ms() > 0) {
      hints.push_back(absl::StrCat("lastack:", info.last_ack_recv_ms(), "ms"));
    }
  }
  return absl::StrJoin(hints, " ");
}

// The address the socket names, and where a translation really sends it
// ("10.0.1.2:5432 -> 10.0.1.6:5432").
std::string Peer(const v1::SocketRecord& socket) {
  std::string peer = Endpoint(socket.remote_ip(), socket.remote_port());
  if (!socket.backend_ip().empty()) {
    absl::StrAppend(&peer, " -> ",
                    Endpoint(socket.backend_ip(), socket.backend_port()));
  }
  return peer;
}

void AppendRow(const std::vector<std::string>& cells,
               const std::vector<size_t>& widths, std::string* out) {
  for (size_t i = 0; i < cells.size(); ++i) {
    absl::StrAppend(out, cells[i]);
    if (i + 1 < cells.size()) {
      out->append(widths[i] - cells[i].size() + 2, ' ');
    }
  }
  // The last column is free text: no padding, just the line end.
  while (!out->empty() && out->back() == ' ') out->pop_back();
  out->push_back('\n');
}

}  // namespace

std::optional<SortKey> ParseSortKey(absl::string_view name) {
  static const auto* const kKeys =
      new absl::flat_hash_map<absl::string_view, SortKey>{
          {"send-queue", SortKey::kSendQueue},
          {"recv-queue", SortKey::kRecvQueue},
          {"backoff", SortKey::kBackoff},
          {"state", SortKey::kState},
          {"local", SortKey::kLocal},
          {"remote", SortKey::kRemote},
          {"pid", SortKey::kPid},
          {"none", SortKey::kNone}};
  auto it = kKeys->find(name);
  if (it == kKeys->end()) return std::nullopt;
  return it->second;
}

void FilterAndSort(const OutputOptions& options, v1::NodeSnapshot* snapshot) {
  auto* sockets = snapshot->mutable_sockets();
  if (!options.states.empty()) {
    const absl::flat_hash_set<int> keep(options.states.begin(),
                                        options.states.end());
    google::protobuf::RepeatedPtrField<v1::SocketRecord> kept;
    kept.Reserve(sockets->size());
    for (v1::SocketRecord& socket : *sockets) {
      if (keep.contains(socket.state())) kept.Add(std::move(socket));
    }
    sockets->Swap(&kept);
  }
  if (options.sort == SortKey::kNone) return;
  const auto endpoints = [](const v1::SocketRecord* s) {
    return std::make_tuple(s->remote_ip(), s->remote_port(), s->local_ip(),
                           s->local_port());
  };
  std::stable_sort(
      sockets->pointer_begin(), sockets->pointer_end(),
      [&](const v1::SocketRecord* a, const v1::SocketRecord* b) {
        switch (options.sort) {
          case SortKey::kSendQueue:
            if (a->send_queue() != b->send_queue()) {
              return a->send_queue() > b->send_queue();
            }
            break;
          case SortKey::kRecvQueue:
            if (a->recv_queue() != b->recv_queue()) {
              return a->recv_queue() > b->recv_queue();
            }
            break;
          case SortKey::kBackoff:
            if (a->tcp_info().backoff() != b->tcp_info().backoff()) {
              return a->tcp_info().backoff() > b->tcp_info().backoff();
            }
            if (a->send_queue() != b->send_queue()) {
              return a->send_queue() > b->send_queue();
            }
            break;
          case SortKey::kState:
            if (a->state() != b->state()) return a->state() < b->state();
            break;
          case SortKey::kLocal:
            return std::make_tuple(a->local_ip(), a->local_port()) <
                   std::make_tuple(b->local_ip(), b->local_port());
          case SortKey::kRemote:
            break;  // the tie-break is the remote endpoint
          case SortKey::kPid:
            if (a->pid() != b->pid()) return a->pid() < b->pid();
            break;
          case SortKey::kNone:
            return false;
        }
        return endpoints(a) < endpoints(b);
      });
}

std::string FormatSnapshotJson(const v1::NodeSnapshot& snapshot) {
  return ProtoToJson(snapshot, JsonLayout::kIndented);
}

std::string FormatSnapshotTable(const v1::NodeSnapshot& snapshot) {
  absl::flat_hash_map<uint64_t, std::string> namespace_labels;
  for (const v1::NamespaceInfo& info : snapshot.namespaces()) {
    namespace_labels.emplace(info.inode(), NamespaceLabel(info));
  }
  std::vector<std::vector<std::string>> rows;
  rows.reserve(snapshot.sockets_size() + 1);
  rows.push_back({"State", "Proto", "Recv-Q", "Send-Q", "Local", "Peer",
                  "Namespace", "Process", "Info"});
  for (const v1::SocketRecord& socket : snapshot.sockets()) {
    auto label = namespace_labels.find(socket.netns_inode());
    rows.push_back(
        {std::string(TcpStateShortName(socket.state())),
         // UNSPECIFIED: a record from before UDP support, which is TCP.
         socket.protocol() == v1::PROTOCOL_UDP ? "udp" : "tcp",
         absl::StrCat(socket.recv_queue()), absl::StrCat(socket.send_queue()),
         Endpoint(socket.local_ip(), socket.local_port()), Peer(socket),
         label != namespace_labels.end()
             ? label->second
             : absl::StrCat("netns:", socket.netns_inode()),
         socket.pid() > 0 ? absl::StrCat(socket.comm(), "/", socket.pid())
                          : "-",
         Hints(socket)});
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) AppendRow(row, widths, &out);
  for (const v1::NamespaceInfo& info : snapshot.namespaces()) {
    if (info.status() == v1::NAMESPACE_STATUS_FAILED) {
      absl::StrAppend(&out, "! namespace ", NamespaceLabel(info), " (",
                      info.path(), ") failed: ", info.error(), "\n");
    } else if (info.status() == v1::NAMESPACE_STATUS_FALLBACK) {
      absl::StrAppend(&out, "~ namespace ", NamespaceLabel(info), " (",
                      info.path(), ") from /proc: ", info.error(), "\n");
    }
  }
  for (const v1::NamespaceInfo& info : snapshot.namespaces()) {
    if (!info.translation_error().empty()) {
      absl::StrAppend(&out, "! namespace ", NamespaceLabel(info),
                      " translations unreadable: ", info.translation_error(),
                      "\n");
    }
    if (info.has_ipvs() && info.ipvs().expire_nodest_conn() == 0) {
      absl::StrAppend(&out, "! namespace ", NamespaceLabel(info),
                      " has IPVS with expire_nodest_conn=0: connections to a "
                      "removed backend are silently dropped\n");
    }
  }
  if (!snapshot.translation_status().empty() &&
      snapshot.translation_status() != "ok") {
    absl::StrAppend(&out, "! cannot see through VIPs: ",
                    snapshot.translation_status(), "\n");
  }
  const v1::SnapshotStats& stats = snapshot.stats();
  absl::StrAppend(
      &out, snapshot.sockets_size(), " sockets shown (", stats.sockets(),
      " captured) in ", stats.namespaces_seen(), " namespaces (",
      stats.namespaces_failed(), " failed, ", stats.namespaces_fallback(),
      " from /proc) on ", snapshot.node(), " at ",
      ghostpeer::FormatTime(ghostpeer::FromProto(snapshot.taken_at())), " in ",
      absl::FormatDuration(ghostpeer::FromProto(stats.duration())), "\n");
  return out;
}

}  // namespace ghostpeer::agent
