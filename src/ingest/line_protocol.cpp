// line_protocol: InfluxDB line protocol payloads (docs.influxdata.com, "Line protocol", v2):
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
// one point per line; '#' comments and blank lines are skipped; \r\n line ends are accepted.
// Lines may name different tags and fields, so the rectangle is built with NamedRows in four
// groups: "measurement", the tags, the fields, "time"; a tag or field a line lacks is null, as
// is the time of a line without a timestamp (the caller puts in the receive time). A tag and a
// field may not share a name, nor take the names "measurement" and "time".
//
// Escapes: in the measurement, tag keys and values and field keys a backslash before a comma,
// space, '=' or backslash stands for that character (any other backslash is itself); in a
// string field a backslash before '"' or a backslash. Text with escapes is unescaped into the
// arena, the rest points into the payload. String fields may hold newlines; errors name the
// line a point starts on.
#include <algorithm>
#include <limits>

#include "ingest/payload_internal.h"

namespace mqbase::ingest::detail {
namespace {

enum Group : uint8_t { kMeasurement, kTags, kFields, kTime };

bool is_boolean(std::string_view v, bool* value) {
  if (v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE") {
    *value = true;
    return true;
  }
  if (v == "f" || v == "F" || v == "false" || v == "False" || v == "FALSE") {
    *value = false;
    return true;
  }
  return false;
}

class LineReader {
 public:
  LineReader(std::string_view payload, ParsedRows& out)
      : in_(payload),
        arena_(out, payload.size()),
        rows_(out, arena_, payload) {}

  std::string read() {
    while (pos_ < in_.size()) {
      while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\r')) ++pos_;
      if (pos_ == in_.size()) break;
      if (in_[pos_] == '\n') {
        next_line();
        continue;
      }
      if (in_[pos_] == '#') {
        while (pos_ < in_.size() && in_[pos_] != '\n') ++pos_;
        continue;
      }
      if (std::string e = point(); !e.empty()) return line_error(point_line_, e);
    }
    return rows_.finish();
  }

 private:
  void next_line() {
    ++pos_;
    ++line_;
  }
  bool at_line_end() const {
    return pos_ == in_.size() || in_[pos_] == '\n' ||
           (in_[pos_] == '\r' && (pos_ + 1 == in_.size() || in_[pos_ + 1] == '\n'));
  }

