#include "aggregator/socket_state.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/time_util.h"

namespace ghostpeer::aggregator {
namespace {

constexpr uint32_t kByteMax = std::numeric_limits<uint8_t>::max();
constexpr uint32_t kPortMax = std::numeric_limits<uint16_t>::max();
// What NodeSockets counts per hash set entry in held_bytes().
constexpr size_t kHashSetEntryBytes = 16;

uint32_t AddSaturating(uint32_t a, uint32_t b) {
  const uint64_t sum = static_cast<uint64_t>(a) + b;
  return sum > std::numeric_limits<uint32_t>::max()
             ? std::numeric_limits<uint32_t>::max()
             : static_cast<uint32_t>(sum);
}

bool FitsByte(int value) {
  return value >= 0 && static_cast<uint32_t>(value) <= kByteMax;
}

// Whether CompactSocket holds `record` exactly. Validation already refuses
// most of what does not (ports, enums); unknown fields (a newer agent's)
// and counters beyond the kernel's widths remain.
bool Compactable(const v1::SocketRecord& record) {
  if (!record.GetReflection()->GetUnknownFields(record).empty()) return false;
  if (record.local_port() > kPortMax || record.remote_port() > kPortMax ||
      record.backend_port() > kPortMax || record.timer() > kByteMax ||
      !FitsByte(record.state()) || !FitsByte(record.protocol()) ||
      !FitsByte(record.source()) || !FitsByte(record.translated_by())) {
    return false;
  }
  if (!record.has_tcp_info()) return true;
  const v1::TcpInfo& info = record.tcp_info();
  return info.GetReflection()->GetUnknownFields(info).empty() &&
         info.retransmits() <= kByteMax && info.backoff() <= kByteMax &&
         info.probes() <= kByteMax;
}

// Fills a SocketBatch from records, interning strings and owners. The
// records added must outlive the builder (the tables view their strings).
class BatchBuilder {
 public:
  explicit BatchBuilder(SocketBatch* batch, size_t expected) : batch_(*batch) {
    batch_.sockets.reserve(expected);
  }

  void Add(v1::SocketRecord& record, uint64_t fingerprint) {
    CompactSocket& out = batch_.sockets.emplace_back();
    out.fingerprint = fingerprint;
    if (!Compactable(record)) {
      out.flags = CompactSocket::kSpilled;
      out.owner = static_cast<uint32_t>(batch_.spilled.size());
      batch_.spilled.push_back(std::move(record));
      batch_.spilled_bytes += batch_.spilled.back().SpaceUsedLong();
      return;
    }
    out.inode = record.inode();
    out.cookie = record.cookie();
    out.local_ip = Intern(record.local_ip());
    out.remote_ip = Intern(record.remote_ip());
    out.backend_ip = Intern(record.backend_ip());
    out.owner = InternOwner(record);
    out.send_queue = record.send_queue();
    out.recv_queue = record.recv_queue();
    out.timer_expires_ms = record.timer_expires_ms();
    out.local_port = static_cast<uint16_t>(record.local_port());
    out.remote_port = static_cast<uint16_t>(record.remote_port());
    out.backend_port = static_cast<uint16_t>(record.backend_port());
    out.state = static_cast<uint8_t>(record.state());
    out.protocol = static_cast<uint8_t>(record.protocol());
    out.source = static_cast<uint8_t>(record.source());
    out.translated_by = static_cast<uint8_t>(record.translated_by());
    out.timer = static_cast<uint8_t>(record.timer());
    if (record.peer_closed()) out.flags |= CompactSocket::kPeerClosed;
    if (!record.has_tcp_info()) return;
    out.flags |= CompactSocket::kHasTcpInfo;
    const v1::TcpInfo& info = record.tcp_info();
    out.bytes_acked = info.bytes_acked();
    out.bytes_sent = info.bytes_sent();
    out.bytes_received = info.bytes_received();
    out.unacked = info.unacked();
    out.total_retrans = info.total_retrans();
    out.last_data_recv_ms = info.last_data_recv_ms();
    out.last_ack_recv_ms = info.last_ack_recv_ms();
    out.last_data_sent_ms = info.last_data_sent_ms();
    out.rto_us = info.rto_us();
    out.notsent_bytes = info.notsent_bytes();
    out.lost = info.lost();
    out.snd_cwnd = info.snd_cwnd();
    out.rtt_us = info.rtt_us();
    out.retransmits = static_cast<uint8_t>(info.retransmits());
    out.backoff = static_cast<uint8_t>(info.backoff());
    out.probes = static_cast<uint8_t>(info.probes());
  }

