// Client + Broker driven in memory: each Peer is one network connection (a FakeLink and the
// Client that speaks MQTT on it). No sockets, no threads, no clock: every call gets an explicit
// time point.
#include "broker/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/sys_topics.h"
#include "fake_link.h"

namespace mqbase::broker {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::FakeLink;
using testing::publishes;
using testing::type_names;
using Clock = Client::Clock;
using mqtt::PacketType;
using mqtt::Version;

const Clock::time_point t0 = Clock::time_point{} + 1000h;

// One connection: what the network would hand the Client, and what the Client sent back.
struct Peer {
  Peer(Broker& broker, Clock::time_point now, Version v = Version::v311)
      : link(std::make_shared<FakeLink>()), client(std::make_unique<Client>(broker, link, now)), version(v) {}

  void send(mqtt::Packet p, Clock::time_point now = t0) { client->on_packet(p, now); }
  std::vector<mqtt::Packet> take() { return link->take(version); }

  void publish(std::string_view topic, std::string_view payload, uint8_t qos = 0, uint16_t id = 0,
               bool retain = false, bool dup = false) {
    send(mqtt::Publish{topic, payload, qos, retain, dup, id, {}});
  }
  void subscribe(std::string_view filter, uint8_t qos, uint16_t id = 1) {
    send(mqtt::Subscribe{id, {mqtt::Subscription{filter, qos}}, {}});
  }
  void puback(PacketType type, uint16_t id) { send(mqtt::PubAck{type, id, mqtt::ReasonCode::success, {}}); }
  void disconnect() { send(mqtt::Disconnect{}); }
  void closed() { client->on_closed(); }

  std::vector<std::string> payloads() {
    std::vector<std::string> out;
    for (const auto& p : publishes(take())) out.emplace_back(p.payload);
    return out;
  }

  std::shared_ptr<FakeLink> link;
  std::unique_ptr<Client> client;
  Version version;
};

// What a test's CONNECT asks for. The will is kept as plain fields: GCC 12 warns (falsely)
// about an uninitialized std::optional<mqtt::Will> copied around at -O1.
struct ConnectOptions {
  bool clean = true;
  uint16_t keep_alive = 0;
  Version version = Version::v311;
  bool has_will = false;
  std::string_view will_topic;
  std::string_view will_payload;
  uint8_t will_qos = 0;
  bool will_retain = false;

  ConnectOptions& clean_session(bool v) {
    clean = v;
    return *this;
  }
  ConnectOptions& keep(uint16_t seconds) {
    keep_alive = seconds;
    return *this;
  }
  ConnectOptions& protocol(Version v) {
    version = v;
    return *this;
  }
  ConnectOptions& will(std::string_view topic, std::string_view payload, uint8_t qos = 0, bool retain = false) {
    has_will = true;
    will_topic = topic;
    will_payload = payload;
    will_qos = qos;
    will_retain = retain;
    return *this;
  }
};

mqtt::Packet connect_packet(std::string_view id, const ConnectOptions& o = {}) {
  mqtt::Connect c;
  c.version = o.version;
  c.clean_start = o.clean;
  c.keep_alive = o.keep_alive;
  c.client_id = id;
  if (o.has_will) {
    c.will.emplace();
    c.will->topic = o.will_topic;
    c.will->payload = o.will_payload;
    c.will->qos = o.will_qos;
    c.will->retain = o.will_retain;
  }
  return c;
}

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() { reset_broker(Limits{}); }

  // Replaces the broker; call before any Peer is created.
  void reset_broker(const Limits& limits) { broker_ = std::make_unique<Broker>(limits); }

  // A fresh connection, not yet connected.
  std::unique_ptr<Peer> open(Clock::time_point now = t0, Version v = Version::v311) {
    return std::make_unique<Peer>(*broker_, now, v);
  }

  // A connection that sent CONNECT; returns the CONNACK it got (nullopt if none or not first).
  std::optional<mqtt::Connack> connect(Peer& peer, std::string_view id, const ConnectOptions& o = {},
                                       Clock::time_point now = t0) {
    peer.send(connect_packet(id, o), now);
    last_after_connack_.clear();
    auto packets = peer.take();
    if (packets.empty() || !std::holds_alternative<mqtt::Connack>(packets[0])) return std::nullopt;
    last_after_connack_.assign(packets.begin() + 1, packets.end());
    return std::get<mqtt::Connack>(packets[0]);
  }

  // A connected client, its CONNACK checked.
  std::unique_ptr<Peer> connected(std::string_view id, const ConnectOptions& o = {}, bool session_present = false) {
    auto peer = open(t0, o.version);
    auto ack = connect(*peer, id, o);
    EXPECT_TRUE(ack.has_value()) << "no CONNACK for " << id;
    if (ack) {
      EXPECT_EQ(ack->code, 0) << id;
      EXPECT_EQ(ack->session_present, session_present) << id;
    }
    EXPECT_TRUE(peer->client->connected()) << id;
    return peer;
  }

  // Subscribes and checks the SUBACK grants `qos`.
  void subscribe(Peer& peer, std::string_view filter, uint8_t qos) {
    peer.subscribe(filter, qos, 42);
    auto packets = peer.take();
    ASSERT_FALSE(packets.empty());
    ASSERT_TRUE(std::holds_alternative<mqtt::Suback>(packets[0])) << type_names(packets)[0];
    const auto& ack = std::get<mqtt::Suback>(packets[0]);
    EXPECT_EQ(ack.packet_id, 42);
    EXPECT_THAT(ack.codes, ElementsAre(qos));
  }

