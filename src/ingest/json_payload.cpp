// json_payload: JSON and NDJSON payloads, read with simdjson's DOM API. The DOM validates the
// whole document (grammar, UTF-8, escapes) before we look at it, so a nested object or array
// kept as a Kind::json cell is known to be JSON; On-Demand would be faster but validates only
// what is visited. simdjson reads up to SIMDJSON_PADDING bytes past its input, which a payload
// view cannot promise, so the payload is first copied into a padded buffer kept per thread,
// beside the parser (whose buffers are likewise reused from one message to the next).
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "ingest/payload_internal.h"

namespace mqbase::ingest::detail {
namespace {

namespace dom = simdjson::dom;

// A DOM parser holds about 15 bytes of buffers per byte of the largest document it has seen
// (tape, strings, structural indexes). Typical telemetry is far smaller than this bound, so a
// thread keeps at most ~1 MiB for the next message, and gives back what a bigger one grew.
constexpr size_t kKeepBytes = size_t{64} << 10;

struct Scratch {
  dom::parser parser;
  std::unique_ptr<char[]> buffer;
  size_t capacity = 0;

  // The payload copied into `buffer`, with readable padding after it.
  const char* pad(std::string_view payload) {
    size_t need = payload.size() + simdjson::SIMDJSON_PADDING;
    if (capacity < need) {
      buffer.reset(new char[need]);
      capacity = need;
    }
    if (!payload.empty()) std::memcpy(buffer.get(), payload.data(), payload.size());
    std::memset(buffer.get() + payload.size(), 0, simdjson::SIMDJSON_PADDING);
    return buffer.get();
  }
};

// Releases the thread's big buffers when the message that grew them is done.
class ScratchUse {
 public:
  ScratchUse() {
    thread_local Scratch scratch;
    s_ = &scratch;
  }
  ~ScratchUse() {
    if (s_->capacity > kKeepBytes || s_->parser.capacity() > kKeepBytes) {
      s_->buffer.reset();
      s_->capacity = 0;
      s_->parser = dom::parser();
    }
  }
  ScratchUse(const ScratchUse&) = delete;
  ScratchUse& operator=(const ScratchUse&) = delete;
  Scratch& operator*() { return *s_; }
  Scratch* operator->() { return s_; }

 private:
  Scratch* s_;
};

// simdjson refuses integer literals beyond the 64-bit range (NUMBER_ERROR), where we want them
// as Kind::number like any number too big for an integer. Such a document is read again with
// ".0" appended to those literals, which makes them doubles and changes nothing else.
bool rewrite_big_integers(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size() + 64);
  bool changed = false;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, text.size());
      out.append(text.substr(i, j - i));
      i = j;
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) {
      out += c;
      ++i;
      continue;
    }
    size_t j = i + 1;
    bool plain = true;  // digits only, after an optional '-'
    while (j < text.size()) {
      char d = text[j];
      if (d >= '0' && d <= '9') {
        ++j;
      } else if (d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-') {
        plain = false;
        ++j;
      } else {
        break;
      }
    }
    std::string_view token = text.substr(i, j - i);
    out.append(token);
    int64_t si;
    uint64_t ui;
    if (plain && token != "-" && !read_int64(token, &si) && !read_uint64(token, &ui)) {
      out += ".0";
      changed = true;
    }
    i = j;
  }
  return changed;
}

// Parses `text` (inside a buffer padded past its end) into `root`.
simdjson::error_code parse_padded(Scratch& s, const char* text, size_t size, dom::element& root) {
  simdjson::error_code error = s.parser.parse(text, size, false).get(root);
  if (error != simdjson::NUMBER_ERROR) return error;
  std::string rewritten;
  if (!rewrite_big_integers(std::string_view(text, size), rewritten)) return error;
  size_t n = rewritten.size();
  rewritten.append(simdjson::SIMDJSON_PADDING, '\0');
  return s.parser.parse(rewritten.data(), n, false).get(root);
}

std::string json_error(std::string_view prefix, simdjson::error_code error) {
  std::string e(prefix);
  e += simdjson::error_message(error);
  return e;
}

// The element as a cell. The strings it points to live in the parser's buffers until its next
// document, so text is copied into the arena.
Cell to_cell(dom::element e, Arena& arena) {
  switch (e.type()) {
    case dom::element_type::INT64: return integer_cell(e.get_int64().value_unsafe());
    case dom::element_type::UINT64:  // above INT64_MAX, or it would be INT64
      return number_cell(static_cast<double>(e.get_uint64().value_unsafe()));
    case dom::element_type::DOUBLE: return number_cell(e.get_double().value_unsafe());
    case dom::element_type::BOOL: return boolean_cell(e.get_bool().value_unsafe());
    case dom::element_type::NULL_VALUE: return Cell{};
    case dom::element_type::STRING: {
      std::string_view s = e.get_string().value_unsafe();
      return text_cell(Cell::Kind::string, s.empty() ? std::string_view("", 0) : arena.copy(s));
    }
    case dom::element_type::ARRAY:
    case dom::element_type::OBJECT: return text_cell(Cell::Kind::json, arena.keep(simdjson::minify(e)));
  }
  return Cell{};
}