  // A measurement, tag or field key, or tag value: up to an unescaped ',', ' ', end of line
  // or, when `equals` stops it, '='.
  std::string_view name(bool equals) {
    size_t start = pos_;
    bool escaped = false;
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == '\\' && pos_ + 1 < in_.size()) {
        char n = in_[pos_ + 1];
        if (n == ',' || n == ' ' || n == '=' || n == '\\') {
          escaped = true;
          pos_ += 2;
          continue;
        }
      }
      if (c == ',' || c == ' ' || c == '\n' || (equals && c == '=')) break;
      ++pos_;
    }
    std::string_view raw = in_.substr(start, pos_ - start);
    if (!escaped) return raw;
    std::string& slab = arena_.room(raw.size());
    size_t from = slab.size();
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) {
        char n = raw[i + 1];
        if (n == ',' || n == ' ' || n == '=' || n == '\\') ++i;
      }
      slab += raw[i];
    }
    return {slab.data() + from, slab.size() - from};
  }

  // The column of a tag or field key; "" or the error.
  std::string column(std::string_view key, Group group, int64_t* column) {
    *column = rows_.column(key, group, group == kTags);
    if (*column >= 0) return {};
    if (*column != NamedRows::kOtherGroup) return rows_.limit_error(*column);
    if (key == "measurement" || key == "time") return quoted(key) + " is a reserved name";
    return quoted(key) + " is both a tag and a field";
  }

  std::string string_field(Cell* cell) {
    size_t start = ++pos_;
    bool escaped = false;
    while (pos_ < in_.size() && in_[pos_] != '"') {
      if (in_[pos_] == '\\' && pos_ + 1 < in_.size() && (in_[pos_ + 1] == '"' || in_[pos_ + 1] == '\\')) {
        escaped = true;
        ++pos_;
      } else if (in_[pos_] == '\n') {
        ++line_;
      }
      ++pos_;
    }
    if (pos_ == in_.size()) return "unterminated string field";
    std::string_view raw = in_.substr(start, pos_ - start);
    ++pos_;
    if (!escaped) {
      *cell = text_cell(Cell::Kind::string, raw);
      return {};
    }
    std::string& slab = arena_.room(raw.size());
    size_t from = slab.size();
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size() && (raw[i + 1] == '"' || raw[i + 1] == '\\')) ++i;
      slab += raw[i];
    }
    *cell = text_cell(Cell::Kind::string, std::string_view(slab.data() + from, slab.size() - from));
    return {};
  }

  // An unquoted field value: up to ',', ' ' or the end of the line.
  std::string_view token() {
    size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] != ',' && in_[pos_] != ' ' && in_[pos_] != '\n') ++pos_;
    std::string_view v = in_.substr(start, pos_ - start);
    if (!v.empty() && v.back() == '\r' && (pos_ == in_.size() || in_[pos_] == '\n')) v.remove_suffix(1);
    return v;
  }

  static std::string value_cell(std::string_view v, Cell* cell) {
    if (v.empty()) return "missing field value";
    bool b;
    if (v.back() == 'i') {
      int64_t i;
      if (!read_int64(v.substr(0, v.size() - 1), &i)) return "invalid integer field value " + quoted(v);
      *cell = integer_cell(i);
    } else if (v.back() == 'u') {
      uint64_t u;
      if (!read_uint64(v.substr(0, v.size() - 1), &u)) return "invalid unsigned field value " + quoted(v);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return "unsigned field value " + quoted(v) + " does not fit int64";
      *cell = integer_cell(static_cast<int64_t>(u));
    } else if (is_boolean(v, &b)) {
      *cell = boolean_cell(b);
    } else {
      double d;
      if (!read_double(v, &d)) return "invalid field value " + quoted(v);
      *cell = number_cell(d);
    }
    return {};
  }

  std::string point() {
    point_line_ = line_;
    if (measurement_ < 0) measurement_ = rows_.column("measurement", kMeasurement, true);
    std::string_view measurement = name(false);
    if (measurement.empty()) return "missing measurement";
    if (std::string e = rows_.begin_row(); !e.empty()) return e;
    rows_.set(static_cast<size_t>(measurement_), text_cell(Cell::Kind::string, measurement));

    while (pos_ < in_.size() && in_[pos_] == ',') {
      ++pos_;
      std::string_view key = name(true);
      if (key.empty()) return "missing tag key";
      if (pos_ == in_.size() || in_[pos_] != '=') return "missing '=' after tag key " + quoted(key);
      ++pos_;
      std::string_view value = name(false);
      if (value.empty()) return "missing value of tag " + quoted(key);
      int64_t c;
      if (std::string e = column(key, kTags, &c); !e.empty()) return e;
      rows_.set(static_cast<size_t>(c), text_cell(Cell::Kind::string, value));
    }

    if (at_line_end()) return "missing fields";
    while (pos_ < in_.size() && in_[pos_] == ' ') ++pos_;
    for (;;) {
      std::string_view key = name(true);
      if (key.empty()) return "missing field key";
      if (pos_ == in_.size() || in_[pos_] != '=') return "missing '=' after field key " + quoted(key);
      ++pos_;
      Cell cell;
      if (pos_ < in_.size() && in_[pos_] == '"') {
        if (std::string e = string_field(&cell); !e.empty()) return e;
        if (!at_line_end() && in_[pos_] != ',' && in_[pos_] != ' ')
          return "unexpected text after string field " + quoted(key);
      } else if (std::string e = value_cell(token(), &cell); !e.empty()) {
        return e;
      }
      int64_t c;
      if (std::string e = column(key, kFields, &c); !e.empty()) return e;
      rows_.set(static_cast<size_t>(c), cell);
      if (pos_ < in_.size() && in_[pos_] == ',') {
        ++pos_;
        continue;
      }
      break;
    }

    while (pos_ < in_.size() && in_[pos_] == ' ') ++pos_;
    Cell time;
    if (!at_line_end()) {
      std::string_view t = token();
      int64_t ns;
      if (!read_int64(t, &ns)) return "invalid timestamp " + quoted(t);
      time = integer_cell(ns);
      while (pos_ < in_.size() && in_[pos_] == ' ') ++pos_;
      if (!at_line_end()) return "unexpected text after the timestamp";
    }
    if (time_ < 0 && (time_ = rows_.column("time", kTime, false)) < 0)
      return time_ == NamedRows::kOtherGroup ? "'time' is a reserved name" : rows_.limit_error(time_);
    rows_.set(static_cast<size_t>(time_), time);

    while (pos_ < in_.size() && in_[pos_] != '\n') ++pos_;  // a \r
    if (pos_ < in_.size()) next_line();
    return {};
  }

  std::string_view in_;
  Arena arena_;
  NamedRows rows_;
  size_t pos_ = 0;
  size_t line_ = 1;
  size_t point_line_ = 1;
  int64_t measurement_ = -1;
  int64_t time_ = -1;
};

}  // namespace

std::string parse_line_protocol(std::string_view payload, ParsedRows& out) {
  LineReader reader(payload, out);
  return reader.read();
}

}  // namespace mqbase::ingest::detail