  std::unique_ptr<Broker> broker_;
  std::vector<mqtt::Packet> last_after_connack_;  // what followed the CONNACK of connect()
};

// --- CONNECT ------------------------------------------------------------------------------

TEST_F(ClientTest, ConnectIsAcceptedWithoutSessionPresent) {
  auto peer = open();
  EXPECT_FALSE(peer->client->connected());
  auto ack = connect(*peer, "c1");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  EXPECT_FALSE(ack->session_present);
  EXPECT_THAT(last_after_connack_, IsEmpty());
  EXPECT_TRUE(peer->client->connected());
  EXPECT_EQ(peer->client->client_id(), "c1");
  EXPECT_EQ(peer->client->version(), Version::v311);
  EXPECT_FALSE(peer->link->closed());
  EXPECT_EQ(broker_->session_count(), 1u);
  EXPECT_EQ(Stats::get(broker_->stats().clients_connected), 1u);
  peer->closed();
  EXPECT_EQ(Stats::get(broker_->stats().clients_connected), 0u);
  EXPECT_EQ(broker_->session_count(), 0u) << "a clean session ends with its connection";
}

TEST_F(ClientTest, ClientIdIsTheSessionsOnlyWhileConnected) {
  auto peer = open();
  EXPECT_EQ(peer->client->client_id(), "");
  ASSERT_TRUE(connect(*peer, "c1"));
  EXPECT_EQ(peer->client->client_id(), "c1");
  peer->closed();
  EXPECT_FALSE(peer->client->connected());
  EXPECT_EQ(peer->client->client_id(), "");
}

TEST_F(ClientTest, EmptyClientIdWithCleanSessionIsAssignedAnId) {
  auto a = connected("");
  auto b = connected("");
  EXPECT_FALSE(a->client->client_id().empty());
  EXPECT_FALSE(b->client->client_id().empty());
  EXPECT_NE(a->client->client_id(), b->client->client_id());
  EXPECT_EQ(broker_->session_count(), 2u);
}

TEST_F(ClientTest, EmptyClientIdWithPersistentSessionIsRefused) {
  // [MQTT-3.1.3-8]: CONNACK 0x02 (identifier rejected), then close.
  auto peer = open();
  auto ack = connect(*peer, "", ConnectOptions().clean_session(false));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 2);
  EXPECT_FALSE(ack->session_present);
  EXPECT_THAT(last_after_connack_, IsEmpty());
  EXPECT_TRUE(peer->link->closed());
  EXPECT_FALSE(peer->client->connected());
  EXPECT_EQ(broker_->session_count(), 0u);
  // Nothing more is handled on a refused connection.
  peer->send(mqtt::Pingreq{});
  EXPECT_THAT(peer->take(), IsEmpty());
  peer->closed();
  EXPECT_EQ(Stats::get(broker_->stats().clients_connected), 0u);
}

TEST_F(ClientTest, Mqtt31RequiresAClientIdOf1To23Characters) {
  auto empty = open();
  auto ack = connect(*empty, "", ConnectOptions().clean_session(true).protocol(Version::v31));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 2);
  EXPECT_TRUE(empty->link->closed());

  auto too_long = open();
  ack = connect(*too_long, std::string(24, 'x'), ConnectOptions().protocol(Version::v31));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 2);
  EXPECT_TRUE(too_long->link->closed());

  auto longest = open();
  ack = connect(*longest, std::string(23, 'x'), ConnectOptions().protocol(Version::v31));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  EXPECT_EQ(longest->client->version(), Version::v31);
  EXPECT_FALSE(longest->link->closed());

  // 3.1.1 has no such limit.
  auto v311 = open();
  ack = connect(*v311, std::string(100, 'y'));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
}

TEST_F(ClientTest, FirstPacketOtherThanConnectClosesTheConnection) {
  // [MQTT-3.1.0-1]
  auto peer = open();
  peer->publish("a", "b");
  EXPECT_TRUE(peer->link->closed());
  EXPECT_THAT(peer->take(), IsEmpty());
  EXPECT_FALSE(peer->client->connected());
  // A CONNECT after that is not accepted either.
  EXPECT_FALSE(connect(*peer, "late"));
  EXPECT_EQ(broker_->session_count(), 0u);
}

TEST_F(ClientTest, PingreqBeforeConnectClosesTheConnection) {
  auto peer = open();
  peer->send(mqtt::Pingreq{});
  EXPECT_TRUE(peer->link->closed());
  EXPECT_THAT(peer->take(), IsEmpty());
}

TEST_F(ClientTest, SecondConnectClosesTheConnectionAndPublishesTheWill) {
  // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation; the will is published
  // ([MQTT-3.1.2-8]) because the client did not send DISCONNECT.
  auto watcher = connected("watcher");
  subscribe(*watcher, "will/#", 0);
  auto peer = connected("twice", ConnectOptions().will("will/twice", "gone"));
  peer->send(connect_packet("twice"));
  EXPECT_TRUE(peer->link->closed());
  EXPECT_THAT(peer->take(), IsEmpty()) << "no second CONNACK";
  peer->closed();
  EXPECT_THAT(watcher->payloads(), ElementsAre("gone"));
}

TEST_F(ClientTest, PingreqIsAnsweredWithPingresp) {
  auto peer = connected("p");
  peer->send(mqtt::Pingreq{});
  EXPECT_THAT(type_names(peer->take()), ElementsAre("PINGRESP"));
}

