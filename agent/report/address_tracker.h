// Turns per-snapshot address observations into ownership changes.
#ifndef GHOSTPEER_AGENT_REPORT_ADDRESS_TRACKER_H_
#define GHOSTPEER_AGENT_REPORT_ADDRESS_TRACKER_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "ghostpeer/v1/ingest.pb.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::agent {

// The owner record an observed address gets: a container when the
// namespace belongs to one, the host for the initial namespace, otherwise
// the namespace itself (by `ip netns` name, else by inode). Containers'
// namespaces are always named "inode:<n>", as agent/docker names them. Its
// scope is the address's (Docker's word, stamped by the snapshotter), else
// ADDRESS_SCOPE_NODE: an address Docker does not explain is node-local.
v1::AddressOwner OwnerOf(const std::string& node, const v1::NamespaceInfo& ns,
                         const v1::InterfaceAddress& address);

// Remembers which namespace held which address at the last snapshot and
// reports what changed. Pure: no I/O, no clock. Not thread-safe.
class AddressTracker {
 public:
  // Compares `snapshot`'s namespaces with the previous call's and returns
  // ATTACH events for addresses that appeared (or whose scope changed) and
  // DETACH events for those that disappeared, stamped with the snapshot's time,
  // source OBSERVATION, seq unset. A namespace whose status is FAILED, or whose
  // addresses are incomplete, keeps what it held before: an unreadable
  // namespace is no evidence that its addresses left.
  std::vector<v1::AddressEvent> Observe(const v1::NodeSnapshot& snapshot);

  // The complete set of addresses held at the last Observe(), as one
  // INVENTORY event at `time`.
  v1::AddressEvent Inventory(absl::Time time) const;

  size_t address_count() const { return held_.size(); }

 private:
  // Key: address + owner identity; value: the owner as last observed.
  absl::flat_hash_map<std::string, v1::AddressOwner> held_;
};

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_REPORT_ADDRESS_TRACKER_H_
