#include "aggregator/detector.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "aggregator/ip_address.h"
#include "common/story.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

bool CanLoseData(v1::TcpState state) {
  switch (state) {
    case v1::TCP_STATE_ESTABLISHED:
    case v1::TCP_STATE_CLOSE_WAIT:
    case v1::TCP_STATE_FIN_WAIT1:
    case v1::TCP_STATE_LAST_ACK:
    case v1::TCP_STATE_CLOSING:
      return true;
    default:
      return false;
  }
}

// Streaks stop counting here: any confirmation threshold is below it.
constexpr uint32_t kConfirmedStreak = 1000;

// `streak` after one more snapshot with (or without) the evidence.
uint32_t NextStreak(uint32_t streak, bool evidence) {
  return evidence ? std::min(streak + 1, kConfirmedStreak) : 0;
}

uint64_t SubtractSaturating(uint64_t a, uint64_t b) {
  return a > b ? a - b : 0;
}

// 64-bit FNV-1a: tiny, stable across processes and platforms (absl::Hash is
// salted per process, so it cannot name anything persistent).
class Fnv1a {
 public:
  void Add(absl::string_view bytes) {
    for (char c : bytes) {
      hash_ ^= static_cast<unsigned char>(c);
      hash_ *= 0x100000001b3ULL;
    }
    hash_ ^= 0xff;  // field separator: ("ab","c") != ("a","bc")
    hash_ *= 0x100000001b3ULL;
  }
  void Add(uint64_t value) { Add(absl::string_view(absl::StrCat(value))); }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

// The per-address facts the rules use, computed once per socket, over the
// intervals the client's node can reach (ReachableFrom, address_history.h):
// another node's holding of a node-local address is another address.
class AddressView {
 public:
  AddressView(const AddressRecord& record, const AddressHistory& history,
              absl::string_view client_node)
      : history_(history) {
    for (const OwnershipInterval& interval : record.intervals) {
      if (!ReachableFrom(interval.owner, client_node)) continue;
      intervals_.push_back(&interval);
      if (interval.owner.kind() == v1::OWNER_KIND_SWARM_VIP) ever_vip_ = true;
      const std::string& container = interval.owner.container_id();
      if (interval.ended_by != EndEvidence::kDeparture || container.empty()) {
        continue;
      }
      auto [it, inserted] =
          last_departure_.try_emplace(container, interval.until);
      if (!inserted) it->second = std::max(it->second, interval.until);
    }
    for (const OwnershipInterval* interval : intervals_) {
      if (Holds(*interval)) ++holding_count_;
    }
  }

  // Nobody the client can reach ever held the address (in the retained
  // history).
  bool empty() const { return intervals_.empty(); }
  // Held now by someone the client can reach.
  bool held() const { return holding_count_ > 0; }
  bool ever_vip() const { return ever_vip_; }

  // Rule 6: an open interval holds the address unless a reported departure
  // of its container came at or after its start (a late view of a
  // container Docker or the tasks API said is gone).
  bool Holds(const OwnershipInterval& interval) const {
    if (!interval.open()) return false;
    const std::string& container = interval.owner.container_id();
    if (container.empty() || last_departure_.empty()) return true;
    auto it = last_departure_.find(container);
    return it == last_departure_.end() || it->second < interval.since;
  }

  // Rule 6: when the departure that ended `interval` (or, open, made it
  // no holding) was reported: the earliest end, at or after `interval`
  // began, of an interval of its container (itself included) that ended by
  // kDeparture. The earliest, because later reports of one departure (a
  // poll of the tasks API) are late stamps of the same fact. nullopt when
  // no event reported it.
  std::optional<absl::Time> ReportedDeparture(
      const OwnershipInterval& interval) const {
    std::optional<absl::Time> at;
    if (interval.ended_by == EndEvidence::kDeparture) at = interval.until;
    const std::string& container = interval.owner.container_id();
    if (container.empty() || !last_departure_.contains(container)) return at;
    for (const OwnershipInterval* other : intervals_) {
      if (other->ended_by != EndEvidence::kDeparture ||
          other->owner.container_id() != container ||
          other->until < interval.since) {
        continue;
      }
      if (!at.has_value() || other->until < *at) at = other->until;
    }
    return at;
  }

  // Does `owner` match any current holder (identity or container id)?
  bool HeldNowBy(OwnerId owner) const {
    const std::string& container = history_.OwnerContainerId(owner);
    for (const OwnershipInterval* reachable : intervals_) {
      const OwnershipInterval& interval = *reachable;
      if (!Holds(interval)) continue;
      if (interval.owner_id == owner) return true;
      if (!container.empty() && interval.owner.container_id() == container) {
        return true;
      }
    }
    return false;
  }

