// Ingest rules: see ingest_rules.h. The payload is parsed with simdjson's DOM (one parser per
// thread) and the configured paths are read with JSON pointers.
#include "ingest/ingest_rules.h"

#include <simdjson.h>

#include <atomic>
#include <charconv>
#include <stdexcept>

#include "mqtt/topic.h"
#include "store/table_schema.h"

namespace mqbase::ingest {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

void escape_pointer_token(std::string_view token, std::string& out) {
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
}

// The cell of a JSON element; strings and JSON text go to the arena.
Cell cell_of(simdjson::dom::element e, ParsedRows& out) {
  Cell c;
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      c.kind = Cell::Kind::integer;
      c.i = int64_t(e);
      c.d = static_cast<double>(c.i);
      break;
    case simdjson::dom::element_type::UINT64:
      c.kind = Cell::Kind::number;
      c.d = static_cast<double>(uint64_t(e));
      break;
    case simdjson::dom::element_type::DOUBLE:
      c.kind = Cell::Kind::number;
      c.d = double(e);
      break;
    case simdjson::dom::element_type::BOOL:
      c.kind = Cell::Kind::boolean;
      c.i = bool(e) ? 1 : 0;
      break;
    case simdjson::dom::element_type::STRING:
      c.kind = Cell::Kind::string;
      c.s = out.arena.emplace_back(std::string_view(e));
      break;
    case simdjson::dom::element_type::NULL_VALUE: break;
    default:
      c.kind = Cell::Kind::json;
      c.s = out.arena.emplace_back(simdjson::minify(e));
      break;
  }
  return c;
}

// A text cell that points at `s` itself: for the message's topic and payload, which outlive the
// rows made of them (apply()'s contract).
Cell view_cell(std::string_view s) {
  Cell c;
  c.kind = Cell::Kind::string;
  c.s = s;
  return c;
}

Cell text_cell(std::string_view s, ParsedRows& out) {
  Cell c;
  c.kind = Cell::Kind::string;
  c.s = out.arena.emplace_back(s);
  return c;
}

// What the last apply() on this thread left in its `out`, so that a message laid out like the
// one before (the same rule and path, the same keys in the same order, the same of them taken as
// columns) is recognised without comparing a column name: a device sends the same keys each time.
struct LayoutMemory {
  uint64_t rule = 0;  // IngestRule::id_ (not its address: a rule made where another was is another)
  const ParsedRows* out = nullptr;
  int path = -1;            // archive, number or object (Path below)
  uint64_t layout = 0;      // what out.layout was then (0: unknown, e.g. after an error)
  uint64_t next_layout = 0; // this thread's last layout id
  // Per place in the JSON object: its key, the column name of that key ("" where the key cannot
  // be a column), and whether the key was wanted (a number or boolean) and made a column.
  struct Key {
    std::string raw, name;
    bool wanted = false, added = false;
  };
  std::vector<Key> keys;
};
thread_local LayoutMemory t_memory;

// Builds one message's columns into `out`, keeping the columns of the message before in place
// (`out.width` counts those in use): the names are assigned into strings that already hold them,
// and while `same` (the columns so far are those of the message before) not even compared.
struct ColumnWriter {
  ParsedRows& out;
  bool same;
  void add(std::string_view name, bool tag, Cell c) {
    if (out.width < out.columns.size()) {
      ParsedColumn& col = out.columns[out.width];
      if (!same && (col.tag != tag || col.name != name)) {
        col.name.assign(name);
        col.tag = tag;
      }
    } else {
      out.columns.push_back({std::string(name), tag});
      same = false;
    }
    ++out.width;
    out.cells.push_back(c);
  }
};

bool taken(const ParsedRows& out, std::string_view name) {
  for (size_t c = 0; c < out.width; ++c)
    if (out.columns[c].name == name) return true;
  return false;
}

}  // namespace

