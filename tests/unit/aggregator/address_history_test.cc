#include "aggregator/address_history.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/unit/aggregator/test_util.h"

namespace ghostpeer::aggregator {
namespace {

using testing::Attach;
using testing::Container;
using testing::Detach;
using testing::Inventory;
using testing::T;

// "task@since-until" per interval of `address`, in history order; seconds
// relative to T(0), "open" while held.
std::string Timeline(const AddressHistory& history,
                     const std::string& address) {
  const AddressRecord* record = history.Find(address);
  if (record == nullptr) return "";
  std::vector<std::string> parts;
  for (const OwnershipInterval& i : record->intervals) {
    const std::string owner =
        i.owner.task().empty() ? i.owner.netns() : i.owner.task();
    parts.push_back(absl::StrCat(
        owner, "@", absl::ToInt64Seconds(i.since - T(0)), "-",
        i.open() ? "open"
                 : absl::StrCat(absl::ToInt64Seconds(i.until - T(0)))));
  }
  return absl::StrJoin(parts, " ");
}

struct HistoryCase {
  std::string name;
  std::vector<std::pair<std::string, v1::AddressEvent>> events;
  std::string address;
  std::string want;
  int open_count;
};

const v1::AddressOwner kA = Container("10.0.1.6", "a.1");
const v1::AddressOwner kB = Container("10.0.1.6", "b.1", "node-3");

TEST(AddressHistoryTest, Rules) {
  const std::vector<HistoryCase> cases = {
      {"attach opens",
       {{"node-2", Attach(1, T(10), kA)}},
       "10.0.1.6",
       "a.1@10-open",
       1},
      {"attach is idempotent for the same owner",
       {{"node-2", Attach(1, T(10), kA)}, {"node-2", Attach(2, T(20), kA)}},
       "10.0.1.6",
       "a.1@10-open",
       1},
      {"detach closes",
       {{"node-2", Attach(1, T(10), kA)}, {"node-2", Detach(2, T(20), kA)}},
       "10.0.1.6",
       "a.1@10-20",
       0},
      {"detach before since closes at since",
       {{"node-2", Attach(1, T(10), kA)}, {"node-2", Detach(2, T(5), kA)}},
       "10.0.1.6",
       "a.1@10-10",
       0},
      {"detach of an unknown owner leaves a zero-length interval",
       {{"node-2", Detach(1, T(20), kA)}},
       "10.0.1.6",
       "a.1@20-20",
       0},
      {"duplicate detach is ignored",
       {{"node-2", Attach(1, T(10), kA)},
        {"node-2", Detach(2, T(20), kA)},
        {"node-2", Detach(3, T(30), kA)}},
       "10.0.1.6",
       "a.1@10-20",
       0},
      {"reattach opens a new interval, never overlapping the last",
       {{"node-2", Attach(1, T(10), kA)},
        {"node-2", Detach(2, T(20), kA)},
        {"node-2", Attach(3, T(15), kA)}},
       "10.0.1.6",
       "a.1@10-20 a.1@20-open",
       1},
      {"two owners at once (two nodes)",
       {{"node-2", Attach(1, T(10), kA)}, {"node-3", Attach(1, T(12), kB)}},
       "10.0.1.6",
       "a.1@10-open b.1@12-open",
       2},
      {"reuse: one leaves, another takes it",
       {{"node-2", Attach(1, T(10), kA)},
        {"node-2", Detach(2, T(20), kA)},
        {"node-3", Attach(1, T(30), kB)}},
       "10.0.1.6",
       "a.1@10-20 b.1@30-open",
       1},
      {"inventory closes what the reporter no longer holds",
       {{"node-2", Attach(1, T(10), kA)},
        {"node-2", Attach(2, T(10), Container("10.0.1.7", "c.1"))},
        {"node-2", Inventory(3, T(50), {Container("10.0.1.7", "c.1")})}},
       "10.0.1.6",
       "a.1@10-50",
       0},
      {"inventory opens what is missing",
       {{"node-2", Inventory(1, T(50), {kA})}},
       "10.0.1.6",
       "a.1@50-open",
       1},
      {"inventory leaves other reporters alone",
       {{"node-3", Attach(1, T(10), kB)}, {"node-2", Inventory(1, T(50), {})}},
       "10.0.1.6",
       "b.1@10-open",
       1},
      {"a node's observation inventory leaves its swarm-task holdings alone",
       {{"manager-1", Attach(1, T(10), kB, v1::SWARM_TASKS)},
        {"manager-1", Inventory(2, T(50), {}, v1::OBSERVATION)}},
       "10.0.1.6",
       "b.1@10-open",
       1},
      {"a task inventory closes ended tasks",
       {{"manager-1", Attach(1, T(10), kB, v1::SWARM_TASKS)},
        {"manager-1", Inventory(2, T(50), {}, v1::SWARM_TASKS)}},
       "10.0.1.6",
       "b.1@10-50",
       0},
      {"docker event then observation: one interval, docker's detach closes",
       {{"node-2", Attach(1, T(10), kA, v1::DOCKER_EVENT)},
        {"node-2", Attach(2, T(12), kA, v1::OBSERVATION)},
        {"node-2", Detach(3, T(20), kA, v1::DOCKER_EVENT)},
        {"node-2", Detach(4, T(22), kA, v1::OBSERVATION)}},
       "10.0.1.6",
       "a.1@10-20",
       0},
  };
  for (const HistoryCase& c : cases) {
    AddressHistory history;
    HistoryChanges changes;
    for (const auto& [reporter, event] : c.events) {
      history.Apply(reporter, event, &changes);
    }
    EXPECT_EQ(Timeline(history, c.address), c.want) << c.name;
    ASSERT_NE(history.Find(c.address), nullptr) << c.name;
    EXPECT_EQ(history.Find(c.address)->open_count, c.open_count) << c.name;
  }
}

// The close reason of each interval of `address`, in history order: the
// enum's name without its prefix, "open" while held.
std::string Reasons(const AddressHistory& history, const std::string& address) {
  const AddressRecord* record = history.Find(address);
  if (record == nullptr) return "";
  std::vector<std::string> parts;
  for (const OwnershipInterval& i : record->intervals) {
    if (i.open()) {
      EXPECT_EQ(i.close_reason, v1::CLOSE_REASON_UNSPECIFIED);
      EXPECT_FALSE(i.ToProto().has_until());
      parts.push_back("open");
      continue;
    }
    // What history queries show is what the interval holds.
    EXPECT_EQ(i.ToProto().close_reason(), i.close_reason);
    const std::string name = v1::CloseReason_Name(i.close_reason);
    parts.push_back(std::string(absl::StripPrefix(name, "CLOSE_REASON_")));
  }
  return absl::StrJoin(parts, " ");
}

v1::AddressOwner Saying(v1::AddressOwner owner, v1::CloseReason reason) {
  owner.set_close_reason(reason);
  return owner;
}

TEST(AddressHistoryTest, EveryCloseSaysWhy) {
  v1::AddressOwner task = kB;
  task.set_kind(v1::OWNER_KIND_SWARM_TASK);
  const std::vector<HistoryCase> cases = {
      {"observed detach: detached",
       {{"node-2", Attach(1, T(10), kA)}, {"node-2", Detach(2, T(20), kA)}},
       "10.0.1.6",
       "DETACHED",
       0},
      {"the agent's reason wins",
       {{"node-2", Attach(1, T(10), kA, v1::DOCKER_EVENT)},
        {"node-2", Detach(2, T(20), Saying(kA, v1::CLOSE_REASON_CONTAINER_DIED),
                          v1::DOCKER_EVENT)}},
       "10.0.1.6",
       "CONTAINER_DIED",
       0},
      {"a zero-length interval keeps the agent's reason",
       {{"node-2", Detach(1, T(20), Saying(kA, v1::CLOSE_REASON_CONTAINER_DIED),
                          v1::DOCKER_EVENT)}},
       "10.0.1.6",
       "CONTAINER_DIED",
       0},
      {"an agent cannot claim the inventory's reason",
       {{"node-2", Attach(1, T(10), kA)},
        {"node-2",
         Detach(2, T(20), Saying(kA, v1::CLOSE_REASON_NOT_IN_INVENTORY))}},
       "10.0.1.6",
       "DETACHED",
       0},
      {"an unknown reason reads as the source's",
       {{"node-2", Attach(1, T(10), kA)},
        {"node-2",
         Detach(2, T(20), Saying(kA, static_cast<v1::CloseReason>(77)))}},
       "10.0.1.6",
       "DETACHED",
       0},
      {"a swarm task's detach: task ended",
       {{"manager-1", Attach(1, T(10), task, v1::SWARM_TASKS)},
        {"manager-1", Detach(2, T(20), task, v1::SWARM_TASKS)}},
       "10.0.1.6",
       "TASK_ENDED",
       0},
      {"inventory: not in inventory",
       {{"node-2", Attach(1, T(10), kA)}, {"node-2", Inventory(2, T(50), {})}},
       "10.0.1.6",
       "NOT_IN_INVENTORY",
       0},
      {"a reattach after a close is open again",
       {{"node-2", Attach(1, T(10), kA)},
        {"node-2", Detach(2, T(20), kA)},
        {"node-2", Attach(3, T(30), kA)}},
       "10.0.1.6",
       "DETACHED open",
       1},
  };
  for (const HistoryCase& c : cases) {
    AddressHistory history;
    HistoryChanges changes;
    for (const auto& [reporter, event] : c.events) {
      history.Apply(reporter, event, &changes);
    }
    EXPECT_EQ(Reasons(history, c.address), c.want) << c.name;
    ASSERT_NE(history.Find(c.address), nullptr) << c.name;
    EXPECT_EQ(history.Find(c.address)->open_count, c.open_count) << c.name;
    // The owner as stored carries no reason of its own: the interval does.
    for (const OwnershipInterval& i : history.Find(c.address)->intervals) {
      EXPECT_EQ(i.owner.close_reason(), v1::CLOSE_REASON_UNSPECIFIED) << c.name;
    }
  }
}

// The managers' view alone (an agent's NODE_LOST DETACH of a task on a
// down node) is no reported departure: only the Engine's node-loss rule,
// which also waits for the node's agent to fall silent, makes one.
TEST(AddressHistoryTest, AnAgentsNodeLostIsNoDeparture) {
  v1::AddressOwner task = kB;
  task.set_kind(v1::OWNER_KIND_SWARM_TASK);
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("manager-1", Attach(1, T(10), task, v1::SWARM_TASKS), &changes);
  history.Apply("manager-1",
                Detach(2, T(20), Saying(task, v1::CLOSE_REASON_NODE_LOST),
                       v1::SWARM_TASKS),
                &changes);
  ASSERT_EQ(history.Find("10.0.1.6")->intervals.size(), 1u);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].close_reason,
            v1::CLOSE_REASON_NODE_LOST);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].ended_by,
            EndEvidence::kAbsence);
}