TEST_F(ClientTest, DecodeErrorBeforeConnectForAnUnknownLevelAnswersConnack1) {
  // [MQTT-3.1.2-2]
  auto peer = open();
  peer->client->on_decode_error({mqtt::ReasonCode::unsupported_protocol_version, "level 9"});
  auto packets = peer->take();
  ASSERT_THAT(type_names(packets), ElementsAre("CONNACK"));
  EXPECT_EQ(std::get<mqtt::Connack>(packets[0]).code, 1);
  EXPECT_TRUE(peer->link->closed());
}

TEST_F(ClientTest, MalformedPacketClosesWithoutAnswer) {
  auto peer = connected("m");
  peer->client->on_decode_error({mqtt::ReasonCode::malformed_packet, "bad"});
  EXPECT_TRUE(peer->link->closed());
  EXPECT_THAT(peer->take(), IsEmpty());
}

// --- PUBLISH in ---------------------------------------------------------------------------

TEST_F(ClientTest, Qos0PublishIsNotAcknowledged) {
  auto peer = connected("pub");
  peer->publish("a/b", "x", 0);
  EXPECT_THAT(peer->take(), IsEmpty());
  EXPECT_EQ(broker_->stats().publish_received_total(), 1u);
}

TEST_F(ClientTest, Qos1PublishIsAnsweredWithPuback) {
  auto peer = connected("pub");
  peer->publish("a/b", "x", 1, 17);
  auto packets = peer->take();
  ASSERT_THAT(type_names(packets), ElementsAre("PUBACK"));
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[0]).packet_id, 17);
  EXPECT_EQ(broker_->stats().publish_received_total(), 1u);
}

TEST_F(ClientTest, Qos2PublishIsAnsweredWithPubrecThenPubcomp) {
  auto peer = connected("pub");
  peer->publish("a/b", "x", 2, 300);
  auto rec = peer->take();
  ASSERT_THAT(type_names(rec), ElementsAre("PUBREC"));
  EXPECT_EQ(std::get<mqtt::PubAck>(rec[0]).packet_id, 300);
  peer->puback(PacketType::pubrel, 300);
  auto comp = peer->take();
  ASSERT_THAT(type_names(comp), ElementsAre("PUBCOMP"));
  EXPECT_EQ(std::get<mqtt::PubAck>(comp[0]).packet_id, 300);
  // A PUBREL for an id the server does not know is still completed.
  peer->puback(PacketType::pubrel, 301);
  EXPECT_THAT(type_names(peer->take()), ElementsAre("PUBCOMP"));
}

TEST_F(ClientTest, DuplicateQos2PublishBeforePubrelIsRoutedOnce) {
  auto sub = connected("sub");
  subscribe(*sub, "q2/#", 2);
  auto pub = connected("pub");
  pub->publish("q2/t", "once", 2, 5);
  pub->publish("q2/t", "once", 2, 5, false, true);  // resend, DUP set
  EXPECT_THAT(type_names(pub->take()), ElementsAre("PUBREC", "PUBREC"));
  EXPECT_THAT(sub->payloads(), ElementsAre("once"));
  pub->puback(PacketType::pubrel, 5);
  EXPECT_THAT(type_names(pub->take()), ElementsAre("PUBCOMP"));
  // After PUBREL the id is free: the same id now carries a new message.
  pub->publish("q2/t", "again", 2, 5);
  EXPECT_THAT(sub->payloads(), ElementsAre("again"));
}

// --- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------------

TEST_F(ClientTest, SubackGrantsRequestedQosAndRejectsInvalidFilters) {
  auto peer = connected("s");
  peer->send(mqtt::Subscribe{7,
                             {mqtt::Subscription{"a/b", 0}, mqtt::Subscription{"c/+", 1},
                              mqtt::Subscription{"d/#", 2}, mqtt::Subscription{"a/#/b", 1},
                              mqtt::Subscription{"a+", 0}, mqtt::Subscription{"#", 1}},
                             {}});
  auto packets = peer->take();
  ASSERT_THAT(type_names(packets), ElementsAre("SUBACK"));
  const auto& ack = std::get<mqtt::Suback>(packets[0]);
  EXPECT_EQ(ack.packet_id, 7);
  EXPECT_THAT(ack.codes, ElementsAre(0, 1, 2, 0x80, 0x80, 1));
  EXPECT_EQ(broker_->subscriptions().size(), 4u) << "invalid filters are not added";
}

TEST_F(ClientTest, SubscribedClientReceivesMatchingPublishes) {
  auto sub = connected("sub");
  subscribe(*sub, "sensors/+/temp", 0);
  auto pub = connected("pub");
  pub->publish("sensors/k1/temp", "21", 0);
  pub->publish("sensors/k1/hum", "40", 0);
  pub->publish("sensors/k2/temp", "22", 0);
  auto pubs = publishes(sub->take());
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[0].topic, "sensors/k1/temp");
  EXPECT_EQ(pubs[0].payload, "21");
  EXPECT_EQ(pubs[1].topic, "sensors/k2/temp");
  EXPECT_THAT(pub->take(), IsEmpty()) << "the publisher is not subscribed";
}

TEST_F(ClientTest, DeliveryQosIsTheMinimumOfPublishAndSubscription) {
  auto low = connected("low");
  subscribe(*low, "t", 1);
  auto high = connected("high");
  subscribe(*high, "t", 2);
  auto pub = connected("pub");
  pub->publish("t", "q2", 2, 1);
  pub->publish("t", "q0", 0);
  auto l = publishes(low->take());
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].qos, 1);
  EXPECT_EQ(l[1].qos, 0);
  auto h = publishes(high->take());
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].qos, 2);
  EXPECT_EQ(h[1].qos, 0);
}

