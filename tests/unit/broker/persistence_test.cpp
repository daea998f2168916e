// Persistence: the broker's state across a restart. Each test runs a Broker on a real Store in
// a fresh directory, closes the store as a crash would leave it (what was written is what
// there is: no shutdown work in the broker), opens it again under a new Broker, and checks
// what the clients see: sessions with their subscriptions and held messages, QoS 2 states in
// both directions, retained messages, expiry on the wall clock.
#include "broker/persistence.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "broker/broker.h"
#include "broker/client.h"
#include "fake_link.h"
#include "mqtt/encoder.h"
#include "store/file_ops.h"
#include "../store/store_test_util.h"

namespace mqbase::broker {
namespace {

using store::test::SyncGate;
using testing::FakeLink;
using testing::publishes;

// One server lifetime: a store on `dir`, the broker's persistence on it, a broker recovered
// from it.
struct Life {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Persistence> persist;
  Limits limits;
  std::unique_ptr<Broker> broker;
  Recovered recovered;
  std::vector<MessagePtr> wills;

  // `in_memory`: Persistence::set_spill()'s, with the spill files in dir/spill (0: none).
  // `io`: the store's file operations (fault injection); null: POSIX.
  Life(const std::string& dir, store::Durability mode = store::Durability::sync, size_t in_memory = 0,
       store::FileOps* io = nullptr) {
    store::StoreOptions o;
    o.dir = dir;
    o.io = io;
    o.durability = mode;
    store = store::Store::open(o);
    persist = std::make_unique<Persistence>(*store);
    persist->set_spill(in_memory ? dir + "/spill" : "", in_memory);
    broker = std::make_unique<Broker>(limits);
    recovered = persist->load();
    wills = broker->start_persistence(*persist, recovered);
  }
  ~Life() {
    broker.reset();
    if (store) store->close();
  }

  // Waits until what this thread wrote is durable (what the Client's gate waits for).
  void wait_durable() {
    Lsn need = Persistence::tracker().needed;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (store->durable_lsn() < need && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_GE(store->durable_lsn(), need);
  }

  // Connects client `id` (3.1.1; persistent unless `clean`), starting the session once its
  // record is durable, as the Client does.
  ConnectOutcome connect(const std::string& id, const std::shared_ptr<FakeLink>& link, bool clean = false,
                         uint32_t expiry = kSessionNeverExpires, mqtt::Version v = mqtt::Version::v311,
                         std::shared_ptr<const std::string> username = nullptr) {
    Persistence::reset_tracker();
    ConnectRequest req;
    req.username = std::move(username);
    req.version = v;
    req.client_id = id;
    req.clean_start = clean;
    req.session_expiry = clean && v != mqtt::Version::v5 ? 0 : expiry;
    req.peer.version = v;
    auto out = broker->connect(req, link, [&](bool present, const std::string&) {
      std::string bytes;
      mqtt::encode(mqtt::Connack{present, 0, {}}, v, bytes);
      return bytes;
    });
    EXPECT_EQ(out.reason, mqtt::ReasonCode::success);
    if (out.deferred) {
      wait_durable();
      out.session->start(out.generation);
    }
    return out;
  }
};

class PersistenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mqbase-persist-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static bool session_present(const std::shared_ptr<FakeLink>& link) {
    auto packets = link->take();
    EXPECT_FALSE(packets.empty());
    auto* ack = packets.empty() ? nullptr : std::get_if<mqtt::Connack>(&packets.front());
    EXPECT_NE(ack, nullptr);
    return ack && ack->session_present;
  }

  std::string dir_;
};

TEST_F(PersistenceTest, PersistentSessionKeepsItsSubscriptionAndQueueAcrossARestart) {
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("sub", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t/#", {1}}}));
    life.broker->disconnect(c.session, c.generation);
    for (int i = 0; i < 3; ++i) life.broker->publish(make_message("t/x", "m" + std::to_string(i), 1, false));
  }
  Life life(dir_);
  EXPECT_EQ(life.recovered.sessions.size(), 1u);
  auto link = std::make_shared<FakeLink>();
  auto c = life.connect("sub", link);
  auto packets = link->take();
  ASSERT_EQ(packets.size(), 4u);
  EXPECT_TRUE(std::get<mqtt::Connack>(packets[0]).session_present);
  for (int i = 0; i < 3; ++i) {
    auto& p = std::get<mqtt::Publish>(packets[i + 1]);
    EXPECT_EQ(p.payload, "m" + std::to_string(i));
    EXPECT_EQ(p.qos, 1);
  }
  // And the subscription itself: a message published now is delivered.
  life.broker->publish(make_message("t/y", "after", 1, false));
  auto more = publishes(link->take());
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].payload, "after");
}

