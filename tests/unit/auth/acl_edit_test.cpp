// The one-rule edits of an ACL file's text (mqbase acl add|delete) and of a password file's
// lines (mqbase passwd, PUT /api/users): where a rule lands is where AclFile reads it as meant.
#include "auth/acl_edit.h"

#include <gtest/gtest.h>

#include "auth/acl_file.h"
#include "auth/text_file.h"

namespace mqbase::auth {
namespace {

AclRule rule(AclRule::Section s, std::string access, std::string topic, std::string user = "") {
  return AclRule{s, std::move(user), std::move(access), std::move(topic)};
}

std::string add(std::string_view text, const AclRule& r) {
  std::string out;
  bool added = false;
  EXPECT_EQ(acl_add_rule(text, r, &out, &added), "");
  EXPECT_TRUE(added);
  return out;
}

TEST(AclEditTest, AnonymousRulesGoBeforeTheFirstUserAndCommentsStay) {
  std::string text = "# ours\ntopic read a/#\n\nuser alice\ntopic alice/#\n";
  std::string out = add(text, rule(AclRule::Section::anonymous, "deny", "a/secret"));
  EXPECT_EQ(out, "# ours\ntopic read a/#\ntopic deny a/secret\n\nuser alice\ntopic alice/#\n");
  AclFile f = AclFile::parse(out, "t");
  EXPECT_FALSE(f.may_read({"c", std::nullopt}, "a/secret"));
  EXPECT_TRUE(f.may_read({"c", std::nullopt}, "a/open"));
  // No anonymous rule yet: right before the first user line.
  EXPECT_EQ(add("user bob\ntopic b\n", rule(AclRule::Section::anonymous, "read", "x")),
            "topic read x\nuser bob\ntopic b\n");
}

TEST(AclEditTest, AUsersRuleEndsItsSectionOrStartsANewOne) {
  std::string text = "user alice\ntopic read alice/#\nuser bob\ntopic bob/#\n";
  std::string out = add(text, rule(AclRule::Section::user, "write", "alice/out", "alice"));
  EXPECT_EQ(out, "user alice\ntopic read alice/#\ntopic write alice/out\nuser bob\ntopic bob/#\n");
  out = add(out, rule(AclRule::Section::user, "readwrite", "carol/#", "carol"));
  EXPECT_TRUE(out.ends_with("topic bob/#\n\nuser carol\ntopic readwrite carol/#\n")) << out;
  AclFile f = AclFile::parse(out, "t");
  EXPECT_TRUE(f.may_write({"c", "carol"}, "carol/x"));
  EXPECT_FALSE(f.may_write({"c", "bob"}, "carol/x"));
  EXPECT_TRUE(f.may_write({"c", "alice"}, "alice/out"));
}

TEST(AclEditTest, PatternsAppendAndASecondAddChangesNothing) {
  std::string out = add("", rule(AclRule::Section::pattern, "readwrite", "dev/%c/#"));
  EXPECT_EQ(out, "pattern readwrite dev/%c/#\n");
  std::string again;
  bool added = true;
  EXPECT_EQ(acl_add_rule(out, rule(AclRule::Section::pattern, "readwrite", "dev/%c/#"), &again, &added), "");
  EXPECT_FALSE(added);
  EXPECT_EQ(again, out);
  // The same topic in another section is another rule (with no user line, at the end).
  EXPECT_EQ(add(out, rule(AclRule::Section::anonymous, "readwrite", "dev/%c/#")),
            "pattern readwrite dev/%c/#\ntopic readwrite dev/%c/#\n");
}

TEST(AclEditTest, DeleteTakesTheRuleFromItsSectionOnly) {
  std::string text = "topic read t\nuser alice\ntopic read t\ntopic write t\npattern read t\n";
  std::string out;
  size_t removed = 0;
  EXPECT_EQ(acl_delete_rule(text, rule(AclRule::Section::user, "", "t", "alice"), &out, &removed), "");
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(out, "topic read t\nuser alice\npattern read t\n");
  EXPECT_EQ(acl_delete_rule(text, rule(AclRule::Section::anonymous, "write", "t"), &out, &removed), "");
  EXPECT_EQ(removed, 0u);
  EXPECT_EQ(out, text);
  EXPECT_EQ(acl_delete_rule(text, rule(AclRule::Section::pattern, "read", "t"), &out, &removed), "");
  EXPECT_EQ(removed, 1u);
}

TEST(AclEditTest, BadRulesAndBadFilesAreRefusedWithTheReason) {
  std::string out;
  bool added = false;
  EXPECT_EQ(acl_add_rule("", rule(AclRule::Section::anonymous, "read", "a/#/b"), &out, &added),
            "'a/#/b' is not a valid topic filter");
  EXPECT_EQ(acl_add_rule("", rule(AclRule::Section::anonymous, "all", "a"), &out, &added),
            "'all': expected read, write, readwrite or deny");
  EXPECT_EQ(acl_add_rule("", rule(AclRule::Section::user, "read", "a", ""), &out, &added), "'' is not a user name");
  EXPECT_EQ(acl_add_rule("", rule(AclRule::Section::user, "read", "a", "x\ny"), &out, &added),
            "a user name must not contain control characters");
  EXPECT_EQ(acl_add_rule("topic read a\nfoo\n", rule(AclRule::Section::anonymous, "read", "b"), &out, &added),
            "line 2: 'foo': expected `topic`, `pattern`, `user` or a # comment");
  EXPECT_EQ(acl_add_rule(std::string_view("topic a\0b\n", 10), rule(AclRule::Section::anonymous, "read", "b"), &out,
                         &added),
            "line 1: a control character (0x00) in the line");
  EXPECT_FALSE(added);
}

TEST(UserLineEditTest, SetsReplacesAndRemovesOneUsersLine) {
  std::string out;
  bool found = false;
  std::string secret = "S2";
  EXPECT_EQ(edit_user_line("# c\na:S1\nb:S1\n", "a", &secret, &out, &found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(out, "# c\na:S2\nb:S1\n");
  EXPECT_EQ(edit_user_line(out, "c", &secret, &out, &found), "");
  EXPECT_FALSE(found);
  EXPECT_EQ(out, "# c\na:S2\nb:S1\nc:S2\n");
  EXPECT_EQ(edit_user_line(out, "b", nullptr, &out, &found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(out, "# c\na:S2\nc:S2\n");
  EXPECT_EQ(edit_user_line("a:S\nnot a line\n", "a", nullptr, &out, &found), "line 2 is not user:secret");
}

}  // namespace
}  // namespace mqbase::auth
