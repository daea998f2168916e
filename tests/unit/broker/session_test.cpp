// Session: outgoing QoS 0/1/2 delivery, the in-flight window, the queue and its limit, resend
// on attach ([MQTT-4.4.0-1]), generations across takeovers, and incoming QoS 2 de-duplication.
#include "broker/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <random>
#include <set>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "fake_link.h"
#include "mqtt/encoder.h"

namespace mqbase::broker {
namespace {

using ::testing::ElementsAre;
using testing::FakeLink;
using testing::publishes;
using testing::type_names;

class SessionTest : public ::testing::Test {
 protected:
  std::shared_ptr<Session> make_session(bool clean = false) {
    return std::make_shared<Session>("client", clean, limits_, stats_);
  }

  static std::string connack_bytes(bool session_present) {
    std::string out;
    mqtt::encode(mqtt::Connack{session_present, 0, {}}, mqtt::Version::v311, out);
    return out;
  }

  // A PUBREC from the client on `link`, answered as the Client does: the PUBREL on_pubrec()
  // asks for is sent on the link (the Client's durability gate is not in play here).
  static void pubrec(Session& s, FakeLink& link, uint64_t gen, uint16_t id,
                     mqtt::Version v = mqtt::Version::v311) {
    if (auto reason = s.on_pubrec(gen, id)) {
      std::string out;
      mqtt::encode(mqtt::PubAck{mqtt::PacketType::pubrel, id, *reason, {}}, v, out);
      link.send(out, SendMode::reliable);
    }
  }

  // Attaches a fresh link and drops the CONNACK from what it recorded.
  uint64_t attach(Session& s, const std::shared_ptr<FakeLink>& link, bool session_present = false) {
    uint64_t gen = s.attach(link, mqtt::Version::v311, s.clean(), connack_bytes(session_present));
    auto first = link->take();
    EXPECT_FALSE(first.empty());
    if (!first.empty()) {
      EXPECT_TRUE(std::holds_alternative<mqtt::Connack>(first[0]));
    }
    return gen;
  }

  // Attaches a fresh link for an MQTT 5 client with `peer`'s limits; drops the CONNACK and
  // returns the attachment's generation.
  uint64_t attach_v5(Session& s, const std::shared_ptr<FakeLink>& link, const PeerLimits& peer) {
    std::string connack;
    mqtt::encode(mqtt::Connack{false, 0, {}}, mqtt::Version::v5, connack);
    uint64_t gen = s.attach(link, peer, kSessionNeverExpires, connack);
    link->take(mqtt::Version::v5);
    return gen;
  }

  static MessagePtr msg(const std::string& payload, uint8_t qos = 1, const std::string& topic = "t/x") {
    return make_message(topic, payload, qos, false);
  }

  static std::vector<std::string> payloads(const std::vector<mqtt::Publish>& pubs) {
    std::vector<std::string> out;
    for (const auto& p : pubs) out.emplace_back(p.payload);
    return out;
  }

  Limits limits_;
  Stats stats_;
};

TEST_F(SessionTest, NewSessionIsEmptyAndDisconnected) {
  auto s = make_session(true);
  EXPECT_EQ(s->client_id(), "client");
  EXPECT_TRUE(s->clean());
  EXPECT_FALSE(s->connected());
  EXPECT_EQ(s->queued(), 0u);
  EXPECT_EQ(s->inflight(), 0u);
  EXPECT_EQ(s->release_link(), nullptr);
}

TEST_F(SessionTest, AttachSendsTheConnackFirstAndTakesTheCleanFlag) {
  auto s = make_session(true);
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = s->attach(link, mqtt::Version::v311, false, connack_bytes(true));
  EXPECT_TRUE(s->connected());
  EXPECT_TRUE(s->is_current(gen));
  EXPECT_FALSE(s->clean());
  auto packets = link->take();
  ASSERT_EQ(packets.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<mqtt::Connack>(packets[0]));
  EXPECT_TRUE(std::get<mqtt::Connack>(packets[0]).session_present);
}

TEST_F(SessionTest, Qos0IsDeliveredAtOnce) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach(*s, link);
  s->deliver(make_message("a/b", "hello", 2, true), 0, false);
  auto pubs = publishes(link->take());
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].topic, "a/b");
  EXPECT_EQ(pubs[0].payload, "hello");
  EXPECT_EQ(pubs[0].qos, 0);
  EXPECT_FALSE(pubs[0].retain) << "retain flag is the one given to deliver, not the publisher's";
  EXPECT_FALSE(pubs[0].dup);
  EXPECT_EQ(stats_.publish_sent_total(), 1u);
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 0u);
  EXPECT_EQ(s->inflight(), 0u);
}

