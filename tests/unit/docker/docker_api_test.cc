// Parsing of Docker Engine API 1.41 responses: bodies captured from Debian
// 12's docker.io 20.10.24 (tests/testdata/docker/) and hand-made broken ones.
#include "agent/docker/docker_api.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ghostpeer::agent::docker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(GHOSTPEER_DOCKER_TESTDATA) + "/" + name);
  EXPECT_TRUE(in.good()) << "missing testdata " << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Time At(const char* rfc3339) {
  absl::Time time;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &time, &error))
      << error;
  return time;
}

// The bridge container of containers_list.json and the inspect captures.
constexpr char kCapturedContainer[] =
    "36df13d2811acb9690dfd73fcd9501ccd2a453d10b6b9235d9a95e6b49475752";
// The container of events_bridge.jsonl (an earlier run of the same capture).
constexpr char kEventsContainer[] =
    "48b83a2bf45727cddf18091280823a83439dae855d92814e5490ac4cf991ea86";
constexpr char kCapturedTaskContainer[] =
    "415a90b553693a6cbbf5e9b523a4da0e6819bc07f9a792728f27fae994daed41";

TEST(ParseContainerListTest, CapturedList) {
  auto list = ParseContainerList(Testdata("containers_list.json"));
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_THAT(*list, SizeIs(1));
  const ContainerSummary& c = (*list)[0];
  EXPECT_EQ(c.id, kCapturedContainer);
  EXPECT_EQ(c.name, "gp-test-cap1");
  EXPECT_EQ(c.image, "gp-test-capture:latest");
  EXPECT_EQ(c.state, "running");
  EXPECT_EQ(c.labels.at("app"), "demo");
  ASSERT_THAT(c.networks, SizeIs(1));
  EXPECT_EQ(c.networks[0].network_name, "gp-test-capnet");
  EXPECT_EQ(c.networks[0].ip_address, "172.19.0.2");
  EXPECT_EQ(c.networks[0].ip_prefix_len, 16);
  EXPECT_EQ(c.networks[0].ipam_ipv4_address, "");  // IPAMConfig: null
}

