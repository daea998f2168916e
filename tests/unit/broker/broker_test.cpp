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

namespace mqbase::broker {
namespace {

using testing::FakeLink;

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

}  // namespace
}  // namespace mqbase::broker