TEST_F(SessionTest, Qos0IsDroppedAndCountedWhenTheBufferIsFull) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach(*s, link);
  link->set_full(true);
  s->deliver(msg("lost", 0), 0, false);
  s->deliver(msg("lost too", 0), 0, false);
  EXPECT_TRUE(link->pending().empty());
  EXPECT_EQ(link->refused(), 2);
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 2u);
  EXPECT_EQ(stats_.publish_sent_total(), 0u);
  EXPECT_EQ(s->queued(), 0u) << "QoS 0 is never queued";

  link->set_full(false);
  s->deliver(msg("arrives", 0), 0, false);
  EXPECT_THAT(payloads(publishes(link->take())), ElementsAre("arrives"));
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 2u);
  EXPECT_EQ(stats_.publish_sent_total(), 1u);
}

// deliver_qos0 (no session lock) behaves as deliver() for QoS 0: sent while attached, counted
// when refused, nothing for a detached session.
TEST_F(SessionTest, LockFreeQos0IsSentWhileAttachedAndDroppedOtherwise) {
  auto s = make_session();
  Delivery d{0, false, {}, {}, {}};
  EXPECT_TRUE(s->deliver_qos0(*msg("before attach", 0), d));
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  EXPECT_TRUE(s->deliver_qos0(*msg("one", 0), d));
  link->set_full(true);
  EXPECT_TRUE(s->deliver_qos0(*msg("refused", 0), d));
  link->set_full(false);
  EXPECT_TRUE(s->deliver_qos0(*msg("two", 0), d));
  EXPECT_THAT(payloads(publishes(link->take())), ElementsAre("one", "two"));
  EXPECT_EQ(stats_.publish_sent_total(), 2u);
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 1u);

  std::shared_ptr<ClientLink> released;
  ASSERT_TRUE(s->detach(gen, Clock::now(), &released));
  EXPECT_EQ(released, link) << "the caller keeps the link alive past the detach";
  EXPECT_TRUE(s->deliver_qos0(*msg("after detach", 0), d));
  EXPECT_TRUE(link->pending().empty());
}

// A client that takes topic aliases needs the session's alias table: deliver_qos0 leaves it to
// deliver(), sending nothing itself.
TEST_F(SessionTest, LockFreeQos0DefersToDeliverForAliasClients) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach_v5(*s, link, {mqtt::Version::v5, 65535, 0, 10});
  Delivery d{0, false, {}, {}, {}};
  EXPECT_FALSE(s->deliver_qos0(*msg("aliased", 0), d));
  EXPECT_TRUE(link->pending().empty());
  s->deliver(msg("aliased", 0), d);
  auto pubs = publishes(link->take(mqtt::Version::v5));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].props.number(mqtt::PropertyId::topic_alias), 1u);
}

// The lock-free path encodes per client as deliver() does: a v5 client gets its properties,
// and nothing over its Maximum Packet Size.
TEST_F(SessionTest, LockFreeQos0HonoursV5PropertiesAndMaximumPacketSize) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach_v5(*s, link, {mqtt::Version::v5, 65535, 64, 0});
  Message m;
  m.topic = "t/x";
  m.payload = "small";
  m.content_type = "text/plain";
  Delivery d{0, false, {7}, {}, {}};
  EXPECT_TRUE(s->deliver_qos0(m, d));
  EXPECT_TRUE(s->deliver_qos0(*msg(std::string(100, 'x'), 0), d));
  auto pubs = publishes(link->take(mqtt::Version::v5));
  ASSERT_EQ(pubs.size(), 1u) << "the 100-byte payload is over the client's 64-byte limit";
  EXPECT_EQ(pubs[0].payload, "small");
  EXPECT_EQ(pubs[0].props.string(mqtt::PropertyId::content_type), "text/plain");
  EXPECT_EQ(pubs[0].props.number(mqtt::PropertyId::subscription_identifier), 7u);
}

TEST_F(SessionTest, Qos1IsNotDroppableWhenTheBufferIsFull) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach(*s, link);
  link->set_full(true);
  s->deliver(msg("must arrive"), 1, false);
  EXPECT_THAT(payloads(publishes(link->take())), ElementsAre("must arrive"));
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 0u);
}

