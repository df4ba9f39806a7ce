// ReadTranslationsHere against a real iptables DNAT "VIP" in private
// namespaces (tests/support/vip_scenario.h): run on the NamespaceWorker
// inside the router namespace, it finds the client's flow and its backend,
// through ctnetlink, through the /proc file, and through the fallback taken
// when ctnetlink is refused; IPv4 and IPv6.
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/namespace_worker.h"
#include "agent/translation.h"
#include "gtest/gtest.h"
#include "tests/support/vip_scenario.h"

namespace ghostpeer::agent {
namespace {

using ::ghostpeer::testing::VipScenario;
using ::ghostpeer::testing::VipScenarioOptions;

// Sets or clears CAP_NET_ADMIN in the CALLING THREAD's effective set
// (capabilities are per thread; the permitted set keeps it, so it can come
// back).
absl::Status SetNetAdminEffective(bool on) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    return absl::InternalError("capget");
  }
  const uint32_t bit = 1u << CAP_NET_ADMIN;  // CAP_NET_ADMIN is 12: word 0
  data[0].effective = on ? data[0].effective | bit : data[0].effective & ~bit;
  if (syscall(SYS_capset, &header, data) != 0) {
    return absl::InternalError("capset");
  }
  return absl::OkStatus();
}

class TranslationIntegrationTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    VipScenarioOptions options;
    options.ipv6 = GetParam();
    options.prefix = "gp-it-xr-";
    absl::StatusOr<std::unique_ptr<VipScenario>> scenario =
        VipScenario::Create(options);
    if (absl::IsUnavailable(scenario.status())) {
      GTEST_SKIP() << scenario.status().message();
    }
    ASSERT_TRUE(scenario.ok()) << scenario.status();
    scenario_ = *std::move(scenario);
    absl::StatusOr<std::unique_ptr<NamespaceWorker>> worker =
        NamespaceWorker::Create();
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
  }

  // ReadTranslationsHere on the worker inside `netns` ("" = its own).
  NamespaceTranslations ReadIn(const std::string& netns,
                               const TranslationReadOptions& options,
                               bool drop_net_admin = false) {
    NamespaceTranslations read;
    const absl::Status status = worker_->RunIn(
        netns.empty() ? "" : "/var/run/netns/" + netns, [&]() -> absl::Status {
          if (drop_net_admin) {
            absl::Status dropped = SetNetAdminEffective(false);
            if (!dropped.ok()) return dropped;
          }
          read = ReadTranslationsHere("/proc", options);
          return drop_net_admin ? SetNetAdminEffective(true) : absl::OkStatus();
        });
    EXPECT_TRUE(status.ok()) << status;
    return read;
  }

  // The flow of the client's connection to the VIP, or nullptr.
  const Translation* FindFlow(const NamespaceTranslations& read,
                              const std::string& backend) const {
    for (const Translation& t : read.flows) {
      if (t.client_ip == scenario_->client_address() &&
          t.service_ip == scenario_->vip() &&
          t.service_port == scenario_->port() && t.backend_ip == backend) {
        return &t;
      }
    }
    return nullptr;
  }

  std::unique_ptr<VipScenario> scenario_;
  std::unique_ptr<NamespaceWorker> worker_;
};

TEST_P(TranslationIntegrationTest, RouterNamespaceNamesTheBackend) {
  ASSERT_TRUE(scenario_->ConnectClient().ok());
  const std::string backend = scenario_->backend_address(1);

  // 1. ctnetlink (the test runs as root with CAP_NET_ADMIN).
  const NamespaceTranslations netlink =
      ReadIn(scenario_->router_netns(), TranslationReadOptions());
  EXPECT_EQ(netlink.error, "");
  const Translation* flow = FindFlow(netlink, backend);
  ASSERT_NE(flow, nullptr) << netlink.flows.size() << " flows";
  EXPECT_EQ(flow->translator, Translator::kConntrack);
  EXPECT_EQ(flow->protocol, IPPROTO_TCP);
  EXPECT_NE(flow->client_port, 0);
  EXPECT_EQ(flow->backend_port, scenario_->port());
  EXPECT_EQ(flow->state, "ESTABLISHED");
  EXPECT_GT(flow->expires_s, 0u);

  // 2. /proc/thread-self/net/nf_conntrack on the worker: the router's
  //    table, not the main thread's namespace's.
  TranslationReadOptions proc_only;
  proc_only.use_ctnetlink = false;
  const NamespaceTranslations proc =
      ReadIn(scenario_->router_netns(), proc_only);
  EXPECT_EQ(proc.error, "");
  const Translation* proc_flow = FindFlow(proc, backend);
  ASSERT_NE(proc_flow, nullptr);
  EXPECT_EQ(proc_flow->client_port, flow->client_port);
  EXPECT_EQ(proc_flow->backend_port, flow->backend_port);
  EXPECT_EQ(proc_flow->state, flow->state);

  // 3. Without CAP_NET_ADMIN ctnetlink says EPERM and the reader falls back
  //    to the file by itself, without calling that an error.
  const NamespaceTranslations fallback = ReadIn(
      scenario_->router_netns(), TranslationReadOptions(), /*drop=*/true);
  EXPECT_EQ(fallback.error, "");
  const Translation* fallback_flow = FindFlow(fallback, backend);
  ASSERT_NE(fallback_flow, nullptr);
  EXPECT_EQ(fallback_flow->client_port, flow->client_port);

  // 4. The client's own namespace translates nothing, and neither does the
  //    worker's home namespace know this flow.
  EXPECT_EQ(FindFlow(ReadIn(scenario_->client_netns(), proc_only), backend),
            nullptr);
  EXPECT_EQ(FindFlow(ReadIn("", TranslationReadOptions()), backend), nullptr);
}

TEST_P(TranslationIntegrationTest, RepointedVipKeepsOldFlowsOnTheOldBackend) {
  ASSERT_TRUE(scenario_->ConnectClient().ok());
  ASSERT_TRUE(scenario_->RepointVip(2).ok());
  ASSERT_TRUE(scenario_->ConnectClient().ok());
  const NamespaceTranslations read =
      ReadIn(scenario_->router_netns(), TranslationReadOptions());
  EXPECT_EQ(read.error, "");
  const Translation* old_flow = FindFlow(read, scenario_->backend_address(1));
  const Translation* new_flow = FindFlow(read, scenario_->backend_address(2));
  ASSERT_NE(old_flow, nullptr);
  ASSERT_NE(new_flow, nullptr);
  EXPECT_NE(old_flow->client_port, new_flow->client_port);
}

INSTANTIATE_TEST_SUITE_P(Families, TranslationIntegrationTest,
                         ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Ipv6" : "Ipv4";
                         });

}  // namespace
}  // namespace ghostpeer::agent
