// Canned query answers shaped like docs/scenario.md's namespace recipe,
// shared by the renderer tests and the fake aggregator's tests.
#ifndef GHOSTPEER_TESTS_UNIT_CLI_TEST_FINDINGS_H_
#define GHOSTPEER_TESTS_UNIT_CLI_TEST_FINDINGS_H_

#include "absl/time/time.h"
#include "common/time_util.h"
#include "ghostpeer/v1/model.pb.h"

namespace ghostpeer::cli::testing {

// 2026-11-23 12:10:00 UTC: "now" in every renderer test.
inline absl::Time TestNow() {
  return absl::FromCivil(absl::CivilSecond(2026, 11, 23, 12, 10, 0),
                         absl::UTCTimeZone());
}

// gpx-cli.1 on node-1 writing to 10.99.0.2:27017, which gpx-srv.1 left at
// 12:03:04; 1833 bytes at risk; first seen 12:04:00.
inline v1::Finding VanishedFinding() {
  v1::Finding finding;
  finding.set_id("f-1");
  finding.set_kind(v1::VANISHED_PEER);
  finding.set_severity(v1::CRITICAL);
  finding.set_status(v1::OPEN);
  v1::SocketRecord* socket = finding.mutable_socket();
  socket->set_node("node-1");
  socket->set_netns_inode(4026532625);
  socket->set_local_ip("10.99.0.3");
  socket->set_local_port(43318);
  socket->set_remote_ip("10.99.0.2");
  socket->set_remote_port(27017);
  socket->set_state(v1::TCP_STATE_CLOSE_WAIT);
  socket->set_send_queue(1833);
  socket->set_pid(4242);
  socket->set_comm("logc");
  socket->set_container_id(
      "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899");
  socket->set_container_name("gpx-cli.1.abcdef");
  socket->set_service("gpx-cli");
  socket->set_task("gpx-cli.1");
  v1::TcpInfo* info = socket->mutable_tcp_info();
  info->set_backoff(6);
  info->set_unacked(1);
  info->set_rto_us(13056000);
  info->set_last_ack_recv_ms(13908);
  v1::AddressOwner* last = finding.mutable_peer_last_owner();
  last->set_kind(v1::OWNER_KIND_CONTAINER);
  last->set_task("gpx-srv.1");
  last->set_service("gpx-srv");
  last->set_node("node-1");
  last->set_address("10.99.0.2");
  *last->mutable_since() = ToProto(TestNow() - absl::Minutes(10));
  *last->mutable_until() =
      ToProto(TestNow() - absl::Minutes(6) - absl::Seconds(56));
  *finding.mutable_first_seen() = ToProto(TestNow() - absl::Minutes(6));
  *finding.mutable_last_seen() = ToProto(TestNow() - absl::Seconds(5));
  finding.set_bytes_at_risk(1833);
  return finding;
}

}  // namespace ghostpeer::cli::testing

#endif  // GHOSTPEER_TESTS_UNIT_CLI_TEST_FINDINGS_H_