TEST_F(ClientTest, OverlappingSubscriptionsDeliverOneCopyAtTheHighestQos) {
  // [MQTT-3.3.5-1]
  auto sub = connected("sub");
  subscribe(*sub, "a/+", 1);
  subscribe(*sub, "a/#", 2);
  subscribe(*sub, "a/b", 0);
  auto pub = connected("pub");
  pub->publish("a/b", "x", 2, 9);
  auto pubs = publishes(sub->take());
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].qos, 2);
}

TEST_F(ClientTest, RetainedMessageFollowsSubackWithTheRetainFlag) {
  auto pub = connected("pub");
  pub->publish("r/1", "stored", 1, 1, true);
  pub->publish("r/2", "stored too", 0, 0, true);
  pub->take();
  EXPECT_EQ(broker_->retained().size(), 2u);

  auto sub = connected("sub");
  sub->subscribe("r/1", 1, 3);
  auto packets = sub->take();
  ASSERT_THAT(type_names(packets), ElementsAre("SUBACK", "PUBLISH"));
  const auto& p = std::get<mqtt::Publish>(packets[1]);
  EXPECT_EQ(p.topic, "r/1");
  EXPECT_EQ(p.payload, "stored");
  EXPECT_TRUE(p.retain) << "[MQTT-3.3.1-8]";
  EXPECT_EQ(p.qos, 1);

  // A message published while subscribed is forwarded with RETAIN 0 even if the publisher
  // set it ([MQTT-3.3.1-9]).
  pub->publish("r/1", "live", 1, 2, true);
  auto live = publishes(sub->take());
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].payload, "live");
  EXPECT_FALSE(live[0].retain);

  // A wildcard subscription gets every matching retained message, at the lower QoS.
  auto wild = connected("wild");
  wild->subscribe("r/#", 0, 4);
  auto all = wild->take();
  ASSERT_THAT(type_names(all), ElementsAre("SUBACK", "PUBLISH", "PUBLISH"));
  std::vector<std::string> got;
  for (const auto& m : publishes(all)) {
    got.emplace_back(m.payload);
    EXPECT_TRUE(m.retain);
    EXPECT_EQ(m.qos, 0);
  }
  std::sort(got.begin(), got.end());
  EXPECT_THAT(got, ElementsAre("live", "stored too"));
}

TEST_F(ClientTest, SubscribeToSysGetsValuesComputedAtTheSubscribe) {
  // Item 13: $SYS stored at start-up said clients/connected 0 to the client reading it.
  SysTopics sys(*broker_);
  sys.publish();  // as the server does at start-up, before anyone connects
  broker_->set_sys_refresh([&] { sys.publish(); });
  auto sub = connected("sub");
  sub->subscribe("$SYS/broker/clients/connected", 0);
  auto pubs = publishes(sub->take());
  ASSERT_EQ(pubs.size(), 1u) << "once, as the retained message after the SUBACK";
  EXPECT_EQ(pubs[0].payload, "1");
  EXPECT_TRUE(pubs[0].retain);

  int refreshes = 0;
  broker_->set_sys_refresh([&] { ++refreshes; });
  sub->subscribe("a/#", 0, 2);
  sub->subscribe("#", 0, 3);  // does not match $SYS ([MQTT-4.7.2-1])
  sub->subscribe("$SYSTEM/x", 0, 4);
  EXPECT_EQ(refreshes, 0);
  sub->subscribe("$SYS/#", 0, 5);
  EXPECT_EQ(refreshes, 1);
  broker_->set_sys_refresh(nullptr);
}

TEST_F(ClientTest, RetainedMessageWithEmptyPayloadClearsTheTopic) {
  auto pub = connected("pub");
  pub->publish("r/x", "v", 0, 0, true);
  pub->publish("r/x", "", 0, 0, true);
  EXPECT_EQ(broker_->retained().size(), 0u);
  auto sub = connected("sub");
  sub->subscribe("r/#", 0);
  EXPECT_THAT(type_names(sub->take()), ElementsAre("SUBACK"));
}

TEST_F(ClientTest, NonRetainedPublishIsNotStored) {
  auto pub = connected("pub");
  pub->publish("n/x", "v", 1, 1, false);
  EXPECT_EQ(broker_->retained().size(), 0u);
  auto sub = connected("sub");
  sub->subscribe("n/#", 1);
  EXPECT_THAT(type_names(sub->take()), ElementsAre("SUBACK"));
}

TEST_F(ClientTest, NonRetainedPublishLeavesTheRetainedMessageAlone) {
  // [MQTT-3.3.1-12]: RETAIN 0 neither stores nor removes nor replaces a retained message.
  auto pub = connected("pub");
  pub->publish("k", "kept", 0, 0, true);
  pub->publish("k", "not retained", 0, 0, false);
  pub->publish("k", "", 0, 0, false);
  EXPECT_EQ(broker_->retained().size(), 1u);
  auto sub = connected("sub");
  sub->subscribe("k", 0);
  auto pubs = publishes(sub->take());
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "kept");
}

