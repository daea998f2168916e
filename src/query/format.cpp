// format: the result encoders (format.h). Each format is one class behind ResultWriter; they
// share WriterBase (the output buffer, the counters, the order of finish()'s cases) and Cells
// (how a value becomes JSON or text). Time formatting is ingest's (format_time), so that what a
// query writes in a zone is what ingest reads back in it.
#include "query/format.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "ingest/payload.h"

namespace mqbase::query {
namespace {

constexpr size_t kFlushBytes = 64 * 1024;
constexpr int kMaxPrecision = 100;
constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kNanosPerDay = 86'400 * kNanosPerSecond;

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

// `text` in single quotes for an error message: cut to 40 bytes, anything but printable ASCII
// as \xHH.
std::string in_quotes(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string r = "'";
  for (size_t i = 0; i < text.size() && i < 40; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      r.push_back(static_cast<char>(c));
    } else {
      r += "\\x";
      r.push_back(kHex[c >> 4]);
      r.push_back(kHex[c & 15]);
    }
  }
  if (text.size() > 40) r += "...";
  r.push_back('\'');
  return r;
}

void append_int(int64_t v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// The length of the valid UTF-8 sequence at p (n bytes left, p[0] >= 0x80), or 0.
size_t utf8_length(const unsigned char* p, size_t n) {
  auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return k < n && p[k] >= lo && p[k] <= hi;
  };
  unsigned char c = p[0];
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;  // no surrogates
  if (c == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// Terminal columns a text takes: East Asian wide characters two, combining marks none, anything
// else (invalid bytes too) one. Enough for a box around Hangul, CJK and emoji.
size_t display_width(std::string_view s) {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    if (p[i] < 0x80) {
      ++width;
      ++i;
      continue;
    }
    size_t len = utf8_length(p + i, s.size() - i);
    if (len == 0) {
      ++width;
      ++i;
      continue;
    }
    uint32_t cp = len == 2 ? (p[i] & 0x1fu) << 6 | (p[i + 1] & 0x3fu)
                  : len == 3 ? (p[i] & 0x0fu) << 12 | (p[i + 1] & 0x3fu) << 6 | (p[i + 2] & 0x3fu)
                             : (p[i] & 0x07u) << 18 | (p[i + 1] & 0x3fu) << 12 | (p[i + 2] & 0x3fu) << 6 |
                                   (p[i + 3] & 0x3fu);
    i += len;
    if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) continue;
    bool wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
                (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
                (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
                (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}

// ---- Time formats ------------------------------------------------------------------------

// A timeformat option resolved: what ingest::format_time takes, and how json shows it.
struct TimeFormat {
  std::string format;   // "ns", "us", "ms", "s" or a Go layout
  bool number = true;   // json/ndjson: an epoch number; else a string
};

// machbase-neo's names for layouts (docs.machbase.com/neo/options/timeformat), any case.
constexpr std::pair<std::string_view, std::string_view> kNamedLayouts[] = {
    {"default", "2006-01-02 15:04:05.999"},
    {"default_ms", "2006-01-02 15:04:05.999"},
    {"default_us", "2006-01-02 15:04:05.999999"},
    {"default_ns", "2006-01-02 15:04:05.999999999"},
    {"default.ms", "2006-01-02 15:04:05.000"},
    {"default.us", "2006-01-02 15:04:05.000000"},
    {"default.ns", "2006-01-02 15:04:05.000000000"},
    {"numeric", "01/02 03:04:05PM '06 -0700"},
    {"ansic", "Mon Jan _2 15:04:05 2006"},
    {"unix", "Mon Jan _2 15:04:05 MST 2006"},
    {"ruby", "Mon Jan 02 15:04:05 -0700 2006"},
    {"rfc822", "02 Jan 06 15:04 MST"},
    {"rfc822z", "02 Jan 06 15:04 -0700"},
    {"rfc850", "Monday, 02-Jan-06 15:04:05 MST"},
    {"rfc1123", "Mon, 02 Jan 2006 15:04:05 MST"},
    {"rfc1123z", "Mon, 02 Jan 2006 15:04:05 -0700"},
    {"rfc3339", "2006-01-02T15:04:05Z07:00"},
    {"rfc3339nano", "2006-01-02T15:04:05.999999999Z07:00"},
    {"kitchen", "3:04:05PM"},
    {"stamp", "Jan _2 15:04:05"},
    {"stampmilli", "Jan _2 15:04:05.000"},
    {"stampmicro", "Jan _2 15:04:05.000000"},
    {"stampnano", "Jan _2 15:04:05.000000000"},
    {"s_ns", "05.999999999"},
    {"s_us", "05.999999"},
    {"s_ms", "05.999"},
    {"s.ns", "05.000000000"},
    {"s.us", "05.000000"},
    {"s.ms", "05.000"},
};

bool resolve_time_format(std::string_view name, TimeFormat* tf, std::string* error) {
  std::string key = lower(name);
  if (key.empty()) key = "ns";
  for (std::string_view unit : {"ns", "us", "ms", "s"}) {
    if (key == unit || key == std::string(unit) + ".str") {
      tf->format = unit;
      tf->number = key == unit;
      return true;
    }
  }
  tf->number = false;
  tf->format = name;
  for (auto [n, layout] : kNamedLayouts) {
    if (key == n) {
      tf->format = layout;
      break;
    }
  }
  std::string probe;
  if (!ingest::format_time(0, tf->format, "UTC", &probe, error)) return false;
  return true;
}

// ---- Values ------------------------------------------------------------------------------

// How values become text, for every format: numbers, times and intervals per the options; JSON
// values checked (json/ndjson emit them raw only when they parse).
class Cells {
 public:
  Cells(const FormatOptions& options, TimeFormat time) : options_(options), time_(std::move(time)) {}

  const TimeFormat& time() const { return time_; }

  void number(double v, std::string& out) const {
    char buf[512];  // 309 integer digits, the point, kMaxPrecision digits
    auto [end, ec] = options_.precision < 0
                         ? std::to_chars(buf, buf + sizeof buf, v)
                         : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, options_.precision);
    out.append(buf, end);
  }

  void time_text(int64_t ns, std::string& out) const {
    ingest::format_time(ns, time_.format, options_.tz, &out, nullptr);
  }

  // Row r of v as a JSON value.
  void json(const Vector& v, size_t r, std::string& out) {
    if (v.is_null(r)) {
      out += "null";
      return;
    }
    size_t k = v.at(r);
    switch (v.type) {
      case Type::null: out += "null"; return;
      case Type::boolean: out += v.i[k] ? "true" : "false"; return;
      case Type::int64:
      case Type::interval: append_int(v.i[k], out); return;
      case Type::float64:
        if (std::isfinite(v.f[k])) {
          number(v.f[k], out);
        } else {
          out += "null";  // JSON has no NaN or Infinity
        }
        return;
      case Type::text: append_json_string(v.s[k], out); return;
      case Type::timestamp:
        if (time_.number) {
          time_text(v.i[k], out);
        } else {
          scratch_.clear();
          time_text(v.i[k], scratch_);
          append_json_string(scratch_, out);
        }
        return;
      case Type::json: json_text(v.s[k], out); return;
    }
  }

  // Row r of v as text (csv, box); the caller handles NULL.
  void text(const Vector& v, size_t r, std::string& out) const {
    size_t k = v.at(r);
    switch (v.type) {
      case Type::null: return;
      case Type::boolean: out += v.i[k] ? "true" : "false"; return;
      case Type::int64: append_int(v.i[k], out); return;
      case Type::interval: append_interval(v.i[k], out); return;
      case Type::float64: {
        double f = v.f[k];
        if (std::isnan(f)) {
          out += "NaN";
        } else if (std::isinf(f)) {
          out += f > 0 ? "Infinity" : "-Infinity";  // PostgreSQL's words
        } else {
          number(f, out);
        }
        return;
      }
      case Type::text:
      case Type::json: out += v.s[k]; return;
      case Type::timestamp: time_text(v.i[k], out); return;
    }
  }

 private:
  // A json-typed value: its text minified when it parses (so an NDJSON line stays one line),
  // else as a JSON string.
  void json_text(std::string_view s, std::string& out) {
    simdjson::dom::element root;
    if (parser_.parse(s.data(), s.size(), true).get(root) != simdjson::SUCCESS) {
      append_json_string(s, out);
      return;
    }
    size_t at = out.size();
    out.resize(at + s.size());
    size_t n = 0;
    if (simdjson::minify(s.data(), s.size(), out.data() + at, n) != simdjson::SUCCESS) {
      out.resize(at);
      append_json_string(s, out);
      return;
    }
    out.resize(at + n);
  }

  const FormatOptions& options_;
  TimeFormat time_;
  simdjson::dom::parser parser_;
  std::string scratch_;
};

// ---- The shared writer -------------------------------------------------------------------

class WriterBase : public ResultWriter {
 public:
  WriterBase(const FormatOptions& options, TimeFormat time, WriteFn out)
      : options_(options), cells_(options_, std::move(time)), out_(std::move(out)) {
    buf_.reserve(kFlushBytes + 4096);
  }

  uint64_t bytes_sent() const override { return sent_; }
  uint64_t rows_written() const override { return rows_; }
  bool client_gone() const override { return gone_; }

  void begin(const std::vector<ColumnInfo>& columns) override {
    if (begun_ || finished_) return;
    begun_ = true;
    columns_ = columns;
    if (options_.rownum) columns_.insert(columns_.begin(), ColumnInfo{"ROWNUM", Type::int64});
    on_begin();
  }

  bool rows(const Chunk& chunk) override {
    if (gone_ || finished_ || !begun_) return false;
    for (size_t r = 0; r < chunk.rows; ++r) {
      ++rows_;
      write_row(chunk, r);
      if (buf_.size() >= kFlushBytes && !flush()) return false;
    }
    return chunk.rows == 0 || flush();
  }

  void finish(const QueryStatus& status, std::chrono::nanoseconds elapse) final {
    if (gone_ || finished_) return;
    finished_ = true;
    std::string duration = go_duration(elapse);
    if (!status.ok && sent_ == 0) {
      buf_.clear();
      write_error(status.describe(), duration);
    } else if (!status.ok) {
      write_error_after_rows(status.describe(), duration);
    } else if (!begun_) {
      write_done(status.tag.empty() ? "success" : status.tag, duration);
    } else {
      write_end(duration);
    }
    flush();
  }

 protected:
  // Column i of a chunk: the columns after ROWNUM map to the chunk's (null when missing).
  const Vector* column(const Chunk& chunk, size_t i) const {
    size_t c = options_.rownum ? i - 1 : i;
    return c < chunk.columns.size() ? &chunk.columns[c] : nullptr;
  }
  bool is_rownum(size_t i) const { return options_.rownum && i == 0; }
  bool begun() const { return begun_; }

  virtual void on_begin() = 0;
  virtual void write_row(const Chunk& chunk, size_t r) = 0;
  virtual void write_end(std::string_view elapse) = 0;
  virtual void write_done(std::string_view tag, std::string_view elapse) = 0;
  virtual void write_error(std::string_view reason, std::string_view elapse) = 0;
  virtual void write_error_after_rows(std::string_view reason, std::string_view elapse) = 0;

  bool flush() {
    if (buf_.empty() || gone_) return !gone_;
    bool ok = out_(buf_);
    sent_ += buf_.size();
    buf_.clear();
    if (!ok) gone_ = true;
    return ok;
  }

  const FormatOptions options_;
  Cells cells_;
  std::vector<ColumnInfo> columns_;  // ROWNUM first when asked for
  std::string buf_;
  uint64_t rows_ = 0;
  bool finished_ = false;

 private:
  WriteFn out_;
  uint64_t sent_ = 0;
  bool begun_ = false;
  bool gone_ = false;
};

// {"success":...,"reason":...,"elapse":...}: how json and ndjson end without a data part.
void append_status_object(bool success, std::string_view reason, std::string_view elapse, std::string& out) {
  out += success ? "{\"success\":true,\"reason\":" : "{\"success\":false,\"reason\":";
  append_json_string(reason, out);
  out += ",\"elapse\":";
  append_json_string(elapse, out);
  out += '}';
}

// ---- json --------------------------------------------------------------------------------

class JsonWriter final : public WriterBase {
 public:
  using WriterBase::WriterBase;
  std::string_view content_type() const override { return "application/json"; }

 private:
  void on_begin() override {
    buf_ += "{\"data\":{\"columns\":[";
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) buf_ += ',';
      append_json_string(columns_[i].name, buf_);
    }
    buf_ += "],\"types\":[";
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) buf_ += ',';
      append_json_string(neo_type_name(columns_[i].type), buf_);
    }
    buf_ += "],\"rows\":[";
  }

