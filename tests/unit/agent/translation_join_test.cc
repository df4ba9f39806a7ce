#include "agent/translation_join.h"

#include <netinet/in.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ghostpeer::agent {
namespace {

Translation Flow(Translator translator, std::string client, uint16_t cport,
                 std::string service, uint16_t sport, std::string backend,
                 uint16_t bport, uint8_t protocol = IPPROTO_TCP) {
  Translation flow;
  flow.translator = translator;
  flow.protocol = protocol;
  flow.client_ip = std::move(client);
  flow.client_port = cport;
  flow.service_ip = std::move(service);
  flow.service_port = sport;
  flow.backend_ip = std::move(backend);
  flow.backend_port = bport;
  flow.state = "ESTABLISHED";
  flow.expires_s = 100;
  return flow;
}

Translation Ct(std::string client, uint16_t cport, std::string service,
               uint16_t sport, std::string backend, uint16_t bport,
               uint8_t protocol = IPPROTO_TCP) {
  return Flow(Translator::kConntrack, std::move(client), cport,
              std::move(service), sport, std::move(backend), bport, protocol);
}

Translation Vs(std::string client, uint16_t cport, std::string service,
               uint16_t sport, std::string backend, uint16_t bport) {
  return Flow(Translator::kIpvs, std::move(client), cport, std::move(service),
              sport, std::move(backend), bport);
}

v1::SocketRecord Socket(std::string local, uint32_t lport, std::string remote,
                        uint32_t rport,
                        v1::Protocol protocol = v1::PROTOCOL_UNSPECIFIED) {
  v1::SocketRecord socket;
  socket.set_netns_inode(4026530001);
  socket.set_local_ip(std::move(local));
  socket.set_local_port(lport);
  socket.set_remote_ip(std::move(remote));
  socket.set_remote_port(rport);
  socket.set_protocol(protocol);
  socket.set_state(v1::TCP_STATE_ESTABLISHED);
  return socket;
}

struct Expected {
  std::string backend_ip;  // empty: not translated
  uint32_t backend_port = 0;
  v1::Translator translated_by = v1::TRANSLATOR_UNSPECIFIED;
  uint64_t netns_inode = 0;
};

struct Case {
  std::string name;
  std::vector<TranslationTable> tables;
  v1::SocketRecord socket;
  Expected expected;
  bool ambiguous = false;
};

std::vector<Case> Cases() {
  const v1::SocketRecord client = Socket("10.77.1.2", 41414, "10.77.9.9", 8080);
  return {
      {"no translations", {}, client, {}},
      {"conntrack DNAT in a router namespace",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.2.11", 8080)}}},
       client,
       {"10.77.2.11", 8080, v1::TRANSLATOR_CONNTRACK, 100}},
      {"IPVS in an lb_ namespace",
       {{200, {Vs("10.77.1.2", 41414, "10.77.9.9", 8080, "10.0.1.8", 8080)}}},
       client,
       {"10.0.1.8", 8080, v1::TRANSLATOR_IPVS, 200}},
      {"a backend equal to the service is no translation",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.9.9", 8080)}}},
       client,
       {}},
      {"a port-only DNAT is a translation (Docker's embedded DNS)",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.9.9", 43211)}}},
       client,
       {"10.77.9.9", 43211, v1::TRANSLATOR_CONNTRACK, 100}},
      {"another client port",
       {{100, {Ct("10.77.1.2", 41415, "10.77.9.9", 8080, "10.77.2.11", 8080)}}},
       client,
       {}},
      {"another service port",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8081, "10.77.2.11", 8080)}}},
       client,
       {}},
      {"another client address",
       {{100, {Ct("10.77.1.3", 41414, "10.77.9.9", 8080, "10.77.2.11", 8080)}}},
       client,
       {}},
      {"a UDP translation does not name a TCP socket",
       {{100,
         {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.2.11", 8080,
             IPPROTO_UDP)}}},
       client,
       {}},
      {"a UDP translation names a connected UDP socket",
       {{100,
         {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.2.11", 8080,
             IPPROTO_UDP)}}},
       Socket("10.77.1.2", 41414, "10.77.9.9", 8080, v1::PROTOCOL_UDP),
       {"10.77.2.11", 8080, v1::TRANSLATOR_CONNTRACK, 100}},
      {"an explicit TCP socket",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.2.11", 8080)}}},
       Socket("10.77.1.2", 41414, "10.77.9.9", 8080, v1::PROTOCOL_TCP),
       {"10.77.2.11", 8080, v1::TRANSLATOR_CONNTRACK, 100}},
      {"IPv6",
       {{100,
         {Ct("fd00:77:1::2", 41414, "fd00:77:9::9", 8080, "fd00:77:2::11",
             8080)}}},
       Socket("fd00:77:1::2", 41414, "fd00:77:9::9", 8080),
       {"fd00:77:2::11", 8080, v1::TRANSLATOR_CONNTRACK, 100}},
      {"a listener is never joined",
       {{100, {Ct("0.0.0.0", 8080, "0.0.0.0", 0, "10.77.2.11", 8080)}}},
       Socket("0.0.0.0", 8080, "0.0.0.0", 0),
       {}},
      {"IPVS before conntrack of the same flow (lb_ with vs/conntrack=1)",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.0.1.8", 8080)}},
        {200, {Vs("10.77.1.2", 41414, "10.77.9.9", 8080, "10.0.1.8", 8080)}}},
       client,
       {"10.0.1.8", 8080, v1::TRANSLATOR_IPVS, 200}},
      {"IPVS before conntrack, whatever the order read",
       {{200, {Vs("10.77.1.2", 41414, "10.77.9.9", 8080, "10.0.1.8", 8080)}},
        {100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.0.1.8", 8080)}}},
       client,
       {"10.0.1.8", 8080, v1::TRANSLATOR_IPVS, 200}},
      {"IPVS before conntrack naming another backend: ambiguous",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.0.1.7", 8080)}},
        {200, {Vs("10.77.1.2", 41414, "10.77.9.9", 8080, "10.0.1.8", 8080)}}},
       client,
       {"10.0.1.8", 8080, v1::TRANSLATOR_IPVS, 200},
       true},
      {"two conntracks disagreeing: the lowest namespace inode",
       {{300, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.2.11", 8080)}},
        {100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.2.12", 8080)}}},
       client,
       {"10.77.2.12", 8080, v1::TRANSLATOR_CONNTRACK, 100},
       true},
      {"a translation that is none does not shadow a real one",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.9.9", 8080)}},
        {300, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.77.2.11", 8080)}}},
       client,
       {"10.77.2.11", 8080, v1::TRANSLATOR_CONNTRACK, 300}},
      {"a chain: the last hop's backend, translator and namespace",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.96.0.5", 80)}},
        {200, {Vs("10.77.1.2", 41414, "10.96.0.5", 80, "10.0.1.8", 8080)}}},
       client,
       {"10.0.1.8", 8080, v1::TRANSLATOR_IPVS, 200}},
      {"a cycle stops before coming back",
       {{100, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.96.0.5", 80)}},
        {200, {Ct("10.77.1.2", 41414, "10.96.0.5", 80, "10.77.9.9", 8080)}}},
       client,
       {"10.96.0.5", 80, v1::TRANSLATOR_CONNTRACK, 100}},
      {"a long chain stops after four hops",
       {{1, {Ct("10.77.1.2", 41414, "10.77.9.9", 8080, "10.1.0.1", 1)}},
        {2, {Ct("10.77.1.2", 41414, "10.1.0.1", 1, "10.1.0.2", 2)}},
        {3, {Ct("10.77.1.2", 41414, "10.1.0.2", 2, "10.1.0.3", 3)}},
        {4, {Ct("10.77.1.2", 41414, "10.1.0.3", 3, "10.1.0.4", 4)}},
        {5, {Ct("10.77.1.2", 41414, "10.1.0.4", 4, "10.1.0.5", 5)}}},
       client,
       {"10.1.0.4", 4, v1::TRANSLATOR_CONNTRACK, 4}},
  };
}

TEST(JoinTranslationsTest, Cases) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    google::protobuf::RepeatedPtrField<v1::SocketRecord> sockets;
    *sockets.Add() = c.socket;
    const JoinResult result = JoinTranslations(c.tables, &sockets);
    const v1::SocketRecord& socket = sockets.Get(0);
    EXPECT_EQ(socket.backend_ip(), c.expected.backend_ip);
    EXPECT_EQ(socket.backend_port(), c.expected.backend_port);
    EXPECT_EQ(socket.translated_by(), c.expected.translated_by);
    EXPECT_EQ(socket.translation_netns_inode(), c.expected.netns_inode);
    EXPECT_EQ(result.translated, c.expected.backend_ip.empty() ? 0u : 1u);
    EXPECT_EQ(result.ambiguous, c.ambiguous ? 1u : 0u);
    // The rest of the record is untouched.
    v1::SocketRecord rest = socket;
    rest.clear_backend_ip();
    rest.clear_backend_port();
    rest.clear_translated_by();
    rest.clear_translation_netns_inode();
    EXPECT_EQ(rest.SerializeAsString(), c.socket.SerializeAsString());
  }
}

TEST(JoinTranslationsTest, ClearsWhatAnEarlierReadingSaid) {
  google::protobuf::RepeatedPtrField<v1::SocketRecord> sockets;
  v1::SocketRecord* socket = sockets.Add();
  *socket = Socket("10.77.1.2", 41414, "10.77.9.9", 8080);
  socket->set_backend_ip("10.77.2.11");
  socket->set_backend_port(8080);
  socket->set_translated_by(v1::TRANSLATOR_CONNTRACK);
  socket->set_translation_netns_inode(100);
  const JoinResult result = JoinTranslations({}, &sockets);
  EXPECT_EQ(result.translated, 0u);
  EXPECT_EQ(sockets.Get(0).backend_ip(), "");
  EXPECT_EQ(sockets.Get(0).backend_port(), 0u);
  EXPECT_EQ(sockets.Get(0).translated_by(), v1::TRANSLATOR_UNSPECIFIED);
  EXPECT_EQ(sockets.Get(0).translation_netns_inode(), 0u);
}

// Many sockets, one table: each finds its own flow, a second client through
// the same VIP to another backend keeps its own.
TEST(JoinTranslationsTest, EachSocketItsOwnFlow) {
  TranslationTable router{100, {}};
  google::protobuf::RepeatedPtrField<v1::SocketRecord> sockets;
  for (uint16_t port = 40000; port < 40100; ++port) {
    router.flows.push_back(Ct("10.77.1.2", port, "10.77.9.9", 8080,
                              port % 2 ? "10.77.2.11" : "10.77.2.12", 8080));
    *sockets.Add() = Socket("10.77.1.2", port, "10.77.9.9", 8080);
  }
  *sockets.Add() = Socket("10.77.1.2", 39999, "10.77.9.9", 8080);
  const JoinResult result = JoinTranslations({router}, &sockets);
  EXPECT_EQ(result.translated, 100u);
  EXPECT_EQ(result.ambiguous, 0u);
  for (const v1::SocketRecord& socket : sockets) {
    SCOPED_TRACE(socket.local_port());
    if (socket.local_port() == 39999) {
      EXPECT_EQ(socket.backend_ip(), "");
    } else {
      EXPECT_EQ(socket.backend_ip(),
                socket.local_port() % 2 ? "10.77.2.11" : "10.77.2.12");
    }
  }
}

TEST(TranslationStatusTest, OkUnlessSomeNamespaceCouldNotBeRead) {
  v1::NodeSnapshot snapshot;
  EXPECT_EQ(TranslationStatus(snapshot), "ok") << "no namespace, no error";
  v1::NamespaceInfo* host = snapshot.add_namespaces();
  host->set_is_host(true);
  host->set_netns_name("default");
  v1::NamespaceInfo* lb = snapshot.add_namespaces();
  lb->set_netns_name("lb_73fsqapim");
  lb->mutable_ipvs()->set_expire_nodest_conn(0);
  v1::NamespaceInfo* unnamed = snapshot.add_namespaces();
  unnamed->set_path("/proc/77/ns/net");
  EXPECT_EQ(TranslationStatus(snapshot), "ok")
      << "IPVS that black-holes is visible, but readable";

  unnamed->set_translation_error("cannot enter: permission denied");
  EXPECT_EQ(TranslationStatus(snapshot),
            "unavailable: translations unreadable in 1 of 3 namespaces "
            "(/proc/77/ns/net: cannot enter: permission denied)");
  lb->set_translation_error("conntrack: no ctnetlink and no /proc file");
  EXPECT_EQ(TranslationStatus(snapshot),
            "unavailable: translations unreadable in 2 of 3 namespaces "
            "(lb_73fsqapim: conntrack: no ctnetlink and no /proc file)");
  host->set_translation_error("conntrack: truncated");
  EXPECT_EQ(TranslationStatus(snapshot),
            "unavailable: translations unreadable in 3 of 3 namespaces "
            "(host: conntrack: truncated)");
}

}  // namespace
}  // namespace ghostpeer::agent