TEST(AddressHistoryTest, CloseNodeClosesOnlyThatNodesOwners) {
  AddressHistory history;
  HistoryChanges changes;
  v1::AddressOwner task_on_2 = Container("10.0.1.7", "t.1", "node-2");
  task_on_2.set_kind(v1::OWNER_KIND_SWARM_TASK);
  v1::AddressOwner task_on_3 = Container("10.0.1.8", "u.1", "node-3");
  task_on_3.set_kind(v1::OWNER_KIND_SWARM_TASK);
  history.Apply("node-2", Attach(1, T(10), kA), &changes);
  history.Apply("node-2", Attach(2, T(10), Container("10.0.1.9", "d.1")),
                &changes);
  history.Apply("node-2", Detach(3, T(15), Container("10.0.1.9", "d.1")),
                &changes);
  // A manager (node-2 itself) reports a task of its own and one of node-3.
  history.Apply("node-2", Attach(4, T(11), task_on_2, v1::SWARM_TASKS),
                &changes);
  history.Apply("node-2", Attach(5, T(11), task_on_3, v1::SWARM_TASKS),
                &changes);
  history.Apply("node-3", Attach(1, T(12), kB), &changes);
  const uint64_t generation = history.generation();
  changes.clear();

  EXPECT_EQ(history.CloseNode("node-2", T(40), &changes), 2u);
  EXPECT_GT(history.generation(), generation);
  EXPECT_EQ(Timeline(history, "10.0.1.6"), "a.1@10-40 b.1@12-open");
  EXPECT_EQ(Reasons(history, "10.0.1.6"), "NODE_LOST open");
  // Decided on two signals (node_loss.h): a departure, not a reading's gap.
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].ended_by,
            EndEvidence::kDeparture);
  EXPECT_EQ(Reasons(history, "10.0.1.7"), "NODE_LOST");
  // Closed before: keeps its own end and reason.
  EXPECT_EQ(Timeline(history, "10.0.1.9"), "d.1@10-15");
  EXPECT_EQ(Reasons(history, "10.0.1.9"), "DETACHED");
  // Reported by the lost node, owned by a live one: held still.
  EXPECT_EQ(Reasons(history, "10.0.1.8"), "open");
  ASSERT_EQ(changes.size(), 2u);
  for (const HistoryOp& op : changes) {
    EXPECT_EQ(op.kind, HistoryOp::Kind::kClose);
    EXPECT_TRUE(op.before.open());
  }

  // Idempotent: nothing is left to close.
  HistoryChanges again;
  EXPECT_EQ(history.CloseNode("node-2", T(50), &again), 0u);
  EXPECT_TRUE(again.empty());

  // Never before since; and Revert undoes it exactly.
  HistoryChanges early;
  history.Apply("node-4",
                Attach(1, T(60), Container("10.0.2.1", "e.1", "node-4")),
                &early);
  early.clear();
  EXPECT_EQ(history.CloseNode("node-4", T(30), &early), 1u);
  EXPECT_EQ(Timeline(history, "10.0.2.1"), "e.1@60-60");
  history.Revert(early);
  EXPECT_EQ(Reasons(history, "10.0.2.1"), "open");
  EXPECT_EQ(history.Find("10.0.2.1")->open_count, 1);

  // The node's next inventory reopens what it still holds, as a new
  // interval after the lost one.
  history.Apply("node-2", Inventory(6, T(70), {kA}), &changes);
  EXPECT_EQ(Timeline(history, "10.0.1.6"), "a.1@10-40 b.1@12-open a.1@70-open");
}