  void write_row(const Chunk& chunk, size_t r) override {
    buf_ += rows_ > 1 ? ",[" : "[";
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) buf_ += ',';
      if (is_rownum(i)) {
        append_int(static_cast<int64_t>(rows_), buf_);
      } else if (const Vector* v = column(chunk, i)) {
        cells_.json(*v, r, buf_);
      } else {
        buf_ += "null";
      }
    }
    buf_ += ']';
  }

  void write_end(std::string_view elapse) override {
    buf_ += "]},\"success\":true,\"reason\":\"success\",\"elapse\":";
    append_json_string(elapse, buf_);
    buf_ += '}';
  }
  void write_done(std::string_view tag, std::string_view elapse) override {
    append_status_object(true, tag, elapse, buf_);
  }
  void write_error(std::string_view reason, std::string_view elapse) override {
    append_status_object(false, reason, elapse, buf_);
  }
  void write_error_after_rows(std::string_view reason, std::string_view elapse) override {
    buf_ += "]},\"success\":false,\"reason\":";
    append_json_string(reason, buf_);
    buf_ += ",\"elapse\":";
    append_json_string(elapse, buf_);
    buf_ += '}';
  }
};

// ---- ndjson ------------------------------------------------------------------------------

class NdjsonWriter final : public WriterBase {
 public:
  using WriterBase::WriterBase;
  std::string_view content_type() const override { return "application/x-ndjson"; }