 private:
  uint32_t Intern(absl::string_view text) {
    if (text.empty()) return 0;
    auto [it, inserted] = strings_.try_emplace(text, 0);
    if (inserted) {
      SocketStrings& strings = batch_.strings;
      strings.bytes.append(text.data(), text.size());
      strings.ends.push_back(static_cast<uint32_t>(strings.bytes.size()));
      it->second = static_cast<uint32_t>(strings.ends.size());
    }
    return it->second;
  }

  uint32_t InternOwner(const v1::SocketRecord& record) {
    SocketOwner owner;
    owner.netns_inode = record.netns_inode();
    owner.translation_netns_inode = record.translation_netns_inode();
    owner.node = Intern(record.node());
    owner.node_id = Intern(record.node_id());
    owner.comm = Intern(record.comm());
    owner.container_id = Intern(record.container_id());
    owner.container_name = Intern(record.container_name());
    owner.service = Intern(record.service());
    owner.task = Intern(record.task());
    owner.task_slot = Intern(record.task_slot());
    owner.pid = record.pid();
    owner.uid = record.uid();
    auto [it, inserted] =
        owners_.try_emplace(owner, static_cast<uint32_t>(batch_.owners.size()));
    if (inserted) batch_.owners.push_back(owner);
    return it->second;
  }

