// table_schema: see table_schema.h.
#include "store/table_schema.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "store/coding.h"

namespace mqbase::store::tables {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::string_view type_name(ColumnType t) {
  switch (t) {
    case ColumnType::time: return "TIME";
    case ColumnType::tag: return "TAG";
    case ColumnType::float64: return "DOUBLE";
    case ColumnType::int64: return "BIGINT";
    case ColumnType::boolean: return "BOOLEAN";
    case ColumnType::varchar: return "VARCHAR";
    case ColumnType::json: return "JSON";
  }
  return "?";
}

std::optional<ColumnType> parse_type_name(std::string_view name) {
  std::string n = lower(name);
  if (n == "time" || n == "timestamp" || n == "datetime" || n == "timestamptz") return ColumnType::time;
  if (n == "tag") return ColumnType::tag;
  if (n == "double" || n == "float" || n == "float8" || n == "double precision" || n == "real" || n == "float64")
    return ColumnType::float64;
  if (n == "bigint" || n == "int" || n == "integer" || n == "int8" || n == "long" || n == "int64") return ColumnType::int64;
  if (n == "boolean" || n == "bool") return ColumnType::boolean;
  if (n == "varchar" || n == "text" || n == "string") return ColumnType::varchar;
  if (n == "json" || n == "jsonb") return ColumnType::json;
  return std::nullopt;
}

bool is_field(ColumnType t) { return t != ColumnType::time && t != ColumnType::tag; }

std::string_view policy_name(DuplicatePolicy p) {
  switch (p) {
    case DuplicatePolicy::keep_last: return "last";
    case DuplicatePolicy::keep_first: return "first";
    case DuplicatePolicy::keep_all: return "all";
  }
  return "?";
}

std::optional<DuplicatePolicy> parse_policy(std::string_view name) {
  std::string n = lower(name);
  if (n == "last" || n == "keep_last") return DuplicatePolicy::keep_last;
  if (n == "first" || n == "keep_first") return DuplicatePolicy::keep_first;
  if (n == "all" || n == "keep_all") return DuplicatePolicy::keep_all;
  return std::nullopt;
}

int Schema::time_index() const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].type == ColumnType::time) return static_cast<int>(i);
  return -1;
}

int Schema::find(std::string_view column) const {
  // Names are stored in lower case, and most callers already have them so: no copy then.
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == column) return static_cast<int>(i);
  std::string n = lower(column);
  if (n == column) return -1;
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == n) return static_cast<int>(i);
  return -1;
}

std::vector<int> Schema::tag_indexes() const {
  std::vector<int> out;
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].type == ColumnType::tag) out.push_back(static_cast<int>(i));
  return out;
}

std::vector<int> Schema::field_indexes() const {
  std::vector<int> out;
  for (size_t i = 0; i < columns.size(); ++i)
    if (is_field(columns[i].type)) out.push_back(static_cast<int>(i));
  return out;
}

bool normalize_name(std::string_view name, std::string* out) {
  if (name.empty() || name.size() > 63) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name[0])) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  out->assign(name);  // in place, so a reused buffer allocates nothing
  for (char& c : *out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return true;
}

std::string validate(const Schema& s) {
  std::string n;
  if (!normalize_name(s.name, &n) || n != s.name)
    return "table name '" + s.name + "' must be 1 to 63 letters, digits or '_', not starting with a digit";
  int times = 0, fields = 0;
  std::set<std::string> seen;
  for (const Column& c : s.columns) {
    if (!normalize_name(c.name, &n) || n != c.name)
      return "column name '" + c.name + "' must be 1 to 63 letters, digits or '_', not starting with a digit";
    if (!seen.insert(c.name).second) return "column '" + c.name + "' appears twice in table '" + s.name + "'";
    if (c.type == ColumnType::time) ++times;
    if (is_field(c.type)) ++fields;
    if (static_cast<uint8_t>(c.type) < 1 || static_cast<uint8_t>(c.type) > 7) return "column '" + c.name + "' has an unknown type";
  }
  if (times != 1) return "table '" + s.name + "' must have exactly one TIME column (it has " + std::to_string(times) + ")";
  if (fields == 0) return "table '" + s.name + "' has no field column";
  if (s.columns.size() > 1024) return "table '" + s.name + "' has more than 1024 columns";
  if (s.options.partition_ns <= 0) return "partition size must be positive";
  if (s.options.ttl_ns < 0 || s.options.ooo_window_ns < 0) return "retention and out-of-order window must not be negative";
  return "";
}

