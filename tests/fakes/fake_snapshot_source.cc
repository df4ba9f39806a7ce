#include "tests/fakes/fake_snapshot_source.h"

#include <utility>

namespace ghostpeer::fakes {

FakeSnapshotSource::FakeSnapshotSource(std::string node, const Clock* clock)
    : clock_(clock) {
  snapshot_.set_node(std::move(node));
}

void FakeSnapshotSource::Set(v1::NodeSnapshot snapshot) {
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snapshot);
}

void FakeSnapshotSource::SetAddresses(
    const std::vector<std::string>& addresses) {
  absl::MutexLock lock(&mu_);
  snapshot_.clear_namespaces();
  snapshot_.clear_sockets();
  // Plausible namespace inodes, one namespace per address: each address
  // gets an owner of its own (OWNER_KIND_NETNS).
  uint64_t inode = 4026532000;
  for (const std::string& address : addresses) {
    v1::NamespaceInfo* ns = snapshot_.add_namespaces();
    ns->set_inode(++inode);
    ns->set_status(v1::NAMESPACE_STATUS_OK);
    v1::InterfaceAddress* added = ns->add_addresses();
    added->set_address(address);
    added->set_prefix_len(24);
    added->set_interface("eth0");
  }
  snapshot_.mutable_stats()->set_namespaces_seen(addresses.size());
}

void FakeSnapshotSource::FailNext(int count, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_left_ = count;
  failure_ = std::move(status);
}

int FakeSnapshotSource::takes() const {
  absl::MutexLock lock(&mu_);
  return takes_;
}

bool FakeSnapshotSource::WaitForTakes(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return takes_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

absl::StatusOr<v1::NodeSnapshot> FakeSnapshotSource::Take() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ++takes_;
  if (failures_left_ > 0) {
    --failures_left_;
    return failure_;
  }
  v1::NodeSnapshot snapshot = snapshot_;
  *snapshot.mutable_taken_at() = ToProto(now);
  return snapshot;
}

}  // namespace ghostpeer::fakes