TEST_F(ClientTest, UnsubscribeStopsDelivery) {
  auto sub = connected("sub");
  subscribe(*sub, "u/+", 0);
  auto pub = connected("pub");
  pub->publish("u/1", "before");
  EXPECT_THAT(sub->payloads(), ElementsAre("before"));

  sub->send(mqtt::Unsubscribe{11, {"u/+"}, {}});
  auto packets = sub->take();
  ASSERT_THAT(type_names(packets), ElementsAre("UNSUBACK"));
  EXPECT_EQ(std::get<mqtt::Unsuback>(packets[0]).packet_id, 11);
  EXPECT_EQ(broker_->subscriptions().size(), 0u);

  pub->publish("u/1", "after");
  EXPECT_THAT(sub->take(), IsEmpty());

  // Unsubscribing from a filter never subscribed is still acknowledged ([MQTT-3.10.4-5]).
  sub->send(mqtt::Unsubscribe{12, {"never/subscribed"}, {}});
  packets = sub->take();
  ASSERT_THAT(type_names(packets), ElementsAre("UNSUBACK"));
  EXPECT_EQ(std::get<mqtt::Unsuback>(packets[0]).packet_id, 12);
}

// --- outgoing QoS through the Client ---------------------------------------------------------

TEST_F(ClientTest, OutgoingQos2CompletesWithPubrecPubrelPubcomp) {
  Limits limits;
  limits.max_inflight_messages = 1;
  reset_broker(limits);
  auto sub = connected("sub");
  subscribe(*sub, "t", 2);
  auto pub = connected("pub");
  pub->publish("t", "first", 2, 1);
  pub->publish("t", "second", 2, 2);
  auto got = publishes(sub->take());
  ASSERT_EQ(got.size(), 1u) << "window of one";
  EXPECT_EQ(got[0].payload, "first");
  sub->puback(PacketType::pubrec, got[0].packet_id);
  auto rel = sub->take();
  ASSERT_THAT(type_names(rel), ElementsAre("PUBREL"));
  EXPECT_EQ(std::get<mqtt::PubAck>(rel[0]).packet_id, got[0].packet_id);
  sub->puback(PacketType::pubcomp, got[0].packet_id);
  EXPECT_THAT(sub->payloads(), ElementsAre("second"));
}

TEST_F(ClientTest, PubackFreesTheWindow) {
  Limits limits;
  limits.max_inflight_messages = 1;
  reset_broker(limits);
  auto sub = connected("sub");
  subscribe(*sub, "t", 1);
  auto pub = connected("pub");
  pub->publish("t", "1", 1, 1);
  pub->publish("t", "2", 1, 2);
  auto first = publishes(sub->take());
  ASSERT_EQ(first.size(), 1u);
  sub->puback(PacketType::puback, first[0].packet_id);
  EXPECT_THAT(sub->payloads(), ElementsAre("2"));
}

// --- sessions -------------------------------------------------------------------------------

TEST_F(ClientTest, TakeoverClosesTheFirstConnectionAndPublishesItsWill) {
  // [MQTT-3.1.4-2]
  auto watcher = connected("watcher");
  subscribe(*watcher, "will/#", 0);
  auto first = connected("same", ConnectOptions().clean_session(false).will("will/same", "first died"));
  subscribe(*first, "data", 1);

  auto second = open();
  auto ack = connect(*second, "same", ConnectOptions().clean_session(false));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  EXPECT_TRUE(ack->session_present);
  EXPECT_EQ(first->link->close_calls(), 1);
  EXPECT_EQ(first->link->disconnect_reason(), mqtt::ReasonCode::session_taken_over);
  EXPECT_FALSE(second->link->closed());
  EXPECT_EQ(broker_->session_count(), 2u) << "watcher and one session for 'same'";

  // The network layer reports the first connection closed: its will goes out, and the
  // session is not detached from the second connection.
  first->closed();
  EXPECT_THAT(watcher->payloads(), ElementsAre("first died"));
  EXPECT_TRUE(second->client->connected());

  auto pub = connected("pub");
  pub->publish("data", "for the second", 1, 1);
  auto got = publishes(second->take());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "for the second");
  EXPECT_THAT(first->take(), IsEmpty());
  // Acknowledgements on the new connection work.
  second->puback(PacketType::puback, got[0].packet_id);
  second->disconnect();
  second->closed();
  EXPECT_THAT(watcher->take(), IsEmpty()) << "the second connection has no will";
}

TEST_F(ClientTest, TakeoverCancelsADelayedWillEvenWhenTheOldConnectionClosesLast) {
  // [MQTT-3.1.2-8]: a new connection for the client id within the Will Delay Interval cancels
  // the will. The race CI once caught: the new CONNECT is handled on its loop before the old
  // connection's close reaches the broker on the other loop.
  auto watcher = connected("watcher");
  subscribe(*watcher, "will/#", 0);
  auto first = open(t0, Version::v5);
  mqtt::Connect c;
  c.version = Version::v5;
  c.clean_start = false;
  c.client_id = "delayed";
  c.props.add_number(mqtt::PropertyId::session_expiry_interval, 60);
  c.will.emplace();
  c.will->topic = "will/delayed";
  c.will->payload = "gone";
  c.will->props.add_number(mqtt::PropertyId::will_delay_interval, 5);
  first->send(c);
  ASSERT_TRUE(first->client->connected());

  auto second = open(t0, Version::v5);
  c.will.reset();
  second->send(c);  // takeover first ...
  ASSERT_TRUE(second->client->connected());
  first->closed();  // ... then the old connection's close arrives
  EXPECT_EQ(broker_->tick(Clock::now() + 10s), 0u);
  EXPECT_THAT(watcher->take(), IsEmpty()) << "the delayed will was cancelled by the new connection";
}