TEST(ParseContainerDetailsTest, CapturedBridgeContainerRunning) {
  auto d = ParseContainerDetails(Testdata("container_inspect_bridge.json"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id, kCapturedContainer);
  EXPECT_EQ(d->name, "gp-test-cap1");
  EXPECT_EQ(d->image, "gp-test-capture:latest");
  EXPECT_TRUE(d->running);
  EXPECT_GT(d->pid, 0);
  EXPECT_NE(d->started_at, absl::InfinitePast());
  EXPECT_EQ(d->finished_at, absl::InfinitePast());  // Go's zero time
  EXPECT_THAT(d->sandbox_key, HasSubstr("/var/run/docker/netns/"));
  ASSERT_THAT(d->networks, SizeIs(1));
  EXPECT_EQ(d->networks[0].ip_address, "172.19.0.2");
  EXPECT_EQ(d->networks[0].network_id,
            "ff96b51021aa4421ed074ffa02a0cdbea3be6a92901419949e3f362fb935f7a7");
}

TEST(ParseContainerDetailsTest, CapturedBridgeContainerExitedHasNoAddress) {
  auto d =
      ParseContainerDetails(Testdata("container_inspect_bridge_exited.json"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->running);
  EXPECT_EQ(d->pid, 0);
  EXPECT_NE(d->finished_at, absl::InfinitePast());
  ASSERT_THAT(d->networks, SizeIs(1));
  // After die, IPAddress is "": record addresses at start
  // (docs/linux-docker.md).
  EXPECT_EQ(d->networks[0].ip_address, "");
}

TEST(ParseContainerDetailsTest, CapturedTwoNetworks) {
  auto d =
      ParseContainerDetails(Testdata("container_inspect_two_networks.json"));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_THAT(d->networks, SizeIs(2));
  std::vector<std::string> names;
  for (const auto& n : d->networks) {
    names.push_back(n.network_name);
    EXPECT_FALSE(n.ip_address.empty()) << n.network_name;
  }
  EXPECT_THAT(names,
              ::testing::UnorderedElementsAre("bridge", "gp-test-capnet"));
}

TEST(ParseContainerDetailsTest, CapturedSwarmTaskKeepsIpamAfterDeath) {
  auto running = ParseContainerDetails(Testdata("container_inspect_task.json"));
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->id, kCapturedTaskContainer);
  EXPECT_EQ(running->labels.at(std::string(kLabelServiceName)),
            "gp-test-capsvc");
  EXPECT_EQ(running->labels.at(std::string(kLabelTaskName)),
            "gp-test-capsvc.1.02xss6kav5jg2ywneims0eh8v");
  ASSERT_THAT(running->networks, SizeIs(1));
  EXPECT_EQ(running->networks[0].ip_address, "10.0.1.6");
  EXPECT_EQ(running->networks[0].ipam_ipv4_address, "10.0.1.6");
  EXPECT_EQ(running->started_at, At("2026-11-23T19:31:28.106733787Z"));

  auto dead =
      ParseContainerDetails(Testdata("container_inspect_task_exited.json"));
  ASSERT_TRUE(dead.ok()) << dead.status();
  EXPECT_FALSE(dead->running);
  ASSERT_THAT(dead->networks, SizeIs(1));
  EXPECT_EQ(dead->networks[0].ip_address, "");
  EXPECT_EQ(dead->networks[0].ipam_ipv4_address, "10.0.1.2");
  EXPECT_EQ(dead->finished_at, At("2026-11-23T19:31:27.337503671Z"));
}

TEST(ParseEventTest, CapturedBridgeSequence) {
  std::vector<Event> events;
  for (absl::string_view line : absl::StrSplit(Testdata("events_bridge.jsonl"),
                                               '\n', absl::SkipEmpty())) {
    auto event = ParseEvent(line);
    ASSERT_TRUE(event.ok()) << event.status() << " in " << line;
    events.push_back(*event);
  }
  ASSERT_THAT(events, SizeIs(5));
  std::vector<std::string> actions;
  for (const Event& e : events) {
    actions.push_back(e.type + "/" + e.action);
    EXPECT_EQ(e.container_id, kEventsContainer) << e.action;
  }
  EXPECT_THAT(actions,
              ElementsAre("network/connect", "container/start", "container/die",
                          "network/disconnect", "container/destroy"));
  EXPECT_EQ(events[0].attributes.at("name"), "gp-test-capnet");
  EXPECT_EQ(events[1].time, absl::FromUnixNanos(1795462160172093412));
  EXPECT_EQ(events[2].attributes.at("exitCode"), "137");
}

TEST(ParseEventTest, CapturedSwarmEventsCarryTaskLabels) {
  const std::string text = Testdata("events_swarm.jsonl");
  const std::string first = std::string(text.substr(0, text.find('\n')));
  auto event = ParseEvent(first);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->action, "die");
  EXPECT_EQ(event->attributes.at(std::string(kLabelServiceName)),
            "gp-test-capsvc");
}

TEST(ParseTaskListTest, CapturedTasks) {
  auto tasks = ParseTaskList(Testdata("tasks.json"));
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_THAT(*tasks, SizeIs(3));
  int running = 0, shutdown = 0;
  for (const Task& t : *tasks) {
    EXPECT_FALSE(t.id.empty());
    EXPECT_EQ(t.slot, 1);
    EXPECT_EQ(t.node_id, "8khqi23xjph6q21bs9s4l3iv5");
    EXPECT_NE(t.status_time, absl::InfinitePast());
    EXPECT_NE(t.created_at, absl::InfinitePast());
    ASSERT_THAT(t.attachments, SizeIs(1)) << t.id;
    EXPECT_EQ(t.attachments[0].network_name, "gp-test-capovl");
    ASSERT_THAT(t.attachments[0].addresses, SizeIs(1));
    EXPECT_THAT(t.attachments[0].addresses[0], HasSubstr("10.0.1."));
    EXPECT_THAT(t.attachments[0].addresses[0], Not(HasSubstr("/")));
    if (t.state == "running") ++running;
    if (t.state == "shutdown") {
      ++shutdown;
      // The ended task keeps its address and container (docs/linux-docker.md).
      EXPECT_EQ(t.attachments[0].addresses[0], "10.0.1.2");
      EXPECT_FALSE(t.container_id.empty());
    }
  }
  EXPECT_EQ(running, 2);
  EXPECT_EQ(shutdown, 1);
}

