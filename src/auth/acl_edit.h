// Editing an ACL file's text one rule at a time, for `mqbase acl add|delete` and the HTTP admin
// API (PUT /api/acl replaces the whole text instead). The edits keep every other line as it
// was (comments too) and put a rule where AclFile reads it as meant:
//   - an anonymous clients' rule after the last one of them, before the first `user` line;
//   - a user's rule at the end of that user's (last) section, which is appended when missing;
//   - a pattern at the end of the file (patterns apply to everyone wherever they stand).
// Pure functions of text; the callers read and replace the file (auth/text_file.h).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mqbase::auth {

struct AclRule {
  enum class Section { anonymous, user, pattern };
  Section section = Section::anonymous;
  std::string user;    // Section::user
  std::string access;  // read, write, readwrite or deny; for a delete "" matches any
  std::string topic;   // a topic filter, %c and %u allowed in a pattern
};

// Checks the rule (the access word, the topic filter, the user name). Returns "" or why not.
std::string check_acl_rule(const AclRule& rule, bool access_may_be_empty);

// `text` with `rule` added, into *out. *added is false (and *out the text as it was) when the
// same rule is already in its section. Returns "" or why not (a bad rule, or a text that does
// not parse: "line N: ...").
std::string acl_add_rule(std::string_view text, const AclRule& rule, std::string* out, bool* added);

// `text` without the lines of `rule` (in its section; with access "" whatever their access),
// into *out; *removed counts them. Returns "" or why not, as acl_add_rule.
std::string acl_delete_rule(std::string_view text, const AclRule& rule, std::string* out, size_t* removed);

}  // namespace mqbase::auth