  // The closed interval that ended last (ties: recorded last), optionally
  // only among those recorded before `mark`.
  const OwnershipInterval* LastEnded(IntervalId mark = 0) const {
    const OwnershipInterval* last = nullptr;
    for (const OwnershipInterval* reachable : intervals_) {
      const OwnershipInterval& interval = *reachable;
      if (interval.open()) continue;
      if (mark > 0 && interval.id >= mark) continue;
      if (last == nullptr || interval.until > last->until ||
          (interval.until == last->until && interval.id > last->id)) {
        last = &interval;
      }
    }
    return last;
  }

  // The current holder recorded last.
  const OwnershipInterval* NewestHolder() const {
    const OwnershipInterval* newest = nullptr;
    for (const OwnershipInterval* reachable : intervals_) {
      const OwnershipInterval& interval = *reachable;
      if (Holds(interval) && (newest == nullptr || interval.id > newest->id)) {
        newest = &interval;
      }
    }
    return newest;
  }

  // The latest interval of `owner` (any state).
  const OwnershipInterval* LatestOf(OwnerId owner) const {
    const OwnershipInterval* latest = nullptr;
    for (const OwnershipInterval* reachable : intervals_) {
      const OwnershipInterval& interval = *reachable;
      if (interval.owner_id == owner &&
          (latest == nullptr || interval.id > latest->id)) {
        latest = &interval;
      }
    }
    return latest;
  }

  // Rule 4(c): a former owner held the address at `heard_at` with `margin`
  // to spare, and no current holder did.
  const OwnershipInterval* FormerOwnerAt(absl::Time heard_at,
                                         absl::Duration margin) const {
    const OwnershipInterval* former = nullptr;
    for (const OwnershipInterval* reachable : intervals_) {
      const OwnershipInterval& interval = *reachable;
      const bool current = HeldNowBy(interval.owner_id);
      const bool covers_loosely = interval.since - margin <= heard_at &&
                                  heard_at < interval.until + margin;
      if (current) {
        if (covers_loosely) return nullptr;  // it may be who answered
        continue;
      }
      const bool covers_strictly =
          interval.since <= heard_at && heard_at + margin < interval.until;
      if (covers_strictly && (former == nullptr || interval.id > former->id)) {
        former = &interval;
      }
    }
    return former;
  }

  void Holders(absl::InlinedVector<OwnerId, 2>* out) const {
    out->clear();
    for (const OwnershipInterval* reachable : intervals_) {
      const OwnershipInterval& interval = *reachable;
      if (Holds(interval)) out->push_back(interval.owner_id);
    }
  }

  bool AllHoldingsRecordedSince(IntervalId mark) const {
    for (const OwnershipInterval* reachable : intervals_) {
      const OwnershipInterval& interval = *reachable;
      if (Holds(interval) && interval.id < mark) return false;
    }
    return true;
  }

 private:
  const AddressHistory& history_;
  absl::InlinedVector<const OwnershipInterval*, 4> intervals_;
  // Container id -> the latest end of its intervals that ended by
  // kDeparture (views into the record).
  absl::flat_hash_map<absl::string_view, absl::Time> last_departure_;
  int holding_count_ = 0;
  bool ever_vip_ = false;
};

// When the peer was last heard from on this connection (agent clock), if
// the record can tell.
std::optional<absl::Time> LastHeard(const SocketView& view,
                                    absl::Time taken_at) {
  if (!view.has_tcp_info()) return std::nullopt;
  const uint64_t age_ms =
      static_cast<uint64_t>(
          std::min(view.last_ack_recv_ms(), view.last_data_recv_ms())) +
      view.extra_age_ms();
  return taken_at - absl::Milliseconds(static_cast<int64_t>(age_ms));
}

// A peer address a finding can be about: not loopback, not unspecified,
// not the socket's own.
bool IsJudgeablePeer(absl::string_view peer, absl::string_view local) {
  return !IsLoopbackIpAddress(peer) && !IsUnspecifiedIpAddress(peer) &&
         peer != local;
}

// Who the address a translated socket names (its VIP) belongs to, as the
// client's node reaches it: the holder recorded last, else the owner that
// held it last; nullopt for an address nobody held (a DNAT VIP no owner
// reports).
std::optional<v1::AddressOwner> VipOwner(const AddressHistory& history,
                                         absl::string_view vip,
                                         absl::string_view client_node) {
  const AddressRecord* record = history.Find(vip);
  if (record == nullptr) return std::nullopt;
  const AddressView view(*record, history, client_node);
  const OwnershipInterval* owner = view.NewestHolder();
  if (owner == nullptr) owner = view.LastEnded();
  if (owner == nullptr) return std::nullopt;
  return owner->ToProto();
}

// Which addresses each namespace of the node holds.
absl::flat_hash_map<uint64_t, absl::flat_hash_set<absl::string_view>>
OwnAddresses(
    const google::protobuf::RepeatedPtrField<v1::NamespaceInfo>* namespaces) {
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<absl::string_view>> own;
  if (namespaces == nullptr) return own;
  for (const v1::NamespaceInfo& ns : *namespaces) {
    auto& set = own[ns.inode()];
    for (const v1::InterfaceAddress& address : ns.addresses()) {
      set.insert(address.address());
    }
  }
  return own;
}

}  // namespace