TEST(AddressHistoryTest, AttachFillsInNamesWithoutANewOwner) {
  AddressHistory history;
  HistoryChanges changes;
  v1::AddressOwner bare = kA;
  bare.clear_service();
  bare.clear_container_name();
  history.Apply("node-2", Attach(1, T(10), bare), &changes);
  v1::AddressOwner named = kA;
  named.set_service("mongo");
  changes.clear();
  history.Apply("node-2", Attach(2, T(11), named, v1::DOCKER_EVENT), &changes);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, HistoryOp::Kind::kUpdateOwner);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals.size(), 1u);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].owner.service(), "mongo");
}

// What ended an interval decides how soon the detector trusts it: a
// reported departure at once, an absence after confirmations.
TEST(AddressHistoryTest, EachEndSaysWhatEndedIt) {
  struct Case {
    std::string name;
    v1::AddressEvent end;
    EndEvidence want;
  };
  const std::vector<Case> cases = {
      {"docker die", Detach(2, T(20), kA, v1::DOCKER_EVENT),
       EndEvidence::kDeparture},
      {"task ended", Detach(2, T(20), kA, v1::SWARM_TASKS),
       EndEvidence::kDeparture},
      {"missing from an observation", Detach(2, T(20), kA),
       EndEvidence::kAbsence},
      {"missing from an inventory", Inventory(2, T(20), {}),
       EndEvidence::kAbsence},
      {"missing from a docker inventory",
       Inventory(2, T(20), {}, v1::DOCKER_EVENT), EndEvidence::kAbsence},
  };
  for (const Case& c : cases) {
    AddressHistory history;
    HistoryChanges changes;
    history.Apply("node-2", Attach(1, T(10), kA, c.end.source()), &changes);
    EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].ended_by,
              EndEvidence::kUnknown)
        << c.name;
    changes.clear();
    history.Apply("node-2", c.end, &changes);
    ASSERT_EQ(changes.size(), 1u) << c.name;
    EXPECT_EQ(changes[0].after.ended_by, c.want) << c.name;
    EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].ended_by, c.want)
        << c.name;
    // Undone with the rest of a failed batch.
    history.Revert(changes);
    EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].ended_by,
              EndEvidence::kUnknown)
        << c.name;
  }
  // A DETACH of an owner never seen holding it keeps its evidence too.
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Detach(1, T(20), kA, v1::DOCKER_EVENT), &changes);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[0].ended_by,
            EndEvidence::kDeparture);
  history.Apply("node-2", Detach(1, T(20), kB), &changes);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[1].ended_by,
            EndEvidence::kAbsence);
}