TEST_F(PersistenceTest, ASessionKeepsItsUserNameAcrossARestart) {
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("user-session", link, false, kSessionNeverExpires, mqtt::Version::v311,
                          std::make_shared<const std::string>("alice"));
    life.broker->disconnect(c.session, c.generation);
    auto anon = life.connect("anon-session", std::make_shared<FakeLink>());
    life.broker->disconnect(anon.session, anon.generation);
  }
  Life life(dir_);
  ASSERT_EQ(life.recovered.sessions.size(), 2u);
  auto s = life.broker->find_session("user-session");
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->username());
  EXPECT_EQ(*s->username(), "alice");
  auto a = life.broker->find_session("anon-session");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->username());
}

// The spill files in dir/spill that hold something.
size_t spill_files_with_data(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/spill", ec))
    if (e.is_regular_file() && e.file_size() > 0) ++n;
  return n;
}

// Drains `link`'s session: takes what was sent, acknowledges each PUBLISH, until nothing more
// comes. Returns the payloads in the order they came.
std::vector<std::string> drain(const ConnectOutcome& c, const std::shared_ptr<FakeLink>& link) {
  std::vector<std::string> got;
  for (;;) {
    auto p = publishes(link->take());
    if (p.empty()) return got;
    for (const auto& m : p) {
      got.emplace_back(m.payload);
      c.session->on_puback(c.generation, m.packet_id);
    }
  }
}

TEST_F(PersistenceTest, ALongQueueWaitsOnDiskPastQueueInMemoryAndComesBackInOrder) {
  constexpr int kMessages = 500, kInMemory = 10;
  std::vector<std::string> want;
  for (int i = 0; i < kMessages; ++i) want.push_back("m" + std::to_string(i));
  {
    Life life(dir_, store::Durability::sync, kInMemory);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("sub", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {1}}}));
    life.broker->disconnect(c.session, c.generation);
    for (const auto& m : want) life.broker->publish(make_message("t", m, 1, false));
    EXPECT_EQ(c.session->queued(), size_t(kMessages));
    EXPECT_EQ(c.session->queued_in_memory(), size_t(kInMemory));
    EXPECT_EQ(spill_files_with_data(dir_), 0u);  // in the write buffer: 500 small messages are < 64 KiB
  }
  // Recovery reads the queue back the same way: the first kInMemory in memory, the rest in a
  // new spill file.
  Life life(dir_, store::Durability::sync, kInMemory);
  ASSERT_EQ(life.recovered.sessions.size(), 1u);
  EXPECT_EQ(life.recovered.sessions[0].entries.size(), size_t(kInMemory));  // the rest went to the session's spill file
  auto link = std::make_shared<FakeLink>();
  auto c = life.connect("sub", link);
  EXPECT_EQ(drain(c, link), want);
  EXPECT_EQ(c.session->queued(), 0u);
  // Everything acknowledged: nothing is left for a third start.
  life.broker.reset();
  life.store->close();
  Life third(dir_, store::Durability::sync, kInMemory);
  ASSERT_EQ(third.recovered.sessions.size(), 1u);
  EXPECT_EQ(third.recovered.sessions[0].held(), 0u);
}

// A QoS 2 state record of an older incarnation under the seq of a queued message (left by a
// crash between a Clean Start and the deletes of the old records) is stale: it must not keep
// that message in memory past storage.queue_in_memory, ahead of the spilled ones before it.
TEST_F(PersistenceTest, AStaleQos2StateDoesNotPullAQueuedMessageAheadOfTheSpill) {
  constexpr int kMessages = 50, kInMemory = 10;
  std::vector<std::string> want;
  for (int i = 0; i < kMessages; ++i) want.push_back("m" + std::to_string(i));
  {
    Life life(dir_, store::Durability::sync, kInMemory);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("sub", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {1}}}));
    life.broker->disconnect(c.session, c.generation);
    for (const auto& m : want) life.broker->publish(make_message("t", m, 1, false));
    // seq 40 (m39) also has a "PUBLISH sent" state, of another incarnation.
    Persistence::reset_tracker();
    life.persist->put_sent("sub", c.session->incarnation() + 7, 40, 123);
    life.wait_durable();
  }
  Life life(dir_, store::Durability::sync, kInMemory);
  ASSERT_EQ(life.recovered.sessions.size(), 1u);
  EXPECT_EQ(life.recovered.sessions[0].entries.size(), size_t(kInMemory));
  EXPECT_GE(life.recovered.stale_records, 1u);
  auto link = std::make_shared<FakeLink>();
  auto c = life.connect("sub", link);
  EXPECT_EQ(drain(c, link), want);
}

