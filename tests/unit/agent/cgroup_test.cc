#include "agent/cgroup.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/unit/agent/testdata.h"

namespace ghostpeer::agent {
namespace {

const std::string kId =
    "3f4c1d2e5b6a79808f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778";

TEST(ContainerIdFromCgroup, EveryKnownForm) {
  struct Case {
    std::string name;
    std::string content;
    std::optional<std::string> expected;
  };
  const Case cases[] = {
      {"v1 cgroupfs (docker)",
       "12:pids:/docker/" + kId + "\n4:memory:/docker/" + kId +
           "\n1:name=systemd:/docker/" + kId + "\n",
       kId},
      {"hybrid v1 + unified",
       "4:memory:/docker/" + kId + "\n0::/docker/" + kId + "\n", kId},
      {"v2 cgroupfs", "0::/docker/" + kId + "\n", kId},
      {"v2 systemd", "0::/system.slice/docker-" + kId + ".scope\n", kId},
      {"v1 systemd", "1:name=systemd:/system.slice/docker-" + kId + ".scope\n",
       kId},
      {"cgroupns-relative", "0::/../docker-" + kId + ".scope\n", kId},
      {"cgroupns-relative, two levels", "0::/../../docker-" + kId + ".scope\n",
       kId},
      {"containerd under kubepods (systemd)",
       "0::/kubepods.slice/kubepods-besteffort.slice/"
       "kubepods-besteffort-pod1234.slice/cri-containerd-" +
           kId + ".scope\n",
       kId},
      {"kubepods (cgroupfs)",
       "0::/kubepods/besteffort/pod0b1c2d3e-aaaa-bbbb-cccc-ddddeeeeffff/" +
           kId + "\n",
       kId},
      {"podman", "0::/machine.slice/libpod-" + kId + ".scope\n", kId},
      {"podman container itself, nested",
       "0::/machine.slice/libpod-" + kId + ".scope/container\n", kId},
      {"cri-o", "0::/kubepods.slice/crio-" + kId + ".scope\n", kId},
      {"systemd inside the container", "0::/docker/" + kId + "/init.scope\n",
       kId},
      {"podman conmon is not the container",
       "0::/machine.slice/libpod-conmon-" + kId + ".scope\n", std::nullopt},
      {"host init", "0::/init.scope\n", std::nullopt},
      {"host service", "0::/system.slice/ssh.service\n", std::nullopt},
      {"host user", "0::/user.slice/user-1000.slice/session-2.scope\n",
       std::nullopt},
      {"v1 host root", "12:pids:/\n4:memory:/\n1:name=systemd:/init.scope\n",
       std::nullopt},
      {"uppercase hex is not an id",
       "0::/docker/" + std::string(64, 'A') + "\n", std::nullopt},
      {"63 digits is not an id", "0::/docker/" + kId.substr(1) + "\n",
       std::nullopt},
      {"empty", "", std::nullopt},
      {"garbage", "no colons here\n::\n", std::nullopt},
      {"no trailing newline", "0::/docker/" + kId, kId},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ContainerIdFromCgroup(c.content), c.expected) << c.name;
  }
}

// The seeds of tests/fuzz/cgroup_fuzzer, whole files as a process reads them.
TEST(ContainerIdFromCgroup, GoldenFiles) {
  struct Case {
    std::string file;
    std::optional<std::string> expected;
  };
  const Case cases[] = {
      {"cgroup_v1_docker.txt", kId},     {"cgroup_v2_systemd.txt", kId},
      {"cgroup_v2_kubepods.txt", kId},   {"cgroup_v2_namespaced.txt", kId},
      {"cgroup_host.txt", std::nullopt},
  };
  for (const Case& c : cases) {
    const std::string content = test::ReadTestdataText("agent/" + c.file);
    ASSERT_FALSE(content.empty()) << "missing " << c.file;
    EXPECT_EQ(ContainerIdFromCgroup(content), c.expected) << c.file;
  }
}

TEST(IsContainerId, Shapes) {
  EXPECT_TRUE(IsContainerId(kId));
  EXPECT_FALSE(IsContainerId(kId + "0"));
  EXPECT_FALSE(IsContainerId("docker-" + kId));
  EXPECT_FALSE(IsContainerId(""));
}

}  // namespace
}  // namespace ghostpeer::agent