TEST_F(SessionTest, Qos1WindowHoldsBackMessagesUntilPuback) {
  limits_.max_inflight_messages = 2;
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  s->deliver(msg("m1"), 1, false);
  s->deliver(msg("m2"), 1, false);
  s->deliver(msg("m3"), 1, false);
  auto pubs = publishes(link->take());
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[0].payload, "m1");
  EXPECT_EQ(pubs[1].payload, "m2");
  EXPECT_EQ(pubs[0].qos, 1);
  EXPECT_NE(pubs[0].packet_id, 0);
  EXPECT_NE(pubs[0].packet_id, pubs[1].packet_id);
  EXPECT_EQ(s->inflight(), 2u);
  EXPECT_EQ(s->queued(), 1u);

  s->on_puback(gen, 0xBEEF);  // unknown id: nothing moves
  EXPECT_TRUE(link->take().empty());
  EXPECT_EQ(s->queued(), 1u);

  s->on_puback(gen, pubs[1].packet_id);  // out of order is fine
  auto next = publishes(link->take());
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload, "m3");
  EXPECT_FALSE(next[0].dup);
  EXPECT_NE(next[0].packet_id, pubs[0].packet_id) << "id of m1 is still in flight";
  EXPECT_EQ(s->inflight(), 2u);
  EXPECT_EQ(s->queued(), 0u);

  s->on_puback(gen, pubs[0].packet_id);
  s->on_puback(gen, next[0].packet_id);
  EXPECT_EQ(s->inflight(), 0u);
  EXPECT_EQ(stats_.publish_sent_total(), 3u);
}

TEST_F(SessionTest, LaterMessagesWaitBehindTheQueueToKeepOrder) {
  limits_.max_inflight_messages = 1;
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  for (const char* p : {"1", "2", "3", "4"}) s->deliver(msg(p), 1, false);
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    auto pubs = publishes(link->take());
    ASSERT_EQ(pubs.size(), 1u) << "exactly one in flight at a time";
    seen.emplace_back(pubs[0].payload);
    s->on_puback(gen, pubs[0].packet_id);
  }
  EXPECT_THAT(seen, ElementsAre("1", "2", "3", "4"));
  EXPECT_EQ(s->inflight(), 0u);
}

TEST_F(SessionTest, QueueLimitDropsTheNewestAndCountsUnderTheDropPolicy) {
  limits_.queue_full_policy = QueueFullPolicy::drop;
  limits_.max_inflight_messages = 1;
  limits_.max_queued_messages = 2;
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  for (const char* p : {"m1", "m2", "m3", "m4", "m5"}) s->deliver(msg(p), 1, false);
  EXPECT_EQ(s->inflight(), 1u);
  EXPECT_EQ(s->queued(), 2u);
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 2u);
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    auto pubs = publishes(link->take());
    ASSERT_EQ(pubs.size(), 1u);
    seen.emplace_back(pubs[0].payload);
    s->on_puback(gen, pubs[0].packet_id);
  }
  EXPECT_TRUE(link->take().empty());
  EXPECT_THAT(seen, ElementsAre("m1", "m2", "m3"));
}

TEST_F(SessionTest, QueueLimitAppliesWhileOffline) {
  limits_.max_queued_messages = 2;
  auto s = make_session();
  s->deliver(msg("m1"), 1, false);
  s->deliver(msg("m2"), 2, false);
  s->deliver(msg("m3"), 1, false);
  EXPECT_EQ(s->queued(), 2u);
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 1u);
  auto link = std::make_shared<FakeLink>();
  s->attach(link, mqtt::Version::v311, false, connack_bytes(true));
  EXPECT_THAT(payloads(publishes(link->take())), ElementsAre("m1", "m2"));
}

TEST_F(SessionTest, ZeroQueueLimitMeansUnlimited) {
  limits_.max_queued_messages = 0;
  auto s = make_session();
  for (int i = 0; i < 2000; ++i) s->deliver(msg(std::to_string(i)), 1, false);
  EXPECT_EQ(s->queued(), 2000u);
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 0u);
}

TEST_F(SessionTest, OfflineSessionQueuesQos1And2ButNotQos0) {
  auto s = make_session();
  s->deliver(msg("q0", 0), 0, false);
  s->deliver(msg("q1", 1), 1, false);
  s->deliver(msg("q2", 2), 2, true);
  EXPECT_EQ(s->queued(), 2u);
  EXPECT_EQ(s->inflight(), 0u);
  EXPECT_EQ(stats_.publish_sent_total(), 0u);

  auto link = std::make_shared<FakeLink>();
  s->attach(link, mqtt::Version::v311, false, connack_bytes(true));
  auto packets = link->take();
  EXPECT_THAT(type_names(packets), ElementsAre("CONNACK", "PUBLISH", "PUBLISH"));
  auto pubs = publishes(packets);
  ASSERT_EQ(pubs.size(), 2u);
  EXPECT_EQ(pubs[0].payload, "q1");
  EXPECT_EQ(pubs[0].qos, 1);
  EXPECT_FALSE(pubs[0].dup) << "first transmission, even if late";
  EXPECT_FALSE(pubs[0].retain);
  EXPECT_EQ(pubs[1].payload, "q2");
  EXPECT_EQ(pubs[1].qos, 2);
  EXPECT_TRUE(pubs[1].retain);
  EXPECT_EQ(s->queued(), 0u);
  EXPECT_EQ(s->inflight(), 2u);
}