std::string FindingId(absl::string_view node, const SocketKeyView& key) {
  Fnv1a hash;
  hash.Add(node);
  hash.Add(key.netns_inode);
  hash.Add(key.local_ip);
  hash.Add(static_cast<uint64_t>(key.local_port));
  hash.Add(key.remote_ip);
  hash.Add(static_cast<uint64_t>(key.remote_port));
  hash.Add(key.inode);
  // Only UDP adds its protocol: TCP ids stay what they were before UDP
  // (they are stored with findings).
  if (key.protocol == v1::PROTOCOL_UDP) {
    hash.Add(static_cast<uint64_t>(v1::PROTOCOL_UDP));
  }
  return absl::StrFormat("%016x", hash.value());
}

std::string EncodeMemory(const SocketMemory& memory,
                         const AddressHistory& history) {
  // The target is an address (validated, canonical: no spaces); "-" for
  // none yet.
  std::string out =
      absl::StrCat("3 ", absl::ToUnixMicros(memory.first_seen), " ",
                   memory.history_mark, " ", memory.has_written ? 1 : 0, " ",
                   memory.written, " ", memory.fin_seen ? 1 : 0, " ",
                   memory.written_at_fin, " ", memory.acked_at_fin, " ",
                   memory.vanished_streak, " ", memory.reassigned_streak, " ",
                   memory.target.empty() ? "-" : absl::CEscape(memory.target));
  for (OwnerId owner : memory.first_holders) {
    absl::StrAppend(&out, "\n", absl::CEscape(history.OwnerKey(owner)), "\t",
                    absl::CEscape(history.OwnerContainerId(owner)));
  }
  return out;
}

absl::StatusOr<SocketMemory> DecodeMemory(absl::string_view encoded,
                                          AddressHistory* history) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("detector memory: ", why));
  };
  std::vector<absl::string_view> lines = absl::StrSplit(encoded, '\n');
  std::vector<absl::string_view> fields = absl::StrSplit(lines[0], ' ');
  // Format 1 (before confirmations) has no streaks: its finding was raised,
  // so its evidence counts as confirmed.
  // Format 2 has no target: it judged the remote address.
  const bool v1 = fields.size() == 8 && fields[0] == "1";
  const bool v2 = fields.size() == 10 && fields[0] == "2";
  const bool v3 = fields.size() == 11 && fields[0] == "3";
  if (!v1 && !v2 && !v3) return bad("unknown format");
  std::string target;
  if (v3) {
    if (fields[10] != "-" && !absl::CUnescape(fields[10], &target)) {
      return bad("target");
    }
    fields.pop_back();
  }
  int64_t numbers[9] = {
      0, 0, 0, 0, 0, 0, 0, kConfirmedStreak, kConfirmedStreak};
  for (size_t i = 0; i + 1 < fields.size(); ++i) {
    if (!absl::SimpleAtoi(fields[i + 1], &numbers[i])) return bad("number");
  }
  if (numbers[7] < 0 || numbers[8] < 0 || numbers[7] > kConfirmedStreak ||
      numbers[8] > kConfirmedStreak) {
    return bad("streak");
  }
  SocketMemory memory;
  memory.first_seen = absl::FromUnixMicros(numbers[0]);
  memory.history_mark = numbers[1];
  memory.has_written = numbers[2] != 0;
  memory.written = static_cast<uint64_t>(numbers[3]);
  memory.fin_seen = numbers[4] != 0;
  memory.written_at_fin = static_cast<uint64_t>(numbers[5]);
  memory.acked_at_fin = static_cast<uint64_t>(numbers[6]);
  memory.vanished_streak = static_cast<uint32_t>(numbers[7]);
  memory.reassigned_streak = static_cast<uint32_t>(numbers[8]);
  memory.target = std::move(target);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> parts = absl::StrSplit(lines[i], '\t');
    std::string key, container;
    if (parts.size() != 2 || !absl::CUnescape(parts[0], &key) ||
        !absl::CUnescape(parts[1], &container)) {
      return bad("owner line");
    }
    memory.first_holders.push_back(history->InternKey(key, container));
  }
  return memory;
}

