// Broker: the lifetime of a connection's link while other threads publish to its session.
// QoS 0 reaches a session's link without the session's lock (Session::deliver_qos0), so a
// link that disconnects or is taken over must stay alive until those publishes are over. The
// tests free each link as soon as the broker lets go of it while two threads publish QoS 0 to
// it; under AddressSanitizer (make test) a link freed too early is a heap-use-after-free.
#include "broker/broker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_link.h"
#include "mqtt/encoder.h"

namespace mqbase::broker {
namespace {

using testing::FakeLink;
using testing::publishes;

class BrokerLifetimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      publishers_.emplace_back([this] {
        auto msg = make_message("t/x", "payload", 0, false);
        while (!stop_.load(std::memory_order_relaxed)) {
          broker_.publish(msg);
          published_.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
  }
  void TearDown() override {
    stop_ = true;
    for (auto& t : publishers_) t.join();
  }

  // Connects `link` as the persistent session "sub", subscribing it to t/x at QoS 0 the first
  // time (subscribing again would wait out the publishers itself: the index's write lock).
  ConnectOutcome connect(const std::shared_ptr<FakeLink>& link) {
    mqtt::Connect c;
    c.client_id = "sub";
    c.clean_start = false;
    auto out = broker_.connect(c, link);
    EXPECT_EQ(out.reason, mqtt::ReasonCode::success);
    if (out.session && !subscribed_) broker_.subscriptions().add(out.session, "t/x", {0});
    subscribed_ = true;
    return out;
  }

  // Waits until the publishers have made `n` more publishes, so that they overlap what follows.
  void let_publish(uint64_t n) {
    uint64_t until = published_.load() + n;
    while (published_.load() < until) std::this_thread::yield();
  }

  Broker broker_{Limits{}};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> published_{0};
  std::vector<std::thread> publishers_;
  bool subscribed_ = false;
};

TEST_F(BrokerLifetimeTest, LinkOfADisconnectedSessionOutlivesConcurrentQos0Publishes) {
  size_t received = 0;
  for (int i = 0; i < 300; ++i) {
    auto link = std::make_shared<FakeLink>();
    auto out = connect(link);
    let_publish(20);
    broker_.disconnect(out.session, out.generation);
    received += link->pending().size();
    std::weak_ptr<FakeLink> gone = link;
    link.reset();
    EXPECT_TRUE(gone.expired()) << "the broker kept the link after disconnect";
  }
  EXPECT_GT(received, 0u) << "the publishes never reached the links";
}

TEST_F(BrokerLifetimeTest, LinkTakenOverOutlivesConcurrentQos0Publishes) {
  auto link = std::make_shared<FakeLink>();
  connect(link);
  for (int i = 0; i < 300; ++i) {
    let_publish(20);
    auto next = std::make_shared<FakeLink>();
    connect(next);
    EXPECT_TRUE(link->closed()) << "the old connection is closed on takeover";
    std::weak_ptr<FakeLink> gone = link;
    link = std::move(next);
    EXPECT_TRUE(gone.expired()) << "the broker kept the old link after the takeover";
  }
}

// A connection taken over can no longer change the session, nor schedule its will: the checks
// and the changes happen under the lock a takeover takes (issue 9, items 3 and 4).
class BrokerTakeoverTest : public ::testing::Test {
 protected:
  ConnectOutcome connect(const std::string& id, const std::shared_ptr<FakeLink>& link, bool clean_start) {
    mqtt::Connect c;
    c.client_id = id;
    c.clean_start = clean_start;
    auto out = broker_.connect(c, link);
    EXPECT_EQ(out.reason, mqtt::ReasonCode::success);
    link->take();  // the CONNACK
    return out;
  }
  Broker broker_{Limits{}};
};

TEST_F(BrokerTakeoverTest, TakenOverConnectionCannotSubscribeOrUnsubscribe) {
  auto old_link = std::make_shared<FakeLink>();
  auto old = connect("c", old_link, false);
  ASSERT_TRUE(broker_.subscribe(old.session, old.generation, {{"keep/me", {1}}}));
  auto next = connect("c", std::make_shared<FakeLink>(), true);  // Clean Start: a new session
  EXPECT_FALSE(broker_.subscribe(old.session, old.generation, {{"a/b", {1}}}));
  EXPECT_FALSE(broker_.unsubscribe(old.session, old.generation, {"keep/me"}));
  EXPECT_EQ(broker_.subscriptions().size(), 0u) << "the discarded session must stay out of the index";
  auto mine = broker_.subscribe(next.session, next.generation, {{"a/b", {1}}});
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->at(0), Broker::SubscribeResult::added);
  EXPECT_EQ(broker_.subscriptions().size(), 1u);
}

TEST_F(BrokerTakeoverTest, WillOfAConnectionTakenOverIsNotScheduled) {
  auto watcher_link = std::make_shared<FakeLink>();
  auto watcher = connect("watcher", watcher_link, true);
  ASSERT_TRUE(broker_.subscribe(watcher.session, watcher.generation, {{"will/t", {0}}}));
  auto old = connect("c", std::make_shared<FakeLink>(), false);
  auto next = connect("c", std::make_shared<FakeLink>(), false);  // the reconnect comes first
  auto will = make_message("will/t", "gone", 0, false);
  EXPECT_FALSE(broker_.schedule_will(old.session, old.generation, Will{will}, Clock::now()));
  broker_.tick(Clock::now() + std::chrono::seconds(1));
  EXPECT_TRUE(publishes(watcher_link->take()).empty());
  EXPECT_TRUE(broker_.schedule_will(next.session, next.generation, Will{will}, Clock::now()));
  broker_.tick(Clock::now() + std::chrono::seconds(1));
  EXPECT_EQ(publishes(watcher_link->take()).size(), 1u);
}

TEST_F(BrokerTakeoverTest, SessionsCapRefusesNewClientIdsOnly) {
  Limits limits;
  limits.max_sessions = 2;
  Broker broker(limits);
  mqtt::Connect c;
  c.clean_start = false;
  for (const char* id : {"a", "b"}) {
    c.client_id = id;
    EXPECT_EQ(broker.connect(c, std::make_shared<FakeLink>()).reason, mqtt::ReasonCode::success);
  }
  c.client_id = "c";
  EXPECT_EQ(broker.connect(c, std::make_shared<FakeLink>()).reason, mqtt::ReasonCode::quota_exceeded);
  c.client_id = "a";  // an existing session may always come back
  EXPECT_EQ(broker.connect(c, std::make_shared<FakeLink>()).reason, mqtt::ReasonCode::success);
}

TEST_F(BrokerTakeoverTest, SubscriptionsPerClientCap) {
  Limits limits;
  limits.max_subscriptions_per_client = 2;
  Broker broker(limits);
  mqtt::Connect c;
  c.client_id = "s";
  auto out = broker.connect(c, std::make_shared<FakeLink>());
  auto r = broker.subscribe(out.session, out.generation, {{"a", {0}}, {"b", {0}}, {"c", {0}}, {"a", {1}}});
  ASSERT_TRUE(r);
  using R = Broker::SubscribeResult;
  EXPECT_EQ(*r, (std::vector<R>{R::added, R::added, R::quota_exceeded, R::replaced}));
}

TEST_F(BrokerTakeoverTest, ExpiredSessionsEndOnTickWithoutReconnectedOnes) {
  ConnectRequest req;
  req.version = mqtt::Version::v5;
  req.clean_start = false;
  req.session_expiry = 1;
  req.peer.version = mqtt::Version::v5;
  auto connack = [](bool, const std::string&) {
    std::string out;
    mqtt::encode(mqtt::Connack{false, 0, {}}, mqtt::Version::v5, out);
    return out;
  };
  req.client_id = "gone";
  auto gone = broker_.connect(req, std::make_shared<FakeLink>(), connack);
  req.client_id = "back";
  auto back = broker_.connect(req, std::make_shared<FakeLink>(), connack);
  broker_.disconnect(gone.session, gone.generation);
  broker_.disconnect(back.session, back.generation);
  broker_.connect(req, std::make_shared<FakeLink>(), connack);  // "back" returns
  EXPECT_EQ(broker_.session_count(), 2u);
  EXPECT_EQ(broker_.tick(Clock::now() + std::chrono::seconds(2)), 1u);
  EXPECT_EQ(broker_.session_count(), 1u);
}

}  // namespace
}  // namespace mqbase::broker