TEST(ParseServiceListTest, CapturedServicesVipAndDnsrr) {
  auto services = ParseServiceList(Testdata("services.json"));
  ASSERT_TRUE(services.ok()) << services.status();
  ASSERT_THAT(*services, SizeIs(2));
  for (const Service& s : *services) {
    EXPECT_EQ(s.mode, "replicated");
    EXPECT_NE(s.created_at, absl::InfinitePast());
    if (s.name == "gp-test-capvip") {
      EXPECT_EQ(s.endpoint_mode, "vip");
      ASSERT_THAT(s.virtual_ips, SizeIs(1));
      EXPECT_EQ(s.virtual_ips[0].address, "10.0.1.4");
      EXPECT_EQ(s.virtual_ips[0].network_id, "zlfa5xpa55zqfkdu7j7gib5yz");
    } else {
      EXPECT_EQ(s.name, "gp-test-capsvc");
      EXPECT_EQ(s.endpoint_mode, "dnsrr");
      EXPECT_THAT(s.virtual_ips, IsEmpty());
    }
  }
}

// services.json with labels added (as `docker service create --label
// ghostpeer.remediation=...` writes them), and some no person would choose.
TEST(ParseServiceListTest, RemediationLabelIsReadAndBounded) {
  auto services = ParseServiceList(Testdata("services_labelled.json"));
  ASSERT_TRUE(services.ok()) << services.status();
  std::map<std::string, std::string> labels;
  for (const Service& s : *services) labels[s.name] = s.remediation_label;
  EXPECT_EQ(labels, (std::map<std::string, std::string>{
                        {"gp-test-capvip", "auto"},
                        {"gp-test-capsvc", "dry-run"},
                        // Raw: the aggregator judges what it means.
                        {"gp-test-shouty", "OFF"},
                        // Dropped: a control character, too long, empty.
                        {"gp-test-escape", ""},
                        {"gp-test-long", ""},
                        {"gp-test-empty", ""},
                    }));
  // Unlabelled services have none.
  auto plain = ParseServiceList(Testdata("services.json"));
  ASSERT_TRUE(plain.ok());
  for (const Service& s : *plain) EXPECT_EQ(s.remediation_label, "") << s.name;
}

TEST(ParseNetworkListTest, Captured) {
  auto networks = ParseNetworkList(Testdata("networks.json"));
  ASSERT_TRUE(networks.ok()) << networks.status();
  bool found = false;
  for (const Network& n : *networks) {
    if (n.id == "zlfa5xpa55zqfkdu7j7gib5yz") {
      found = true;
      EXPECT_EQ(n.name, "gp-test-capovl");
      EXPECT_EQ(n.driver, "overlay");
      EXPECT_EQ(n.scope, "swarm");
    }
  }
  EXPECT_TRUE(found);
}

TEST(ParseNodeListTest, Captured) {
  auto nodes = ParseNodeList(Testdata("nodes.json"));
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_THAT(*nodes, SizeIs(1));
  EXPECT_EQ((*nodes)[0].id, "8khqi23xjph6q21bs9s4l3iv5");
  EXPECT_EQ((*nodes)[0].hostname, "vm");
  EXPECT_EQ((*nodes)[0].address, "127.0.0.1");
  EXPECT_EQ((*nodes)[0].state, "ready");
  EXPECT_EQ((*nodes)[0].role, "manager");
  EXPECT_EQ((*nodes)[0].availability, "active");
  EXPECT_EQ((*nodes)[0].message, "");
  EXPECT_EQ((*nodes)[0].updated_at,
            absl::FromUnixNanos(int64_t{1795462258253611258}));
}

