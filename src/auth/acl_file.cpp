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

AclFile AclFile::parse(std::string_view text, const std::string& origin) {
  AclFile f;
  Section* section = &f.anonymous_;
  for_each_line(text, [&](size_t number, std::string_view line) {
    if (line.empty() || line.starts_with('#')) return;
    auto fail = [&](std::string_view what) {
      throw AuthFileError(fmt::format("ACL file {}:{}: {}", origin, number, what));
    };
    std::string_view keyword = take_word(line);
    if (keyword == "user") {
      if (line.empty()) fail("`user` without a user name");
      section = &f.users_[std::string(line)];  // a second section of the same user adds to it
      return;
    }
    if (keyword != "topic" && keyword != "pattern")
      fail(fmt::format("'{}': expected `topic`, `pattern`, `user` or a # comment", keyword));
    Rule r;
    // As mosquitto reads it: with one word after the keyword, that word is the topic.
    std::string_view topic = line;
    std::string_view rest = line;
    std::string_view access = take_word(rest);
    if (!rest.empty()) {
      topic = rest;
      if (access == "read")
        r.access = kRead;
      else if (access == "write")
        r.access = kWrite;
      else if (access == "readwrite")
        r.access = kRead | kWrite;
      else if (access == "deny")
        r.access = kDeny;
      else
        fail(fmt::format("'{}': expected read, write, readwrite or deny", access));
    }
    if (topic.empty()) fail(fmt::format("`{}` without a topic", keyword));
    if (!mqtt::valid_topic_filter(topic)) fail(fmt::format("'{}' is not a valid topic filter", topic));
    r.topic = std::string(topic);
    if (keyword == "pattern") {
      r.client_id = topic.find("%c") != std::string_view::npos;
      r.username = topic.find("%u") != std::string_view::npos;
      f.patterns_.push_back(std::move(r));
    } else {
      section->add(std::move(r));
    }
  });
  return f;
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
