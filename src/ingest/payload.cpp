// payload: parse() picks the parser of the message's format (json_payload.cpp for JSON and
// NDJSON, csv_payload.cpp, line_protocol.cpp), and this file holds what those parsers share:
// the limits, the error wording, whole-text number reading, the arena for unescaped text and
// NamedRows, the builder of rectangles from rows keyed by column name (payload_internal.h).
#include "ingest/payload.h"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <unordered_set>

#include "ingest/payload_internal.h"

namespace mqbase::ingest {

std::string parse(std::string_view payload, const ParseOptions& options, ParsedRows& out) {
  out.clear();
  // Spreadsheets and some editors start UTF-8 text with a byte order mark; no format wants it.
  if (payload.starts_with("\xEF\xBB\xBF")) payload.remove_prefix(3);
  std::string error;
  switch (options.format) {
    case Format::json: error = detail::parse_json(payload, out); break;
    case Format::ndjson: error = detail::parse_ndjson(payload, out); break;
    case Format::csv: error = detail::parse_csv(payload, options, out); break;
    case Format::line: error = detail::parse_line_protocol(payload, out); break;
    default: error = "unknown payload format"; break;
  }
  if (!error.empty()) out.clear();
  return error;
}

namespace detail {

std::string row_error(size_t row, std::string_view what) {
  std::string e = "row " + std::to_string(row) + ": ";
  e += what;
  return e;
}

std::string cell_error(size_t row, size_t column, std::string_view what) {
  std::string e = "row " + std::to_string(row) + ", column " + std::to_string(column) + ": ";
  e += what;
  return e;
}

std::string line_error(size_t line, std::string_view what) {
  std::string e = "line " + std::to_string(line) + ": ";
  e += what;
  return e;
}

std::string quoted(std::string_view text) {
  static constexpr size_t kMax = 40;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string q = "'";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      q += static_cast<char>(c);
    } else {
      q += "\\x";
      q += kHex[c >> 4];
      q += kHex[c & 15];
    }
  }
  if (text.size() > kMax) q += "...";
  q += '\'';
  return q;
}

std::string check_size(size_t rows, size_t width) {
  if (rows > kMaxRows) return "too many rows (more than " + std::to_string(kMaxRows) + ")";
  if (width > kMaxColumns) return "too many columns (more than " + std::to_string(kMaxColumns) + ")";
  if (rows * width > kMaxCells) return "too many cells (more than " + std::to_string(kMaxCells) + ")";
  return {};
}

std::string check_unique(const std::vector<ParsedColumn>& columns) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(columns.size());
  for (const ParsedColumn& c : columns)
    if (!seen.insert(c.name).second) return "column " + quoted(c.name) + " appears twice";
  return {};
}

namespace {

// from_chars does not take the '+' that strtod and users do.
bool strip_plus(std::string_view& text) {
  if (text.empty() || text[0] != '+') return true;
  text.remove_prefix(1);
  return !text.empty() && text[0] != '-' && text[0] != '+';
}

}  // namespace

bool read_int64(std::string_view text, int64_t* value) {
  if (!strip_plus(text)) return false;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && p == end;
}

bool read_uint64(std::string_view text, uint64_t* value) {
  if (!strip_plus(text) || text.empty() || text[0] == '-') return false;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && p == end;
}

bool read_double(std::string_view text, double* value) {
  if (!strip_plus(text) || text.empty()) return false;
  // Only decimal forms: from_chars would also take "inf" and "nan", which in a CSV column are
  // more likely words than numbers.
  char lead = text[0] == '-' && text.size() > 1 ? text[1] : text[0];
  if (!((lead >= '0' && lead <= '9') || lead == '.')) return false;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *value, std::chars_format::general);
  return ec == std::errc() && p == end;
}

std::string& Arena::room(size_t n) {
  if (slab_ != nullptr && slab_->capacity() - slab_->size() >= n) return *slab_;
  // Past the first slab the bound did not hold (it always does for unescaping): small slabs.
  size_t capacity = std::max({n, hint_, size_t{64}});
  hint_ = 4096;
  out_.arena.emplace_back();
  slab_ = &out_.arena.back();
  slab_->reserve(capacity);
  return *slab_;
}

NamedRows::NamedRows(ParsedRows& out, Arena& arena, std::string_view payload)
    : out_(out),
      arena_(arena),
      payload_(payload),
      max_cells_(std::min(kMaxCells, std::max(kMinCellBudget, kCellsPerByte * payload.size()))) {}