 private:
  void on_begin() override {
    keys_.clear();
    for (const ColumnInfo& c : columns_) {
      std::string key;
      append_json_string(c.name, key);
      key += ':';
      keys_.push_back(std::move(key));
    }
  }

  void write_row(const Chunk& chunk, size_t r) override {
    buf_ += options_.event_stream ? "data: {" : "{";
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) buf_ += ',';
      buf_ += keys_[i];
      if (is_rownum(i)) {
        append_int(static_cast<int64_t>(rows_), buf_);
      } else if (const Vector* v = column(chunk, i)) {
        cells_.json(*v, r, buf_);
      } else {
        buf_ += "null";
      }
    }
    buf_ += options_.event_stream ? "}\n\n" : "}\n";
  }

  void write_end(std::string_view) override {}
  void write_done(std::string_view tag, std::string_view elapse) override {
    append_status_object(true, tag, elapse, buf_);
    buf_ += '\n';
  }
  void write_error(std::string_view reason, std::string_view elapse) override {
    append_status_object(false, reason, elapse, buf_);
    buf_ += '\n';
  }
  void write_error_after_rows(std::string_view reason, std::string_view elapse) override {
    write_error(reason, elapse);
  }

  std::vector<std::string> keys_;  // "name": per column
};

// ---- csv ---------------------------------------------------------------------------------