std::optional<std::string> json_path_to_pointer(std::string_view path) {
  std::string out;
  if (path.starts_with("$")) path.remove_prefix(1);  // else "a.b": from the root as well
  size_t i = 0;
  bool first = true;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      size_t e = i;
      while (e < path.size() && path[e] != '.' && path[e] != '[') ++e;
      if (e == i) return std::nullopt;
      out += '/';
      escape_pointer_token(path.substr(i, e - i), out);
      i = e;
    } else if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string_view::npos || close == i + 1) return std::nullopt;
      std::string_view inner = path.substr(i + 1, close - i - 1);
      if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"') && inner.back() == inner.front()) {
        inner = inner.substr(1, inner.size() - 2);
      } else {
        for (char c : inner)
          if (c < '0' || c > '9') return std::nullopt;
      }
      out += '/';
      escape_pointer_token(inner, out);
      i = close + 1;
    } else if (first) {
      size_t e = i;
      while (e < path.size() && path[e] != '.' && path[e] != '[') ++e;
      out += '/';
      escape_pointer_token(path.substr(i, e - i), out);
      i = e;
    } else {
      return std::nullopt;
    }
    first = false;
  }
  if (out.empty()) return std::nullopt;  // "$": the whole document is no column
  return out;
}

IngestRule::IngestRule(const RuleConfig& c) : timeformat_(c.timeformat), archive_(c.archive) {
  static std::atomic<uint64_t> ids{0};
  id_ = ids.fetch_add(1, std::memory_order_relaxed) + 1;
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("ingest rule '" + c.topic + "': " + why);
  };
  if (!store::tables::normalize_name(c.table, &table_)) fail("table '" + c.table + "' is not a valid table name");
  // "+name" levels: the filter has "+", and the level's text is a tag.
  std::string_view t = c.topic;
  size_t level = 0;
  while (true) {
    size_t slash = t.find('/');
    std::string_view part = t.substr(0, slash);
    if (part.size() > 1 && part.front() == '+') {
      std::string tag;
      if (!store::tables::normalize_name(part.substr(1), &tag)) fail("'" + std::string(part) + "': a tag name follows '+'");
      topic_tags_.emplace_back(level, tag);
      filter_ += '+';
    } else {
      filter_ += part;
    }
    if (slash == std::string_view::npos) break;
    filter_ += '/';
    t.remove_prefix(slash + 1);
    ++level;
  }
  if (!mqtt::valid_topic_filter(filter_)) fail("'" + filter_ + "' is not a valid topic filter");
  if (filter_.starts_with("db/")) fail("db/... topics are ingested by their own names (docs/ingest.md)");
  auto pointer = [&](const std::string& path) {
    auto p = json_path_to_pointer(path);
    if (!p) fail("JSON path '" + path + "' is not valid (use $.a.b or $.a[0])");
    return *p;
  };
  for (auto& [col, path] : c.tags) {
    std::string n;
    if (!store::tables::normalize_name(col, &n)) fail("tag name '" + col + "' is not valid");
    tags_.emplace_back(n, pointer(path));
  }
  for (auto& [col, path] : c.fields) {
    std::string n;
    if (!store::tables::normalize_name(col, &n)) fail("field name '" + col + "' is not valid");
    fields_.emplace_back(n, pointer(path));
  }
  if (!c.time.empty()) {
    time_pointer_ = pointer(c.time);
    if (time_pointer_.find_first_of("/~", 1) == std::string::npos) time_key_ = time_pointer_.substr(1);
    has_time_ = true;
  }
  if (archive_ && (!tags_.empty() || !fields_.empty() || has_time_))
    fail("an archive rule keeps whole messages: it takes no tags, fields or time");
}

bool IngestRule::matches(std::string_view topic) const { return mqtt::topic_matches(filter_, topic); }