// Hand-made in the captured shape (docker.io 20.10.24 leaves out
// Status.Message while a node is ready): three nodes, one the managers
// lost (link cut, then killed; issue 9).
TEST(ParseNodeListTest, ANodeTheManagersLost) {
  auto nodes = ParseNodeList(Testdata("nodes_down.json"));
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_THAT(*nodes, SizeIs(3));
  const Node& lost = (*nodes)[1];
  EXPECT_EQ(lost.hostname, "gp-node-2");
  EXPECT_EQ(lost.state, "down");
  EXPECT_EQ(lost.message, "heartbeat failure");
  EXPECT_EQ(lost.role, "worker");
  EXPECT_EQ(lost.address, "172.31.250.3");
  EXPECT_NE(lost.updated_at, absl::InfinitePast());
  EXPECT_EQ((*nodes)[2].availability, "drain");
  EXPECT_EQ((*nodes)[2].state, "ready");
}

TEST(ParseNodeListTest, HostileShapesAreRefusedOrZero) {
  struct Case {
    std::string name;
    std::string body;
    bool ok;
    std::string want_error;  // substring, when !ok
  };
  const std::vector<Case> cases = {
      {"state not a string", R"([{"ID":"a","Status":{"State":7}}])", false,
       "nodes[0].Status.State"},
      {"status not an object", R"([{"ID":"a","Status":"down"}])", false,
       "nodes[0].Status"},
      {"spec role not a string", R"([{"ID":"a","Spec":{"Role":[]}}])", false,
       "nodes[0].Spec.Role"},
      {"bad UpdatedAt", R"([{"ID":"a","UpdatedAt":"yesterday"}])", false,
       "nodes[0].UpdatedAt"},
      {"nulls read as zero",
       R"([{"ID":"a","Status":null,"Spec":null,"UpdatedAt":null}])", true, ""},
      {"no ID", R"([{"Status":{"State":"down"}}])", false, "ID"},
  };
  for (const Case& c : cases) {
    auto nodes = ParseNodeList(c.body);
    EXPECT_EQ(nodes.ok(), c.ok) << c.name << ": " << nodes.status();
    if (!c.ok) {
      EXPECT_THAT(std::string(nodes.status().message()),
                  HasSubstr(c.want_error))
          << c.name;
    } else {
      EXPECT_EQ((*nodes)[0].state, "") << c.name;
      EXPECT_EQ((*nodes)[0].updated_at, absl::InfinitePast()) << c.name;
    }
  }
}

TEST(ParseInfoTest, CapturedManager) {
  auto info = ParseInfo(Testdata("info.json"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->swarm_state, "active");
  EXPECT_TRUE(info->swarm_manager);
  EXPECT_EQ(info->swarm_node_id, "8khqi23xjph6q21bs9s4l3iv5");
}

TEST(ErrorMessageTest, CapturedAndGarbage) {
  EXPECT_THAT(ErrorMessage(Testdata("error_no_such_container.json")),
              HasSubstr("No such container"));
  EXPECT_EQ(ErrorMessage("  plain text\n"), "plain text");
  EXPECT_EQ(ErrorMessage(std::string(300, 'x')).size(), 203u);
}

// Hand-made bodies each parser must refuse with InvalidArgument (and never
// crash on), or accept with zero values.
struct MalformedCase {
  std::string name;
  std::string body;
  bool ok;                 // accepted?
  std::string error_part;  // when refused: part of the message
};

using Parser = std::function<absl::Status(absl::string_view)>;

void RunCases(const Parser& parse, const std::vector<MalformedCase>& cases) {
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status = parse(c.body);
    if (c.ok) {
      EXPECT_TRUE(status.ok()) << status;
    } else {
      EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.error_part));
    }
  }
}