TEST(AddressHistoryTest, RevertRestoresExactly) {
  AddressHistory history;
  HistoryChanges first;
  history.Apply("node-2", Attach(1, T(10), kA), &first);
  history.Apply("node-2", Attach(2, T(10), Container("10.0.1.7", "c.1")),
                &first);
  const std::string before =
      Timeline(history, "10.0.1.6") + "|" + Timeline(history, "10.0.1.7");

  HistoryChanges batch;
  history.Apply("node-2", Detach(3, T(20), kA), &batch);
  history.Apply("node-3", Attach(1, T(30), kB), &batch);
  history.Apply("node-2", Inventory(4, T(40), {}), &batch);
  history.Apply("node-2", Attach(5, T(41), Container("10.0.9.9", "n.1")),
                &batch);
  ASSERT_GE(batch.size(), 4u);
  history.Revert(batch);
  EXPECT_EQ(Timeline(history, "10.0.1.6") + "|" + Timeline(history, "10.0.1.7"),
            before);
  EXPECT_EQ(history.Find("10.0.9.9"), nullptr);
  EXPECT_EQ(history.Find("10.0.1.6")->open_count, 1);
  EXPECT_EQ(history.interval_count(), 2u);
}

TEST(AddressHistoryTest, PurgeForgetsOnlyIntervalsEndedBeforeTheHorizon) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(10), kA), &changes);
  history.Apply("node-2", Detach(2, T(20), kA), &changes);
  history.Apply("node-3", Attach(1, T(5), kB), &changes);  // still open
  history.Apply("node-2", Attach(3, T(10), Container("10.0.1.7", "c.1")),
                &changes);
  history.Apply("node-2", Detach(4, T(100), Container("10.0.1.7", "c.1")),
                &changes);
  EXPECT_EQ(history.PurgeEndedBefore(T(50)), 1u);
  EXPECT_EQ(Timeline(history, "10.0.1.6"), "b.1@5-open");
  EXPECT_EQ(Timeline(history, "10.0.1.7"), "c.1@10-100");
  EXPECT_EQ(history.PurgeEndedBefore(T(200)), 1u);
  EXPECT_EQ(history.Find("10.0.1.7"), nullptr);
  EXPECT_EQ(history.interval_count(), 1u);
}