std::string count_error(size_t row, size_t expected, size_t found) {
  return row_error(row, "expected " + std::to_string(expected) + " values, found " + std::to_string(found));
}

// [v, v, ...]: one positional row.
std::string positional_row(dom::array values, Arena& arena, ParsedRows& out) {
  size_t width = values.size();
  if (std::string e = check_size(1, width); !e.empty()) return row_error(1, e);
  out.width = width;
  out.cells.reserve(width);
  for (dom::element v : values) out.cells.push_back(to_cell(v, arena));
  return {};
}

// [[v, ...], [v, ...]]: positional rows of `width` values each (the first row's, when 0).
std::string positional_rows(dom::array rows, size_t width, Arena& arena, ParsedRows& out) {
  size_t n = rows.size();
  size_t row = 0;
  for (dom::element r : rows) {
    ++row;
    dom::array values;
    if (r.get_array().get(values) != simdjson::SUCCESS) return row_error(row, "not an array");
    size_t found = values.size();
    if (width == 0) {
      if (found == 0) return row_error(row, "empty row");
      if (std::string e = check_size(n, found); !e.empty()) return e;
      width = found;
    }
    if (found != width) return count_error(row, width, found);
    if (row == 1) {
      out.width = width;
      out.cells.reserve(n * width);
    }
    for (dom::element v : values) out.cells.push_back(to_cell(v, arena));
  }
  return {};
}

// {"data":{"columns":[..],"rows":[[..]]}}: machbase-neo's shape.
std::string neo_rows(dom::object data, Arena& arena, ParsedRows& out) {
  dom::array columns;
  if (data["columns"].get_array().get(columns) != simdjson::SUCCESS)
    return "data.columns is not an array";
  if (columns.size() == 0) return "data.columns is empty";
  dom::array rows;
  if (data["rows"].get_array().get(rows) != simdjson::SUCCESS) return "data.rows is not an array";
  if (std::string e = check_size(rows.size(), columns.size()); !e.empty()) return e;
  out.columns.reserve(columns.size());
  for (dom::element c : columns) {
    std::string_view name;
    if (c.get_string().get(name) != simdjson::SUCCESS)
      return "data.columns: column " + std::to_string(out.columns.size() + 1) + " is not a string";
    out.columns.push_back(ParsedColumn{std::string(name), false});
  }
  if (std::string e = check_unique(out.columns); !e.empty()) return "data.columns: " + e;
  std::string e = positional_rows(rows, out.columns.size(), arena, out);
  out.width = out.columns.size();
  return e;
}

// Adds the members of `object` as a row of `rows`; `row` names it in errors.
std::string named_row(dom::object object, size_t row, NamedRows& rows, Arena& arena) {
  if (std::string e = rows.begin_row(); !e.empty()) return row_error(row, e);
  for (dom::key_value_pair member : object) {
    int64_t column = rows.column(member.key, 0, false);
    if (column < 0) return row_error(row, rows.limit_error(column));
    rows.set(static_cast<size_t>(column), to_cell(member.value, arena));
  }
  return {};
}

}  // namespace

std::string parse_json(std::string_view payload, ParsedRows& out) {
  ScratchUse scratch;
  dom::element root;
  if (auto error = parse_padded(*scratch, scratch->pad(payload), payload.size(), root))
    return json_error("payload is not JSON: ", error);
  Arena arena(out, payload.size());
  dom::array array;
  if (root.get_array().get(array) == simdjson::SUCCESS) {
    if (array.size() == 0) return {};
    if ((*array.begin()).is_array()) return positional_rows(array, 0, arena, out);
    return positional_row(array, arena, out);
  }
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return "payload is not a JSON array or object";
  dom::object data;
  if (object["data"].get_object().get(data) == simdjson::SUCCESS && data["columns"].error() == simdjson::SUCCESS)
    return neo_rows(data, arena, out);
  NamedRows rows(out, arena, payload);
  if (std::string e = named_row(object, 1, rows, arena); !e.empty()) return e;
  return rows.finish();
}

std::string parse_ndjson(std::string_view payload, ParsedRows& out) {
  ScratchUse scratch;
  const char* text = scratch->pad(payload);
  Arena arena(out, payload.size());
  NamedRows rows(out, arena, payload);
  size_t line = 0;
  size_t pos = 0;
  while (pos < payload.size()) {
    ++line;
    size_t end = payload.find('\n', pos);
    if (end == std::string_view::npos) end = payload.size();
    size_t first = pos;
    size_t last = end;
    pos = end + 1;
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (first < last && blank(payload[first])) ++first;
    while (last > first && blank(payload[last - 1])) --last;
    if (first == last) continue;
    // The rest of the payload and the padding follow the line, so simdjson may read past it.
    dom::element root;
    if (auto error = parse_padded(*scratch, text + first, last - first, root))
      return json_error(row_error(line, "not JSON: "), error);
    dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) return row_error(line, "not a JSON object");
    if (std::string e = named_row(object, line, rows, arena); !e.empty()) return e;
  }
  return rows.finish();
}

}  // namespace mqbase::ingest::detail
