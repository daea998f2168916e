// AclFile: what each client may publish, receive and subscribe to, from a mosquitto acl_file.
//
//   # comment
//   topic [read|write|readwrite|deny] <topic>      before any `user` line: anonymous clients
//   user <username>                                 the rules after it are this user's
//   topic [read|write|readwrite|deny] <topic>
//   pattern [read|write|readwrite|deny] <topic>    everyone; %c = client id, %u = user name
//
// The access word may be left out (readwrite). A client without a user name gets the rules
// before the first `user` line; a client with one gets its user's section (none: no rules);
// every client gets the patterns. Nothing a rule grants is allowed (default deny), and a
// matching `deny` rule wins over any grant. A pattern whose %c or %u would bring a '+', '#'
// or '/' into the topic (a client id "a/#") grants such a client nothing, and if it is a deny
// rule it denies that client everything: a client cannot widen its rights by its name.
// Used by AccessControl. Thread-safety: a loaded AclFile is immutable; every check is safe
// from any thread.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/topic_rule_index.h"

namespace mqbase::auth {

class TokenGrants;

// Who asks: the client id, when it gave one the user name, and when it logged in with a token
// that carries grant claims, those grants (AccessControl decides by them instead of the file's
// grants; AclFile ignores them).
struct AclSubject {
  std::string_view client_id;
  std::optional<std::string_view> username;
  const TokenGrants* grants = nullptr;
  // For a user name held by pointer (null: none).
  static AclSubject of(std::string_view client_id, const std::string* username, const TokenGrants* grants = nullptr) {
    return {client_id, username ? std::optional<std::string_view>(*username) : std::nullopt, grants};
  }
};

// A login held by value: the user name (null: none) and a token's grants (null: none). A
// Session and a Client keep one; a check that may outlive them (a replay's filter) copies it.
struct Identity {
  std::shared_ptr<const std::string> username;
  std::shared_ptr<const TokenGrants> grants;
  // The subject of client `client_id` logged in this way; valid while this Identity lives.
  AclSubject subject(std::string_view client_id) const {
    return AclSubject::of(client_id, username.get(), grants.get());
  }
};

// One line of an ACL file, as AclFile::parse reads it (and `mqbase acl` edits it).
struct AclLine {
  enum class Kind { blank, user, topic, pattern };  // blank: empty, or a # comment
  Kind kind = Kind::blank;
  std::string_view user;    // user: the user name
  std::string_view access;  // topic, pattern: read, write, readwrite (also when left out) or deny
  std::string_view topic;   // topic, pattern: a valid topic filter
};
// read, write, readwrite or deny.
inline bool is_access_word(std::string_view w) {
  return w == "read" || w == "write" || w == "readwrite" || w == "deny";
}
// Parses one line, trimmed of blanks. Returns "" or what is wrong with it.
std::string parse_acl_line(std::string_view line, AclLine* out);

class AclFile {
 public:
  // Reads and parses `path`. Throws AuthFileError naming the file and the line of a line that
  // is not a comment, a `user` line or a valid rule (an unknown access word, an invalid topic
  // filter), or when the file cannot be read.
  static AclFile load(const std::string& path);
  static AclFile parse(std::string_view text, const std::string& origin);

  // PUBLISH to `topic` (a topic name), and the will.
  bool may_write(const AclSubject& who, std::string_view topic) const;
  // A message on `topic` may be sent to the client (delivery, retained messages).
  bool may_read(const AclSubject& who, std::string_view topic) const;
  // SUBSCRIBE to `filter` (without any "$share/{group}/"): a read rule covers every topic the
  // filter matches, and no deny rule does. Messages a granted filter matches that a deny rule
  // forbids are held back at delivery (may_read).
  bool may_subscribe(const AclSubject& who, std::string_view filter) const;

  enum class Check { read, write, subscribe };
  // Whether a deny rule that applies to `who` matches `topic` (for subscribe: covers the whole
  // filter). A token's grants replace the file's grants, not its denials.
  bool denies(const AclSubject& who, std::string_view topic, Check check) const {
    return evaluate(who, topic, check) == Verdict::denied;
  }

  size_t rule_count() const;
  struct Summary {
    size_t anonymous_rules = 0, users = 0, user_rules = 0, patterns = 0;
  };
  Summary summary() const;

 private:
  enum Access : uint8_t { kDeny = 0, kRead = 1, kWrite = 2 };
  struct Rule {
    std::string topic;
    uint8_t access = kRead | kWrite;
    bool client_id = false;  // pattern with %c
    bool username = false;   // pattern with %u
  };
  enum class Verdict { granted, denied, nothing };
  Verdict evaluate(const AclSubject& who, std::string_view topic, Check check) const;

  // The rules of one section (the anonymous clients', or one user's), and the same rules as a
  // trie for the checks of a topic name (PUBLISH, delivery), which then cost what the topic's
  // levels cost, however many rules the section has. SUBSCRIBE's coverage check reads `rules`.
  struct Section {
    std::vector<Rule> rules;
    TopicRuleIndex index;
    void add(Rule r) {
      index.add(r.topic, r.access);
      rules.push_back(std::move(r));
    }
  };

  Section anonymous_;
  std::map<std::string, Section, std::less<>> users_;
  std::vector<Rule> patterns_;
};

}  // namespace mqbase::auth