TEST_F(SessionTest, AttachResendsInflightWithDupThenPubrelThenTheQueue) {
  limits_.max_inflight_messages = 3;
  auto s = make_session();
  auto link1 = std::make_shared<FakeLink>();
  uint64_t gen1 = attach(*s, link1);
  s->deliver(make_message("t/1", "p1", 1, false), 1, true);
  s->deliver(make_message("t/2", "p2", 2, false), 2, false);
  s->deliver(make_message("t/3", "p3", 2, false), 2, false);
  s->deliver(make_message("t/4", "p4", 1, false), 1, false);  // window full: queued
  auto first = publishes(link1->take());
  ASSERT_EQ(first.size(), 3u);
  pubrec(*s, *link1, gen1, first[2].packet_id);  // p3 has reached the client: PUBREL is owed
  EXPECT_THAT(type_names(link1->take()), ElementsAre("PUBREL"));
  ASSERT_TRUE(s->detach(gen1));
  EXPECT_FALSE(s->connected());

  auto link2 = std::make_shared<FakeLink>();
  uint64_t gen2 = s->attach(link2, mqtt::Version::v311, false, connack_bytes(true));
  auto packets = link2->take();
  ASSERT_THAT(type_names(packets), ElementsAre("CONNACK", "PUBLISH", "PUBLISH", "PUBREL"));
  EXPECT_TRUE(std::get<mqtt::Connack>(packets[0]).session_present);
  const auto& r1 = std::get<mqtt::Publish>(packets[1]);
  const auto& r2 = std::get<mqtt::Publish>(packets[2]);
  EXPECT_EQ(r1.payload, "p1");
  EXPECT_EQ(r1.topic, "t/1");
  EXPECT_TRUE(r1.dup);
  EXPECT_TRUE(r1.retain) << "a resend keeps the retain flag it was first sent with";
  EXPECT_EQ(r1.qos, 1);
  EXPECT_EQ(r1.packet_id, first[0].packet_id);
  EXPECT_EQ(r2.payload, "p2");
  EXPECT_TRUE(r2.dup);
  EXPECT_EQ(r2.qos, 2);
  EXPECT_EQ(r2.packet_id, first[1].packet_id);
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[3]).packet_id, first[2].packet_id);

  // The queued p4 goes out once the window has room, as a first transmission.
  s->on_puback(gen2, r1.packet_id);
  auto after = publishes(link2->take());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].payload, "p4");
  EXPECT_FALSE(after[0].dup);
}

TEST_F(SessionTest, Qos1SentToAClosedLinkIsResentOnTheNextAttach) {
  auto s = make_session();
  auto link1 = std::make_shared<FakeLink>();
  uint64_t gen1 = attach(*s, link1);
  link1->close();  // the connection died; the broker has not noticed yet
  s->deliver(msg("in transit"), 1, false);
  EXPECT_TRUE(link1->take().empty());
  EXPECT_EQ(s->inflight(), 1u);
  EXPECT_EQ(stats_.publish_sent_total(), 0u) << "nothing was sent";
  ASSERT_TRUE(s->detach(gen1));
  auto link2 = std::make_shared<FakeLink>();
  s->attach(link2, mqtt::Version::v311, false, connack_bytes(true));
  auto pubs = publishes(link2->take());
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].payload, "in transit");
  EXPECT_TRUE(pubs[0].dup);
}

TEST_F(SessionTest, OutgoingQos2Flow) {
  limits_.max_inflight_messages = 1;
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  s->deliver(msg("exactly once", 2), 2, false);
  s->deliver(msg("next", 1), 1, false);
  auto pubs = publishes(link->take());
  ASSERT_EQ(pubs.size(), 1u);
  uint16_t id = pubs[0].packet_id;
  EXPECT_EQ(pubs[0].qos, 2);

  s->on_puback(gen, id);  // wrong acknowledgement for QoS 2: ignored
  EXPECT_EQ(s->inflight(), 1u);
  s->on_pubcomp(gen, id);  // PUBCOMP before PUBREC: ignored
  EXPECT_EQ(s->inflight(), 1u);
  EXPECT_TRUE(link->take().empty());

  pubrec(*s, *link, gen, id);
  auto rel = link->take();
  ASSERT_THAT(type_names(rel), ElementsAre("PUBREL"));
  EXPECT_EQ(std::get<mqtt::PubAck>(rel[0]).packet_id, id);
  EXPECT_EQ(s->inflight(), 1u) << "still in flight until PUBCOMP";

  pubrec(*s, *link, gen, id);  // a resent PUBREC gets another PUBREL
  EXPECT_THAT(type_names(link->take()), ElementsAre("PUBREL"));

  s->on_pubcomp(gen, id);
  EXPECT_EQ(s->inflight(), 1u) << "the queued message took the free slot";
  EXPECT_THAT(payloads(publishes(link->take())), ElementsAre("next"));
}