TEST(AddressHistoryTest, LoadRestoresIdsAndRejectsDuplicates) {
  AddressHistory original;
  HistoryChanges changes;
  original.Apply("node-2", Attach(1, T(10), kA), &changes);
  original.Apply("node-2", Detach(2, T(20), kA), &changes);
  original.Apply("node-3", Attach(1, T(30), kB), &changes);
  std::vector<OwnershipInterval> stored;
  original.ForEach([&](const OwnershipInterval& i) { stored.push_back(i); });

  AddressHistory loaded;
  ASSERT_TRUE(loaded.Load(stored).ok());
  EXPECT_EQ(Timeline(loaded, "10.0.1.6"), "a.1@10-20 b.1@30-open");
  EXPECT_EQ(loaded.next_id(), original.next_id());

  stored.push_back(stored[0]);
  EXPECT_EQ(loaded.Load(stored).code(), absl::StatusCode::kInternal);
}

// Another replica's committed intervals (history_store.h CommittedChanges):
// a new one is inserted, a known one takes its stored state, ids given
// afterwards start past every merged one, and reading a row twice changes
// nothing.
TEST(AddressHistoryTest, MergeTakesInAnotherReplicasIntervals) {
  AddressHistory other;
  HistoryChanges theirs;
  other.Apply("node-3", Attach(1, T(30), kB), &theirs);
  other.Apply("node-2", Attach(1, T(40), Container("10.0.1.7", "c.1")),
              &theirs);

  AddressHistory history;
  HistoryChanges ours;
  history.Apply("node-2", Attach(1, T(10), kA), &ours);
  ASSERT_EQ(ours.size(), 1u);
  // The other replica stored after us, under the write lock: its id is
  // past ours.
  const uint64_t generation = history.generation();
  OwnershipInterval reassigned = theirs[0].after;
  reassigned.id = 7;
  history.Merge(reassigned);
  history.Merge(reassigned);  // read twice
  EXPECT_GT(history.generation(), generation);
  EXPECT_EQ(Timeline(history, "10.0.1.6"), "a.1@10-open b.1@30-open");
  EXPECT_EQ(history.Find("10.0.1.6")->open_count, 2);
  EXPECT_EQ(history.interval_count(), 2u);
  EXPECT_EQ(history.next_id(), 8);

  // The other replica closes b.1: the stored state replaces the interval.
  HistoryChanges close;
  other.Apply("node-3", Detach(2, T(50), kB), &close);
  ASSERT_EQ(close.size(), 1u);
  OwnershipInterval closed = close[0].after;
  closed.id = 7;
  history.Merge(closed);
  EXPECT_EQ(Timeline(history, "10.0.1.6"), "a.1@10-open b.1@30-50");
  EXPECT_EQ(history.Find("10.0.1.6")->open_count, 1);
  EXPECT_EQ(history.interval_count(), 2u);

  // Our next insert takes an id past the merged ones.
  HistoryChanges next;
  history.Apply("node-2", Attach(2, T(60), Container("10.0.1.8", "d.1")),
                &next);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].after.id, 8);
}

