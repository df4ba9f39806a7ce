// agent_bench's translation case: what ReadTranslationsHere costs on a
// namespace with many DNAT'ed flows, against `conntrack -L` over the same
// flows in the same run (target: within 1.5x of it).
#ifndef GHOSTPEER_BENCH_AGENT_TRANSLATION_COST_H_
#define GHOSTPEER_BENCH_AGENT_TRANSLATION_COST_H_

#include "absl/status/status.h"

namespace ghostpeer::agent {

// Builds a private namespace whose OUTPUT chain DNATs a VIP to a local
// listener and opens `flows` TCP connections through it (held open, so
// every conntrack entry is ESTABLISHED with DST_NAT), then times, in turn,
// `repetitions` times each: ReadTranslationsHere on a NamespaceWorker inside
// it (ctnetlink path), and `conntrack -L` exec'd by a child setns'd into it
// (output to /dev/null). Prints medians and the ratio. Then whole
// Snapshotter::Take()s with translations and without, alternated, of that
// namespace alone and of the whole node (target: with at most 1.2x
// without). Removes the namespace and its holder at the end. Needs root,
// iptables and conntrack.
absl::Status RunTranslationCost(int flows, int repetitions);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_BENCH_AGENT_TRANSLATION_COST_H_