TEST_F(SessionTest, PubrecForAnUnknownIdIsStillAnsweredWithPubrel) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  pubrec(*s, *link, gen, 77);
  auto packets = link->take();
  ASSERT_THAT(type_names(packets), ElementsAre("PUBREL"));
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[0]).packet_id, 77);
}

TEST_F(SessionTest, AcknowledgementsFromAnOldGenerationAreIgnored) {
  auto s = make_session();
  auto link1 = std::make_shared<FakeLink>();
  uint64_t gen1 = attach(*s, link1);
  s->deliver(msg("a", 1), 1, false);
  s->deliver(msg("b", 2), 2, false);
  auto pubs = publishes(link1->take());
  ASSERT_EQ(pubs.size(), 2u);

  // Takeover: the old link is released, a new one attached.
  EXPECT_EQ(s->release_link(), link1);
  EXPECT_FALSE(s->is_current(gen1));
  auto link2 = std::make_shared<FakeLink>();
  uint64_t gen2 = s->attach(link2, mqtt::Version::v311, false, connack_bytes(true));
  EXPECT_NE(gen2, gen1);
  link2->take();

  s->on_puback(gen1, pubs[0].packet_id);
  pubrec(*s, *link2, gen1, pubs[1].packet_id);
  s->on_pubcomp(gen1, pubs[1].packet_id);
  EXPECT_EQ(s->inflight(), 2u);
  EXPECT_TRUE(link1->take().empty());
  EXPECT_TRUE(link2->take().empty()) << "no PUBREL for the old connection's PUBREC";
  EXPECT_FALSE(s->detach(gen1)) << "the old connection cannot detach the new one";
  EXPECT_TRUE(s->connected());
  EXPECT_TRUE(s->is_current(gen2));

  s->on_puback(gen2, pubs[0].packet_id);
  EXPECT_EQ(s->inflight(), 1u);
  EXPECT_TRUE(s->detach(gen2));
  EXPECT_FALSE(s->connected());
  EXPECT_FALSE(s->is_current(gen2));
}

TEST_F(SessionTest, ReleaseLinkHandsBackTheLinkOnce) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach(*s, link);
  EXPECT_EQ(s->release_link(), link);
  EXPECT_FALSE(s->connected());
  EXPECT_EQ(s->release_link(), nullptr);
  // Deliveries while released are queued like offline ones.
  s->deliver(msg("later"), 1, false);
  s->deliver(msg("gone", 0), 0, false);
  EXPECT_EQ(s->queued(), 1u);
  EXPECT_TRUE(link->take().empty());
}

TEST_F(SessionTest, IncomingQos2IsRoutedOnceUntilReleased) {
  auto s = make_session();
  EXPECT_TRUE(s->begin_incoming_qos2(10));
  EXPECT_FALSE(s->begin_incoming_qos2(10));
  EXPECT_FALSE(s->begin_incoming_qos2(10));
  EXPECT_TRUE(s->begin_incoming_qos2(11)) << "ids are independent";
  s->release_incoming_qos2(10);
  EXPECT_TRUE(s->begin_incoming_qos2(10)) << "after PUBREL the id is a new message";
  EXPECT_FALSE(s->begin_incoming_qos2(11));
  s->release_incoming_qos2(999);  // unknown: harmless
  EXPECT_FALSE(s->begin_incoming_qos2(11));
}

TEST_F(SessionTest, IncomingQos2CountAndReleaseOfUnknownIds) {
  auto s = make_session();
  EXPECT_EQ(s->incoming_qos2_count(), 0u);
  EXPECT_FALSE(s->release_incoming_qos2(7)) << "nothing awaits PUBREL yet";
  EXPECT_TRUE(s->begin_incoming_qos2(7));
  EXPECT_TRUE(s->begin_incoming_qos2(8));
  EXPECT_EQ(s->incoming_qos2_count(), 2u);
  EXPECT_FALSE(s->release_incoming_qos2(9));
  EXPECT_TRUE(s->release_incoming_qos2(7));
  EXPECT_FALSE(s->release_incoming_qos2(7)) << "released twice";
  EXPECT_TRUE(s->release_incoming_qos2(8));
  EXPECT_EQ(s->incoming_qos2_count(), 0u);
  EXPECT_FALSE(s->release_incoming_qos2(8)) << "all released";
  EXPECT_TRUE(s->begin_incoming_qos2(8)) << "a new message once the set is empty again";
  EXPECT_EQ(s->incoming_qos2_count(), 1u);
}

