#include "auth/acl_file.h"

#include <gtest/gtest.h>

#include "expect_parse_error.h"

#include "auth/password_file.h"
#include "mqtt/topic.h"

namespace mqbase::auth {
namespace {

const AclSubject kAnonymous{"anon-1", std::nullopt};
AclSubject user(std::string_view name, std::string_view id = "dev-1") { return {id, name}; }

// The example of mosquitto.conf(5), with a deny.
constexpr const char* kAcl = R"(# anonymous clients
topic read public/#
topic deny public/secret

user alice
topic readwrite alice/#
topic write  alerts/with space
topic deny alice/locked/#
topic sensors/+/temp

user bob
topic read $SYS/#

pattern write devices/%c/out
pattern read devices/%c/in/#
pattern readwrite home/%u/#
pattern deny home/%u/private/#
)";

TEST(AclFile, AnonymousRulesApplyToClientsWithoutUserName) {
  auto acl = AclFile::parse(kAcl, "acl");
  EXPECT_TRUE(acl.may_read(kAnonymous, "public/news"));
  EXPECT_FALSE(acl.may_write(kAnonymous, "public/news"));
  EXPECT_FALSE(acl.may_read(kAnonymous, "public/secret"));  // deny wins
  EXPECT_FALSE(acl.may_read(kAnonymous, "alice/x"));
  // A user does not get the anonymous rules.
  EXPECT_FALSE(acl.may_read(user("alice"), "public/news"));
}

TEST(AclFile, UserSections) {
  auto acl = AclFile::parse(kAcl, "acl");
  EXPECT_TRUE(acl.may_write(user("alice"), "alice/a/b"));
  EXPECT_TRUE(acl.may_read(user("alice"), "alice"));  // "alice/#" covers its parent
  EXPECT_FALSE(acl.may_write(user("alice"), "alice/locked/x"));
  EXPECT_TRUE(acl.may_write(user("alice"), "alerts/with space"));
  EXPECT_FALSE(acl.may_read(user("alice"), "alerts/with space"));
  EXPECT_TRUE(acl.may_read(user("alice"), "sensors/3/temp"));   // no access word: readwrite
  EXPECT_TRUE(acl.may_write(user("alice"), "sensors/3/temp"));
  EXPECT_FALSE(acl.may_write(user("bob"), "alice/a"));
  EXPECT_FALSE(acl.may_read(user("carol"), "alice/a"));  // a user without a section
}

TEST(AclFile, SysOnlyWhereARuleNamesIt) {
  auto acl = AclFile::parse("topic readwrite #\nuser bob\ntopic read $SYS/#\n", "acl");
  EXPECT_TRUE(acl.may_read(kAnonymous, "a/b"));
  EXPECT_FALSE(acl.may_read(kAnonymous, "$SYS/broker/uptime"));  // "#" does not reach $ topics
  EXPECT_FALSE(acl.may_subscribe(kAnonymous, "$SYS/#"));
  EXPECT_TRUE(acl.may_read(user("bob"), "$SYS/broker/uptime"));
  EXPECT_TRUE(acl.may_subscribe(user("bob"), "$SYS/broker/+"));
}

TEST(AclFile, PatternsSubstituteClientIdAndUserName) {
  auto acl = AclFile::parse(kAcl, "acl");
  EXPECT_TRUE(acl.may_write(user("x", "dev-7"), "devices/dev-7/out"));
  EXPECT_FALSE(acl.may_write(user("x", "dev-7"), "devices/dev-8/out"));
  EXPECT_TRUE(acl.may_write({"dev-7", std::nullopt}, "devices/dev-7/out"));  // %c for anonymous too
  EXPECT_TRUE(acl.may_read(user("x", "dev-7"), "devices/dev-7/in/cmd"));
  EXPECT_TRUE(acl.may_write(user("carol"), "home/carol/lamp"));
  EXPECT_FALSE(acl.may_write(user("carol"), "home/dave/lamp"));
  EXPECT_FALSE(acl.may_write(user("carol"), "home/carol/private/diary"));
  EXPECT_FALSE(acl.may_write(kAnonymous, "home//lamp"));  // %u: no rule for clients without one
}

TEST(AclFile, NamesWithWildcardsOrSlashesDoNotWidenPatterns) {
  auto acl = AclFile::parse(kAcl, "acl");
  for (std::string_view id : {"#", "+", "dev-7/in", "a/#"}) {
    EXPECT_FALSE(acl.may_write(user("x", id), "devices/dev-7/out")) << id;
    EXPECT_FALSE(acl.may_read(user("x", id), "devices/dev-7/in/cmd")) << id;
    EXPECT_FALSE(acl.may_subscribe(user("x", id), "devices/+/in/#")) << id;
  }
  // A client named "dev-7/in" would write into dev-7's inbox (devices/dev-7/in/out).
  EXPECT_FALSE(acl.may_write(user("x", "dev-7/in"), "devices/dev-7/in/out"));
  EXPECT_FALSE(acl.may_read(user("x", "dev-7/in"), "devices/dev-7/in/in/cmd"));
  // A user name that could reach into another's tree: the grant does not apply, and the
  // deny pattern with %u denies that client everything.
  EXPECT_FALSE(acl.may_write(user("carol/+", "c1"), "home/carol/x/lamp"));
  EXPECT_FALSE(acl.may_write(user("#", "c1"), "home/dave/lamp"));
  EXPECT_FALSE(acl.may_write(user("#", "dev-7"), "devices/dev-7/out"));
}

TEST(AclFile, SubscribeNeedsAReadRuleCoveringTheWholeFilter) {
  auto acl = AclFile::parse(kAcl, "acl");
  EXPECT_TRUE(acl.may_subscribe(kAnonymous, "public/#"));
  EXPECT_TRUE(acl.may_subscribe(kAnonymous, "public/+/x"));
  EXPECT_FALSE(acl.may_subscribe(kAnonymous, "#"));
  EXPECT_FALSE(acl.may_subscribe(kAnonymous, "+/news"));
  EXPECT_FALSE(acl.may_subscribe(kAnonymous, "public/secret"));  // wholly denied
  EXPECT_TRUE(acl.may_subscribe(user("alice"), "alice/#"));
  EXPECT_FALSE(acl.may_subscribe(user("alice"), "alice/locked/+"));
  EXPECT_FALSE(acl.may_subscribe(user("alice"), "alerts/with space"));  // write only
  EXPECT_TRUE(acl.may_subscribe(user("x", "d1"), "devices/d1/in/#"));
  EXPECT_FALSE(acl.may_subscribe(user("x", "d1"), "devices/d1/out"));
}

TEST(AclFile, EmptyFileDeniesEverything) {
  auto acl = AclFile::parse("# nothing\n\n", "acl");
  EXPECT_FALSE(acl.may_read(kAnonymous, "a"));
  EXPECT_FALSE(acl.may_write(user("u"), "a"));
  EXPECT_FALSE(acl.may_subscribe(user("u"), "a"));
}

TEST(AclFile, MosquittoParsingQuirks) {
  // One word after `topic` is the topic, with readwrite; the user name is the rest of the line.
  auto acl = AclFile::parse("topic read\nuser john smith\ntopic write x/y\n", "acl");
  EXPECT_TRUE(acl.may_write(kAnonymous, "read"));
  EXPECT_TRUE(acl.may_write(user("john smith"), "x/y"));
  EXPECT_EQ(acl.rule_count(), 2u);
}

void expect_error(const std::string& text, const std::string& needle) {
  expect_parse_error<AclFile>(text, "acl.conf", needle);
}

TEST(AclFile, ErrorsNameTheFileAndTheLine) {
  expect_error("topic read a\nfoo bar\n", "acl.conf:2: 'foo': expected");
  expect_error("\n\ntopic readonly a/b\n", "acl.conf:3: 'readonly': expected read, write, readwrite or deny");
  expect_error("topic read a/#/b\n", "acl.conf:1: 'a/#/b' is not a valid topic filter");
  expect_error("user\n", "acl.conf:1: `user` without a user name");
  expect_error("pattern\n", "acl.conf:1: `pattern` without a topic");
  EXPECT_THROW(AclFile::load("/nonexistent/acl"), AuthFileError);
}

TEST(FilterCovers, Cases) {
  using mqtt::filter_covers;
  EXPECT_TRUE(filter_covers("#", "a/b"));
  EXPECT_TRUE(filter_covers("#", "#"));
  EXPECT_TRUE(filter_covers("a/#", "a"));
  EXPECT_TRUE(filter_covers("a/#", "a/+/c"));
  EXPECT_TRUE(filter_covers("a/+", "a/+"));
  EXPECT_TRUE(filter_covers("a/+", "a/b"));
  EXPECT_TRUE(filter_covers("a/b", "a/b"));
  EXPECT_FALSE(filter_covers("a/+", "a/#"));
  EXPECT_FALSE(filter_covers("a/+/#", "a/#"));
  EXPECT_FALSE(filter_covers("a/b", "a/+"));
  EXPECT_FALSE(filter_covers("a/b", "a/b/c"));
  EXPECT_FALSE(filter_covers("a/b/c", "a/b"));
  EXPECT_FALSE(filter_covers("#", "$SYS/#"));
  EXPECT_FALSE(filter_covers("+/x", "$SYS/x"));
  EXPECT_TRUE(filter_covers("$SYS/#", "$SYS/broker/+"));
  EXPECT_FALSE(filter_covers("$SYS/#", "+/broker"));
}

}  // namespace
}  // namespace mqbase::auth