  SocketBatch& batch_;
  absl::flat_hash_map<absl::string_view, uint32_t> strings_;
  absl::flat_hash_map<SocketOwner, uint32_t> owners_;
};

// Compacts `snapshot`'s sockets into `*batch`, dropping later records whose
// key repeats an earlier one, and empties `sockets`. Fills `*keys` with the
// fingerprints kept.
void Compact(v1::NodeSnapshot* snapshot, SocketBatch* batch,
             absl::flat_hash_set<uint64_t>* keys) {
  keys->reserve(snapshot->sockets_size());
  {
    BatchBuilder builder(batch, snapshot->sockets_size());
    for (v1::SocketRecord& record : *snapshot->mutable_sockets()) {
      const uint64_t fingerprint = SocketFingerprint(SocketKeyView::Of(record));
      // A dump that saw a socket twice: the first record stays.
      if (keys->insert(fingerprint).second) builder.Add(record, fingerprint);
    }
  }
  // clear_sockets() would keep the cleared records allocated for reuse:
  // swapped out, they are freed here.
  google::protobuf::RepeatedPtrField<v1::SocketRecord> records;
  records.Swap(snapshot->mutable_sockets());
}

// Frees `delta`'s removed keys (clear_removed() keeps them allocated).
void DropRemoved(v1::SocketSnapshot* snapshot) {
  google::protobuf::RepeatedPtrField<v1::SocketKey> keys;
  keys.Swap(snapshot->mutable_removed());
}

}  // namespace

static_assert(sizeof(CompactSocket) == 136, "the size held_bytes() counts");

size_t SocketBatch::Bytes() const {
  return sockets.size() * sizeof(CompactSocket) + strings.bytes.size() +
         strings.ends.size() * sizeof(uint32_t) +
         owners.size() * sizeof(SocketOwner) + spilled_bytes;
}

v1::SocketRecord SocketView::ToRecord() const {
  v1::SocketRecord record;
  if (record_ != nullptr) {
    record = *record_;
  } else {
    const CompactSocket& s = *socket_;
    const SocketOwner& owner = batch_->owners[s.owner];
    record.set_node(std::string(Text(owner.node)));
    record.set_netns_inode(owner.netns_inode);
    record.set_local_ip(std::string(Text(s.local_ip)));
    record.set_local_port(s.local_port);
    record.set_remote_ip(std::string(Text(s.remote_ip)));
    record.set_remote_port(s.remote_port);
    record.set_state(static_cast<v1::TcpState>(s.state));
    record.set_send_queue(s.send_queue);
    record.set_recv_queue(s.recv_queue);
    record.set_inode(s.inode);
    record.set_pid(owner.pid);
    record.set_comm(std::string(Text(owner.comm)));
    record.set_container_id(std::string(Text(owner.container_id)));
    record.set_container_name(std::string(Text(owner.container_name)));
    record.set_service(std::string(Text(owner.service)));
    record.set_task(std::string(Text(owner.task)));
    record.set_uid(owner.uid);
    record.set_cookie(s.cookie);
    record.set_source(static_cast<v1::CaptureSource>(s.source));
    record.set_peer_closed((s.flags & CompactSocket::kPeerClosed) != 0);
    record.set_timer(s.timer);
    record.set_timer_expires_ms(s.timer_expires_ms);
    record.set_task_slot(std::string(Text(owner.task_slot)));
    record.set_node_id(std::string(Text(owner.node_id)));
    record.set_backend_ip(std::string(Text(s.backend_ip)));
    record.set_backend_port(s.backend_port);
    record.set_translated_by(static_cast<v1::Translator>(s.translated_by));
    record.set_translation_netns_inode(owner.translation_netns_inode);
    record.set_protocol(static_cast<v1::Protocol>(s.protocol));
    if (s.flags & CompactSocket::kHasTcpInfo) {
      v1::TcpInfo* info = record.mutable_tcp_info();
      info->set_retransmits(s.retransmits);
      info->set_backoff(s.backoff);
      info->set_unacked(s.unacked);
      info->set_total_retrans(s.total_retrans);
      info->set_last_data_recv_ms(s.last_data_recv_ms);
      info->set_last_ack_recv_ms(s.last_ack_recv_ms);
      info->set_last_data_sent_ms(s.last_data_sent_ms);
      info->set_rto_us(s.rto_us);
      info->set_notsent_bytes(s.notsent_bytes);
      info->set_bytes_acked(s.bytes_acked);
      info->set_bytes_sent(s.bytes_sent);
      info->set_bytes_received(s.bytes_received);
      info->set_lost(s.lost);
      info->set_probes(s.probes);
      info->set_snd_cwnd(s.snd_cwnd);
      info->set_rtt_us(s.rtt_us);
    }
  }
  if (extra_age_ms_ > 0 && record.has_tcp_info()) {
    v1::TcpInfo* info = record.mutable_tcp_info();
    info->set_last_data_recv_ms(
        AddSaturating(info->last_data_recv_ms(), extra_age_ms_));
    info->set_last_ack_recv_ms(
        AddSaturating(info->last_ack_recv_ms(), extra_age_ms_));
    info->set_last_data_sent_ms(
        AddSaturating(info->last_data_sent_ms(), extra_age_ms_));
  }
  return record;
}

v1::SocketRecord ReAged(const SocketView& view) { return view.ToRecord(); }

bool NodeSockets::BaseHas(uint64_t fingerprint) const {
  const std::vector<CompactSocket>& sockets = base_batch_.sockets;
  auto it = std::lower_bound(base_order_.begin(), base_order_.end(),
                             fingerprint, [&](uint32_t index, uint64_t key) {
                               return sockets[index].fingerprint < key;
                             });
  return it != base_order_.end() && sockets[*it].fingerprint == fingerprint;
}

NodeSockets::Prepared NodeSockets::PrepareFull(
    v1::SocketSnapshot snapshot) const {
  Prepared prepared;
  prepared.full_ = true;
  prepared.snapshot_ =
      std::make_unique<v1::SocketSnapshot>(std::move(snapshot));
  {
    absl::flat_hash_set<uint64_t> keys;
    Compact(prepared.snapshot_->mutable_snapshot(), &prepared.batch_, &keys);
  }
  DropRemoved(prepared.snapshot_.get());
  const std::vector<CompactSocket>& sockets = prepared.batch_.sockets;
  prepared.order_.resize(sockets.size());
  for (size_t i = 0; i < sockets.size(); ++i) {
    prepared.order_[i] = static_cast<uint32_t>(i);
  }
  std::sort(prepared.order_.begin(), prepared.order_.end(),
            [&](uint32_t a, uint32_t b) {
              return sockets[a].fingerprint < sockets[b].fingerprint;
            });
  prepared.bytes_ = prepared.snapshot_->ByteSizeLong() +
                    prepared.batch_.Bytes() +
                    prepared.order_.size() * sizeof(uint32_t);
  prepared.view_size_ = sockets.size();
  prepared.held_bytes_ = prepared.bytes_;
  return prepared;
}

std::optional<NodeSockets::Prepared> NodeSockets::PrepareDelta(
    v1::SocketSnapshot delta) const {
  if (base_ == nullptr || delta.base_snapshot_id() != base_->snapshot_id()) {
    return std::nullopt;
  }
  Prepared prepared;
  prepared.snapshot_ = std::make_unique<v1::SocketSnapshot>(std::move(delta));
  v1::SocketSnapshot& next = *prepared.snapshot_;
  absl::flat_hash_set<uint64_t> keys;
  Compact(next.mutable_snapshot(), &prepared.batch_, &keys);
  prepared.hidden_.reserve(keys.size() + next.removed_size());
  for (const CompactSocket& socket : prepared.batch_.sockets) {
    if (BaseHas(socket.fingerprint))
      prepared.hidden_.insert(socket.fingerprint);
  }
  for (const v1::SocketKey& key : next.removed()) {
    const uint64_t fingerprint = SocketFingerprint(SocketKeyView::Of(key));
    // A key both removed and sent is present: the record wins.
    if (BaseHas(fingerprint) && !keys.contains(fingerprint)) {
      prepared.hidden_.insert(fingerprint);
    }
  }
  DropRemoved(&next);
  const absl::Duration age = FromProto(next.snapshot().taken_at()) -
                             FromProto(base_->snapshot().taken_at());
  const int64_t age_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(age));
  prepared.age_ms_ = static_cast<uint32_t>(
      std::min<int64_t>(age_ms, std::numeric_limits<uint32_t>::max()));
  prepared.bytes_ = next.ByteSizeLong() + prepared.batch_.Bytes() +
                    prepared.hidden_.size() * kHashSetEntryBytes;
  prepared.view_size_ = base_batch_.sockets.size() - prepared.hidden_.size() +
                        prepared.batch_.sockets.size();
  prepared.held_bytes_ = base_bytes_ + prepared.bytes_;
  return prepared;
}