TEST_F(SessionTest, PacketIdsWrapAndSkipIdsStillInFlight) {
  limits_.max_inflight_messages = 0;  // unlimited window
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  s->deliver(msg("held"), 1, false);  // id 1, never acknowledged
  auto held = publishes(link->take());
  ASSERT_EQ(held.size(), 1u);
  ASSERT_EQ(held[0].packet_id, 1);
  for (uint32_t id = 2; id <= 65535; ++id) {
    s->deliver(msg("x"), 1, false);
    s->on_puback(gen, static_cast<uint16_t>(id));  // ids are handed out in sequence
  }
  EXPECT_EQ(s->inflight(), 1u) << "every id 2..65535 was used and acknowledged in order";
  link->take();
  s->deliver(msg("wrapped"), 1, false);
  auto pubs = publishes(link->take());
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].packet_id, 2) << "wraps past 65535, skips 0 and the id 1 still in flight";
}

TEST_F(SessionTest, PacketIdsNeverCollideWithIdsInFlightThroughWrapsAndOutOfOrderAcks) {
  // next_packet_id() takes the id after the newest without a search while the ids in flight
  // are in order. Here acknowledgements come out of order (gaps all through the window),
  // every 5000th message stays in flight until the end of its round (so the ids wrap onto
  // them), and each round ends with everything acknowledged: no id may be handed out while
  // it is still in flight.
  limits_.max_inflight_messages = 0;  // unlimited window
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  std::mt19937 rng(11);
  for (int round = 0; round < 2; ++round) {
    std::vector<uint16_t> acked_at_random;  // in flight, acknowledged in random order
    std::set<uint16_t> in_flight;
    for (int i = 0; i < 80000; ++i) {  // past 65535: the ids wrap onto those still in flight
      s->deliver(msg("x"), 1, false);
      for (const auto& p : publishes(link->take())) {
        ASSERT_NE(p.packet_id, 0);
        ASSERT_TRUE(in_flight.insert(p.packet_id).second)
            << "id " << p.packet_id << " is still in flight (round " << round << ", message " << i << ")";
        if (i % 5000 != 0) acked_at_random.push_back(p.packet_id);
      }
      if (acked_at_random.size() > 300 || (!acked_at_random.empty() && rng() % 4 != 0)) {
        size_t k = rng() % acked_at_random.size();
        std::swap(acked_at_random[k], acked_at_random.back());
        s->on_puback(gen, acked_at_random.back());
        in_flight.erase(acked_at_random.back());
        acked_at_random.pop_back();
      }
    }
    ASSERT_EQ(s->inflight(), in_flight.size());
    for (uint16_t id : in_flight) s->on_puback(gen, id);
    ASSERT_EQ(s->inflight(), 0u);
  }
}

TEST_F(SessionTest, SubscriptionsAreRememberedForgottenAndTaken) {
  auto s = make_session();
  s->remember_subscription("a/+", {1});
  s->remember_subscription("b/#", {0});
  s->remember_subscription("a/+", {2});  // replaced
  s->forget_subscription("b/#");
  s->forget_subscription("never");
  auto subs = s->take_subscriptions();
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs.at("a/+").qos, 2);
  EXPECT_TRUE(s->take_subscriptions().empty()) << "taking empties the session's list";
}

// A link that records pause/resume calls, for the backpressure tests.
class PausableLink : public FakeLink {
 public:
  void resume_reading() override { ++resumed; }
  int resumed = 0;
};

TEST_F(SessionTest, FullQueueKeepsTheMessageAndHoldsThePublisherBack) {
  limits_.max_inflight_messages = 1;
  limits_.max_queued_messages = 4;
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  auto publisher = std::make_shared<PausableLink>();
  std::shared_ptr<ClientLink> as_link = publisher;
  std::vector<bool> paused;
  for (int i = 0; i < 8; ++i) paused.push_back(s->deliver(msg(std::to_string(i)), Delivery{1, false, {}, {}, {}}, &as_link));
  // 1 in flight, then the queue reaches 4 at the 5th message: from there the publisher is held.
  EXPECT_THAT(paused, ElementsAre(false, false, false, false, true, true, true, true));
  EXPECT_EQ(s->queued(), 7u) << "nothing is dropped while connected";
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 0u);
  // Draining to half the limit resumes the publisher, once.
  std::vector<std::string> seen;
  for (int i = 0; i < 8; ++i) {
    auto pubs = publishes(link->take());
    ASSERT_EQ(pubs.size(), 1u);
    seen.emplace_back(pubs[0].payload);
    s->on_puback(gen, pubs[0].packet_id);
  }
  EXPECT_THAT(seen, ElementsAre("0", "1", "2", "3", "4", "5", "6", "7"));
  EXPECT_EQ(publisher->resumed, 1);
}