TEST_F(ClientTest, TakeoverWithCleanSessionStartsAFreshSession) {
  auto first = connected("same", ConnectOptions().clean_session(false));
  subscribe(*first, "data", 1);
  auto second = open();
  auto ack = connect(*second, "same", ConnectOptions().clean_session(true));
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->session_present);
  EXPECT_TRUE(first->link->closed());
  first->closed();
  EXPECT_EQ(broker_->subscriptions().size(), 0u);
  auto pub = connected("pub");
  pub->publish("data", "x", 1, 1);
  EXPECT_THAT(second->take(), IsEmpty());
  EXPECT_TRUE(second->client->connected());
}

TEST_F(ClientTest, PersistentSessionCollectsMessagesWhileOffline) {
  auto p = connected("persistent", ConnectOptions().clean_session(false));
  subscribe(*p, "p/#", 1);
  p->disconnect();
  EXPECT_TRUE(p->link->closed());
  p->closed();
  EXPECT_EQ(broker_->session_count(), 1u);

  auto pub = connected("pub");
  pub->publish("p/1", "kept", 1, 1);
  pub->publish("p/2", "qos0 is not kept", 0);
  pub->publish("p/3", "kept too", 2, 2);

  auto again = open();
  auto ack = connect(*again, "persistent", ConnectOptions().clean_session(false));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  EXPECT_TRUE(ack->session_present);
  auto pubs = publishes(last_after_connack_);
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[0].payload, "kept");
  EXPECT_EQ(pubs[0].qos, 1);
  EXPECT_EQ(pubs[1].payload, "kept too");
  EXPECT_EQ(pubs[1].qos, 1) << "granted QoS 1";

  // The subscription survived too.
  pub->publish("p/4", "live", 0);
  EXPECT_THAT(again->payloads(), ElementsAre("live"));
}

TEST_F(ClientTest, UnacknowledgedMessagesAreResentWithDupOnReconnect) {
  auto p = connected("persistent", ConnectOptions().clean_session(false));
  subscribe(*p, "t", 1);
  auto pub = connected("pub");
  pub->publish("t", "unacked", 1, 1);
  auto first = publishes(p->take());
  ASSERT_EQ(first.size(), 1u);
  p->closed();  // connection lost before PUBACK

  auto again = open();
  auto ack = connect(*again, "persistent", ConnectOptions().clean_session(false));
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  auto pubs = publishes(last_after_connack_);
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_TRUE(pubs[0].dup);
  EXPECT_EQ(pubs[0].packet_id, first[0].packet_id);
}

TEST_F(ClientTest, Mqtt31PersistentSessionIsResumed) {
  auto p = connected("old-client", ConnectOptions().clean_session(false).protocol(Version::v31));
  subscribe(*p, "t", 1);
  p->closed();
  auto pub = connected("pub");
  pub->publish("t", "while away", 1, 1);

  auto again = open(t0, Version::v31);
  auto ack = connect(*again, "old-client", ConnectOptions().clean_session(false).protocol(Version::v31));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 0);
  auto pubs = publishes(last_after_connack_);
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "while away");
}

TEST_F(ClientTest, Mqtt31ConnackLeavesTheReservedByteZero) {
  // MQTT 3.1 has no Session Present flag: the first CONNACK byte is "reserved, not used"
  // (mosquitto sets the flag for 3.1.1 and 5.0 only).
  auto p = connected("old-client", ConnectOptions().clean_session(false).protocol(Version::v31));
  p->closed();
  auto again = open(t0, Version::v31);
  again->send(connect_packet("old-client", ConnectOptions().clean_session(false).protocol(Version::v31)));
  std::string bytes = again->link->pending();
  ASSERT_GE(bytes.size(), 4u);
  ASSERT_EQ(static_cast<uint8_t>(bytes[0]), 0x20);  // CONNACK
  EXPECT_EQ(bytes[2], 0);
}

TEST_F(ClientTest, CleanSessionDiscardsSubscriptions) {
  auto c = connected("clean");
  subscribe(*c, "c/#", 1);
  EXPECT_EQ(broker_->subscriptions().size(), 1u);
  c->disconnect();
  c->closed();
  EXPECT_EQ(broker_->session_count(), 0u);
  EXPECT_EQ(broker_->subscriptions().size(), 0u);

  auto again = connected("clean");  // session present 0
  auto pub = connected("pub");
  pub->publish("c/x", "nobody listens", 1, 1);
  EXPECT_THAT(again->take(), IsEmpty());
}

TEST_F(ClientTest, CleanSessionOnReconnectDiscardsAPersistentOne) {
  auto p = connected("id", ConnectOptions().clean_session(false));
  subscribe(*p, "t", 1);
  p->closed();
  auto pub = connected("pub");
  pub->publish("t", "queued for the old session", 1, 1);

  auto again = open();
  auto ack = connect(*again, "id", ConnectOptions().clean_session(true));
  ASSERT_TRUE(ack);
  EXPECT_FALSE(ack->session_present);
  EXPECT_THAT(last_after_connack_, IsEmpty()) << "the old session's queue is gone";
  EXPECT_EQ(broker_->subscriptions().size(), 0u);
  again->closed();
  EXPECT_EQ(broker_->session_count(), 1u) << "only pub";
}

TEST_F(ClientTest, SubscriptionCountFollowsTheIndexWhenASessionIsDiscarded) {
  auto c = connected("c");
  subscribe(*c, "a", 0);
  subscribe(*c, "b", 0);
  subscribe(*c, "b", 1);  // a replacement is not a new subscription
  EXPECT_EQ(broker_->subscriptions().size(), 2u);
  c->send(mqtt::Unsubscribe{1, {"a"}, {}});
  EXPECT_EQ(broker_->subscriptions().size(), 1u);
  c->closed();  // the clean session ends and takes "b" with it
  EXPECT_EQ(broker_->subscriptions().size(), 0u);
}