TEST(AddressHistoryTest, VipsAreMarked) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("manager-1", Attach(1, T(1), testing::Vip("10.0.1.2", "web")),
                &changes);
  EXPECT_TRUE(history.Find("10.0.1.2")->ever_vip);
}

v1::AddressOwner Scoped(v1::AddressOwner owner, v1::AddressScope scope) {
  owner.set_scope(scope);
  return owner;
}

// Two nodes hand out the same bridge address: each node's events touch only
// its own intervals, and each reads as a different address from the other
// node.
TEST(AddressHistoryTest, NodeLocalAddressesAreKeptPerNode) {
  const v1::AddressOwner here =
      Scoped(Container("172.18.0.3", "a.1", "node-1"), v1::ADDRESS_SCOPE_NODE);
  const v1::AddressOwner there =
      Scoped(Container("172.18.0.3", "b.1", "node-2"), v1::ADDRESS_SCOPE_NODE);
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-1", Attach(1, T(10), here), &changes);
  history.Apply("node-2", Attach(1, T(11), there), &changes);
  history.Apply("node-2", Detach(2, T(20), there), &changes);
  // node-1's inventory closes nothing of node-2's, and node-2's empty one
  // nothing of node-1's.
  history.Apply("node-1", Inventory(2, T(30), {here}), &changes);
  history.Apply("node-2", Inventory(3, T(31), {}), &changes);
  EXPECT_EQ(Timeline(history, "172.18.0.3"), "a.1@10-open b.1@11-20");

  const AddressRecord* record = history.Find("172.18.0.3");
  ASSERT_NE(record, nullptr);
  const OwnershipInterval& a = record->intervals[0];
  const OwnershipInterval& b = record->intervals[1];
  EXPECT_TRUE(ReachableFrom(a.owner, "node-1"));
  EXPECT_FALSE(ReachableFrom(a.owner, "node-2"));
  EXPECT_FALSE(ReachableFrom(b.owner, "node-1"));
  EXPECT_TRUE(ReachableFrom(b.owner, "node-2"));
}

