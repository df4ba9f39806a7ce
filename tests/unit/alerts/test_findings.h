// Findings for the alerting tests, shaped like the Engine's.
#ifndef GHOSTPEER_TESTS_UNIT_ALERTS_TEST_FINDINGS_H_
#define GHOSTPEER_TESTS_UNIT_ALERTS_TEST_FINDINGS_H_

#include <string>

#include "absl/time/time.h"
#include "common/time_util.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::aggregator::alerts::testing {

inline absl::Time T0() { return absl::FromUnixSeconds(1795000000); }

// orders.2 on node-3 writing to 10.0.1.6:27017, which mongo.1 left at
// T0 - 60s; 70 KB at risk; first seen at T0.
inline v1::Finding VanishedFinding(const std::string& id = "00000000000000aa") {
  v1::Finding f;
  f.set_id(id);
  f.set_kind(v1::VANISHED_PEER);
  f.set_severity(v1::CRITICAL);
  f.set_status(v1::OPEN);
  v1::SocketRecord* s = f.mutable_socket();
  s->set_node("node-3");
  s->set_local_ip("10.0.1.8");
  s->set_local_port(50386);
  s->set_remote_ip("10.0.1.6");
  s->set_remote_port(27017);
  s->set_state(v1::TCP_STATE_CLOSE_WAIT);
  s->set_send_queue(1794);
  s->set_pid(4242);
  s->set_comm("logc");
  s->set_service("orders");
  s->set_task("orders.2");
  s->mutable_tcp_info()->set_backoff(6);
  s->mutable_tcp_info()->set_unacked(1);
  v1::AddressOwner* owner = f.mutable_peer_last_owner();
  owner->set_kind(v1::OWNER_KIND_CONTAINER);
  owner->set_service("mongo");
  owner->set_task("mongo.1");
  owner->set_address("10.0.1.6");
  *owner->mutable_since() = ToProto(T0() - absl::Hours(1));
  *owner->mutable_until() = ToProto(T0() - absl::Seconds(60));
  *f.mutable_first_seen() = ToProto(T0());
  *f.mutable_last_seen() = ToProto(T0() + absl::Seconds(10));
  f.set_bytes_at_risk(70 * 1024);
  return f;
}

inline v1::Finding Resolved(v1::Finding f, absl::Time at) {
  f.set_status(v1::RESOLVED);
  *f.mutable_resolved_at() = ToProto(at);
  return f;
}

}  // namespace ghostpeer::aggregator::alerts::testing

#endif  // GHOSTPEER_TESTS_UNIT_ALERTS_TEST_FINDINGS_H_
