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
  size_t f = 0, t = 0;
  while (true) {
    size_t f_end = filter.find('/', f);
    std::string_view flevel = filter.substr(f, f_end == std::string_view::npos ? std::string_view::npos : f_end - f);
    if (flevel == "#") return true;  // matches this level and everything below, parent included
    size_t t_end = topic.find('/', t);
    std::string_view tlevel = topic.substr(t, t_end == std::string_view::npos ? std::string_view::npos : t_end - t);
    if (flevel != "+" && flevel != tlevel) return false;
    bool f_last = f_end == std::string_view::npos;
    bool t_last = t_end == std::string_view::npos;
    if (f_last && t_last) return true;
    if (f_last) return false;  // topic has more levels than the filter
    f = f_end + 1;
    if (t_last) {
      // The topic ends here; only a trailing "/#" in the filter can still match ("a/#" ~ "a").
      return filter.substr(f) == "#";
    }
    t = t_end + 1;
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