void encode_schema(const Schema& s, std::string& out) {
  put_varint32(out, s.id);
  put_varint32(out, s.version);
  put_length_prefixed(out, s.name);
  put_varint32(out, static_cast<uint32_t>(s.columns.size()));
  for (const Column& c : s.columns) {
    put_length_prefixed(out, c.name);
    out.push_back(static_cast<char>(c.type));
  }
  put_svarint64(out, s.options.partition_ns);
  put_svarint64(out, s.options.ttl_ns);
  put_svarint64(out, s.options.ooo_window_ns);
  // The policy byte's high bit says a DELETE watermark follows (older encodings lack both).
  bool deleted = s.options.deleted_before != INT64_MIN;
  out.push_back(static_cast<char>(static_cast<uint8_t>(s.options.duplicates) | (deleted ? 0x80 : 0)));
  put_varint64(out, s.options.disk_budget);
  if (deleted) put_svarint64(out, s.options.deleted_before);
}

bool decode_schema(std::string_view& in, Schema& s) {
  uint32_t ncols;
  std::string_view name;
  if (!get_varint32(in, s.id) || !get_varint32(in, s.version) || !get_length_prefixed(in, name) ||
      !get_varint32(in, ncols) || ncols > 1024)
    return false;
  s.name = std::string(name);
  s.columns.assign(ncols, Column{});
  for (Column& c : s.columns) {
    std::string_view cn;
    uint8_t t;
    if (!get_length_prefixed(in, cn) || !get_u8(in, t) || t < 1 || t > 7) return false;
    c.name = std::string(cn);
    c.type = static_cast<ColumnType>(t);
  }
  uint8_t dup;
  if (!get_svarint64(in, s.options.partition_ns) || !get_svarint64(in, s.options.ttl_ns) ||
      !get_svarint64(in, s.options.ooo_window_ns) || !get_u8(in, dup) || (dup & 0x7f) > 2 ||
      !get_varint64(in, s.options.disk_budget))
    return false;
  s.options.deleted_before = INT64_MIN;
  if ((dup & 0x80) && !get_svarint64(in, s.options.deleted_before)) return false;
  s.options.duplicates = static_cast<DuplicatePolicy>(dup & 0x7f);
  return true;
}

std::optional<int64_t> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n <= 0) return std::nullopt;
  std::string unit = lower(std::string_view(p, text.data() + text.size() - p));
  int64_t mult;
  if (unit.empty() || unit == "s" || unit == "sec" || unit == "second" || unit == "seconds") mult = kNanosPerSecond;
  else if (unit == "ms") mult = 1'000'000;
  else if (unit == "us") mult = 1'000;
  else if (unit == "ns") mult = 1;
  else if (unit == "m" || unit == "min" || unit == "minute" || unit == "minutes") mult = 60 * kNanosPerSecond;
  else if (unit == "h" || unit == "hour" || unit == "hours") mult = 3600 * kNanosPerSecond;
  else if (unit == "d" || unit == "day" || unit == "days") mult = kDay;
  else if (unit == "w" || unit == "week" || unit == "weeks") mult = 7 * kDay;
  else return std::nullopt;
  if (n > INT64_MAX / mult) return std::nullopt;
  return n * mult;
}

std::string format_duration(int64_t ns) {
  struct Unit { int64_t n; const char* s; };
  for (Unit u : {Unit{7 * kDay, "w"}, Unit{kDay, "d"}, Unit{3600 * kNanosPerSecond, "h"}, Unit{60 * kNanosPerSecond, "m"},
                 Unit{kNanosPerSecond, "s"}, Unit{1'000'000, "ms"}, Unit{1'000, "us"}})
    if (ns != 0 && ns % u.n == 0) return std::to_string(ns / u.n) + u.s;
  return std::to_string(ns) + "ns";
}

}  // namespace mqbase::store::tables
