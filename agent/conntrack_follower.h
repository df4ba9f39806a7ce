// Following a namespace's conntrack table instead of re-reading it.
//
// Every conntrack read (ctnetlink dump or /proc file) walks the node's whole
// conntrack hash and copies every NAT entry: ~60 ms for 10,000 flows, most
// of a snapshot's cost. But an entry's NAT mapping is fixed for its life;
// what changes between snapshots is entries appearing and going. A follower
// subscribes to the namespace's conntrack NEW and DESTROY events, reads the
// table once, and then applies only the events that queued since the last
// snapshot. An entry that expires and is recreated by a retransmission (the
// "self-healed" flow of NOTES-vip-nat.md §5, DNAT'ed to a NEW backend) comes
// as a DESTROY and a NEW with the same original tuple: the next snapshot
// names the new backend.
//
// What the events cannot say, and why a follower still re-reads the whole
// table (a "resync") every `resync_every` reads and whenever in doubt:
//  - lost events: a receive buffer that overflowed (ENOBUFS), a datagram
//    that does not parse;
//  - entries created before the subscription, where
//    net.netfilter.nf_conntrack_events is 2 (the default since Linux 5.19):
//    the kernel gives an entry its event extension only when a listener
//    exists at its creation, so such entries never send their DESTROY. The
//    periodic resync is what bounds how long one stays after it is gone;
//  - the TCP state and expiry of an entry change without NEW or DESTROY (we
//    do not follow the much busier UPDATE group): a followed flow carries
//    them as of its NEW event or the last resync. The join uses neither.
#ifndef GHOSTPEER_AGENT_CONNTRACK_FOLLOWER_H_
#define GHOSTPEER_AGENT_CONNTRACK_FOLLOWER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "agent/translation.h"

namespace ghostpeer::agent {

// The conntrack NAT flows of one namespace as a set keyed by the original
// tuple, updated by events. Pure.
class ConntrackFlowTable {
 public:
  // Replaces the content with the conntrack flows of `flows` (IPVS flows
  // are not ours and are ignored).
  void Reset(const std::vector<Translation>& flows);
  // NEW: inserts or replaces (applying a NEW the resync dump also returned
  // changes nothing but state and expiry). DESTROY: erases the flow with
  // that original tuple only when it has the same backend, so a DESTROY of
  // an old entry that arrives after the NEW of its successor (not an order
  // the kernel sends, but cheap to survive) cannot erase the successor.
  void Apply(const ConntrackEvent& event);
  // Parses one datagram of events and applies them in order. Errors as
  // ParseConntrackEvents; the events before a malformed message are applied
  // (and counted in `*applied` when not null).
  absl::Status ApplyDatagram(absl::Span<const uint8_t> bytes,
                             size_t* applied = nullptr);
  // The flows, in no particular order.
  std::vector<Translation> Flows() const;
  size_t size() const { return flows_.size(); }

 private:
  // protocol, client ip, client port, service ip, service port
  using Key = std::tuple<uint8_t, std::string, uint16_t, std::string, uint16_t>;
  absl::flat_hash_map<Key, Translation> flows_;
};

// Where a follower's events come from: a subscribed socket, or a fake.
class ConntrackEventSource {
 public:
  virtual ~ConntrackEventSource() = default;
  // Hands every datagram queued now to `on_datagram`, without waiting for
  // more, at most `max_datagrams` of them (the rest stay queued). Errors:
  // ResourceExhausted when events were lost (ENOBUFS), DataLoss for a
  // truncated datagram, any other receive error, or the first error of
  // `on_datagram` (draining stops there).
  virtual absl::Status Drain(
      size_t max_datagrams,
      const std::function<absl::Status(absl::Span<const uint8_t>)>&
          on_datagram) = 0;
};

// A NETLINK_NETFILTER socket in the calling thread's network namespace,
// subscribed to NFNLGRP_CONNTRACK_NEW and NFNLGRP_CONNTRACK_DESTROY, with a
// receive buffer of `receive_buffer` bytes (SO_RCVBUFFORCE where permitted,
// else what SO_RCVBUF allows). It keeps reporting that namespace from any
// thread. Datagrams not sent by the kernel are dropped. `proc_root` is the
// calling thread's /proc, to check net.netfilter.nf_conntrack_events.
// Errors: PermissionDenied without CAP_NET_ADMIN (joining the groups needs
// it), FailedPrecondition when the namespace's conntrack sends no events
// (nf_conntrack_events 0, or unreadable: no conntrack there), else the
// errno of socket()/setsockopt()/bind().
absl::StatusOr<std::unique_ptr<ConntrackEventSource>> SubscribeConntrackEvents(
    const std::string& proc_root, size_t receive_buffer);

struct ConntrackFollowerOptions {
  // Re-read the whole table every this many reads (see the file comment;
  // 12 snapshots is a minute at the agent's default 5 s interval). 0: only
  // when events were lost.
  int resync_every = 12;
  // Datagrams (one event each) applied per read at most; what is left is
  // applied next time.
  size_t max_datagrams_per_read = size_t{1} << 20;
};

// Keeps one namespace's conntrack NAT flows current from its events. Not
// thread-safe; Read may be called from any thread, but `full_read` and
// `ipvs_read` run where it is called (inside the namespace).
class ConntrackFollower {
 public:
  // `full_read`: the namespace's translations as ReadTranslationsHere reads
  // them (conntrack and IPVS). `ipvs_read`: the same without conntrack.
  // The first Read resyncs: create the follower (subscribe) first, so no
  // event falls between the table read and the events.
  ConntrackFollower(std::unique_ptr<ConntrackEventSource> events,
                    std::function<NamespaceTranslations()> full_read,
                    std::function<NamespaceTranslations()> ipvs_read,
                    ConntrackFollowerOptions options = {});

  // The namespace's translations now: the followed conntrack flows plus
  // IPVS as `ipvs_read` gives them, or a resync (a full read, then the
  // events queued meanwhile) when one is due, events were lost or did not
  // parse, or the last resync was incomplete (its `error` set: a cap hit,
  // a failed dump; reported as such).
  NamespaceTranslations Read();

  // Full reads done, and events applied, since creation.
  uint64_t resyncs() const { return resyncs_; }
  uint64_t events() const { return events_; }
  size_t size() const { return table_.size(); }

 private:
  absl::Status Drain();

  std::unique_ptr<ConntrackEventSource> events_source_;
  std::function<NamespaceTranslations()> full_read_;
  std::function<NamespaceTranslations()> ipvs_read_;
  ConntrackFollowerOptions options_;
  ConntrackFlowTable table_;
  bool needs_resync_ = true;
  int reads_since_resync_ = 0;
  uint64_t resyncs_ = 0;
  uint64_t events_ = 0;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_CONNTRACK_FOLLOWER_H_
