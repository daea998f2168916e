// Topic names and topic filters: validation ([MQTT-4.7]) and matching, including the rule
// that filters starting with a wildcard do not match topics starting with '$' ([MQTT-4.7.2-1]).
// Pure functions, safe from any thread.
#pragma once
#include <string_view>

namespace mqbase::mqtt {

// True when `s` holds '+' or '#'. (One pass; string_view::find_first_of calls memchr per byte.)
inline bool has_wildcard(std::string_view s) {
  for (char c : s)
    if (c == '+' || c == '#') return true;
  return false;
}

// True when the first level of `topic` is "$SYS": the broker's own tree, which clients may
// read but not publish to ("$SYSTEM/x" and "a/$SYS" are ordinary topics).
inline bool is_sys_topic(std::string_view topic) {
  return topic.starts_with("$SYS") && (topic.size() == 4 || topic[4] == '/');
}

// True when `s` (a topic name or filter) has more than `max_levels` levels ("a/b/c" has 3,
// "/" has 2); `max_levels` 0 means no limit. Reads `s` only when it is long enough to need it.
inline bool exceeds_levels(std::string_view s, size_t max_levels) {
  // n characters hold at most n + 1 levels: a topic shorter than the limit is within it.
  if (max_levels == 0 || s.size() < max_levels) return false;
  size_t levels = 1;
  for (char c : s)
    if (c == '/' && ++levels > max_levels) return true;
  return false;
}

// A topic name of a PUBLISH: at least one character, valid UTF-8, no '+' or '#'.
bool valid_topic_name(std::string_view topic);

// A topic filter of a SUBSCRIBE/UNSUBSCRIBE: at least one character, valid UTF-8, '+' only as
// a whole level, '#' only as the whole last level. `$share/...` is not special here.
bool valid_topic_filter(std::string_view filter);

// True when `topic` (a valid name) matches `filter` (a valid filter).
bool topic_matches(std::string_view filter, std::string_view topic);

// True when every topic `inner` (a valid filter) matches is matched by `outer` (a valid
// filter): "a/#" covers "a/+/b" and "a", "a/+" does not cover "a/#", "#" does not cover
// "$SYS/#". For access rules on subscriptions.
bool filter_covers(std::string_view outer, std::string_view inner);

// A shared subscription filter, "$share/{group}/{filter}" (MQTT 5 section 4.8.2, also
// accepted from 3.1.1 clients as mosquitto does).
struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};
enum class ShareParse { not_shared, ok, invalid };
// Splits `filter` when it starts with "$share/". `invalid` when the group is empty or holds
// '+', '#' or '/', or the filter after it is missing or invalid.
ShareParse parse_shared(std::string_view filter, SharedFilter& out);

// Splits `s` at '/' calling `fn(level)` for each level, empty levels included.
template <typename Fn>
void for_each_level(std::string_view s, Fn&& fn) {
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      fn(s.substr(start));
      return;
    }
    fn(s.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace mqbase::mqtt