TEST_F(ClientTest, IncomingQos2StateSurvivesTheReconnectOfAPersistentSession) {
  // [MQTT-4.3.3-2] with [MQTT-4.4.0-1]: the receiver keeps the packet id until PUBREL, across
  // connections of the same session, so a resent PUBLISH is not routed twice.
  auto sub = connected("sub");
  subscribe(*sub, "t", 0);
  auto pub = connected("pub", ConnectOptions().clean_session(false));
  pub->publish("t", "exactly once", 2, 9);
  EXPECT_THAT(type_names(pub->take()), ElementsAre("PUBREC"));
  pub->closed();  // lost before PUBREL

  auto again = open();
  auto ack = connect(*again, "pub", ConnectOptions().clean_session(false));
  ASSERT_TRUE(ack);
  EXPECT_TRUE(ack->session_present);
  again->publish("t", "exactly once", 2, 9, false, true);  // the client resends with DUP
  EXPECT_THAT(type_names(again->take()), ElementsAre("PUBREC"));
  again->puback(PacketType::pubrel, 9);
  EXPECT_THAT(type_names(again->take()), ElementsAre("PUBCOMP"));
  EXPECT_THAT(sub->payloads(), ElementsAre("exactly once"));
}

TEST_F(ClientTest, PersistentSessionsOf311NeverExpire) {
  auto p = connected("p", ConnectOptions().clean_session(false));
  subscribe(*p, "t", 1);
  p->closed();
  EXPECT_EQ(broker_->tick(Clock::now() + 24h * 365 * 10), 0u);
  EXPECT_EQ(broker_->session_count(), 1u);
  EXPECT_EQ(broker_->subscriptions().size(), 1u);
}

// --- will -----------------------------------------------------------------------------------

TEST_F(ClientTest, WillIsPublishedWhenTheConnectionEndsWithoutDisconnect) {
  auto watcher = connected("watcher");
  subscribe(*watcher, "w/#", 1);
  auto c = connected("c", ConnectOptions().will("w/c", "bye", 1, true));
  EXPECT_THAT(watcher->take(), IsEmpty()) << "not before the connection ends";
  c->closed();
  auto pubs = publishes(watcher->take());
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].topic, "w/c");
  EXPECT_EQ(pubs[0].payload, "bye");
  EXPECT_EQ(pubs[0].qos, 1);
  EXPECT_FALSE(pubs[0].retain) << "forwarded live: RETAIN 0";
  EXPECT_EQ(broker_->retained().size(), 1u) << "will retain flag: stored as retained";
}

TEST_F(ClientTest, NoWillAfterDisconnect) {
  // [MQTT-3.14.4-3]
  auto watcher = connected("watcher");
  subscribe(*watcher, "w/#", 0);
  auto c = connected("c", ConnectOptions().will("w/c", "bye"));
  c->disconnect();
  EXPECT_TRUE(c->link->closed());
  c->publish("w/after", "ignored after DISCONNECT");
  c->closed();
  EXPECT_THAT(watcher->take(), IsEmpty());
  EXPECT_EQ(broker_->retained().size(), 0u);
  EXPECT_EQ(broker_->stats().publish_received_total(), 0u);
}

TEST_F(ClientTest, WillIsPublishedWhenTheKeepAliveDeadlinePasses) {
  auto watcher = connected("watcher");
  subscribe(*watcher, "w/#", 0);
  auto c = connected("c", ConnectOptions().keep(10).will("w/c", "timed out"));
  ASSERT_TRUE(c->client->deadline_passed(t0 + 16s));
  c->client->on_deadline();
  EXPECT_TRUE(c->link->closed());
  c->closed();
  EXPECT_THAT(watcher->payloads(), ElementsAre("timed out"));
}

TEST_F(ClientTest, ServerShutdownDoesNotPublishTheWill) {
  auto watcher = connected("watcher");
  subscribe(*watcher, "w/#", 0);
  auto c = connected("c", ConnectOptions().will("w/c", "bye"));
  c->client->on_server_shutdown();
  EXPECT_TRUE(c->link->closed());
  c->closed();
  EXPECT_THAT(watcher->take(), IsEmpty());
}

// --- deadlines ------------------------------------------------------------------------------

TEST_F(ClientTest, KeepAliveDeadlineIsOneAndAHalfTimesTheKeepAlive) {
  // [MQTT-3.1.2-24]
  auto c = open();
  ASSERT_TRUE(connect(*c, "k", ConnectOptions().keep(10)));
  EXPECT_FALSE(c->client->deadline_passed(t0));
  EXPECT_FALSE(c->client->deadline_passed(t0 + 10s));
  EXPECT_FALSE(c->client->deadline_passed(t0 + 15s - 1ms));
  EXPECT_TRUE(c->client->deadline_passed(t0 + 15s + 1ms));

  // Any packet restarts the clock.
  c->send(mqtt::Pingreq{}, t0 + 10s);
  EXPECT_THAT(type_names(c->take()), ElementsAre("PINGRESP"));
  EXPECT_FALSE(c->client->deadline_passed(t0 + 15s + 1ms));
  EXPECT_FALSE(c->client->deadline_passed(t0 + 25s - 1ms));
  EXPECT_TRUE(c->client->deadline_passed(t0 + 25s + 1ms));

  c->send(mqtt::Publish{"x", "y", 0, false, false, 0, {}}, t0 + 20s);
  EXPECT_FALSE(c->client->deadline_passed(t0 + 35s - 1ms));
  EXPECT_TRUE(c->client->deadline_passed(t0 + 35s + 1ms));
}