class CsvWriter final : public WriterBase {
 public:
  using WriterBase::WriterBase;
  std::string_view content_type() const override { return "text/csv"; }

 private:
  // RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. An
  // empty text is quoted too ("") so that it differs from NULL (nothing), as PostgreSQL's COPY
  // CSV does.
  static void field(std::string_view s, std::string& out) {
    if (!s.empty() && s.find_first_of(",\"\r\n") == std::string_view::npos) {
      out += s;
      return;
    }
    out += '"';
    for (char c : s) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }

  void on_begin() override {
    if (!options_.heading) return;
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) buf_ += ',';
      field(columns_[i].name, buf_);
    }
    buf_ += '\n';
  }

  void write_row(const Chunk& chunk, size_t r) override {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) buf_ += ',';
      if (is_rownum(i)) {
        append_int(static_cast<int64_t>(rows_), buf_);
        continue;
      }
      const Vector* v = column(chunk, i);
      if (v == nullptr || v->is_null(r)) continue;
      if (v->type == Type::int64 || v->type == Type::float64 || v->type == Type::boolean ||
          v->type == Type::interval || (v->type == Type::timestamp && cells_.time().number)) {
        cells_.text(*v, r, buf_);  // never needs quotes
        continue;
      }
      scratch_.clear();
      cells_.text(*v, r, scratch_);
      field(scratch_, buf_);
    }
    buf_ += '\n';
  }

  void write_end(std::string_view) override {}
  void write_done(std::string_view tag, std::string_view) override {
    buf_ += tag;
    buf_ += '\n';
  }
  void write_error(std::string_view reason, std::string_view) override {
    buf_ += "ERROR:  ";
    buf_ += reason;
    buf_ += '\n';
  }
  // Rows already went out as CSV: a line of error text would read as one more row. The caller
  // reports the error out of band (format.h, docs/sql.md).
  void write_error_after_rows(std::string_view, std::string_view) override {}

  std::string scratch_;
};

