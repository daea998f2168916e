#include "mqtt/topic.h"

#include "mqtt/utf8.h"

namespace mqbase::mqtt {

bool valid_topic_name(std::string_view topic) {
  if (topic.empty()) return false;
  if (has_wildcard(topic)) return false;
  return valid_utf8(topic);
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.empty()) return false;
  for (size_t i = 0; i < filter.size(); ++i) {
    char c = filter[i];
    if (c == '+' || c == '#') {
      bool starts_level = i == 0 || filter[i - 1] == '/';
      bool ends_level = i + 1 == filter.size() || filter[i + 1] == '/';
      if (!starts_level || !ends_level) return false;
      if (c == '#' && i + 1 != filter.size()) return false;
    }
  }
  return valid_utf8(filter);
}

ShareParse parse_shared(std::string_view filter, SharedFilter& out) {
  constexpr std::string_view kPrefix = "$share/";
  if (filter.substr(0, kPrefix.size()) != kPrefix) return ShareParse::not_shared;
  std::string_view rest = filter.substr(kPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return ShareParse::invalid;  // "$share/g": no filter
  out.group = rest.substr(0, slash);
  out.filter = rest.substr(slash + 1);
  if (out.group.empty() || has_wildcard(out.group)) return ShareParse::invalid;
  if (!valid_topic_filter(out.filter)) return ShareParse::invalid;
  return ShareParse::ok;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#'))
    return false;
  // One pass over both, a level at a time (ingest rules and sinks match every message this way).
  const size_t fn = filter.size(), tn = topic.size();
  size_t f = 0, t = 0;
  auto whole_level = [&](size_t at) { return at + 1 == fn || filter[at + 1] == '/'; };
  while (true) {
    if (f < fn && filter[f] == '#' && whole_level(f)) return true;  // this level and all below, parent included
    if (f < fn && filter[f] == '+' && whole_level(f)) {
      ++f;
      while (t < tn && topic[t] != '/') ++t;
    } else {
      while (f < fn && t < tn && filter[f] != '/' && filter[f] == topic[t]) {
        ++f;
        ++t;
      }
      if ((f < fn && filter[f] != '/') || (t < tn && topic[t] != '/')) return false;  // the levels differ
    }
    if (f == fn) return t == tn;  // a topic with more levels than the filter does not match
    ++f;                          // past the filter's '/'
    if (t == tn) return filter.substr(f) == "#";  // "a/#" matches "a"
    ++t;
  }
}

bool filter_covers(std::string_view outer, std::string_view inner) {
  if (!inner.empty() && inner[0] == '$' && !outer.empty() && (outer[0] == '+' || outer[0] == '#')) return false;
  size_t o = 0, i = 0;
  while (true) {
    size_t o_end = outer.find('/', o);
    std::string_view olevel = outer.substr(o, o_end == std::string_view::npos ? std::string_view::npos : o_end - o);
    if (olevel == "#") return true;
    size_t i_end = inner.find('/', i);
    std::string_view ilevel = inner.substr(i, i_end == std::string_view::npos ? std::string_view::npos : i_end - i);
    // An inner "#" reaches every level below (and its parent): only an outer "#" does too. An
    // inner "+" is covered by an outer "+" only.
    if (ilevel == "#" || (olevel != "+" && olevel != ilevel)) return false;
    if (o_end == std::string_view::npos) return i_end == std::string_view::npos;
    o = o_end + 1;
    if (i_end == std::string_view::npos) return outer.substr(o) == "#";  // "a/#" covers "a"
    i = i_end + 1;
  }
}

}  // namespace mqbase::mqtt
