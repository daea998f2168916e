// `mqbase acl`: checks, edits and asks a mosquitto acl_file (docs/security.md#changing-users-and-rules-at-runtime).
//
//   mqbase acl check FILE
//   mqbase acl add FILE [-u USER | --pattern] [read|write|readwrite|deny] TOPIC
//   mqbase acl delete FILE [-u USER | --pattern] [read|write|readwrite|deny] TOPIC
//   mqbase acl test FILE [-u USER] [-i CLIENT_ID] read|write|subscribe TOPIC
//
// add and delete rewrite the file as `mqbase passwd` does (a temporary file renamed over it,
// the mode kept, 0600 for a new file); a running server reads it on SIGHUP, and its clients'
// next PUBLISH, SUBSCRIBE and delivery are decided by the new rules. test answers as the
// server would for that client (patterns with %c and %u filled in), without JWT grants.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "auth/acl_edit.h"
#include "auth/acl_file.h"
#include "auth/text_file.h"
#include "mqtt/topic.h"

namespace mqbase::app {
namespace {

struct AclFlags {
  std::string user;
  bool user_given = false;
  bool pattern = false;
  std::string client_id;
  std::vector<std::string> args;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "Error: %s\n", message.c_str());
  return 1;
}

int check(const std::string& path) {
  try {
    auth::AclFile::Summary s = auth::AclFile::load(path).summary();
    std::printf("%s: %zu rules: %zu anonymous, %zu in %zu user section%s, %zu pattern%s\n", path.c_str(),
                s.anonymous_rules + s.user_rules + s.patterns, s.anonymous_rules, s.user_rules, s.users,
                s.users == 1 ? "" : "s", s.patterns, s.patterns == 1 ? "" : "s");
    return 0;
  } catch (const auth::AuthFileError& e) {
    return fail(e.what());
  }
}

// add or delete: [ACCESS] TOPIC in the section the flags name.
int edit(const AclFlags& f, bool add) {
  const char* usage = add ? "Usage: mqbase acl add FILE [-u USER | --pattern] [read|write|readwrite|deny] TOPIC"
                          : "Usage: mqbase acl delete FILE [-u USER | --pattern] [read|write|readwrite|deny] TOPIC";
  if (f.args.size() < 2 || f.args.size() > 3) return fail(usage);
  if (f.user_given && f.pattern) return fail("-u and --pattern cannot be used together");
  const std::string& path = f.args[0];
  auth::AclRule rule;
  rule.section = f.pattern ? auth::AclRule::Section::pattern
                           : f.user_given ? auth::AclRule::Section::user : auth::AclRule::Section::anonymous;
  rule.user = f.user;
  rule.access = f.args.size() == 3 ? f.args[1] : add ? "readwrite" : "";
  rule.topic = f.args.back();
  std::string old_text;
  try {
    // add makes a new file; delete needs one.
    old_text = add ? auth::read_text_file_if_exists(path, "ACL file") : auth::read_text_file(path, "ACL file");
  } catch (const auth::AuthFileError& e) {
    return fail(e.what());
  }
  std::string text;
  std::string where = f.pattern ? "patterns" : f.user_given ? "user '" + f.user + "'" : "anonymous clients";
  if (add) {
    bool added = false;
    if (std::string why = auth::acl_add_rule(old_text, rule, &text, &added); !why.empty())
      return fail("ACL file " + path + ": " + why);
    if (!added) {
      std::printf("%s: the rule is already there (%s)\n", path.c_str(), where.c_str());
      return 0;
    }
  } else {
    size_t removed = 0;
    if (std::string why = auth::acl_delete_rule(old_text, rule, &text, &removed); !why.empty())
      return fail("ACL file " + path + ": " + why);
    if (!removed) {
      std::fprintf(stderr, "Warning: no such rule for %s in %s: %s%s\n", where.c_str(), path.c_str(),
                   rule.access.empty() ? "" : (rule.access + " ").c_str(), rule.topic.c_str());
      return 1;
    }
  }
  if (std::string why = auth::replace_text_file(path, text); !why.empty()) return fail(why);
  return 0;
}

int test(const AclFlags& f) {
  if (f.args.size() != 3 || f.pattern)
    return fail("Usage: mqbase acl test FILE [-u USER] [-i CLIENT_ID] read|write|subscribe TOPIC");
  const std::string& check = f.args[1];
  std::string_view topic = f.args[2];
  if (check != "read" && check != "write" && check != "subscribe")
    return fail("'" + check + "': expected read, write or subscribe");
  try {
    auth::AclFile acl = auth::AclFile::load(f.args[0]);
    auth::AclSubject who{f.client_id, f.user_given ? std::optional<std::string_view>(f.user) : std::nullopt};
    bool allowed;
    if (check == "subscribe") {
      // A shared subscription is checked against its underlying filter, as the server does.
      mqtt::SharedFilter shared;
      if (mqtt::parse_shared(topic, shared) == mqtt::ShareParse::ok) topic = shared.filter;
      if (!mqtt::valid_topic_filter(topic)) return fail("'" + f.args[2] + "' is not a valid topic filter");
      allowed = acl.may_subscribe(who, topic);
    } else {
      if (!mqtt::valid_topic_name(topic)) return fail("'" + f.args[2] + "' is not a valid topic name");
      allowed = check == "read" ? acl.may_read(who, topic) : acl.may_write(who, topic);
    }
    std::printf("%s\n", allowed ? "allowed" : "denied");
    return allowed ? 0 : 1;
  } catch (const auth::AuthFileError& e) {
    return fail(e.what());
  }
}

}  // namespace

void add_acl_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("acl", "Check, edit and ask a mosquitto acl_file (auth.acl_file)");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<AclFlags>();

  auto* c = cmd->add_subcommand("check", "Parse FILE; print its rules' count, or the first bad line");
  c->add_option("file", flags->args, "ACL file")->required();
  c->callback([flags] { set_exit_code(check(flags->args.at(0))); });

  auto section_flags = [flags](CLI::App* sub) {
    sub->add_option_function<std::string>(
        "-u,--user", [flags](const std::string& u) { flags->user = u, flags->user_given = true; },
        "The rule is this user's (a `user` section)");
    sub->add_flag("--pattern", flags->pattern, "A pattern rule (%c: client id, %u: user name), for everyone");
  };
  auto* a = cmd->add_subcommand("add", "Add a rule: [read|write|readwrite|deny] TOPIC (default readwrite)");
  section_flags(a);
  a->add_option("args", flags->args, "FILE [ACCESS] TOPIC")->required();
  a->callback([flags] { set_exit_code(edit(*flags, true)); });

  auto* d = cmd->add_subcommand("delete", "Delete a rule: [ACCESS] TOPIC (without ACCESS: whatever its access)");
  section_flags(d);
  d->add_option("args", flags->args, "FILE [ACCESS] TOPIC")->required();
  d->callback([flags] { set_exit_code(edit(*flags, false)); });

  auto* t = cmd->add_subcommand("test", "Would the server let this client read, write or subscribe to TOPIC?");
  t->add_option_function<std::string>(
      "-u,--user", [flags](const std::string& u) { flags->user = u, flags->user_given = true; }, "User name");
  t->add_option("-i,--id", flags->client_id, "Client id (for %c patterns)");
  t->add_option("args", flags->args, "FILE read|write|subscribe TOPIC")->required();
  t->callback([flags] { set_exit_code(test(*flags)); });
}

}  // namespace mqbase::app