// ---- box ---------------------------------------------------------------------------------

class BoxWriter final : public WriterBase {
 public:
  using WriterBase::WriterBase;
  std::string_view content_type() const override { return "text/plain"; }

  // Holds the rows (their text) until finish(); past box_rows, stops the query.
  bool rows(const Chunk& chunk) override {
    if (client_gone() || finished_ || !begun()) return false;
    for (size_t r = 0; r < chunk.rows; ++r) {
      ++rows_;
      if (shown_ >= options_.box_rows) {
        truncated_ = true;
        return false;
      }
      ++shown_;
      for (size_t i = 0; i < columns_.size(); ++i) {
        std::string cell;
        const Vector* v = is_rownum(i) ? nullptr : column(chunk, i);
        if (is_rownum(i)) {
          append_int(static_cast<int64_t>(rows_), cell);
        } else if (v == nullptr || v->is_null(r)) {
          cell = "NULL";
        } else {
          scratch_.clear();
          cells_.text(*v, r, scratch_);
          escape(scratch_, cell);
        }
        widths_[i] = std::max(widths_[i], display_width(cell));
        cells_text_.push_back(std::move(cell));
      }
    }
    return true;
  }

 private:
  // Control characters would break the box: they show as \n, \t, \r or \xHH.
  static void escape(std::string_view s, std::string& out) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      if (c >= 0x20 && c != 0x7f) {
        out += ch;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c == '\r') {
        out += "\\r";
      } else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }

  void on_begin() override {
    widths_.assign(columns_.size(), 0);
    right_.assign(columns_.size(), false);
    for (size_t i = 0; i < columns_.size(); ++i) {
      right_[i] = is_numeric(columns_[i].type) || columns_[i].type == Type::interval;
      if (options_.heading) widths_[i] = display_width(columns_[i].name);
    }
  }

  void write_row(const Chunk&, size_t) override {}  // rows() keeps the text instead

  void line() {
    if (columns_.empty()) return;
    buf_ += '+';
    for (size_t w : widths_) {
      buf_.append(w + 2, '-');
      buf_ += '+';
    }
    buf_ += '\n';
  }

  void cells(const std::string* row, bool header) {
    buf_ += '|';
    for (size_t i = 0; i < columns_.size(); ++i) {
      const std::string& text = row[i];
      size_t pad = widths_[i] - display_width(text);
      buf_ += ' ';
      if (right_[i] && !header) buf_.append(pad, ' ');
      buf_ += text;
      if (!right_[i] || header) buf_.append(pad, ' ');
      buf_ += " |";
    }
    buf_ += '\n';
    if (buf_.size() >= kFlushBytes) flush();
  }

  void write_end(std::string_view) override {
    if (!columns_.empty()) {
      line();
      if (options_.heading) {
        std::vector<std::string> names;
        for (const ColumnInfo& c : columns_) {
          std::string name;
          escape(c.name, name);
          names.push_back(std::move(name));
        }
        cells(names.data(), true);
        line();
      }
      for (size_t at = 0; at < cells_text_.size() && !client_gone(); at += columns_.size())
        cells(&cells_text_[at], false);
      if (shown_ > 0) line();
    }
    if (truncated_) buf_ += "... (more rows not shown)\n";
    if (options_.heading) {
      buf_ += truncated_ ? "(first " : "(";
      append_int(static_cast<int64_t>(shown_), buf_);
      buf_ += shown_ == 1 ? " row)\n" : " rows)\n";
    }
  }
  void write_done(std::string_view tag, std::string_view) override {
    buf_ += tag;
    buf_ += '\n';
  }
  void write_error(std::string_view reason, std::string_view) override {
    buf_ += "ERROR:  ";
    buf_ += reason;
    buf_ += '\n';
  }
  // Nothing was sent before finish(), so write_error() always comes first; kept for the shape.
  void write_error_after_rows(std::string_view reason, std::string_view elapse) override {
    write_error(reason, elapse);
  }

  std::vector<size_t> widths_;
  std::vector<bool> right_;
  std::vector<std::string> cells_text_;  // row-major, columns_.size() per row
  size_t shown_ = 0;
  bool truncated_ = false;
  std::string scratch_;
};

}  // namespace

