// DockerWatcher against an in-memory dockerd: initial sync, the event
// stream, a lost daemon (reconnect, re-list, diff), the swarm poll.
#include "agent/docker/docker_watcher.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_docker_transport.h"

namespace ghostpeer::agent::docker {
namespace {

using ::ghostpeer::fakes::FakeClock;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr absl::Duration kWait = absl::Seconds(10);  // generous, never hit

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(GHOSTPEER_DOCKER_TESTDATA) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Collects what the watcher emits; waits for it without sleeping blindly.
class Collector {
 public:
  void Add(std::vector<v1::AddressEvent> events) {
    absl::MutexLock lock(&mu_);
    for (auto& e : events) events_.push_back(std::move(e));
  }
  // Waits until at least `n` events arrived; returns a copy of all of them.
  std::vector<v1::AddressEvent> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return events_;
  }
  std::vector<v1::AddressEvent> All() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::AddressEvent> events_ ABSL_GUARDED_BY(mu_);
};

const absl::Time kT0 = absl::FromUnixSeconds(1795462000);

std::string Rfc3339(absl::Time t) {
  if (t == absl::InfinitePast()) return "0001-01-01T00:00:00Z";
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

struct FakeContainer {
  std::string id;
  bool running = true;
  std::string ip;  // on network "net"
  absl::Time started = absl::InfinitePast();
  absl::Time finished = absl::InfinitePast();
};

std::string NetworksJson(const FakeContainer& c) {
  return absl::StrFormat(
      R"({"Networks":{"net":{"NetworkID":"netid","IPAddress":"%s","IPPrefixLen":16}}})",
      c.running ? c.ip : "");
}

std::string InspectJson(const FakeContainer& c) {
  return absl::StrFormat(
      R"({"Id":"%s","Name":"/name-%s","Config":{"Image":"img","Labels":{}},)"
      R"("State":{"Running":%s,"Pid":%d,"StartedAt":"%s","FinishedAt":"%s"},)"
      R"("NetworkSettings":%s})",
      c.id, c.id, c.running ? "true" : "false", c.running ? 1 : 0,
      Rfc3339(c.started), Rfc3339(c.finished), NetworksJson(c));
}

std::string ListJson(const std::vector<FakeContainer>& containers) {
  std::string out = "[";
  for (const FakeContainer& c : containers) {
    if (out.size() > 1) out += ",";
    absl::StrAppendFormat(
        &out,
        R"({"Id":"%s","Names":["/name-%s"],"Image":"img","State":"%s",)"
        R"("NetworkSettings":%s})",
        c.id, c.id, c.running ? "running" : "exited", NetworksJson(c));
  }
  return out + "]";
}

std::string EventJson(const std::string& type, const std::string& action,
                      const std::string& container, absl::Time time) {
  const std::string actor =
      type == "container"
          ? absl::StrFormat(R"({"ID":"%s","Attributes":{"name":"x"}})",
                            container)
          : absl::StrFormat(
                R"({"ID":"netid","Attributes":{"container":"%s","name":"net"}})",
                container);
  return absl::StrFormat(
      R"({"Type":"%s","Action":"%s","Actor":%s,"timeNano":%d})", type, action,
      actor, absl::ToUnixNanos(time));
}

std::string Render(const v1::AddressEvent& e) {
  return absl::StrCat(v1::AddressEventType_Name(e.type()), " ",
                      e.owner().container_id(), " ", e.owner().address(), "@+",
                      absl::ToInt64Seconds(FromProto(e.time()) - kT0), "s");
}

std::vector<std::string> Render(const std::vector<v1::AddressEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(Render(e));
  return out;
}

class DockerWatcherTest : public ::testing::Test {
 protected:
  void StartWatcher(absl::Duration swarm_poll = absl::ZeroDuration()) {
    auto transport = std::make_unique<FakeDockerTransport>();
    fake_ = transport.get();
    if (configure_) configure_(*fake_);
    DockerWatcherOptions options;
    options.node = "node-a";
    options.proc_root = "/nonexistent-proc";
    options.swarm_poll_interval = swarm_poll;
    options.reconnect_initial_backoff = absl::Milliseconds(5);
    options.reconnect_max_backoff = absl::Milliseconds(20);
    options.clock = &clock_;
    options.on_events = [this](std::vector<v1::AddressEvent> events) {
      collector_.Add(std::move(events));
    };
    auto watcher = DockerWatcher::Create(std::move(transport), options);
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
    watcher_->Start();
  }

  void Serve(const std::vector<FakeContainer>& containers) {
    fake_->Set("/containers/json?all=1", 200, ListJson(containers));
    for (const FakeContainer& c : containers) {
      fake_->Set("/containers/" + c.id + "/json", 200, InspectJson(c));
    }
  }

  // Waits (bounded) until the watcher has handled `n` stream events.
  void WaitForEventsReceived(uint64_t n) {
    const absl::Time deadline = absl::Now() + kWait;
    while (watcher_->Stats().events_received < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_GE(watcher_->Stats().events_received, n);
  }

  void TearDown() override {
    if (watcher_) watcher_->Stop();
  }

  FakeClock clock_{kT0 + absl::Seconds(100)};
  Collector collector_;
  std::function<void(FakeDockerTransport&)> configure_;
  FakeDockerTransport* fake_ = nullptr;  // owned by watcher_
  std::unique_ptr<DockerWatcher> watcher_;
};

TEST_F(DockerWatcherTest, InitialSyncAttachesRunningContainers) {
  configure_ = [](FakeDockerTransport& fake) {
    fake.Set("/containers/json?all=1", 200,
             ListJson({{"c1", true, "172.19.0.2", kT0 + absl::Seconds(1)},
                       {"c2", false, "", kT0, kT0 + absl::Seconds(2)}}));
    fake.Set("/containers/c1/json", 200,
             InspectJson({"c1", true, "172.19.0.2", kT0 + absl::Seconds(1)}));
  };
  StartWatcher();
  ASSERT_TRUE(watcher_->WaitForSync(kWait));
  EXPECT_THAT(Render(collector_.WaitFor(1)),
              ::testing::ElementsAre("ATTACH c1 172.19.0.2@+1s"));
  EXPECT_EQ(watcher_->Status(), "connected");
  ASSERT_TRUE(fake_->WaitForStream(1, kWait));
  EXPECT_THAT(fake_->last_stream_path(),
              StartsWith("/events?since=1795462100."));
  EXPECT_THAT(fake_->last_stream_path(), HasSubstr("filters=%7B%22type%22"));

  auto c1 = watcher_->Lookup("c1");
  ASSERT_TRUE(c1.has_value());
  EXPECT_EQ(c1->name, "name-c1");
  EXPECT_EQ(c1->pid, 1);
  auto c2 = watcher_->Lookup("c2");  // listed, not running: known, no pid
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->pid, 0);
  EXPECT_FALSE(watcher_->Lookup("c3").has_value());
  EXPECT_EQ(watcher_->HeldAddresses().size(), 1u);
}

TEST_F(DockerWatcherTest, EventsAttachAtStartAndDetachAtDie) {
  configure_ = [](FakeDockerTransport& fake) {
    fake.Set("/containers/json?all=1", 200, "[]");
  };
  StartWatcher();
  ASSERT_TRUE(fake_->WaitForStream(1, kWait));

  FakeContainer c{"c9", false, "10.5.0.2"};
  // The test plays dockerd: inspect's answer changes between events, so
  // each event is pushed once the watcher has handled the one before.
  Serve({c});  // created, not started: connect comes first
  fake_->PushEvent(
      EventJson("network", "connect", "c9", kT0 + absl::Seconds(1)));
  WaitForEventsReceived(1);
  c.running = true;
  c.started = kT0 + absl::Seconds(2);
  Serve({c});
  fake_->PushEvent(
      EventJson("container", "start", "c9", kT0 + absl::Seconds(2)));
  auto events = collector_.WaitFor(1);
  ASSERT_THAT(Render(events), ::testing::ElementsAre("ATTACH c9 10.5.0.2@+2s"));

  c.running = false;
  c.finished = kT0 + absl::Seconds(5);
  Serve({c});
  fake_->PushEvent(EventJson("container", "die", "c9", kT0 + absl::Seconds(5)));
  fake_->PushEvent(
      EventJson("network", "disconnect", "c9", kT0 + absl::Seconds(5)));
  WaitForEventsReceived(4);
  fake_->Remove("/containers/c9/json");
  fake_->PushEvent(
      EventJson("container", "destroy", "c9", kT0 + absl::Seconds(6)));
  WaitForEventsReceived(5);
  events = collector_.WaitFor(2);
  EXPECT_THAT(Render(events), ::testing::ElementsAre("ATTACH c9 10.5.0.2@+2s",
                                                     "DETACH c9 10.5.0.2@+5s"));
  // destroy: forgotten.
  EXPECT_FALSE(watcher_->Lookup("c9").has_value());
  EXPECT_EQ(collector_.All().size(), 2u);
}

// Addresses are scoped by their network: listed at sync, and listed again
// when an event names a network the watcher has not seen (created since).
TEST_F(DockerWatcherTest, AddressesCarryTheirNetworksScope) {
  configure_ = [](FakeDockerTransport& fake) {
    fake.Set("/containers/json?all=1", 200, "[]");
    fake.Set("/networks", 200, "[]");
  };
  StartWatcher();
  ASSERT_TRUE(fake_->WaitForStream(1, kWait));
  fake_->Set(
      "/networks", 200,
      R"([{"Name":"net","Id":"netid","Scope":"swarm","Driver":"overlay"}])");
  Serve({{"c9", true, "10.5.0.2", kT0 + absl::Seconds(2)}});
  fake_->PushEvent(
      EventJson("container", "start", "c9", kT0 + absl::Seconds(2)));
  auto events = collector_.WaitFor(1);
  ASSERT_THAT(Render(events), ::testing::ElementsAre("ATTACH c9 10.5.0.2@+2s"));
  EXPECT_EQ(events[0].owner().scope(), v1::ADDRESS_SCOPE_CLUSTER);
  auto c9 = watcher_->Lookup("c9");
  ASSERT_TRUE(c9.has_value());
  EXPECT_EQ(c9->address_scopes.at("10.5.0.2"), v1::ADDRESS_SCOPE_CLUSTER);
  EXPECT_EQ(watcher_->Stats().network_list_failures, 0u);
}

TEST_F(DockerWatcherTest, BadEventLinesAreSkipped) {
  configure_ = [](FakeDockerTransport& fake) {
    fake.Set("/containers/json?all=1", 200, "[]");
  };
  StartWatcher();
  ASSERT_TRUE(fake_->WaitForStream(1, kWait));
  Serve({{"c1", true, "10.0.0.2", kT0}});
  fake_->PushEvent("this is not json");
  fake_->PushEvent(R"({"Type":"container"})");
  fake_->PushEvent(EventJson("container", "start", "c1", kT0));
  EXPECT_THAT(Render(collector_.WaitFor(1)),
              ::testing::ElementsAre("ATTACH c1 10.0.0.2@+0s"));
  EXPECT_EQ(watcher_->Stats().bad_events, 2u);
  EXPECT_EQ(fake_->streams_opened(), 1);  // garbage does not drop the stream
}

TEST_F(DockerWatcherTest, LostDaemonReconnectsAndDiffs) {
  configure_ = [](FakeDockerTransport& fake) {
    fake.Set("/containers/json?all=1", 200,
             ListJson({{"c1", true, "10.0.0.2", kT0},
                       {"c2", true, "10.0.0.3", kT0}}));
    fake.Set("/containers/c1/json", 200,
             InspectJson({"c1", true, "10.0.0.2", kT0}));
    fake.Set("/containers/c2/json", 200,
             InspectJson({"c2", true, "10.0.0.3", kT0}));
  };
  StartWatcher();
  ASSERT_EQ(collector_.WaitFor(2).size(), 2u);
  ASSERT_TRUE(fake_->WaitForStream(1, kWait));

  // dockerd goes away. While it is away: c1 is removed, c2 dies, c3 starts.
  fake_->SetDown(true);
  absl::Time deadline = absl::Now() + kWait;
  while (!absl::StartsWith(watcher_->Status(), "unavailable: ") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_THAT(watcher_->Status(), StartsWith("unavailable: "));
  EXPECT_THAT(watcher_->Status(), HasSubstr("fake dockerd"));
  // Lookups keep answering from the cache meanwhile.
  EXPECT_TRUE(watcher_->Lookup("c1").has_value());

  fake_->Remove("/containers/c1/json");
  fake_->Set("/containers/json?all=1", 200,
             ListJson({{"c2", false, "", kT0, kT0 + absl::Seconds(40)},
                       {"c3", true, "10.0.0.9", kT0 + absl::Seconds(50)}}));
  fake_->Set("/containers/c2/json", 200,
             InspectJson({"c2", false, "", kT0, kT0 + absl::Seconds(40)}));
  fake_->Set("/containers/c3/json", 200,
             InspectJson({"c3", true, "10.0.0.9", kT0 + absl::Seconds(50)}));
  clock_.Set(kT0 + absl::Seconds(60));
  fake_->SetDown(false);

  // Re-list and diff: c2 detached when it finished, c3 attached when it
  // started, c1 (gone without a trace) detached at the re-sync.
  auto events = collector_.WaitFor(5);
  const std::vector<std::string> rendered = Render(events);
  ASSERT_EQ(rendered.size(), 5u);
  const std::vector<std::string> after(rendered.begin() + 2, rendered.end());
  EXPECT_THAT(after, ::testing::UnorderedElementsAre(
                         "DETACH c1 10.0.0.2@+60s", "DETACH c2 10.0.0.3@+40s",
                         "ATTACH c3 10.0.0.9@+50s"));
  ASSERT_TRUE(fake_->WaitForStream(2, kWait));
  EXPECT_EQ(watcher_->Status(), "connected");
  EXPECT_GE(watcher_->Stats().connection_losses, 1u);
  EXPECT_GE(watcher_->Stats().syncs, 2u);
  EXPECT_FALSE(watcher_->Lookup("c1").has_value());
}

TEST_F(DockerWatcherTest, AbsentDaemonIsReportedAndJoinedLater) {
  configure_ = [](FakeDockerTransport& fake) { fake.SetDown(true); };
  StartWatcher();
  EXPECT_FALSE(watcher_->WaitForSync(absl::Milliseconds(50)));
  absl::Time deadline = absl::Now() + kWait;
  while (watcher_->Status() == "starting" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_THAT(watcher_->Status(), StartsWith("unavailable: "));
  Serve({{"c1", true, "10.0.0.2", kT0}});
  fake_->SetDown(false);
  ASSERT_TRUE(watcher_->WaitForSync(kWait));
  EXPECT_THAT(Render(collector_.WaitFor(1)),
              ::testing::ElementsAre("ATTACH c1 10.0.0.2@+0s"));
}

// A swarm manager's dockerd: captured answers, `services` for /services.
std::function<void(FakeDockerTransport&)> ServeManager(std::string services) {
  return [services](FakeDockerTransport& fake) {
    fake.Set("/containers/json?all=1", 200, "[]");
    fake.Set("/info", 200, Testdata("info.json"));
    fake.Set("/tasks", 200, Testdata("tasks.json"));
    fake.Set("/services", 200, Testdata(services));
    fake.Set("/networks", 200, Testdata("networks.json"));
    fake.Set("/nodes", 200, Testdata("nodes.json"));
  };
}

TEST_F(DockerWatcherTest, ManagerPollsTasksAndKnowsVips) {
  configure_ = ServeManager("services.json");
  StartWatcher(absl::Milliseconds(10));
  // Captured: two running tasks, one shut down (ATTACH+DETACH), one VIP,
  // then the inventory of the first view: the two running tasks and the VIP.
  auto events = collector_.WaitFor(6);
  ASSERT_EQ(events.size(), 6u);
  const v1::AddressEvent inventory = events.back();
  events.pop_back();
  EXPECT_EQ(inventory.type(), v1::INVENTORY);
  EXPECT_EQ(inventory.source(), v1::SWARM_TASKS);
  EXPECT_EQ(inventory.inventory_size(), 3);
  int vips = 0, tasks = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e.source(), v1::SWARM_TASKS);
    if (e.owner().kind() == v1::OWNER_KIND_SWARM_VIP) {
      ++vips;
      EXPECT_EQ(e.owner().address(), "10.0.1.4");
      EXPECT_EQ(e.owner().network(), "gp-test-capovl");
    } else {
      ++tasks;
      EXPECT_EQ(e.owner().kind(), v1::OWNER_KIND_SWARM_TASK);
      EXPECT_EQ(e.owner().node(), "vm");
    }
  }
  EXPECT_EQ(vips, 1);
  EXPECT_EQ(tasks, 4);
  EXPECT_TRUE(watcher_->IsSwarmManager());
  ASSERT_EQ(watcher_->ServiceVips().size(), 1u);
  absl::Time deadline = absl::Now() + kWait;
  while (watcher_->Stats().swarm_polls < 4 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  // Later polls of an unchanged cluster add nothing, not even another
  // inventory.
  EXPECT_EQ(collector_.All().size(), 6u);
}

TEST_F(DockerWatcherTest, ManagerReportsServicesRemediationLabels) {
  configure_ = ServeManager("services_labelled.json");
  StartWatcher(absl::Milliseconds(10));
  absl::Time deadline = absl::Now() + kWait;
  while (watcher_->ServiceRemediation().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  // Raw values, for the aggregator to judge; implausible ones never leave.
  EXPECT_EQ(watcher_->ServiceRemediation(),
            (std::map<std::string, std::string>{{"gp-test-capvip", "auto"},
                                                {"gp-test-capsvc", "dry-run"},
                                                {"gp-test-shouty", "OFF"}}));
}

TEST_F(DockerWatcherTest, WorkerDoesNotPollTasks) {
  configure_ = [](FakeDockerTransport& fake) {
    fake.Set("/containers/json?all=1", 200, "[]");
    fake.Set(
        "/info", 200,
        R"({"Swarm":{"LocalNodeState":"active","ControlAvailable":false}})");
    fake.Set("/tasks", 503,
             R"({"message":"This node is not a swarm manager."})");
  };
  StartWatcher(absl::Milliseconds(5));
  absl::Time deadline = absl::Now() + kWait;
  while (watcher_->Stats().swarm_polls < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_FALSE(watcher_->IsSwarmManager());
  EXPECT_EQ(watcher_->Stats().swarm_poll_failures, 0u);
  EXPECT_THAT(collector_.All(), IsEmpty());
  EXPECT_THAT(watcher_->ServiceVips(), IsEmpty());
  EXPECT_THAT(watcher_->ServiceRemediation(), IsEmpty());
}

TEST(DockerWatcherCreateTest, RejectsBadOptions) {
  struct Case {
    std::string name;
    std::function<void(DockerWatcherOptions&)> mutate;
    bool null_transport = false;
  };
  const std::vector<Case> cases = {
      {"no callback", [](DockerWatcherOptions& o) { o.on_events = nullptr; }},
      {"zero backoff",
       [](DockerWatcherOptions& o) {
         o.reconnect_initial_backoff = absl::ZeroDuration();
       }},
      {"max below initial",
       [](DockerWatcherOptions& o) {
         o.reconnect_max_backoff = absl::Milliseconds(1);
       }},
      {"negative poll",
       [](DockerWatcherOptions& o) {
         o.swarm_poll_interval = absl::Seconds(-1);
       }},
      {"null transport", [](DockerWatcherOptions&) {}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    DockerWatcherOptions options;
    options.on_events = [](std::vector<v1::AddressEvent>) {};
    c.mutate(options);
    std::unique_ptr<DockerTransport> transport;
    if (!c.null_transport) transport = std::make_unique<FakeDockerTransport>();
    auto watcher = DockerWatcher::Create(std::move(transport), options);
    EXPECT_TRUE(absl::IsInvalidArgument(watcher.status())) << watcher.status();
  }
}

TEST(DockerWatcherCreateTest, StopWithoutStartAndTwice) {
  DockerWatcherOptions options;
  options.on_events = [](std::vector<v1::AddressEvent>) {};
  auto watcher =
      DockerWatcher::Create(std::make_unique<FakeDockerTransport>(), options);
  ASSERT_TRUE(watcher.ok());
  (*watcher)->Stop();
  (*watcher)->Stop();
  EXPECT_EQ((*watcher)->Status(), "starting");
}

}  // namespace
}  // namespace ghostpeer::agent::docker
