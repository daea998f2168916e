#include "auth/access_control.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace mqbase::auth {
namespace {

using Verdict = AccessControl::Verdict;
using std::chrono::milliseconds;

class AccessControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mqbase-auth-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string passwords(std::initializer_list<std::pair<const char*, const char*>> users) {
    std::string text;
    for (auto& [u, p] : users) text += std::string(u) + ":" + HashedPassword::make(p).to_string() + "\n";
    return write("pw", text);
  }
  std::filesystem::path dir_;
};

AccessControl::Login login(std::optional<std::string_view> user, std::optional<std::string_view> pw,
                           bool anonymous = true, std::string_view peer = "10.0.0.1:5000") {
  return {user, pw, anonymous, peer};
}

TEST_F(AccessControlTest, MosquittoLoginRules) {
  AccessOptions o;
  o.password_file = passwords({{"alice", "secret"}});
  AccessControl ac(o);
  EXPECT_EQ(ac.login(login("alice", "secret")).verdict, Verdict::accepted);
  EXPECT_EQ(ac.login(login("alice", "wrong")).verdict, Verdict::bad_credentials);
  EXPECT_EQ(ac.login(login("mallory", "secret")).verdict, Verdict::bad_credentials);
  EXPECT_EQ(ac.login(login("alice", std::nullopt)).verdict, Verdict::bad_credentials);
  EXPECT_EQ(ac.login(login(std::nullopt, std::nullopt, true)).verdict, Verdict::accepted);
  EXPECT_EQ(ac.login(login(std::nullopt, std::nullopt, false)).verdict, Verdict::not_authorized);
  EXPECT_EQ(ac.login(login("alice", "secret", false)).verdict, Verdict::accepted);

  // No password file: a user name is let in only where anonymous clients are.
  AccessControl none(AccessOptions{});
  EXPECT_EQ(none.login(login("anyone", "x", true)).verdict, Verdict::accepted);
  EXPECT_EQ(none.login(login("anyone", "x", false)).verdict, Verdict::not_authorized);
  EXPECT_FALSE(none.has_acl());
}

TEST_F(AccessControlTest, FailuresPastTheFreeAttemptsAreDelayedPerAddress) {
  AccessOptions o;
  o.password_file = passwords({{"alice", "secret"}});
  o.failed_attempts = 3;
  o.failed_delay = milliseconds(250);
  AccessControl ac(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ac.login(login("alice", "no", true, "10.0.0.1:1")).delay, milliseconds(0));
  EXPECT_EQ(ac.login(login("alice", "no", true, "10.0.0.1:2")).delay, milliseconds(250));
  EXPECT_EQ(ac.login(login("alice", "no", true, "10.0.0.1:3")).delay, milliseconds(250));
  // Another address has its own count; a success is never delayed.
  EXPECT_EQ(ac.login(login("alice", "no", true, "10.0.0.2:1")).delay, milliseconds(0));
  EXPECT_EQ(ac.login(login("alice", "secret", true, "10.0.0.1:4")).delay, milliseconds(0));
  // IPv6 peers are counted by address, without the port.
  for (int i = 0; i < 3; ++i) ac.login(login("alice", "no", true, "[::1]:100"));
  EXPECT_EQ(ac.login(login("alice", "no", true, "[::1]:101")).delay, milliseconds(250));
}

TEST(FailureThrottle, WindowAndBoundedTable) {
  FailureThrottle t(1, milliseconds(100), 4);
  auto now = FailureThrottle::Clock::now();
  EXPECT_EQ(t.on_failure("a", now), milliseconds(0));
  EXPECT_EQ(t.on_failure("a", now), milliseconds(100));
  // A minute later the count starts again.
  EXPECT_EQ(t.on_failure("a", now + FailureThrottle::kWindow), milliseconds(0));
  for (int i = 0; i < 10; ++i) t.on_failure("b" + std::to_string(i), now + std::chrono::seconds(61 + i));
  EXPECT_LE(t.addresses(), 4u);
}

TEST(AccessControlHost, HostOf) {
  EXPECT_EQ(AccessControl::host_of("127.0.0.2:1883"), "127.0.0.2");
  EXPECT_EQ(AccessControl::host_of("[::1]:1883"), "::1");
  EXPECT_EQ(AccessControl::host_of(""), "");
}

TEST_F(AccessControlTest, ReloadSwapsFilesAndKeepsTheOldOnesOnError) {
  AccessOptions o;
  o.password_file = passwords({{"alice", "one"}});
  o.acl_file = write("acl", "user alice\ntopic read a/#\n");
  AccessControl ac(o);
  AclSubject alice{"c", "alice"};
  EXPECT_TRUE(ac.has_acl());
  EXPECT_TRUE(ac.may_read(alice, "a/x"));
  EXPECT_FALSE(ac.may_write(alice, "a/x"));

  passwords({{"alice", "two"}});
  write("acl", "user alice\ntopic write a/#\n");
  EXPECT_EQ(ac.reload(), "");
  EXPECT_EQ(ac.login(login("alice", "one")).verdict, Verdict::bad_credentials);
  EXPECT_EQ(ac.login(login("alice", "two")).verdict, Verdict::accepted);
  EXPECT_FALSE(ac.may_read(alice, "a/x"));
  EXPECT_TRUE(ac.may_write(alice, "a/x"));

  write("pw", "alice:plain\n");
  write("acl", "topic sometimes a/#\n");
  std::string errors = ac.reload();
  EXPECT_NE(errors.find("password file"), std::string::npos) << errors;
  EXPECT_NE(errors.find("ACL file"), std::string::npos) << errors;
  EXPECT_EQ(ac.login(login("alice", "two")).verdict, Verdict::accepted);
  EXPECT_TRUE(ac.may_write(alice, "a/x"));
}

TEST_F(AccessControlTest, ABadFileStopsTheStart) {
  AccessOptions o;
  o.acl_file = write("acl", "topic read a/#/b\n");
  EXPECT_THROW(AccessControl{o}, AuthFileError);
  o.acl_file.clear();
  o.password_file = (dir_ / "missing").string();
  EXPECT_THROW(AccessControl{o}, AuthFileError);
}

}  // namespace
}  // namespace mqbase::auth
