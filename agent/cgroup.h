// Container ids from /proc/<pid>/cgroup. Pure, thread-safe.
#ifndef GHOSTPEER_AGENT_CGROUP_H_
#define GHOSTPEER_AGENT_CGROUP_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ghostpeer::agent {

// Returns the 64-hex-digit container id a process's cgroup membership names,
// or nullopt for a process outside any container (the host's, systemd's).
// `content` is the whole file: one "hierarchy:controllers:path" per line,
// cgroup v1 (several lines) or v2 ("0::/path"). Recognised path forms:
//   cgroupfs driver   /docker/<id>, /kubepods/<qos>/pod<uid>/<id>
//   systemd driver    /system.slice/docker-<id>.scope,
//                     /kubepods.slice/.../cri-containerd-<id>.scope,
//                     /machine.slice/libpod-<id>.scope, crio-<id>.scope
//   cgroup namespace  0::/../docker-<id>.scope (paths relative to the
//                     reader's cgroup root)
// The deepest path component that names a container wins (a container that
// runs systemd has /docker/<id>/init.scope), and podman's conmon
// (libpod-conmon-<id>.scope) is not the container.
std::optional<std::string> ContainerIdFromCgroup(absl::string_view content);

// True when `text` is exactly 64 lowercase hexadecimal digits.
bool IsContainerId(absl::string_view text);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_CGROUP_H_