TEST_F(ClientTest, KeepAliveStartsAtTheConnectNotAtTheAccept) {
  auto c = open(t0);
  ASSERT_TRUE(connect(*c, "k", ConnectOptions().keep(4), t0 + 3s));
  EXPECT_FALSE(c->client->deadline_passed(t0 + 9s - 1ms));
  EXPECT_TRUE(c->client->deadline_passed(t0 + 9s + 1ms));
}

// An enhanced-authentication method of one round: any client data gets a challenge, then any
// answer succeeds.
class OneRoundAuthenticator : public auth::EnhancedAuthenticator {
 public:
  std::string_view method() const override { return "ONE-ROUND"; }
  std::unique_ptr<auth::AuthExchange> begin(std::string_view, std::string_view) override {
    struct Exchange : auth::AuthExchange {
      bool challenged = false;
      auth::AuthStep step(std::string_view) override {
        auth::AuthStep s;
        s.outcome = challenged ? auth::AuthStep::Outcome::success : auth::AuthStep::Outcome::challenge;
        s.data = challenged ? "" : "challenge";
        challenged = true;
        return s;
      }
    };
    return std::make_unique<Exchange>();
  }
};

TEST_F(ClientTest, KeepAliveStartsWhenEnhancedAuthenticationCompletes) {
  broker_->add_authenticator(std::make_shared<OneRoundAuthenticator>());
  auto c = open(t0, Version::v5);
  auto connect = std::get<mqtt::Connect>(connect_packet("k", ConnectOptions().keep(4).protocol(Version::v5)));
  connect.props.add_string(mqtt::PropertyId::authentication_method, "ONE-ROUND");
  c->send(connect, t0 + 1s);
  EXPECT_THAT(type_names(c->take()), ElementsAre("AUTH"));
  EXPECT_FALSE(c->client->connected());
  EXPECT_EQ(c->client->client_id(), "");
  mqtt::Auth answer{mqtt::ReasonCode::continue_authentication, {}};
  answer.props.add_string(mqtt::PropertyId::authentication_method, "ONE-ROUND");
  answer.props.add_string(mqtt::PropertyId::authentication_data, "response");
  c->send(answer, t0 + 3s);
  EXPECT_THAT(type_names(c->take()), ElementsAre("CONNACK"));
  ASSERT_TRUE(c->client->connected());
  EXPECT_EQ(c->client->client_id(), "k");
  EXPECT_FALSE(c->client->deadline_passed(t0 + 9s - 1ms));
  EXPECT_TRUE(c->client->deadline_passed(t0 + 9s + 1ms));
}

TEST_F(ClientTest, ZeroKeepAliveHasNoDeadline) {
  auto c = open();
  ASSERT_TRUE(connect(*c, "k", ConnectOptions().keep(0)));
  EXPECT_FALSE(c->client->deadline_passed(t0 + 24h * 365));
}

TEST_F(ClientTest, KeepAliveOverTheLimitIsRefusedForMqtt311) {
  // 3.1.1 cannot be told a shorter keep-alive, so the CONNECT is refused (as mosquitto does).
  Limits limits;
  limits.max_keep_alive = 5;
  reset_broker(limits);
  auto c = open();
  auto ack = connect(*c, "k", ConnectOptions().keep(60));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->code, 2);
  EXPECT_TRUE(c->link->closed());
}

TEST_F(ClientTest, KeepAliveIsClampedForMqtt5AndToldInServerKeepAlive) {
  Limits limits;
  limits.max_keep_alive = 5;
  reset_broker(limits);
  auto c = open(t0, Version::v5);
  c->send(connect_packet("k", ConnectOptions().keep(60).protocol(Version::v5)));
  auto packets = c->take();
  ASSERT_FALSE(packets.empty());
  ASSERT_TRUE(std::holds_alternative<mqtt::Connack>(packets[0]));
  const auto& ack = std::get<mqtt::Connack>(packets[0]);
  EXPECT_EQ(ack.code, 0);
  EXPECT_EQ(ack.props.number(mqtt::PropertyId::server_keep_alive), 5u);
  EXPECT_FALSE(c->client->deadline_passed(t0 + 7500ms - 1ms));
  EXPECT_TRUE(c->client->deadline_passed(t0 + 7500ms + 1ms));
}

TEST_F(ClientTest, ConnectTimeout) {
  Limits limits;
  limits.connect_timeout_ms = 2000;
  reset_broker(limits);
  auto silent = open(t0);
  EXPECT_FALSE(silent->client->deadline_passed(t0));
  EXPECT_FALSE(silent->client->deadline_passed(t0 + 2000ms - 1ms));
  EXPECT_TRUE(silent->client->deadline_passed(t0 + 2000ms + 1ms));
  silent->client->on_deadline();
  EXPECT_TRUE(silent->link->closed());
  EXPECT_FALSE(silent->client->deadline_passed(t0 + 1h)) << "closing: no deadline any more";
  silent->closed();
  EXPECT_EQ(broker_->session_count(), 0u);

  // A CONNECT in time replaces the connect deadline by the keep-alive one.
  auto prompt = open(t0);
  ASSERT_TRUE(connect(*prompt, "p", ConnectOptions().keep(0), t0 + 1s));
  EXPECT_FALSE(prompt->client->deadline_passed(t0 + 2000ms + 1ms));
  EXPECT_FALSE(prompt->client->deadline_passed(t0 + 24h));
}

}  // namespace
}  // namespace mqbase::broker