TEST(ParseContainerListTest, Malformed) {
  RunCases(
      [](absl::string_view b) { return ParseContainerList(b).status(); },
      {
          {"empty body", "", false, "not JSON"},
          {"garbage", "<html>", false, "not JSON"},
          {"truncated", R"([{"Id":"a")", false, "not JSON"},
          {"object at top", R"({"Id":"a"})", false, "expected an array"},
          {"element not object", R"([1])", false, "containers[0]"},
          {"missing id", R"([{"Names":["/x"]}])", false, "containers[0].Id"},
          {"id wrong type", R"([{"Id":7}])", false, "containers[0].Id"},
          {"labels wrong type", R"([{"Id":"a","Labels":[]}])", false, "Labels"},
          {"label value wrong type", R"([{"Id":"a","Labels":{"k":1}}])", false,
           "Labels.k"},
          {"network not object",
           R"([{"Id":"a","NetworkSettings":{"Networks":{"n":3}}}])", false,
           "Networks.n"},
          {"ip wrong type",
           R"([{"Id":"a","NetworkSettings":{"Networks":{"n":{"IPAddress":1}}}}])",
           false, "Networks.n.IPAddress"},
          {"empty list", "[]", true, ""},
          {"nulls everywhere",
           R"([{"Id":"a","Names":null,"Labels":null,"NetworkSettings":null}])",
           true, ""},
          {"names not strings", R"([{"Id":"a","Names":[1]}])", true, ""},
      });
}

TEST(ParseContainerDetailsTest, Malformed) {
  RunCases(
      [](absl::string_view b) { return ParseContainerDetails(b).status(); },
      {
          {"array at top", "[]", false, "expected an object"},
          {"missing id", R"({"Name":"/x"})", false, "container.Id"},
          {"pid string", R"({"Id":"a","State":{"Pid":"12"}})", false,
           "State.Pid"},
          {"pid float", R"({"Id":"a","State":{"Pid":1.5}})", false,
           "State.Pid"},
          {"running not bool", R"({"Id":"a","State":{"Running":1}})", false,
           "State.Running"},
          {"bad time", R"({"Id":"a","State":{"StartedAt":"yesterday"}})", false,
           "StartedAt"},
          {"ipam wrong type",
           R"({"Id":"a","NetworkSettings":{"Networks":{"n":{"IPAMConfig":"x"}}}})",
           false, "IPAMConfig"},
          {"minimal", R"({"Id":"a"})", true, ""},
          {"pid over uint64 max of int64",
           R"({"Id":"a","State":{"Pid":18446744073709551615}})", false,
           "State.Pid"},
          {"pid over int", R"({"Id":"a","State":{"Pid":4294967296}})", false,
           "State.Pid: 4294967296 out of range"},
          {"negative prefix fits",
           R"({"Id":"a","NetworkSettings":{"Networks":{"n":{"IPPrefixLen":-1}}}})",
           true, ""},
      });
}

TEST(ParseEventTest, Malformed) {
  RunCases(
      [](absl::string_view b) { return ParseEvent(b).status(); },
      {
          {"not json", "{", false, "not JSON"},
          {"string", R"("start")", false, "expected an object"},
          {"no type", R"({"Action":"start"})", false, "Type or Action"},
          {"attributes wrong type",
           R"({"Type":"container","Action":"start","Actor":{"Attributes":[]}})",
           false, "Attributes"},
          {"time wrong type",
           R"({"Type":"container","Action":"start","timeNano":"1"})", false,
           "timeNano"},
          {"no actor", R"({"Type":"container","Action":"start"})", true, ""},
      });
}

TEST(ParseEventTest, TimeFallsBackToSeconds) {
  auto event = ParseEvent(
      R"({"Type":"container","Action":"start","Actor":{"ID":"c"},"time":100})");
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->time, absl::FromUnixSeconds(100));
  EXPECT_EQ(event->container_id, "c");
  auto network_event = ParseEvent(
      R"({"Type":"network","Action":"connect","Actor":{"ID":"n","Attributes":{"container":"c"}}})");
  ASSERT_TRUE(network_event.ok()) << network_event.status();
  EXPECT_EQ(network_event->container_id, "c");
  EXPECT_EQ(network_event->time, absl::InfinitePast());
}