// QoS 1 messages in flight at a crash left no record that they were sent: after the restart
// the first window's worth of the queue goes again with DUP ([MQTT-3.3.1-1]); what lies beyond
// the window (max_inflight_messages, 20 by default) was never sent and goes without it.
TEST_F(PersistenceTest, Qos1MessagesThatMayHaveGoneOutBeforeACrashGoAgainWithDup) {
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("sub", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {1}}}));
    link->take();
    Persistence::reset_tracker();  // from here it holds the highest LSN written
    for (int i = 0; i < 3; ++i) life.broker->publish(make_message("t", "sent" + std::to_string(i), 1, false));
    EXPECT_EQ(publishes(link->take()).size(), 3u);  // out, never acknowledged
    life.broker->disconnect(c.session, c.generation);
    for (int i = 0; i < 25; ++i) life.broker->publish(make_message("t", "queued" + std::to_string(i), 1, false));
    life.wait_durable();
  }  // a crash: nothing written at shutdown
  Life life(dir_);
  auto link = std::make_shared<FakeLink>();
  auto c = life.connect("sub", link);
  std::vector<mqtt::Publish> got;
  for (int round = 0; round < 5 && got.size() < 28; ++round)
    for (auto& p : publishes(link->take())) {
      got.push_back(p);
      c.session->on_puback(c.generation, p.packet_id);
    }
  ASSERT_EQ(got.size(), 28u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(got[i].dup) << got[i].payload << " may have been received before";
  for (size_t i = 20; i < got.size(); ++i) EXPECT_FALSE(got[i].dup) << got[i].payload << " never went out";
}

TEST_F(PersistenceTest, SpilledMessagesThatArriveWhileTheQueueDrainsKeepTheirPlace) {
  // Big payloads, so the spill file is written (64 KiB buffer) and read back from the file.
  constexpr int kInMemory = 8;
  const std::string pad(4000, 'x');
  Life life(dir_, store::Durability::sync, kInMemory);
  auto link = std::make_shared<FakeLink>();
  auto c = life.connect("sub", link);
  ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {1}}}));
  life.broker->disconnect(c.session, c.generation);
  int next = 0;
  std::vector<std::string> want;
  auto publish = [&](int n) {
    for (int i = 0; i < n; ++i) {
      want.push_back(std::to_string(next++) + pad);
      life.broker->publish(make_message("t", want.back(), 1, false));
    }
  };
  publish(200);
  EXPECT_EQ(spill_files_with_data(dir_), 1u);
  link = std::make_shared<FakeLink>();
  c = life.connect("sub", link);
  std::vector<std::string> got;
  // Acknowledge a few at a time while more arrive: new messages go behind the spilled ones.
  for (int round = 0; round < 50; ++round) {
    auto p = publishes(link->take());
    for (size_t i = 0; i < p.size() && i < 3; ++i) {
      got.emplace_back(p[i].payload);
      c.session->on_puback(c.generation, p[i].packet_id);
    }
    for (size_t i = 3; i < p.size(); ++i) got.emplace_back(p[i].payload), c.session->on_puback(c.generation, p[i].packet_id);
    publish(5);
  }
  auto rest = drain(c, link);
  got.insert(got.end(), rest.begin(), rest.end());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "the order changed";
  EXPECT_EQ(spill_files_with_data(dir_), 0u);  // read back in full: the file is gone
}