std::vector<DetectedFinding> Detect(const DetectionInput& input,
                                    const AddressHistory& history,
                                    const DetectorOptions& options,
                                    ConnectionMemory* memory) {
  const uint64_t generation = ++memory->generation;
  const uint32_t confirmations =
      static_cast<uint32_t>(std::clamp(options.confirmations, 1, 100));
  const auto own = OwnAddresses(input.namespaces);
  std::vector<DetectedFinding> findings;

  for (const SocketView& view : input.sockets) {
    const SocketView& socket = view;
    // 0. Eligibility. 8: a UDP socket is judged when connected (a remote
    //    port; the address is checked below), whatever state it reports.
    const bool udp = socket.protocol() == v1::PROTOCOL_UDP;
    if (udp ? socket.remote_port() == 0 : !CanLoseData(socket.state())) {
      continue;
    }
    if (socket.inode() == 0) continue;  // an orphan: no application left
    const absl::string_view remote = socket.remote_ip();
    if (!IsJudgeablePeer(remote, socket.local_ip())) continue;
    // 7. A translated socket is judged on its backend; the address it
    //    names (the VIP) only describes the finding.
    const bool translated = !socket.backend_ip().empty();
    const absl::string_view target = translated ? socket.backend_ip() : remote;
    if (translated && !IsJudgeablePeer(target, socket.local_ip())) continue;
    if (auto ns = own.find(socket.netns_inode());
        ns != own.end() && ns->second.contains(target)) {
      continue;
    }
    const AddressRecord* record = history.Find(target);
    if (record == nullptr) continue;
    const AddressView address(*record, history, input.node);
    if (address.empty() || address.ever_vip()) continue;

    // 1. Memory.
    const SocketKeyView key = socket.key();
    const uint64_t fingerprint = view.fingerprint();
    auto [it, inserted] = memory->sockets.try_emplace(fingerprint);
    SocketMemory& mem = it->second;
    // Memory from before the field (format 2) judged the remote address,
    // which was then the target.
    if (mem.target.empty() && !inserted) mem.target = std::string(target);
    if (inserted || mem.target != target) {
      // First sight of this connection, or of its translation (a VIP
      // socket whose backend appeared or changed): what held the old
      // target says nothing about the new one. The byte counts are the
      // socket's and stay.
      mem.target = std::string(target);
      mem.first_seen = input.now;
      mem.history_mark = history.next_id();
      address.Holders(&mem.first_holders);
      mem.vanished_streak = 0;
      mem.reassigned_streak = 0;
    }
    mem.generation = generation;
    // 8. UDP has no tcp_info to read, whatever a record carries.
    const bool has_info = !udp && socket.has_tcp_info();
    const uint64_t acked = has_info ? socket.bytes_acked() : 0;
    const uint64_t written = acked + socket.send_queue();
    const bool wrote = mem.has_written && written > mem.written;
    mem.has_written = true;
    mem.written = written;
    const bool close_wait = !udp && socket.state() == v1::TCP_STATE_CLOSE_WAIT;
    if (close_wait && !mem.fin_seen) {
      mem.fin_seen = true;
      mem.written_at_fin = written;
      mem.acked_at_fin = acked;
    }

    // 2. Bytes at risk (8: none for UDP, which nothing acknowledges).
    const uint64_t at_risk =
        udp ? 0
            : socket.send_queue() +
                  (mem.fin_seen && has_info
                       ? SubtractSaturating(acked, mem.acked_at_fin)
                       : 0);
    const bool data_waiting =
        socket.send_queue() > 0 ||
        (has_info && (socket.unacked() > 0 || socket.backoff() > 0));

    auto emit = [&](v1::FindingKind kind, v1::Severity severity,
                    const OwnershipInterval* last_owner,
                    const OwnershipInterval* current_owner) {
      DetectedFinding& out = findings.emplace_back();
      v1::Finding& finding = out.finding;
      finding.set_id(FindingId(input.node, key));
      finding.set_kind(kind);
      finding.set_severity(udp ? v1::WARNING : severity);
      finding.set_status(v1::OPEN);
      *finding.mutable_socket() = ReAged(view);
      if (last_owner != nullptr) {
        *finding.mutable_peer_last_owner() = last_owner->ToProto();
      }
      if (current_owner != nullptr) {
        *finding.mutable_peer_current_owner() = current_owner->ToProto();
      }
      if (translated) {
        if (std::optional<v1::AddressOwner> vip =
                VipOwner(history, remote, input.node)) {
          *finding.mutable_vip_owner() = *std::move(vip);
        }
      }
      finding.set_bytes_at_risk(at_risk);
      // Told once, at detection, in UTC: the story is stored with the
      // finding and travels to the CLI and to alert receivers.
      finding.set_story(ComposeStory(finding, StoryContext{input.now}));
      out.memory = EncodeMemory(mem, history);
    };

    // 6. Does this snapshot prove the connection outlived a departure an
    //    event reported, with data nobody acknowledged?
    const std::optional<absl::Time> heard =
        has_info ? LastHeard(view, input.taken_at) : std::nullopt;
    auto outlived_reported_departure = [&](const OwnershipInterval* gone) {
      if (!options.fast_departures || gone == nullptr || !has_info ||
          !data_waiting) {
        return false;
      }
      const std::optional<absl::Time> departed =
          address.ReportedDeparture(*gone);
      if (!departed.has_value()) return false;
      const absl::Time after = *departed + options.departure_skew;
      return input.taken_at >= after && heard.has_value() && *heard <= after;
    };

    // At most one finding per socket: the first rule that raises one.
    bool raised = false;
    if (!address.held()) {
      // 3. VANISHED_PEER.
      const OwnershipInterval* last = address.LastEnded();
      const bool answered_since =
          last != nullptr && heard.has_value() &&
          *heard > last->until + options.evidence_margin;
      const bool vanished = last != nullptr && !answered_since;
      mem.vanished_streak = NextStreak(mem.vanished_streak, vanished);
      mem.reassigned_streak = 0;
      if (vanished && (mem.vanished_streak >= confirmations ||
                       outlived_reported_departure(last))) {
        emit(v1::VANISHED_PEER,
             data_waiting || wrote ? v1::CRITICAL : v1::WARNING, last, nullptr);
        raised = true;
      }
    } else {
      // 4. REASSIGNED_PEER.
      const OwnershipInterval* previous = nullptr;
      if (!mem.first_holders.empty()) {
        bool still_held = false;
        for (OwnerId owner : mem.first_holders) {
          still_held = still_held || address.HeldNowBy(owner);
        }
        if (!still_held) previous = address.LatestOf(mem.first_holders[0]);
      } else if (address.AllHoldingsRecordedSince(mem.history_mark)) {
        const OwnershipInterval* before = address.LastEnded(mem.history_mark);
        if (before != nullptr && !address.HeldNowBy(before->owner_id)) {
          previous = before;
        }
      }
      if (previous == nullptr && heard.has_value()) {
        previous = address.FormerOwnerAt(*heard, options.evidence_margin);
      }
      mem.reassigned_streak =
          NextStreak(mem.reassigned_streak, previous != nullptr);
      mem.vanished_streak = 0;
      if (previous != nullptr && (mem.reassigned_streak >= confirmations ||
                                  outlived_reported_departure(previous))) {
        emit(v1::REASSIGNED_PEER, data_waiting ? v1::CRITICAL : v1::WARNING,
             previous, address.NewestHolder());
        raised = true;
      }
    }

    // 5. CLOSE_WAIT_WRITER, unless 3 or 4 said more.
    if (!raised && close_wait && written > mem.written_at_fin) {
      emit(v1::CLOSE_WAIT_WRITER, v1::WARNING,
           !address.held() ? address.LastEnded() : nullptr,
           address.NewestHolder());
    }
  }

  // Forget connections that are gone.
  for (auto it = memory->sockets.begin(); it != memory->sockets.end();) {
    if (it->second.generation != generation) {
      memory->sockets.erase(it++);
    } else {
      ++it;
    }
  }
  std::sort(findings.begin(), findings.end(),
            [](const DetectedFinding& a, const DetectedFinding& b) {
              return a.finding.id() < b.finding.id();
            });
  return findings;
}

}  // namespace ghostpeer::aggregator
