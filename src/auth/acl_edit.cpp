#include "auth/acl_edit.h"

#include <fmt/format.h>

#include <optional>
#include <vector>

#include "auth/acl_file.h"
#include "auth/text_file.h"
#include "mqtt/topic.h"

namespace mqbase::auth {
namespace {

// The file as lines, each with what it is and the section it stands in.
struct Line {
  std::string_view text;
  AclLine parsed;
  std::optional<std::string_view> user;  // the section: nullopt before the first `user` line
};

std::string read_lines(std::string_view text, std::vector<Line>* lines) {
  std::string error;
  std::optional<std::string_view> user;
  for_each_line(text, [&](size_t number, std::string_view line) {
    if (!error.empty()) return;
    Line l{line, {}, user};
    if (std::string why = parse_acl_line(line, &l.parsed); !why.empty()) {
      error = fmt::format("line {}: {}", number, why);
      return;
    }
    if (l.parsed.kind == AclLine::Kind::user) user = l.parsed.user;
    lines->push_back(l);
  });
  return error;
}

// Whether line `l` is a rule of `rule`'s section (any access when `any_access`).
bool same_rule(const Line& l, const AclRule& rule, bool any_access) {
  const AclLine& p = l.parsed;
  if (p.topic != rule.topic || (!any_access && p.access != rule.access)) return false;
  switch (rule.section) {
    case AclRule::Section::pattern: return p.kind == AclLine::Kind::pattern;
    case AclRule::Section::anonymous: return p.kind == AclLine::Kind::topic && !l.user;
    case AclRule::Section::user: return p.kind == AclLine::Kind::topic && l.user && *l.user == rule.user;
  }
  return false;
}

std::string rule_line(const AclRule& rule) {
  return fmt::format("{} {} {}", rule.section == AclRule::Section::pattern ? "pattern" : "topic", rule.access,
                     rule.topic);
}

std::string join(const std::vector<std::string_view>& lines) {
  std::string out;
  for (std::string_view l : lines) out.append(l).append("\n");
  return out;
}

}  // namespace

std::string check_acl_rule(const AclRule& rule, bool access_may_be_empty) {
  if (!(access_may_be_empty && rule.access.empty()) && !is_access_word(rule.access))
    return fmt::format("'{}': expected read, write, readwrite or deny", rule.access);
  if (rule.topic.empty() || !mqtt::valid_topic_filter(rule.topic) || trim_blanks(rule.topic) != rule.topic)
    return fmt::format("'{}' is not a valid topic filter", rule.topic);
  if (rule.section == AclRule::Section::user) {
    if (rule.user.empty() || trim_blanks(rule.user) != rule.user) return fmt::format("'{}' is not a user name", rule.user);
    for (unsigned char c : rule.user)
      if (c < 0x20 || c == 0x7f) return "a user name must not contain control characters";
  }
  for (unsigned char c : rule.topic)
    if (c < 0x20 || c == 0x7f) return "a topic must not contain control characters";
  return "";
}

std::string acl_add_rule(std::string_view text, const AclRule& rule, std::string* out, bool* added) {
  *added = false;
  if (std::string why = check_acl_rule(rule, false); !why.empty()) return why;
  std::vector<Line> lines;
  if (std::string why = read_lines(text, &lines); !why.empty()) return why;
  for (const Line& l : lines)
    if (same_rule(l, rule, false)) {
      *out = std::string(text);
      return "";
    }
  // Where the rule goes: after the last rule of its section (see the header).
  size_t at = lines.size();
  bool new_section = false;
  if (rule.section == AclRule::Section::anonymous) {
    std::optional<size_t> last, first_user;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].parsed.kind == AclLine::Kind::user && !first_user) first_user = i;
      if (lines[i].parsed.kind == AclLine::Kind::topic && !lines[i].user) last = i;
    }
    at = last ? *last + 1 : first_user ? *first_user : lines.size();
  } else if (rule.section == AclRule::Section::user) {
    std::optional<size_t> last;
    for (size_t i = 0; i < lines.size(); ++i) {
      const AclLine& p = lines[i].parsed;
      if ((p.kind == AclLine::Kind::user && p.user == rule.user) ||
          (p.kind == AclLine::Kind::topic && lines[i].user && *lines[i].user == rule.user))
        last = i;
    }
    new_section = !last;
    if (last) at = *last + 1;
  }
  std::vector<std::string_view> result;
  for (const Line& l : lines) result.push_back(l.text);
  std::string rule_text = rule_line(rule), user_text = "user " + rule.user;
  if (new_section) {
    if (!result.empty() && !result.back().empty()) result.push_back("");
    result.push_back(user_text);
    result.push_back(rule_text);
  } else {
    result.insert(result.begin() + static_cast<std::ptrdiff_t>(at), rule_text);
  }
  *out = join(result);
  *added = true;
  return "";
}

std::string acl_delete_rule(std::string_view text, const AclRule& rule, std::string* out, size_t* removed) {
  *removed = 0;
  if (std::string why = check_acl_rule(rule, true); !why.empty()) return why;
  std::vector<Line> lines;
  if (std::string why = read_lines(text, &lines); !why.empty()) return why;
  std::vector<std::string_view> result;
  for (const Line& l : lines) {
    if (same_rule(l, rule, rule.access.empty()))
      ++*removed;
    else
      result.push_back(l.text);
  }
  *out = *removed ? join(result) : std::string(text);
  return "";
}

}  // namespace mqbase::auth