std::unique_ptr<ResultWriter> make_writer(const FormatOptions& options, WriteFn out, std::string* error) {
  auto fail = [&](std::string message) -> std::unique_ptr<ResultWriter> {
    if (error != nullptr) *error = std::move(message);
    return nullptr;
  };
  std::string format = lower(options.format);
  if (format.empty()) format = "json";
  if (format != "json" && format != "ndjson" && format != "csv" && format != "box")
    return fail("unknown format " + in_quotes(options.format) + "; use json, csv, ndjson or box");
  int64_t offset;
  std::string message;
  if (!ingest::utc_offset(options.tz, 0, &offset, &message)) return fail(message);
  TimeFormat time;
  if (!resolve_time_format(options.timeformat, &time, &message)) return fail(message);
  if (options.precision < -1 || options.precision > kMaxPrecision)
    return fail("precision " + std::to_string(options.precision) + " is out of range (-1 to 100)");
  if (format == "json") return std::make_unique<JsonWriter>(options, std::move(time), std::move(out));
  if (format == "ndjson") return std::make_unique<NdjsonWriter>(options, std::move(time), std::move(out));
  if (format == "csv") return std::make_unique<CsvWriter>(options, std::move(time), std::move(out));
  return std::make_unique<BoxWriter>(options, std::move(time), std::move(out));
}

std::string go_duration(std::chrono::nanoseconds d) {
  int64_t v = d.count();
  if (v == 0) return "0s";
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  char buf[40];
  size_t w = sizeof buf;
  auto put = [&](char c) { buf[--w] = c; };
  // The last `digits` digits of u as a fraction, trailing zeros (and then the point) dropped.
  auto fraction = [&](int digits) {
    bool any = false;
    for (int k = 0; k < digits; ++k) {
      int digit = static_cast<int>(u % 10);
      any = any || digit != 0;
      if (any) put(static_cast<char>('0' + digit));
      u /= 10;
    }
    if (any) put('.');
  };
  auto integer = [&](uint64_t x) {
    do {
      put(static_cast<char>('0' + x % 10));
      x /= 10;
    } while (x > 0);
  };
  put('s');
  if (u < 1'000'000'000) {
    if (u < 1'000) {
      put('n');
    } else if (u < 1'000'000) {
      put('\xb5');  // U+00B5 MICRO SIGN, as Go writes it
      put('\xc2');
      fraction(3);
    } else {
      put('m');
      fraction(6);
    }
    integer(u);
  } else {
    fraction(9);
    integer(u % 60);
    u /= 60;
    if (u > 0) {
      put('m');
      integer(u % 60);
      u /= 60;
      if (u > 0) {
        put('h');
        integer(u);
      }
    }
  }
  if (v < 0) put('-');
  return std::string(buf + w, sizeof buf - w);
}

void append_interval(int64_t ns, std::string& out) {
  int64_t days = ns / kNanosPerDay;  // both parts take the sign of the whole
  int64_t rest = ns % kNanosPerDay;
  if (days != 0) {
    append_int(days, out);
    out += days == 1 ? " day" : " days";  // PostgreSQL: "-1 days"
    if (rest == 0) return;
    out += ' ';
  }
  if (rest < 0) {
    out += '-';
    rest = -rest;
  }
  int64_t seconds = rest / kNanosPerSecond;
  int64_t nanos = rest % kNanosPerSecond;
  auto two = [&](int64_t x) {
    out += static_cast<char>('0' + x / 10);
    out += static_cast<char>('0' + x % 10);
  };
  two(seconds / 3600);
  out += ':';
  two(seconds / 60 % 60);
  out += ':';
  two(seconds % 60);
  if (nanos != 0) {
    char digits[10];
    int n = 9;
    for (int k = 8; k >= 0; --k, nanos /= 10) digits[k] = static_cast<char>('0' + nanos % 10);
    while (digits[n - 1] == '0') --n;
    out += '.';
    out.append(digits, static_cast<size_t>(n));
  }
}

void append_json_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied
  auto copy_run = [&](size_t to) { out.append(s.data() + run, to - run); };
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t len = utf8_length(p + i, n - i);
      if (len == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
        copy_run(i);
        out += p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
      } else if (len != 0) {
        i += len;
        continue;
      } else {
        copy_run(i);
        out += "\xef\xbf\xbd";  // U+FFFD for the invalid byte
        len = 1;
      }
      i += len;
      run = i;
      continue;
    }
    copy_run(i);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    ++i;
    run = i;
  }
  copy_run(n);
  out += '"';
}

}  // namespace mqbase::query
