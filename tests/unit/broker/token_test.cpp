// Client + Broker with JWT logins, in memory: a token as the CONNECT password (3.1.1 and 5.0)
// and by the AUTH method "JWT", its grants on PUBLISH, SUBSCRIBE, delivery and the will, the
// ACL file beside them, and the expiry timer (FakeLink holds the deferred calls) with
// re-authentication re-arming it.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "auth/access_control.h"
#include "auth/base64.h"
#include "auth/hmac_challenge.h"
#include "broker/broker.h"
#include "broker/client.h"
#include "fake_link.h"

namespace mqbase::broker {
namespace {

using mqtt::PropertyId;
using mqtt::ReasonCode;
using mqtt::Version;
using std::chrono::milliseconds;
using testing::FakeLink;

constexpr std::string_view kSecret = "a-test-secret-of-at-least-32-bytes!!";

class SecureLink : public FakeLink {
 public:
  LinkSecurity security() const override {
    LinkSecurity s;
    s.allow_anonymous = false;
    s.listener = "test";
    return s;
  }
  std::string peer_address() const override { return "10.1.1.1:4000"; }
};

// An HS256 token for `claims` (a JSON object's members, without braces).
std::string token(const std::string& claims) {
  std::string head = auth::base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  std::string body = auth::base64url_encode("{" + claims + "}");
  std::string input = head + "." + body;
  return input + "." + auth::base64url_encode(auth::HmacChallengeAuthenticator::hmac_sha256(kSecret, input));
}

int64_t now_s(int64_t plus = 0) {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
         plus;
}

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mqbase-token-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "key") << kSecret << "\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void configure(const std::string& acl = {}) {
    auth::AccessOptions o;
    o.jwt.key_file = (dir_ / "key").string();
    o.jwt.leeway = std::chrono::seconds(0);
    if (!acl.empty()) {
      std::ofstream(dir_ / "acl") << acl;
      o.acl_file = (dir_ / "acl").string();
    }
    access_ = std::make_shared<auth::AccessControl>(o);
    broker_.set_access_control(access_);
    for (auto& m : access_->authenticators()) broker_.add_authenticator(m);
  }

  // CONNECTs with the token as the password (or, with `method`, as the AUTH method's data);
  // returns the CONNACK code.
  uint8_t connect(Version v, std::optional<std::string_view> user, const std::string& tok, bool method = false,
                  std::optional<std::string_view> will_topic = std::nullopt) {
    link_ = std::make_shared<SecureLink>();
    link_->hold_deferred();
    client_ = std::make_unique<Client>(broker_, link_, Client::Clock::now());
    mqtt::Connect c;
    c.version = v;
    c.client_id = "dev-client";
    c.username = user;
    if (method) {
      c.props.add_string(PropertyId::authentication_method, "JWT");
      c.props.add_string(PropertyId::authentication_data, tok);
    } else {
      c.password = tok;
    }
    if (will_topic) c.will = mqtt::Will{*will_topic, "gone", 0, false, {}};
    send(c);
    auto packets = link_->take(v);
    EXPECT_FALSE(packets.empty());
    if (packets.empty()) return 0xFF;
    return std::get<mqtt::Connack>(packets.at(0)).code;
  }
  void send(mqtt::Packet p) { client_->on_packet(p, Client::Clock::now()); }
  // AUTH 0x19 with the method JWT and `tok`.
  void reauthenticate(const std::string& tok) {
    mqtt::Auth a{ReasonCode::reauthenticate, {}};
    a.props.add_string(PropertyId::authentication_method, "JWT");
    a.props.add_string(PropertyId::authentication_data, tok);
    send(a);
  }

  std::filesystem::path dir_;
  Broker broker_{Limits{}};
  std::shared_ptr<auth::AccessControl> access_;
  std::shared_ptr<SecureLink> link_;
  std::unique_ptr<Client> client_;
};

TEST_F(TokenTest, TokenAsPasswordNamesTheUser) {
  configure();
  const std::string good = token(fmt::format(R"("sub":"dev1","exp":{})", now_s(3600)));
  EXPECT_EQ(connect(Version::v311, "dev1", good), 0);
  client_->on_closed();
  EXPECT_EQ(connect(Version::v5, std::nullopt, good), 0);  // 5.0: a password without a user name
  client_->on_closed();
  EXPECT_EQ(connect(Version::v311, "someone-else", good), 4);  // the user name must be the token's
  EXPECT_EQ(connect(Version::v5, "someone-else", good), 0x86);
  const std::string expired = token(fmt::format(R"("sub":"dev1","exp":{})", now_s(-10)));
  EXPECT_EQ(connect(Version::v5, "dev1", expired), 0x86);
  EXPECT_EQ(connect(Version::v311, "dev1", expired), 4);
  EXPECT_EQ(Stats::get(broker_.stats().login_failures), 4u);
}

TEST_F(TokenTest, GrantClaimsDecide) {
  configure();
  const std::string tok =
      token(fmt::format(R"("sub":"dev1","exp":{},"mqtt_pub":["sensors/#"],"mqtt_sub":"cmd/dev1/#")", now_s(3600)));
  ASSERT_EQ(connect(Version::v5, "dev1", tok), 0);
  send(mqtt::Subscribe{1, {mqtt::Subscription{"cmd/dev1/#", 1}, mqtt::Subscription{"cmd/#", 1}}, {}});
  send(mqtt::Publish{"other/x", "no", 1, false, false, 2, {}});
  send(mqtt::Publish{"sensors/t", "yes", 1, false, false, 3, {}});
  auto packets = link_->take(Version::v5);
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(std::get<mqtt::Suback>(packets[0]).codes,
            (std::vector<uint8_t>{1, static_cast<uint8_t>(ReasonCode::not_authorized)}));
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[1]).reason, ReasonCode::not_authorized);
  EXPECT_LT(static_cast<int>(std::get<mqtt::PubAck>(packets[2]).reason), 0x80);  // 0x10: no subscribers
  client_->on_closed();
}