TEST_F(SessionTest, PublishersResumeWhenTheSubscriberLeavesAndOfflineQueuesDrop) {
  limits_.max_inflight_messages = 1;
  limits_.max_queued_messages = 2;
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  auto publisher = std::make_shared<PausableLink>();
  std::shared_ptr<ClientLink> as_link = publisher;
  for (int i = 0; i < 4; ++i) s->deliver(msg(std::to_string(i)), Delivery{1, false, {}, {}, {}}, &as_link);
  EXPECT_EQ(publisher->resumed, 0);
  ASSERT_TRUE(s->detach(gen));
  EXPECT_EQ(publisher->resumed, 1) << "an offline session does not hold its publishers";
  EXPECT_FALSE(s->deliver(msg("x"), Delivery{1, false, {}, {}, {}}, &as_link));
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 1u) << "offline, a full queue drops and counts";
}

TEST_F(SessionTest, QueuedBytesLimitAppliesLikeTheMessageLimit) {
  limits_.queue_full_policy = QueueFullPolicy::drop;
  limits_.max_inflight_messages = 1;
  limits_.max_queued_messages = 0;
  limits_.max_queued_bytes = 100;
  auto s = make_session();
  std::string forty(37, 'x');  // + the 3-byte topic "t/x": 40 bytes
  for (int i = 0; i < 5; ++i) s->deliver(msg(forty), 1, false);
  EXPECT_EQ(s->queued(), 3u);  // 0, 40, 80 bytes queued when each came: the 4th met 120
  EXPECT_EQ(Stats::get(stats_.publish_dropped), 2u);
}

TEST_F(SessionTest, ResendAfterReconnectRespectsTheNewReceiveMaximum) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen1 = attach(*s, link);
  for (int i = 0; i < 6; ++i) s->deliver(msg(std::to_string(i)), 1, false);
  auto first = publishes(link->take());
  ASSERT_EQ(first.size(), 6u);
  ASSERT_TRUE(s->detach(gen1));
  auto again = std::make_shared<FakeLink>();
  PeerLimits peer{mqtt::Version::v5};
  peer.receive_maximum = 2;
  std::string connack;
  mqtt::encode(mqtt::Connack{true, 0, {}}, mqtt::Version::v5, connack);
  uint64_t gen = s->attach(again, peer, kSessionNeverExpires, connack);  // the CONNACK stays: the resends follow it
  auto got = publishes(again->take(mqtt::Version::v5));
  ASSERT_EQ(got.size(), 2u) << "only as many as the new Receive Maximum allows";
  for (size_t next = 0; got.size() < 6; ++next) {
    s->on_puback(gen, got[next].packet_id);
    auto more = publishes(again->take(mqtt::Version::v5));
    ASSERT_EQ(more.size(), 1u);
    got.push_back(more[0]);
  }
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(got[i].dup);
    EXPECT_EQ(got[i].packet_id, first[i].packet_id) << "the original packet ids";
    EXPECT_EQ(got[i].payload, std::to_string(i));
  }
}

TEST_F(SessionTest, PubrecForAnUnknownIdGetsPubrel0x92OnV5) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach_v5(*s, link, PeerLimits{mqtt::Version::v5});
  pubrec(*s, *link, gen, 777, mqtt::Version::v5);
  auto out = link->take(mqtt::Version::v5);
  ASSERT_EQ(out.size(), 1u);
  const auto& rel = std::get<mqtt::PubAck>(out[0]);
  EXPECT_EQ(rel.type, mqtt::PacketType::pubrel);
  EXPECT_EQ(rel.packet_id, 777);
  EXPECT_EQ(rel.reason, mqtt::ReasonCode::packet_identifier_not_found);
}

TEST_F(SessionTest, DroppedQos0LeavesNoTopicAliasBehind) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  PeerLimits peer{mqtt::Version::v5};
  peer.topic_alias_maximum = 5;
  attach_v5(*s, link, peer);
  link->set_full(true);
  s->deliver(msg("dropped", 0, "a/b"), 0, false);  // would set up alias 1 for a/b
  link->set_full(false);
  s->deliver(msg("kept", 0, "a/b"), 0, false);
  auto pubs = publishes(link->take(mqtt::Version::v5));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(pubs[0].topic, "a/b") << "the alias was never seen by the client: the topic must be sent";
}

