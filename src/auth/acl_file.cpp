#include "auth/acl_file.h"

#include <fmt/format.h>

#include "auth/password_file.h"
#include "auth/text_file.h"
#include "mqtt/topic.h"

namespace mqbase::auth {
namespace {

// The first word of `line` (up to a blank), and the rest after the blanks that follow it.
std::string_view take_word(std::string_view& line) {
  size_t end = line.find_first_of(" \t");
  std::string_view word = line.substr(0, end);
  line = end == std::string_view::npos ? std::string_view() : trim_blanks(line.substr(end));
  return word;
}

bool dangerous(std::string_view name) { return name.find_first_of("+#/") != std::string_view::npos; }

}  // namespace

AclFile AclFile::load(const std::string& path) { return parse(read_text_file(path, "ACL file"), path); }

std::string parse_acl_line(std::string_view line, AclLine* out) {
  *out = AclLine{};
  if (line.empty() || line.starts_with('#')) return "";
  for (unsigned char c : line)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return fmt::format("a control character (0x{:02x}) in the line", c);
  std::string_view keyword = take_word(line);
  if (keyword == "user") {
    if (line.empty()) return "`user` without a user name";
    out->kind = AclLine::Kind::user;
    out->user = line;
    return "";
  }
  if (keyword != "topic" && keyword != "pattern")
    return fmt::format("'{}': expected `topic`, `pattern`, `user` or a # comment", keyword);
  out->kind = keyword == "topic" ? AclLine::Kind::topic : AclLine::Kind::pattern;
  // As mosquitto reads it: with one word after the keyword, that word is the topic.
  out->access = "readwrite";
  out->topic = line;
  std::string_view rest = line;
  std::string_view access = take_word(rest);
  if (!rest.empty()) {
    if (!is_access_word(access))
      return fmt::format("'{}': expected read, write, readwrite or deny", access);
    out->access = access;
    out->topic = rest;
  }
  if (out->topic.empty()) return fmt::format("`{}` without a topic", keyword);
  if (!mqtt::valid_topic_filter(out->topic)) return fmt::format("'{}' is not a valid topic filter", out->topic);
  return "";
}

AclFile AclFile::parse(std::string_view text, const std::string& origin) {
  AclFile f;
  Section* section = &f.anonymous_;
  for_each_line(text, [&](size_t number, std::string_view line) {
    AclLine l;
    if (std::string why = parse_acl_line(line, &l); !why.empty())
      throw AuthFileError(fmt::format("ACL file {}:{}: {}", origin, number, why));
    if (l.kind == AclLine::Kind::blank) return;
    if (l.kind == AclLine::Kind::user) {
      section = &f.users_[std::string(l.user)];  // a second section of the same user adds to it
      return;
    }
    Rule r;
    r.topic = std::string(l.topic);
    r.access = l.access == "read" ? kRead : l.access == "write" ? kWrite : l.access == "deny" ? kDeny : kRead | kWrite;
    if (l.kind == AclLine::Kind::pattern) {
      r.client_id = l.topic.find("%c") != std::string_view::npos;
      r.username = l.topic.find("%u") != std::string_view::npos;
      f.patterns_.push_back(std::move(r));
    } else {
      section->add(std::move(r));
    }
  });
  return f;
}

AclFile::Summary AclFile::summary() const {
  Summary s;
  s.anonymous_rules = anonymous_.rules.size();
  s.users = users_.size();
  for (const auto& [user, section] : users_) s.user_rules += section.rules.size();
  s.patterns = patterns_.size();
  return s;
}

size_t AclFile::rule_count() const {
  size_t n = anonymous_.rules.size() + patterns_.size();
  for (const auto& [user, section] : users_) n += section.rules.size();
  return n;
}

bool AclFile::may_write(const AclSubject& who, std::string_view topic) const {
  return evaluate(who, topic, Check::write) == Verdict::granted;
}

bool AclFile::may_read(const AclSubject& who, std::string_view topic) const {
  return evaluate(who, topic, Check::read) == Verdict::granted;
}

bool AclFile::may_subscribe(const AclSubject& who, std::string_view filter) const {
  return evaluate(who, filter, Check::subscribe) == Verdict::granted;
}

AclFile::Verdict AclFile::evaluate(const AclSubject& who, std::string_view topic, Check check) const {
  const uint8_t wanted = check == Check::write ? kWrite : kRead;
  bool granted = false;
  // Applies one rule; true when it denies.
  auto apply = [&](const Rule& r, std::string_view rule_topic) {
    bool hit = check == Check::subscribe ? mqtt::filter_covers(rule_topic, topic) : mqtt::topic_matches(rule_topic, topic);
    if (!hit) return false;
    if (r.access == kDeny) return true;
    if (r.access & wanted) granted = true;
    return false;
  };
  const Section* own = &anonymous_;
  if (who.username) {
    auto it = users_.find(*who.username);
    own = it == users_.end() ? nullptr : &it->second;
  }
  if (own && check == Check::subscribe) {
    for (const Rule& r : own->rules)
      if (apply(r, r.topic)) return Verdict::denied;
  } else if (own) {
    TopicRuleIndex::Match m = own->index.match(topic);
    if (m.deny) return Verdict::denied;
    if (m.granted & wanted) granted = true;
  }
  thread_local std::string expanded;
  for (const Rule& r : patterns_) {
    if (r.username && !who.username) continue;  // %u means nothing to a client without one
    if ((r.client_id && dangerous(who.client_id)) || (r.username && dangerous(*who.username))) {
      if (r.access == kDeny) return Verdict::denied;
      continue;
    }
    expanded.clear();
    std::string_view t = r.topic;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '%' && i + 1 < t.size() && (t[i + 1] == 'c' || (t[i + 1] == 'u' && who.username))) {
        expanded += t[i + 1] == 'c' ? who.client_id : *who.username;
        ++i;
      } else {
        expanded += t[i];
      }
    }
    if (apply(r, expanded)) return Verdict::denied;
  }
  return granted ? Verdict::granted : Verdict::nothing;
}

}  // namespace mqbase::auth
