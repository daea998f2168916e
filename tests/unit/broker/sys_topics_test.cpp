// SysTopics: the $SYS/broker/... tree, published as retained messages, only when a value changed.
#include "broker/sys_topics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "fake_link.h"

namespace mqbase::broker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using testing::FakeLink;
using testing::publishes;

class SysTopicsTest : public ::testing::Test {
 protected:
  // A session subscribed to `filter` whose link records what it is sent.
  std::shared_ptr<FakeLink> watch(const std::string& filter) {
    auto session = std::make_shared<Session>("watch" + filter, true, broker_.limits(), broker_.stats());
    auto link = std::make_shared<FakeLink>();
    session->attach(link, mqtt::Version::v311, true, "");
    broker_.subscriptions().add(session, filter, {0});
    sessions_.push_back(session);
    return link;
  }

  static std::vector<std::string> topics(const std::vector<mqtt::Publish>& pubs) {
    std::vector<std::string> out;
    for (const auto& p : pubs) out.emplace_back(p.topic);
    return out;
  }

  std::string retained_payload(const std::string& topic) {
    std::vector<MessagePtr> out;
    broker_.retained().match(topic, out);
    return out.size() == 1 ? out[0]->payload : "<" + std::to_string(out.size()) + " messages>";
  }

  Broker broker_{Limits{}};
  SysTopics sys_{broker_};
  std::vector<std::shared_ptr<Session>> sessions_;
};

TEST_F(SysTopicsTest, FirstPublishStoresEveryTopicAsRetained) {
  sys_.publish();
  std::vector<MessagePtr> all;
  broker_.retained().match("$SYS/#", all);
  std::vector<std::string> names;
  for (const auto& m : all) {
    names.push_back(m->topic);
    EXPECT_TRUE(m->retain) << m->topic;
    EXPECT_EQ(m->qos, 0) << m->topic;
  }
  for (const char* expected :
       {"$SYS/broker/version", "$SYS/broker/uptime", "$SYS/broker/clients/total", "$SYS/broker/clients/connected",
        "$SYS/broker/clients/disconnected", "$SYS/broker/messages/received", "$SYS/broker/messages/sent",
        "$SYS/broker/publish/messages/dropped", "$SYS/broker/subscriptions/count",
        "$SYS/broker/retained messages/count", "$SYS/broker/retained messages/refused"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  EXPECT_THAT(retained_payload("$SYS/broker/version"), StartsWith("mqbase "));
  EXPECT_EQ(retained_payload("$SYS/broker/clients/connected"), "0");
  EXPECT_THAT(retained_payload("$SYS/broker/uptime"), ::testing::EndsWith(" seconds"));

  // Not visible through a leading wildcard ([MQTT-4.7.2-1]).
  std::vector<MessagePtr> hidden;
  broker_.retained().match("#", hidden);
  EXPECT_THAT(hidden, IsEmpty());
}

TEST_F(SysTopicsTest, OnlyChangedValuesArePublishedAgain) {
  auto clients = watch("$SYS/broker/clients/#");
  auto everything = watch("#");
  sys_.publish();
  EXPECT_THAT(topics(publishes(clients->take())),
              ElementsAre("$SYS/broker/clients/total", "$SYS/broker/clients/disconnected",
                          "$SYS/broker/clients/connected", "$SYS/broker/clients/active"));
  EXPECT_THAT(everything->take(), IsEmpty()) << "'#' does not match $SYS";

  sys_.publish();
  EXPECT_THAT(clients->take(), IsEmpty()) << "nothing changed";

  Stats::add(broker_.stats().clients_total);
  Stats::add(broker_.stats().clients_connected);
  sys_.publish();
  auto pubs = publishes(clients->take());
  // The total comes before "connected", so a reader waiting on "connected" has this cycle's total.
  EXPECT_THAT(topics(pubs), ElementsAre("$SYS/broker/clients/total", "$SYS/broker/clients/connected",
                                        "$SYS/broker/clients/active"));
  for (const auto& p : pubs) {
    EXPECT_EQ(p.payload, "1") << p.topic;
    EXPECT_FALSE(p.retain) << "forwarded live: RETAIN 0";
  }
  EXPECT_EQ(retained_payload("$SYS/broker/clients/disconnected"), "0");
}

TEST_F(SysTopicsTest, CountsSubscriptionsAndRetainedMessages) {
  watch("a/b");
  watch("c/#");
  broker_.publish(make_message("r/1", "x", 0, true));
  sys_.publish();
  EXPECT_EQ(retained_payload("$SYS/broker/subscriptions/count"), "2");
  // The count includes the $SYS topics themselves, as mosquitto's does; once they are all
  // stored (second cycle) it equals the store's size.
  sys_.publish();
  int before = std::stoi(retained_payload("$SYS/broker/retained messages/count"));
  EXPECT_EQ(static_cast<size_t>(before), broker_.retained().size());
  broker_.publish(make_message("r/2", "y", 0, true));
  broker_.publish(make_message("r/1", "", 0, true));  // cleared
  broker_.publish(make_message("r/3", "z", 0, true));
  sys_.publish();
  EXPECT_EQ(std::stoi(retained_payload("$SYS/broker/retained messages/count")), before + 1);
}

}  // namespace
}  // namespace mqbase::broker