TEST_F(TokenTest, BadGrantClaimRefusesTheLogin) {
  configure();
  EXPECT_EQ(connect(Version::v5, "dev1", token(fmt::format(R"("sub":"dev1","exp":{},"mqtt_pub":["a/#/b"])", now_s(60)))),
            0x86);
}

TEST_F(TokenTest, AclFileDeniesStillApplyAndTokensWithoutGrantsUseIt) {
  configure("user dev1\ntopic readwrite dev1/#\npattern deny sensors/secret/#\n");
  // Grants: what they give, less the file's denials.
  ASSERT_EQ(connect(Version::v5, "dev1", token(fmt::format(R"("sub":"dev1","exp":{},"mqtt_pub":"sensors/#")", now_s(60)))),
            0);
  send(mqtt::Publish{"sensors/secret/x", "no", 1, false, false, 1, {}});
  send(mqtt::Publish{"dev1/x", "no: the grants decide", 1, false, false, 2, {}});
  auto packets = link_->take(Version::v5);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[0]).reason, ReasonCode::not_authorized);
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[1]).reason, ReasonCode::not_authorized);
  client_->on_closed();
  // No grant claims: the file's rules for its user name.
  ASSERT_EQ(connect(Version::v5, std::nullopt, token(fmt::format(R"("sub":"dev1","exp":{})", now_s(60)))), 0);
  send(mqtt::Publish{"dev1/x", "yes", 1, false, false, 1, {}});
  send(mqtt::Publish{"sensors/x", "no", 1, false, false, 2, {}});
  packets = link_->take(Version::v5);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_LT(static_cast<int>(std::get<mqtt::PubAck>(packets[0]).reason), 0x80);
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[1]).reason, ReasonCode::not_authorized);
  client_->on_closed();
}

TEST_F(TokenTest, GrantsFilterDeliveryAndTheWill) {
  configure();
  const auto claims = fmt::format(R"("sub":"dev1","exp":{},"mqtt_pub":"up/#","mqtt_sub":["down/#"])", now_s(60));
  EXPECT_EQ(connect(Version::v5, "dev1", token(claims), false, std::string_view("elsewhere/will")), 0x87);
  ASSERT_EQ(connect(Version::v5, "dev1", token(claims), false, std::string_view("up/will")), 0);
  send(mqtt::Subscribe{1, {mqtt::Subscription{"down/#", 0}}, {}});
  link_->take(Version::v5);
  // A message the filter matches reaches it; nothing else can (it may subscribe to down/# only).
  auto m = std::make_shared<Message>();
  m->topic = "down/1";
  m->payload = "x";
  broker_.publish(m);
  auto packets = link_->take(Version::v5);
  ASSERT_EQ(testing::publishes(packets).size(), 1u);
  client_->on_closed();
}

TEST_F(TokenTest, ExpiryDisconnectsAndReauthenticationRearms) {
  configure();
  ASSERT_EQ(connect(Version::v5, "dev1", token(fmt::format(R"("sub":"dev1","exp":{})", now_s(100))), true), 0);
  auto delays = link_->deferred_delays();
  ASSERT_EQ(delays.size(), 1u);
  EXPECT_GT(delays[0], milliseconds(95'000));
  EXPECT_LE(delays[0], milliseconds(100'000));
  // A fresh token: AUTH success, a second timer; the first one no longer acts.
  reauthenticate(token(fmt::format(R"("sub":"dev1","exp":{},"mqtt_pub":"x")", now_s(200))));
  auto packets = link_->take(Version::v5);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Auth>(packets[0]).reason, ReasonCode::success);
  ASSERT_EQ(link_->deferred_delays().size(), 2u);
  send(mqtt::Publish{"y", "not granted by the new token", 1, false, false, 1, {}});
  packets = link_->take(Version::v5);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(std::get<mqtt::PubAck>(packets[0]).reason, ReasonCode::not_authorized);
  EXPECT_EQ(link_->run_deferred(), 2);  // both timers fire; only the second disconnects
  packets = link_->take(Version::v5);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Disconnect>(packets[0]).reason, ReasonCode::maximum_connect_time);
  EXPECT_TRUE(link_->closed());
  client_->on_closed();
}

TEST_F(TokenTest, ExpiryClosesA311Connection) {
  configure();
  ASSERT_EQ(connect(Version::v311, "dev1", token(fmt::format(R"("sub":"dev1","exp":{})", now_s(100)))), 0);
  EXPECT_EQ(link_->run_deferred(), 1);
  EXPECT_TRUE(link_->take(Version::v311).empty());
  EXPECT_TRUE(link_->closed());
  client_->on_closed();
}

TEST_F(TokenTest, ReauthenticationAsAnotherUserIsRefused) {
  configure();
  ASSERT_EQ(connect(Version::v5, std::nullopt, token(fmt::format(R"("sub":"dev1","exp":{})", now_s(100))), true), 0);
  reauthenticate(token(fmt::format(R"("sub":"dev2","exp":{})", now_s(100))));
  auto packets = link_->take(Version::v5);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(std::get<mqtt::Disconnect>(packets[0]).reason, ReasonCode::not_authorized);
  client_->on_closed();
}

TEST_F(TokenTest, MethodFailureIsBadCredentialsAndCounted) {
  configure();
  EXPECT_EQ(connect(Version::v5, "dev1", "not-a-token", true), 0x86);
  EXPECT_EQ(Stats::get(broker_.stats().login_failures), 1u);
}

}  // namespace
}  // namespace mqbase::broker