TEST_F(PersistenceTest, AcknowledgedMessagesAreGoneAfterARestart) {
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("sub", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {1}}}));
    link->take();
    life.broker->publish(make_message("t", "acked", 1, false));
    life.broker->publish(make_message("t", "open", 1, false));
    auto p = publishes(link->take());
    ASSERT_EQ(p.size(), 2u);
    c.session->on_puback(c.generation, p[0].packet_id);
  }
  Life life(dir_);
  auto link = std::make_shared<FakeLink>();
  life.connect("sub", link);
  auto p = publishes(link->take());
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].payload, "open");
  // QoS 1 in flight keeps no packet id on disk (a duplicate is allowed at QoS 1, so no record
  // per send): it goes again as a new PUBLISH.
}

TEST_F(PersistenceTest, OutgoingQos2KeepsItsPacketIdAndItsPubrelState) {
  uint16_t first_id = 0, second_id = 0;
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("sub", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {2}}}));
    link->take();
    Persistence::reset_tracker();
    life.broker->publish(make_message("t", "one", 2, false));
    life.broker->publish(make_message("t", "two", 2, false));
    // A QoS 2 PUBLISH to a durable session waits for its records: nothing yet.
    EXPECT_TRUE(link->take().empty());
    life.wait_durable();
    c.session->on_durable(life.store->durable_lsn());  // what the link's loop does
    auto p = publishes(link->take());
    ASSERT_EQ(p.size(), 2u);
    first_id = p[0].packet_id;
    second_id = p[1].packet_id;
    c.session->on_pubrec(c.generation, first_id);  // "one" is past PUBREC: PUBREL pending
  }
  Life life(dir_);
  auto link = std::make_shared<FakeLink>();
  life.connect("sub", link);
  auto packets = link->take();
  ASSERT_EQ(packets.size(), 3u);  // CONNACK, PUBREL for "one", PUBLISH "two" again
  auto& rel = std::get<mqtt::PubAck>(packets[1]);
  EXPECT_EQ(rel.type, mqtt::PacketType::pubrel);
  EXPECT_EQ(rel.packet_id, first_id);
  auto& again = std::get<mqtt::Publish>(packets[2]);
  EXPECT_EQ(again.payload, "two");
  EXPECT_EQ(again.packet_id, second_id);  // the same id: the client may already hold it
  EXPECT_TRUE(again.dup);
}

// A QoS 2 message to a durable session goes out only once its records are on disk; one that
// follows it never goes first, whatever became of its own record. Regression: send_new sent a
// message directly when its record was refused (lsn 0), or when the writer had synced it
// before the check, ahead of earlier ones still waiting for on_durable -- seen as "826 before
// 815" in the kill -9 QoS 2 crash test.
TEST_F(PersistenceTest, AQos2MessageNeverOvertakesOneWaitingForTheDisk) {
  SyncGate io;
  Life life(dir_, store::Durability::sync, 0, &io);
  SyncGate::Unhold unhold{io};
  auto link = std::make_shared<FakeLink>();
  auto c = life.connect("sub", link);
  ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {2}}}));
  link->take();
  // "one" and its packet id are taken while the disk is slow (both records accepted, so it
  // waits for them); then that fdatasync fails.
  io.set_hold(true);
  Persistence::reset_tracker();
  life.broker->publish(make_message("t", "one", 2, false));
  const Lsn one = Persistence::tracker().needed;
  ASSERT_GT(one, 0u);
  EXPECT_TRUE(publishes(link->take()).empty()) << "\"one\" went out before its records were on disk";
  io.fail_syncs = true;
  io.set_hold(false);
  // The writer's fdatasync fails: "one" waits, and the log refuses new records.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (life.store->accepting() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_FALSE(life.store->accepting());
  life.broker->publish(make_message("t", "two", 2, false));  // its records are refused
  EXPECT_TRUE(publishes(link->take()).empty()) << "\"two\" went out ahead of \"one\"";
  // The disk comes back: the writer's retry makes "one" durable; both go, in order.
  io.fail_syncs = false;
  until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (life.store->durable_lsn() < one && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GE(life.store->durable_lsn(), one);
  c.session->on_durable(life.store->durable_lsn());  // what the link's loop does
  auto p = publishes(link->take());
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].payload, "one");
  EXPECT_EQ(p[1].payload, "two");
}

