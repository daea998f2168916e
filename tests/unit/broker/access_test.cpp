// Client + Broker with an AccessControl, in memory: the listener's anonymous policy, password
// refusals and their throttling (ClientLink::defer), and the ACL on PUBLISH and SUBSCRIBE.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "auth/access_control.h"
#include "broker/broker.h"
#include "broker/client.h"
#include "fake_link.h"

namespace mqbase::broker {
namespace {

using mqtt::ReasonCode;
using mqtt::Version;
using std::chrono::milliseconds;

// A link whose listener refuses anonymous clients, and that records deferred steps.
class ListenerLink : public testing::FakeLink {
 public:
  LinkSecurity security() const override { return sec; }
  std::string peer_address() const override { return "10.1.1.1:4000"; }
  void defer(milliseconds delay, std::function<void()> fn) override {
    delays.push_back(delay);
    fn();
  }
  LinkSecurity sec;
  std::vector<milliseconds> delays;
};

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mqbase-access-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "pw") << "alice:" << auth::HashedPassword::make("secret").to_string() << "\n";
    std::ofstream(dir_ / "acl") << "user alice\ntopic readwrite alice/#\n";
    auth::AccessOptions o;
    o.password_file = (dir_ / "pw").string();
    o.acl_file = (dir_ / "acl").string();
    o.failed_attempts = 1;
    o.failed_delay = milliseconds(500);
    broker_.set_access_control(std::make_shared<auth::AccessControl>(o));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // CONNECTs on a listener that refuses anonymous clients; returns the CONNACK code.
  uint8_t connect(std::shared_ptr<ListenerLink>& link, std::unique_ptr<Client>& client, Version v,
                  std::optional<std::string_view> user, std::optional<std::string_view> password) {
    link = std::make_shared<ListenerLink>();
    link->sec.allow_anonymous = false;
    client = std::make_unique<Client>(broker_, link, Client::Clock::now());
    mqtt::Connect c;
    c.version = v;
    c.client_id = "c1";
    c.username = user;
    c.password = password;
    mqtt::Packet p = c;
    client->on_packet(p, Client::Clock::now());
    auto packets = link->take(v);
    EXPECT_FALSE(packets.empty());
    return std::get<mqtt::Connack>(packets.at(0)).code;
  }

  std::filesystem::path dir_;
  Broker broker_{Limits{}};
};

TEST_F(AccessTest, ListenerPolicyAndPasswords) {
  std::shared_ptr<ListenerLink> link;
  std::unique_ptr<Client> client;
  EXPECT_EQ(connect(link, client, Version::v311, std::nullopt, std::nullopt), 5);  // not authorized
  EXPECT_EQ(connect(link, client, Version::v5, std::nullopt, std::nullopt), 0x87);
  EXPECT_EQ(connect(link, client, Version::v311, "alice", "wrong"), 4);  // bad credentials
  EXPECT_EQ(connect(link, client, Version::v5, "alice", "wrong"), 0x86);
  EXPECT_EQ(link->delays, std::vector<milliseconds>{milliseconds(500)});  // past the free attempt
  EXPECT_EQ(connect(link, client, Version::v5, "alice", "secret"), 0);
  EXPECT_TRUE(link->delays.empty());
  EXPECT_EQ(Stats::get(broker_.stats().login_failures), 4u);
  client->on_closed();
}

TEST_F(AccessTest, AclOnPublishAndSubscribe) {
  std::shared_ptr<ListenerLink> link;
  std::unique_ptr<Client> client;
  ASSERT_EQ(connect(link, client, Version::v5, "alice", "secret"), 0);
  auto send = [&](mqtt::Packet p) { client->on_packet(p, Client::Clock::now()); };
  send(mqtt::Subscribe{1, {mqtt::Subscription{"alice/#", 1}, mqtt::Subscription{"bob/#", 1}}, {}});
  send(mqtt::Publish{"bob/x", "no", 1, false, false, 2, {}});
  send(mqtt::Publish{"alice/x", "yes", 1, false, false, 3, {}});
  auto packets = link->take(Version::v5);
  ASSERT_GE(packets.size(), 3u);
  EXPECT_EQ(std::get<mqtt::Suback>(packets[0]).codes,
            (std::vector<uint8_t>{1, static_cast<uint8_t>(ReasonCode::not_authorized)}));
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[1]).reason, ReasonCode::not_authorized);
  // Its own copy of alice/x may come before or after the PUBACK.
  int acks = 0;
  for (size_t i = 2; i < packets.size(); ++i)
    if (auto* a = std::get_if<mqtt::PubAck>(&packets[i])) {
      EXPECT_EQ(a->reason, ReasonCode::success);
      ++acks;
    }
  EXPECT_EQ(acks, 1);
  client->on_closed();
}

}  // namespace
}  // namespace mqbase::broker