std::string IngestRule::apply(std::string_view topic, std::string_view payload, uint8_t qos,
                              std::string_view properties_json, ParsedRows& out) const {
  out.cells.clear();
  out.arena.clear();
  out.width = 0;  // the columns are rewritten in place; resized at the end
  LayoutMemory& memory = t_memory;
  enum Path { archive, number, object };
  std::string_view text = trim(payload);
  double plain = 0;
  Path path = archive_ ? archive : object;
  if (!archive_ && !text.empty() && text.front() != '{' && text.front() != '[') {
    // A plain number: the field `value`.
    if (auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), plain);
        ec == std::errc() && p == text.data() + text.size())
      path = number;
  }
  const uint64_t previous = out.layout;
  ColumnWriter w{out, memory.rule == id_ && memory.out == &out && memory.path == path && memory.layout != 0 &&
                          previous == memory.layout};
  memory.rule = id_;
  memory.out = &out;
  memory.path = path;
  memory.layout = 0;  // unknown until this message's columns are complete
  out.layout = 0;
  // The columns are complete: the same layout as the message before keeps its id.
  auto done = [&]() -> std::string {
    if (w.same && out.width == out.columns.size()) {
      out.layout = previous;
    } else {
      out.columns.resize(out.width);
      out.layout = ++memory.next_layout;
    }
    memory.layout = out.layout;
    return "";
  };
  // A column that is a field: not a tag, not the time.
  auto any_field = [&] {
    for (size_t c = 0; c < out.width; ++c)
      if (!out.columns[c].tag && out.columns[c].name != "time") return true;
    return false;
  };
  // Tags from the topic's levels.
  auto topic_level = [&](size_t want) {
    std::string_view t = topic;
    for (size_t l = 0; l < want; ++l) {
      size_t slash = t.find('/');
      if (slash == std::string_view::npos) return std::string_view();
      t.remove_prefix(slash + 1);
    }
    return t.substr(0, t.find('/'));
  };
  for (auto& [level, tag] : topic_tags_) w.add(tag, true, view_cell(topic_level(level)));
  if (path == archive) {
    Cell q;
    q.kind = Cell::Kind::integer;
    q.i = qos;
    q.d = qos;
    w.add("topic", true, view_cell(topic));
    w.add("payload", false, view_cell(payload));
    w.add("qos", false, q);
    Cell p;
    if (!properties_json.empty()) {
      p.kind = Cell::Kind::json;
      p.s = out.arena.emplace_back(properties_json);
    }
    w.add("properties", false, p);
    return done();
  }
  if (path == number) {
    Cell c;
    c.kind = Cell::Kind::number;
    c.d = plain;
    w.add(fields_.empty() ? std::string_view("value") : std::string_view(fields_.front().first), false, c);
    return done();
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(payload.data(), payload.size()).get(doc); err)
    return std::string("payload is neither a number nor JSON: ") + simdjson::error_message(err);
  for (auto& [col, ptr] : tags_) {
    simdjson::dom::element e;
    Cell c;
    if (!doc.at_pointer(ptr).get(e)) c = cell_of(e, out);
    if (c.kind != Cell::Kind::null && c.kind != Cell::Kind::string) c = text_cell(simdjson::minify(e), out);
    w.add(col, true, c);
  }
  if (has_time_) {
    simdjson::dom::element e;
    // A member of the top object is found by its key, without reading a pointer.
    if (auto err = (time_key_.empty() ? doc.at_pointer(time_pointer_) : doc.at_key(time_key_)).get(e); err)
      return "the payload has no time at the rule's path";
    w.add("time", false, cell_of(e, out));
  }
  if (!fields_.empty()) {
    for (auto& [col, ptr] : fields_) {
      simdjson::dom::element e;
      Cell c;
      if (!doc.at_pointer(ptr).get(e)) c = cell_of(e, out);
      w.add(col, false, c);
    }
    if (!any_field()) return "the payload has no field the rule can store";
    return done();
  }
  simdjson::dom::object obj;
  if (doc.get(obj)) return "the payload is not a JSON object, and the rule names no fields";
  // Every number and boolean is a field, named by its key. What the message before made of each
  // key, by its place in the object, is found again by comparing the key: the name checked and
  // lower-cased then, and, while the columns so far are the same as then, whether it is taken.
  size_t place = 0;
  for (auto [key, value] : obj) {
    auto type = value.type();
    const bool scalar = type == simdjson::dom::element_type::INT64 || type == simdjson::dom::element_type::UINT64 ||
                        type == simdjson::dom::element_type::DOUBLE || type == simdjson::dom::element_type::BOOL;
    if (place == memory.keys.size()) {
      memory.keys.emplace_back();
      w.same = false;
    }
    LayoutMemory::Key& k = memory.keys[place++];
    if (k.raw != key) {
      k.raw.assign(key);
      if (!store::tables::normalize_name(key, &k.name)) k.name.clear();
      w.same = false;
    }
    const bool wanted = scalar && !k.name.empty();
    bool add = false;
    if (w.same && k.wanted == wanted) add = k.added;
    else add = wanted && !taken(out, k.name) && !(has_time_ && k.name == "time");
    if (add != k.added) w.same = false;
    k.wanted = wanted;
    k.added = add;
    if (!add) continue;
    w.add(k.name, false, cell_of(value, out));
  }
  if (place != memory.keys.size()) {
    // Fewer keys than the message before: what those places made is unknown now.
    memory.keys.resize(place);
    w.same = false;
  }
  if (!any_field()) return "the payload has no field the rule can store";
  return done();
}

}  // namespace mqbase::ingest