// One MQTT connection on the Life's broker: a Client on a FakeLink, driven by the test as its
// loop would drive it (on_durable when the store has caught up, or when woken).
struct Conn {
  Conn(Life& life, const std::string& id, bool clean) : life(life), link(std::make_shared<FakeLink>()) {
    client = std::make_unique<Client>(*life.broker, link, Client::Clock::now());
    mqtt::Connect c;
    c.version = mqtt::Version::v311;
    c.client_id = id;
    c.clean_start = clean;
    send(c);
    expect("CONNACK");
  }
  ~Conn() { client->on_closed(); }
  void send(mqtt::Packet p) { client->on_packet(p, Client::Clock::now()); }
  // Waits (calling on_durable as the loop does) until a packet of `type` has been sent.
  void expect(const std::string& type) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      client->on_durable(life.store->durable_lsn());
      for (auto& p : link->take()) {
        got.push_back(p);
        if (mqtt::packet_type_name(mqtt::type_of(p)) == type) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ADD_FAILURE() << "no " << type;
  }
  // The PUBACKs sent so far (packet ids), after an on_durable at the store's durable LSN.
  std::vector<uint16_t> pubacks() {
    client->on_durable(life.store->durable_lsn());
    for (auto& p : link->take()) got.push_back(p);
    std::vector<uint16_t> ids;
    for (auto& p : got)
      if (auto* a = std::get_if<mqtt::PubAck>(&p); a && a->type == mqtt::PacketType::puback) ids.push_back(a->packet_id);
    return ids;
  }
  std::vector<mqtt::Publish> publishes_received() {
    for (auto& p : link->take()) got.push_back(p);
    return publishes(got);
  }
  void subscribe(const std::string& filter) {
    send(mqtt::Subscribe{1, {mqtt::Subscription{filter, 1}}, {}});
    expect("SUBACK");
  }
  void publish(const std::string& payload, uint16_t id) { send(mqtt::Publish{"t", payload, 1, false, false, id, {}}); }
  void puback(uint16_t id) { send(mqtt::PubAck{mqtt::PacketType::puback, id, mqtt::ReasonCode::success, {}}); }

  Life& life;
  std::shared_ptr<FakeLink> link;
  std::unique_ptr<Client> client;
  std::vector<mqtt::Packet> got;
};

// Sync mode: a QoS 1 PUBACK waits for the disk, or for every durable copy of the message to be
// acknowledged by its subscriber: a message that has arrived everywhere it had to go is not
// lost by a crash, on disk or not (docs/durability.md).
TEST_F(PersistenceTest, AQos1PubackGoesOnceEveryDurableCopyIsAcknowledged) {
  SyncGate io;
  {
    Life life(dir_, store::Durability::sync, 0, &io);
    SyncGate::Unhold unhold{io};
    Conn sub1(life, "sub1", false), sub2(life, "sub2", false);
    sub1.subscribe("t");
    sub2.subscribe("t");
    Conn pub(life, "pub", true);
    io.set_hold(true);  // from here the durable LSN stands still
    const Lsn durable = life.store->durable_lsn();

    pub.publish("m1", 1);
    auto p1 = sub1.publishes_received(), p2 = sub2.publishes_received();
    ASSERT_EQ(p1.size(), 1u);  // QoS 1 goes out before its record is on disk
    ASSERT_EQ(p2.size(), 1u);
    EXPECT_TRUE(pub.pubacks().empty());  // the disk, or both subscribers
    sub1.puback(p1[0].packet_id);
    EXPECT_TRUE(pub.pubacks().empty()) << "one copy of two acknowledged";
    EXPECT_EQ(pub.link->wakes(), 0);
    sub2.puback(p2[0].packet_id);
    EXPECT_EQ(pub.link->wakes(), 1);  // the last one wakes the publisher
    EXPECT_EQ(pub.pubacks(), std::vector<uint16_t>{1});
    EXPECT_EQ(life.store->durable_lsn(), durable) << "the PUBACK went without the disk";

    // In order: m3 acknowledged first waits behind m2.
    ASSERT_TRUE(io.wait_blocked());  // m1's records went to the disk, which sits on them
    pub.publish("m2", 2);
    pub.publish("m3", 3);
    p1 = sub1.publishes_received();
    p2 = sub2.publishes_received();
    ASSERT_EQ(p1.size(), 3u);
    ASSERT_EQ(p2.size(), 3u);
    sub1.puback(p1[2].packet_id);
    sub2.puback(p2[2].packet_id);
    EXPECT_EQ(pub.pubacks(), std::vector<uint16_t>{1});
    sub1.puback(p1[1].packet_id);
    sub2.puback(p2[1].packet_id);
    EXPECT_EQ(pub.pubacks(), (std::vector<uint16_t>{1, 2, 3}));
    // The records of copies acknowledged while the disk was busy were taken back (those of m2
    // and m3 at least, which came while the writer waited in fdatasync): never written.
    EXPECT_GE(life.store->stats().records_cancelled, 4u);
    io.set_hold(false);
  }
  // Nothing comes back: every copy was acknowledged, written and deleted, or never written.
  Life again(dir_);
  ASSERT_EQ(again.recovered.sessions.size(), 2u);
  for (const auto& s : again.recovered.sessions) EXPECT_EQ(s.held(), 0u) << s.image.client_id;
}

