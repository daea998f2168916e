#include "auth/password_file.h"

#include <gtest/gtest.h>

#include "expect_parse_error.h"

namespace mqbase::auth {
namespace {

// Made by mosquitto_passwd 2.0.11 (`mosquitto_passwd -b f alice secret`, and with -H sha512
// for bob): our reading of its format must accept them as they are.
constexpr const char* kMosquittoPbkdf2 =
    "alice:$7$101$eBU1ZD4ONZHQmrN3$kDzdX8Al8Lu1H8EIAP2EgNwhrlYHnBnfimsh5JwS/g9yv70LeSmozGAFnEL4mx3P6c/pDE5xCUSrp9mtp1wlvA==";
constexpr const char* kMosquittoSha512 =
    "bob:$6$9WB/8X7YCHuIJ4CI$NBYIT9wg0xyzPfLe6hR+OK/Rv2U4vedrcGMTmiqAu5PSae7p/wYnRiDQfjtevOUDJ1fLdzxMqzWnN+JPWO6K6g==";

TEST(PasswordFile, AcceptsWhatMosquittoPasswdWrites) {
  auto f = PasswordFile::parse(std::string(kMosquittoPbkdf2) + "\n" + kMosquittoSha512 + "\n", "test");
  EXPECT_EQ(f.size(), 2u);
  EXPECT_TRUE(f.verify("alice", "secret"));
  EXPECT_FALSE(f.verify("alice", "Secret"));
  EXPECT_FALSE(f.verify("alice", std::nullopt));
  EXPECT_TRUE(f.verify("bob", "hunter2"));
  EXPECT_FALSE(f.verify("bob", "secret"));
  EXPECT_FALSE(f.verify("carol", "secret"));
}

TEST(PasswordFile, MakeRoundTripsThroughTheTextForm) {
  for (auto type : {PasswordHash::sha512_pbkdf2, PasswordHash::sha512}) {
    auto h = HashedPassword::make("pw", type, 1000);
    std::string text = h.to_string();
    EXPECT_TRUE(text.starts_with(type == PasswordHash::sha512 ? "$6$" : "$7$1000$")) << text;
    auto back = HashedPassword::parse(text, nullptr);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->matches("pw"));
    EXPECT_FALSE(back->matches("pw "));
    EXPECT_EQ(back->salt.size(), 12u);
    EXPECT_EQ(back->hash.size(), 64u);
  }
  // A fresh salt each time.
  EXPECT_NE(HashedPassword::make("pw").to_string(), HashedPassword::make("pw").to_string());
}

TEST(PasswordFile, CommentsBlankLinesAndBlanksAroundFields) {
  std::string line = kMosquittoPbkdf2;
  std::string text = "# users\n\n  " + line.substr(0, 5) + " : " + line.substr(6) + "  \r\n";
  auto f = PasswordFile::parse(text, "test");
  EXPECT_TRUE(f.verify("alice", "secret"));
}

void expect_error(const std::string& text, const std::string& needle) {
  expect_parse_error<PasswordFile>(text, "pw.txt", needle);
}

TEST(PasswordFile, ErrorsNameTheFileAndTheLine) {
  expect_error("# x\nalice\n", "pw.txt:2: expected user:password-hash");
  expect_error("alice:secret\n", "pw.txt:1: user 'alice': not a hashed password");
  expect_error("alice:$5$abc$def\n", "unknown hash type $5$");
  expect_error("alice:$7$0$6IHcYMR7wLpKQ7dv$x\n", "invalid iteration count '0'");
  expect_error("alice:$7$101$c2FsdA==$x\n", "the salt is not 12 bytes");
  expect_error("alice:$6$6IHcYMR7wLpKQ7dv$AAAA\n", "the hash is not 64 bytes");
  expect_error(std::string(kMosquittoPbkdf2) + "\n\n" + kMosquittoPbkdf2 + "\n", "pw.txt:3: user 'alice' is already");
  expect_error(":$6$6IHcYMR7wLpKQ7dv$AAAA\n", "empty user name");
  EXPECT_THROW(PasswordFile::load("/nonexistent/pw"), AuthFileError);
}

TEST(PasswordFile, SplitLine) {
  std::string_view user, rest;
  EXPECT_TRUE(split_password_line(" a b :x:y", user, rest));
  EXPECT_EQ(user, "a b");
  EXPECT_EQ(rest, "x:y");
  EXPECT_FALSE(split_password_line("abc", user, rest));
}

}  // namespace
}  // namespace mqbase::auth