TEST(ParseTaskListTest, Malformed) {
  RunCases(
      [](absl::string_view b) { return ParseTaskList(b).status(); },
      {
          {"missing id", R"([{"Slot":1}])", false, "tasks[0].ID"},
          {"slot string", R"([{"ID":"t","Slot":"1"}])", false, "Slot"},
          {"attachments object", R"([{"ID":"t","NetworksAttachments":{}}])",
           false, "NetworksAttachments"},
          {"address not string",
           R"([{"ID":"t","NetworksAttachments":[{"Addresses":[5]}]}])", false,
           "Addresses"},
          {"status timestamp garbage",
           R"([{"ID":"t","Status":{"Timestamp":"soon"}}])", false,
           "Status.Timestamp"},
          {"global task without slot", R"([{"ID":"t"}])", true, ""},
      });
}

TEST(ParseServiceListTest, Malformed) {
  RunCases(
      [](absl::string_view b) { return ParseServiceList(b).status(); },
      {
          {"missing id", R"([{}])", false, "services[0].ID"},
          {"vips not array", R"([{"ID":"s","Endpoint":{"VirtualIPs":{}}}])",
           false, "VirtualIPs"},
          {"vip not object", R"([{"ID":"s","Endpoint":{"VirtualIPs":[1]}}])",
           false, "VirtualIPs[0]"},
          {"global mode", R"([{"ID":"s","Spec":{"Mode":{"Global":{}}}}])", true,
           ""},
          {"labels not object", R"([{"ID":"s","Spec":{"Labels":[]}}])", false,
           "services[0].Spec.Labels"},
          {"label not string",
           R"([{"ID":"s","Spec":{"Labels":{"ghostpeer.remediation":1}}}])",
           false, "Labels.ghostpeer.remediation"},
          {"null labels", R"([{"ID":"s","Spec":{"Labels":null}}])", true, ""},
      });
}

TEST(ParseInfoTest, Malformed) {
  RunCases([](absl::string_view b) { return ParseInfo(b).status(); },
           {
               {"swarm wrong type", R"({"Swarm":true})", false, "info.Swarm"},
               {"manager wrong type", R"({"Swarm":{"ControlAvailable":"yes"}})",
                false, "ControlAvailable"},
               {"no swarm", R"({})", true, ""},
           });
}

TEST(ParseDockerTimeTest, Table) {
  struct Case {
    std::string name;
    std::string text;
    bool ok;
    absl::Time want;
  };
  const std::vector<Case> cases = {
      {"nanoseconds", "2026-11-23T19:31:28.106733787Z", true,
       absl::FromUnixNanos(1795462288106733787)},
      {"go zero time", "0001-01-01T00:00:00Z", true, absl::InfinitePast()},
      {"empty", "", true, absl::InfinitePast()},
      {"offset", "2026-11-23T20:31:28+01:00", true,
       absl::FromUnixSeconds(1795462288)},
      {"garbage", "last tuesday", false, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto time = ParseDockerTime(c.text);
    ASSERT_EQ(time.ok(), c.ok) << time.status();
    if (c.ok) {
      EXPECT_EQ(*time, c.want);
    }
  }
}

TEST(TaskSlotFromNameTest, Table) {
  struct Case {
    std::string name;
    std::string task;
    std::string service;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"replicated", "srv.3.abc", "srv", "3"},
      {"dotted service", "my.app.12.abc", "my.app", "12"},
      {"global has node id", "agent.8khqi23xjph6q21bs9s4l3iv5.abc", "agent",
       ""},
      {"other service", "srv.3.abc", "other", ""},
      {"no service", "srv.3.abc", "", ""},
      {"zero slot", "srv.0.abc", "srv", ""},
      {"just prefix", "srv", "srv", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(TaskSlotFromName(c.task, c.service), c.want);
  }
}

TEST(StripPrefixLengthTest, Table) {
  EXPECT_EQ(StripPrefixLength("10.0.1.8/24"), "10.0.1.8");
  EXPECT_EQ(StripPrefixLength("fd00::1/64"), "fd00::1");
  EXPECT_EQ(StripPrefixLength("10.0.1.8"), "10.0.1.8");
  EXPECT_EQ(StripPrefixLength(""), "");
}

}  // namespace
}  // namespace ghostpeer::agent::docker