// A DISCONNECT the server sends (an administrator's, a takeover's, a protocol error's) goes
// behind what the client is owed and waits with it: after a CONNACK held for the disk, not
// instead of it. Regression: the connection closed at once, so a client kicked while its
// CONNACK waited saw neither packet and reconnected (flaky test_disconnect_a_client).
TEST_F(PersistenceTest, AServerDisconnectWaitsBehindAConnackHeldForTheDisk) {
  SyncGate io;
  Life life(dir_, store::Durability::sync, 0, &io);
  SyncGate::Unhold unhold{io};
  for (bool with_reason_string : {false, true}) {
    SCOPED_TRACE(with_reason_string ? "with a reason string" : "without");
    auto link = std::make_shared<FakeLink>();
    Client client(*life.broker, link, Client::Clock::now());
    io.set_hold(true);
    mqtt::Connect c;
    c.version = mqtt::Version::v5;
    c.client_id = "victim";
    c.clean_start = false;
    c.props.add_number(mqtt::PropertyId::session_expiry_interval, 3600);  // a record to write
    mqtt::Packet p = c;
    client.on_packet(p, Client::Clock::now());
    client.on_durable(life.store->durable_lsn());
    ASSERT_TRUE(link->take(mqtt::Version::v5).empty()) << "the CONNACK did not wait for the disk";
    if (with_reason_string)
      client.on_packet_too_large();  // a DISCONNECT that carries a reason string
    else
      client.on_server_disconnect(mqtt::ReasonCode::administrative_action);
    EXPECT_FALSE(link->closed()) << "closed before the CONNACK went";
    io.set_hold(false);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!link->closed() && std::chrono::steady_clock::now() < until) {
      client.on_durable(life.store->durable_lsn());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(link->closed());
    auto packets = link->take(mqtt::Version::v5);
    EXPECT_EQ(testing::type_names(packets), (std::vector<std::string>{"CONNACK", "DISCONNECT"}));
    client.on_closed();
  }
}

TEST_F(PersistenceTest, AQos1PubackWaitsForTheDiskWhileADurableSubscriberIsOffline) {
  SyncGate io;
  Life life(dir_, store::Durability::sync, 0, &io);
  SyncGate::Unhold unhold{io};
  Conn online(life, "online", false);
  online.subscribe("t");
  {
    Conn offline(life, "offline", false);
    offline.subscribe("t");
    offline.send(mqtt::Disconnect{});
  }
  Conn pub(life, "pub", true);
  io.set_hold(true);
  pub.publish("m1", 7);
  auto p = online.publishes_received();
  ASSERT_EQ(p.size(), 1u);
  online.puback(p[0].packet_id);
  EXPECT_TRUE(pub.pubacks().empty()) << "the offline session's copy is only on its way to the disk";
  io.set_hold(false);
  pub.expect("PUBACK");
  EXPECT_EQ(pub.pubacks(), std::vector<uint16_t>{7});
}

TEST_F(PersistenceTest, IncomingQos2IdsSurviveSoAResendIsNotRoutedTwice) {
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("pub", link);
    EXPECT_TRUE(c.session->begin_incoming_qos2(7));
    c.session->persist_incoming_qos2(7);
  }
  Life life(dir_);
  auto link = std::make_shared<FakeLink>();
  auto c = life.connect("pub", link);
  EXPECT_FALSE(c.session->begin_incoming_qos2(7));  // seen before the restart
  EXPECT_TRUE(c.session->release_incoming_qos2(7));  // PUBREL completes it
  EXPECT_TRUE(c.session->begin_incoming_qos2(7));    // and the id is free again
}