TEST(AddressHistoryTest, ScopeReachability) {
  struct Case {
    std::string name;
    v1::AddressOwner owner;
    bool from_own_node;
    bool from_other_node;
  };
  const v1::AddressOwner container = Container("10.0.1.6", "a.1", "node-1");
  v1::AddressOwner task = Scoped(container, v1::ADDRESS_SCOPE_NODE);
  task.set_kind(v1::OWNER_KIND_SWARM_TASK);
  const std::vector<Case> cases = {
      {"cluster-wide", Scoped(container, v1::ADDRESS_SCOPE_CLUSTER), true,
       true},
      {"node-local", Scoped(container, v1::ADDRESS_SCOPE_NODE), true, false},
      // Older agents: as before the field, cluster-wide.
      {"unspecified", container, true, true},
      // The tasks API knows swarm networks only, whatever it is told.
      {"swarm task", task, true, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ReachableFrom(c.owner, "node-1"), c.from_own_node) << c.name;
    EXPECT_EQ(ReachableFrom(c.owner, "node-2"), c.from_other_node) << c.name;
  }
}

// An observation made before Docker answered guesses node-local; Docker's
// overlay word makes it cluster-wide, and a later guess never takes that
// back.
TEST(AddressHistoryTest, ScopeMergesTowardsDockersWord) {
  AddressHistory history;
  HistoryChanges changes;
  history.Apply("node-2", Attach(1, T(10), Scoped(kA, v1::ADDRESS_SCOPE_NODE)),
                &changes);
  history.Apply(
      "node-2",
      Attach(2, T(11), Scoped(kA, v1::ADDRESS_SCOPE_CLUSTER), v1::DOCKER_EVENT),
      &changes);
  const AddressRecord* record = history.Find("10.0.1.6");
  ASSERT_EQ(record->intervals.size(), 1u);
  EXPECT_EQ(record->intervals[0].owner.scope(), v1::ADDRESS_SCOPE_CLUSTER);
  changes.clear();
  history.Apply("node-2", Attach(3, T(12), Scoped(kA, v1::ADDRESS_SCOPE_NODE)),
                &changes);
  history.Apply("node-2", Attach(4, T(13), kA), &changes);
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(record->intervals[0].owner.scope(), v1::ADDRESS_SCOPE_CLUSTER);

  // An interval recorded before scopes (unspecified) takes the first word.
  history.Apply("node-2", Attach(5, T(14), kB), &changes);
  history.Apply("node-3", Attach(5, T(15), Scoped(kB, v1::ADDRESS_SCOPE_NODE)),
                &changes);
  EXPECT_EQ(history.Find("10.0.1.6")->intervals[1].owner.scope(),
            v1::ADDRESS_SCOPE_NODE);
}

}  // namespace
}  // namespace ghostpeer::aggregator