std::string NamedRows::limit_error(int64_t code) const {
  if (code == kTooManyColumns)
    return "too many columns (more than " + std::to_string(kMaxColumns) + ")";
  if (max_cells_ == kMaxCells) return "too many cells (more than " + std::to_string(kMaxCells) + ")";
  return "too many cells for the payload's size (more than " + std::to_string(kCellsPerByte) + " a byte)";
}

std::string NamedRows::check(size_t rows, size_t width) const {
  if (std::string e = check_size(rows, width); !e.empty()) return e;
  return rows * width > max_cells_ ? limit_error(kTooManyCells) : std::string();
}

std::string NamedRows::begin_row() {
  if (rows_ > 0) end_row();
  size_t width = names_.size();
  if (std::string e = check(rows_ + 1, width); !e.empty()) return e;
  // The first row shows how wide rows are; reserving then saves the doublings.
  if (rows_ == 1) {
    size_t lines = static_cast<size_t>(std::count(payload_.begin(), payload_.end(), '\n')) + 1;
    out_.cells.reserve(std::min(std::min(lines, kMaxRows) * width, max_cells_));
  }
  row_start_ = out_.cells.size();
  out_.cells.resize(row_start_ + width);
  row_width_ = width;
  ++rows_;
  previous_order_.swap(order_);
  order_.clear();
  return {};
}

void NamedRows::end_row() {
  if (widths_.empty() || widths_.back().second != row_width_) widths_.emplace_back(rows_ - 1, row_width_);
}

int64_t NamedRows::column(std::string_view name, uint8_t group, bool tag) {
  size_t k = order_.size();
  uint32_t found;
  if (k < previous_order_.size() && names_[previous_order_[k]] == name) {
    found = previous_order_[k];
  } else if (auto it = index_.find(name); it != index_.end()) {
    found = it->second;
  } else {
    if (names_.size() == kMaxColumns) return kTooManyColumns;
    if (std::max<size_t>(rows_, 1) * (names_.size() + 1) > max_cells_) return kTooManyCells;
    found = static_cast<uint32_t>(names_.size());
    std::string_view kept = arena_.copy(name);
    names_.push_back(kept);
    groups_.push_back(group);
    tags_.push_back(tag);
    index_.emplace(kept, found);
    order_.push_back(found);
    return found;
  }
  if (groups_[found] != group) return kOtherGroup;
  order_.push_back(found);
  return found;
}

void NamedRows::set(size_t column, const Cell& cell) {
  if (column >= row_width_) {
    // A column this row added: rows only ever widen, so the current row (the last) can grow.
    row_width_ = names_.size();
    out_.cells.resize(row_start_ + row_width_);
  }
  out_.cells[row_start_ + column] = cell;
}

std::string NamedRows::finish() {
  if (rows_ > 0) end_row();
  size_t width = names_.size();
  if (std::string e = check(rows_, width); !e.empty()) return e;
  std::vector<uint32_t> by_position(width);
  std::iota(by_position.begin(), by_position.end(), 0);
  std::stable_sort(by_position.begin(), by_position.end(),
                   [&](uint32_t a, uint32_t b) { return groups_[a] < groups_[b]; });
  std::vector<uint32_t> position(width);
  bool in_order = true;
  out_.columns.reserve(width);
  for (uint32_t p = 0; p < width; ++p) {
    uint32_t c = by_position[p];
    position[c] = p;
    in_order &= c == p;
    out_.columns.push_back(ParsedColumn{std::string(names_[c]), tags_[c]});
  }
  out_.width = width;
  if (width == 0) {
    out_.cells.clear();
    return {};
  }
  bool uniform = widths_.size() == 1 && widths_[0].second == width;
  if (in_order && (uniform || rows_ == 0)) return {};
  std::vector<Cell> cells(rows_ * width);
  size_t from = 0;
  for (size_t s = 0; s < widths_.size(); ++s) {
    size_t row_width = widths_[s].second;
    size_t last = s + 1 < widths_.size() ? widths_[s + 1].first : rows_;
    for (size_t r = widths_[s].first; r < last; ++r) {
      Cell* row = &cells[r * width];
      for (size_t c = 0; c < row_width; ++c) row[position[c]] = out_.cells[from + c];
      from += row_width;
    }
  }
  out_.cells.swap(cells);
  return {};
}

}  // namespace detail
}  // namespace mqbase::ingest