TEST_F(PersistenceTest, RetainedMessagesSurviveAndACleardTopicStaysCleared) {
  {
    Life life(dir_);
    life.broker->publish(make_message("r/kept", "v1", 0, true));
    life.broker->publish(make_message("r/kept", "v2", 1, true));
    life.broker->publish(make_message("r/cleared", "x", 0, true));
    life.broker->publish(make_message("r/cleared", "", 0, true));
  }
  Life life(dir_);
  std::vector<MessagePtr> found;
  life.broker->retained().match("r/#", found);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]->topic, "r/kept");
  EXPECT_EQ(found[0]->payload, "v2");
}

TEST_F(PersistenceTest, CleanStartDropsWhatTheOldIncarnationHad) {
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("s", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"old/#", {1}}}));
    life.broker->disconnect(c.session, c.generation);
    life.broker->publish(make_message("old/x", "queued", 1, false));
    auto link2 = std::make_shared<FakeLink>();
    auto c2 = life.connect("s", link2, /*clean=*/true, kSessionNeverExpires, mqtt::Version::v5);
    ASSERT_TRUE(life.broker->subscribe(c2.session, c2.generation, {{"new/#", {1}}}));
    life.broker->disconnect(c2.session, c2.generation);
  }
  Life life(dir_);
  ASSERT_EQ(life.recovered.sessions.size(), 1u);
  const auto& s = life.recovered.sessions[0];
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_EQ(s.subscriptions[0].first, "new/#");
  EXPECT_TRUE(s.entries.empty());
}

TEST_F(PersistenceTest, ASessionThatExpiredWhileTheServerWasDownIsGone) {
  {
    Life life(dir_);
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("brief", link, false, 1, mqtt::Version::v5);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {1}}}));
    life.broker->disconnect(c.session, c.generation);
    auto link2 = std::make_shared<FakeLink>();
    auto c2 = life.connect("long", link2, false, 3600, mqtt::Version::v5);
    life.broker->disconnect(c2.session, c2.generation);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Life life(dir_);
  EXPECT_EQ(life.recovered.expired_sessions, 1u);
  ASSERT_EQ(life.recovered.sessions.size(), 1u);
  EXPECT_EQ(life.recovered.sessions[0].image.client_id, "long");
  EXPECT_EQ(life.broker->session_count(), 1u);
}

TEST_F(PersistenceTest, AWillOfAClientConnectedAtTheCrashGoesOutAfterTheRestart) {
  {
    Life life(dir_);
    Persistence::reset_tracker();
    ConnectRequest req;
    req.client_id = "dies";
    req.clean_start = true;
    req.will.msg = make_message("will/dies", "gone", 1, true);
    auto link = std::make_shared<FakeLink>();
    auto out = life.broker->connect(req, link, [](bool, const std::string&) { return std::string("\x20\x02\0\0", 4); });
    ASSERT_EQ(out.reason, mqtt::ReasonCode::success);
    EXPECT_TRUE(out.deferred);  // a will is state the CONNACK waits for
    life.wait_durable();
  }
  Life life(dir_);
  ASSERT_EQ(life.wills.size(), 1u);
  EXPECT_EQ(life.wills[0]->topic, "will/dies");
  EXPECT_EQ(life.broker->session_count(), 0u);  // a clean session: only its will remained
}

TEST_F(PersistenceTest, SyncModeAcknowledgementsWaitBatchModeDoesNot) {
  {
    Life life(dir_);
    EXPECT_TRUE(life.persist->acks_wait());
    auto link = std::make_shared<FakeLink>();
    auto c = life.connect("sub", link);
    ASSERT_TRUE(life.broker->subscribe(c.session, c.generation, {{"t", {1}}}));
    Persistence::reset_tracker();
    life.broker->publish(make_message("t", "x", 1, false));
    EXPECT_GT(Persistence::tracker().needed, 0u);  // the PUBACK would wait for this LSN
    Persistence::reset_tracker();
    life.broker->publish(make_message("nobody/listens", "x", 1, false));
    EXPECT_EQ(Persistence::tracker().needed, 0u);  // nothing to keep: nothing to wait for
  }
  Life life(dir_, store::Durability::batch);
  EXPECT_FALSE(life.persist->acks_wait());
}

}  // namespace
}  // namespace mqbase::broker