void NodeSockets::Apply(Prepared prepared) {
  if (prepared.full_) {
    base_ = std::move(prepared.snapshot_);
    base_batch_ = std::move(prepared.batch_);
    base_order_ = std::move(prepared.order_);
    base_bytes_ = prepared.bytes_;
    delta_.reset();
    delta_batch_ = SocketBatch();
    hidden_.clear();
    delta_age_ms_ = 0;
    delta_bytes_ = 0;
  } else {
    delta_ = std::move(prepared.snapshot_);
    delta_batch_ = std::move(prepared.batch_);
    hidden_ = std::move(prepared.hidden_);
    delta_age_ms_ = prepared.age_ms_;
    delta_bytes_ = prepared.bytes_;
  }
  size_ = prepared.view_size_;
}

void NodeSockets::ApplyFull(v1::SocketSnapshot snapshot) {
  Apply(PrepareFull(std::move(snapshot)));
}

bool NodeSockets::ApplyDelta(v1::SocketSnapshot delta) {
  std::optional<Prepared> prepared = PrepareDelta(std::move(delta));
  if (!prepared.has_value()) return false;
  Apply(*std::move(prepared));
  return true;
}

void NodeSockets::Clear() {
  base_.reset();
  delta_.reset();
  base_batch_ = SocketBatch();
  base_order_ = {};
  delta_batch_ = SocketBatch();
  hidden_ = {};
  delta_age_ms_ = 0;
  size_ = 0;
  base_bytes_ = 0;
  delta_bytes_ = 0;
}

}  // namespace ghostpeer::aggregator