// A replay's feed as the broker sees one (broker/replay.h): messages handed out in order,
// "later" while `ready` is false, then done.
class FakeFeed : public ReplayFeed {
 public:
  std::vector<Item> items;
  size_t next_item = 0;
  bool ready = true, cancelled = false;
  int64_t cut_ns = INT64_MAX;  // INT64_MAX: not started
  Next next(Item* out) override {
    if (cancelled) return Next::done;
    if (next_item == items.size()) return Next::done;
    if (!ready) return Next::later;
    *out = items[next_item++];
    return Next::message;
  }
  void cancel() override { cancelled = true; }
  int64_t cut() const override { return cut_ns; }
};

MessagePtr stamped(const std::string& payload, int64_t received_ns, uint8_t qos = 1) {
  auto m = std::make_shared<Message>();
  m->topic = "r/x";
  m->payload = payload;
  m->qos = qos;
  m->received_ns = received_ns;
  return m;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_F(SessionTest, AReplayGoesFirstAndLiveMessagesWaitBehindIt) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  uint64_t gen = attach(*s, link);
  auto feed = std::make_shared<FakeFeed>();
  const int64_t cut = now_ns();
  feed->items = {{stamped("old1", cut - 3'000'000'000'000), 1}, {stamped("old2", cut - 2'000'000'000'000), 1}};
  feed->ready = false;
  s->begin_replay(feed, 7);
  EXPECT_TRUE(s->replaying());
  s->deliver(stamped("live-qos1", cut + 10), Delivery{1, false, {}, {}, {}});
  s->deliver(stamped("live-qos0", cut + 20, 0), Delivery{0, false, {}, {}, {}});
  EXPECT_TRUE(link->take().empty()) << "nothing goes before the replay";
  feed->cut_ns = cut;  // started
  feed->ready = true;
  s->replay_ready();
  auto pubs = publishes(link->take());
  ASSERT_EQ(payloads(pubs), (std::vector<std::string>{"old1", "old2", "live-qos1", "live-qos0"}));
  EXPECT_EQ(pubs[0].qos, 1);
  EXPECT_EQ(pubs[3].qos, 0);
  EXPECT_EQ(s->replays(), 0u);
  for (auto& p : pubs)
    if (p.qos) s->on_puback(gen, p.packet_id);
  EXPECT_EQ(s->inflight(), 0u);
}

TEST_F(SessionTest, AtTheSeamTheSecondCopyOfAMessageIsDropped) {
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach(*s, link);
  const int64_t cut = now_ns();
  auto a = stamped("a", cut - 1000), b = stamped("b", cut - 500);
  auto feed = std::make_shared<FakeFeed>();
  feed->items = {{a, 1}, {b, 1}};
  feed->cut_ns = cut;
  feed->ready = false;
  s->begin_replay(feed, 0);
  // `b` arrives live before the replay reads it; the replay's copy is skipped.
  s->deliver(b, Delivery{1, false, {}, {}, {}});
  feed->ready = true;
  s->replay_ready();
  EXPECT_EQ(payloads(publishes(link->take())), (std::vector<std::string>{"a", "b"}));
  // `a` arrives live after the replay sent it: the live copy is dropped.
  s->deliver(a, Delivery{1, false, {}, {}, {}});
  EXPECT_TRUE(link->take().empty());
  // A message received after the cut is never a copy.
  s->deliver(stamped("c", cut + 1), Delivery{1, false, {}, {}, {}});
  EXPECT_EQ(payloads(publishes(link->take())), (std::vector<std::string>{"c"}));
}

TEST_F(SessionTest, AReplayCancelledBeforeItStartedLeavesNoSeamBehind) {
  // A SUBSCRIBE whose subscription is refused (quota) cancels the replay it had begun: the
  // session must go back to its fast path, not compare every live message forever.
  auto s = make_session();
  auto link = std::make_shared<FakeLink>();
  attach(*s, link);
  auto feed = std::make_shared<FakeFeed>();
  feed->items = {{stamped("never", 1), 1}};
  s->begin_replay(feed, 0);
  feed->cancel();
  s->deliver(stamped("live", now_ns()), Delivery{1, false, {}, {}, {}});
  EXPECT_EQ(payloads(publishes(link->take())), (std::vector<std::string>{"live"}));
  EXPECT_EQ(s->replays(), 0u);
  s->deliver(stamped("live2", now_ns(), 0), Delivery{0, false, {}, {}, {}});
  EXPECT_FALSE(s->replaying());
  EXPECT_EQ(payloads(publishes(link->take())), (std::vector<std::string>{"live2"}));
}

}  // namespace
}  // namespace mqbase::broker
