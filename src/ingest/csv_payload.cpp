// csv_payload: CSV payloads per RFC 4180, with the delimiter and header line of ParseOptions.
// Records end at \n or \r\n; blank lines (and so a trailing newline) make no record. A field
// that starts with a quote is quoted: it may hold delimiters, newlines and doubled quotes, and
// stays a string. Any other field is typed by what it reads as, whole: nothing is null, then
// int64, double (decimal forms only), true/false in any case, else the string as written;
// spaces around a number or boolean are allowed (people write "1, 2, 3"). Rows are numbered by
// the line they start on, as an editor shows them, so a header is row 1 and quoted newlines
// count. Fields point into the payload except quoted ones with doubled quotes, which are
// unescaped into the arena.
#include <algorithm>
#include <cstring>

#include "ingest/payload_internal.h"

namespace mqbase::ingest::detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool equals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if ((s[i] | 0x20) != lower[i]) return false;
  return true;
}

Cell unquoted_cell(std::string_view field) {
  if (field.empty()) return Cell{};
  std::string_view t = trim(field);
  if (t.empty()) return text_cell(Cell::Kind::string, field);
  char c = t[0];
  if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
    int64_t i;
    if (read_int64(t, &i)) return integer_cell(i);
    double d;
    if (read_double(t, &d)) return number_cell(d);
  } else if (equals_lower(t, "true")) {
    return boolean_cell(true);
  } else if (equals_lower(t, "false")) {
    return boolean_cell(false);
  }
  return text_cell(Cell::Kind::string, field);
}

class CsvReader {
 public:
  CsvReader(std::string_view payload, char delimiter, ParsedRows& out)
      : in_(payload), delimiter_(delimiter), arena_(out, payload.size()) {}

  // Appends the next record's fields to `cells` and sets *count to how many (0 at the end of the
  // payload). Returns "" or the error. Untyped, every field is a string as written (a header).
  std::string next(std::vector<Cell>& cells, bool typed, size_t* count) {
    *count = 0;
    skip_blank_lines();
    if (pos_ >= in_.size()) return {};
    record_line_ = line_;
    size_t first = cells.size();
    for (;;) {
      size_t column = cells.size() - first + 1;
      if (column > kMaxColumns)
        return row_error(record_line_, "too many columns (more than " + std::to_string(kMaxColumns) + ")");
      Cell cell;
      if (pos_ < in_.size() && in_[pos_] == '"') {
        if (std::string e = quoted_field(column, &cell); !e.empty()) return e;
      } else {
        size_t start = pos_;
        while (pos_ < in_.size() && in_[pos_] != delimiter_ && in_[pos_] != '\n') ++pos_;
        std::string_view field = in_.substr(start, pos_ - start);
        if (!field.empty() && field.back() == '\r' && (pos_ == in_.size() || in_[pos_] == '\n'))
          field.remove_suffix(1);
        cell = typed ? unquoted_cell(field) : text_cell(Cell::Kind::string, field);
      }
      cells.push_back(cell);
      if (pos_ >= in_.size() || in_[pos_] == '\n') break;
      ++pos_;  // the delimiter
    }
    if (pos_ < in_.size()) {
      ++pos_;
      ++line_;
    }
    *count = cells.size() - first;
    return {};
  }

  size_t record_line() const { return record_line_; }

 private:
  // Lines of nothing but spaces, tabs and a \r are blank too.
  void skip_blank_lines() {
    while (pos_ < in_.size()) {
      size_t p = pos_;
      while (p < in_.size() && (is_space(in_[p]) || in_[p] == '\r')) ++p;
      if (p == in_.size()) {
        pos_ = p;
      } else if (in_[p] == '\n') {
        pos_ = p + 1;
        ++line_;
      } else {
        return;
      }
    }
  }

  std::string quoted_field(size_t column, Cell* cell) {
    size_t start = ++pos_;
    bool doubled = false;
    for (;;) {
      const void* q = pos_ < in_.size() ? std::memchr(in_.data() + pos_, '"', in_.size() - pos_) : nullptr;
      if (q == nullptr) return cell_error(record_line_, column, "unterminated quoted field");
      size_t at = static_cast<const char*>(q) - in_.data();
      line_ += static_cast<size_t>(std::count(in_.data() + pos_, in_.data() + at, '\n'));
      pos_ = at + 1;
      if (pos_ < in_.size() && in_[pos_] == '"') {
        doubled = true;
        ++pos_;
        continue;
      }
      break;
    }
    std::string_view raw = in_.substr(start, pos_ - 1 - start);
    // Spaces may pad a quoted field on the right ("a" , "b"); anything else there is an error.
    while (pos_ < in_.size() && is_space(in_[pos_]) && in_[pos_] != delimiter_) ++pos_;
    if (pos_ < in_.size() && in_[pos_] == '\r' && (pos_ + 1 == in_.size() || in_[pos_ + 1] == '\n')) ++pos_;
    if (pos_ < in_.size() && in_[pos_] != delimiter_ && in_[pos_] != '\n')
      return cell_error(record_line_, column, "unexpected text after a quoted field");
    if (!doubled) {
      *cell = text_cell(Cell::Kind::string, raw);
      return {};
    }
    std::string& slab = arena_.room(raw.size());
    size_t from = slab.size();
    for (size_t i = 0; i < raw.size(); ++i) {
      slab += raw[i];
      if (raw[i] == '"') ++i;  // the second of a pair
    }
    *cell = text_cell(Cell::Kind::string, std::string_view(slab.data() + from, slab.size() - from));
    return {};
  }

  std::string_view in_;
  char delimiter_;
  Arena arena_;
  size_t pos_ = 0;
  size_t line_ = 1;
  size_t record_line_ = 1;
};

}  // namespace

std::string parse_csv(std::string_view payload, const ParseOptions& options, ParsedRows& out) {
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    return "invalid CSV delimiter " + quoted(std::string_view(&options.delimiter, 1));
  CsvReader reader(payload, options.delimiter, out);
  size_t count = 0;
  size_t width = 0;
  if (options.header) {
    std::vector<Cell> names;
    if (std::string e = reader.next(names, false, &count); !e.empty()) return e;
    if (count == 0) return {};
    out.columns.reserve(count);
    for (const Cell& name : names) out.columns.push_back(ParsedColumn{std::string(trim(name.s)), false});
    if (std::string e = check_unique(out.columns); !e.empty()) return row_error(reader.record_line(), e);
    width = count;
    out.width = width;
  }
  size_t lines = static_cast<size_t>(std::count(payload.begin(), payload.end(), '\n')) + 1;
  size_t rows = 0;
  for (;;) {
    if (std::string e = reader.next(out.cells, true, &count); !e.empty()) return e;
    if (count == 0) return {};
    if (width == 0) {
      width = count;
      out.width = width;
      out.cells.reserve(std::min({lines, kMaxRows, kMaxCells / width}) * width);
    }
    if (count != width)
      return row_error(reader.record_line(),
                       "expected " + std::to_string(width) + " fields, found " + std::to_string(count));
    if (std::string e = check_size(++rows, width); !e.empty()) return row_error(reader.record_line(), e);
  }
}

}  // namespace mqbase::ingest::detail
