// payload_internal: what the format parsers of mqbase_payload share; not for callers (they
// include payload.h). parse() (payload.cpp) dispatches to one parser per format, each in its own
// file; they share the limits, the error wording, number reading, an arena for text that cannot
// point into the payload, and NamedRows, which turns rows keyed by column name (JSON objects,
// NDJSON lines, line protocol) into the rectangle ParsedRows holds.
//
// Thread-safety: plain values and pure functions, like payload.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ingest/payload.h"

namespace mqbase::ingest::detail {

inline constexpr size_t kMaxRows = 1'000'000;
inline constexpr size_t kMaxColumns = 1'024;
// Rows times columns. The two limits above alone would let a few megabytes of sparse NDJSON or
// line protocol (one line naming 1,024 keys, then a million lines naming one) ask for a billion
// cells. A dense format cannot make more cells than its payload has bytes; the sparse ones
// (NamedRows) may make up to kCellsPerByte per byte of payload, or kMinCellBudget cells for a
// small one, so that no message turns a few kilobytes into hundreds of megabytes.
inline constexpr size_t kMaxCells = size_t{1} << 24;      // 640 MiB of cells
inline constexpr size_t kMinCellBudget = size_t{1} << 20;  // 40 MiB of cells
inline constexpr size_t kCellsPerByte = 4;

// The parsers behind parse(). `out` is empty on entry; each returns "" or the error.
std::string parse_json(std::string_view payload, ParsedRows& out);    // json_payload.cpp
std::string parse_ndjson(std::string_view payload, ParsedRows& out);  // json_payload.cpp
std::string parse_csv(std::string_view payload, const ParseOptions& options, ParsedRows& out);
std::string parse_line_protocol(std::string_view payload, ParsedRows& out);

// Error wording: "row 3: what", "row 3, column 2: what", "line 3: what".
std::string row_error(size_t row, std::string_view what);
std::string cell_error(size_t row, size_t column, std::string_view what);
std::string line_error(size_t line, std::string_view what);
// `text` in single quotes for an error message: cut to 40 bytes, bytes other than printable
// ASCII as \xHH, so that an error never carries control characters or broken UTF-8.
std::string quoted(std::string_view text);
// "" when rows x width is within the limits, else the error (without a row number).
std::string check_size(size_t rows, size_t width);
// "column 'x' appears twice" for the first repeated name, else "".
std::string check_unique(const std::vector<ParsedColumn>& columns);

// Whole-text number reading with std::from_chars (no locale, no allocation). A leading '+' is
// accepted; the double forms are decimal only (no inf, nan or hex) and fail out of range.
bool read_int64(std::string_view text, int64_t* value);
bool read_uint64(std::string_view text, uint64_t* value);
bool read_double(std::string_view text, double* value);

inline Cell integer_cell(int64_t v) {
  Cell c;
  c.kind = Cell::Kind::integer;
  c.i = v;
  c.d = static_cast<double>(v);
  return c;
}
inline Cell number_cell(double v) {
  Cell c;
  c.kind = Cell::Kind::number;
  c.d = v;
  return c;
}
inline Cell boolean_cell(bool v) {
  Cell c;
  c.kind = Cell::Kind::boolean;
  c.i = v ? 1 : 0;
  return c;
}
inline Cell text_cell(Cell::Kind kind, std::string_view s) {
  Cell c;
  c.kind = kind;
  c.s = s;
  return c;
}

// Text that cannot point into the payload (unescaped strings, names out of a parser's scratch
// buffer) goes into ParsedRows::arena. Unescaping only ever shortens text, so the payload's size
// bounds what a parse stores: the first slab is that big and is allocated on first use, and
// views into a slab stay valid because a slab is never appended past its capacity.
class Arena {
 public:
  Arena(ParsedRows& out, size_t size_hint) : out_(out), hint_(size_hint) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  std::string_view copy(std::string_view text) {
    std::string& slab = room(text.size());
    size_t start = slab.size();
    slab.append(text);
    return {slab.data() + start, text.size()};
  }
  // A slab with room for `n` more bytes: append at most `n` to it, then view them.
  std::string& room(size_t n);
  // Keeps `text` itself (a string made elsewhere, e.g. minified JSON).
  std::string_view keep(std::string&& text) {
    out_.arena.push_back(std::move(text));
    return out_.arena.back();
  }

 private:
  ParsedRows& out_;
  size_t hint_;
  std::string* slab_ = nullptr;
};

// Rows whose cells arrive by column name. Columns belong to groups (line protocol: measurement,
// tags, fields, time) and end up ordered by group, then by first appearance; a name missing from
// a row is null there. Cells are written straight into ParsedRows::cells, each row as wide as
// the columns known when it ended; finish() re-lays them out once, only when a row came out
// narrower or a column out of group order. A row is predicted to name its columns in the order
// the previous row did, so steady input costs a string compare per cell, not a hash lookup.
class NamedRows {
 public:
  static constexpr int64_t kTooManyColumns = -1;
  static constexpr int64_t kOtherGroup = -2;  // the name is a column of another group
  static constexpr int64_t kTooManyCells = -3;
  // The message of kTooManyColumns or kTooManyCells (without a row number).
  std::string limit_error(int64_t code) const;

  // `payload` bounds the cells (see kCellsPerByte); its lines are the guess of how many rows
  // come, for reserving cells once the first row shows the width.
  NamedRows(ParsedRows& out, Arena& arena, std::string_view payload);
  NamedRows(const NamedRows&) = delete;
  NamedRows& operator=(const NamedRows&) = delete;

  // Starts a row: "" or the limit error (without a row number).
  std::string begin_row();
  // "" when `rows` rows of `width` cells are within the limits, else the error.
  std::string check(size_t rows, size_t width) const;
  // The column called `name`, added (a copy of the name kept in the arena) when new: its index,
  // kTooManyColumns, kTooManyCells or kOtherGroup. The k-th call of a row is first checked
  // against the column of the previous row's k-th call.
  int64_t column(std::string_view name, uint8_t group, bool tag);
  // Sets a cell of the current row (the last write of a name wins).
  void set(size_t column, const Cell& cell);
  // Lays out `out`: columns, width, cells. "" or the cell-limit error.
  std::string finish();

 private:
  void end_row();
  ParsedRows& out_;
  Arena& arena_;
  std::string_view payload_;
  size_t max_cells_;
  std::vector<std::string_view> names_;  // by column index (creation order); into the arena
  std::vector<uint8_t> groups_;
  std::vector<bool> tags_;
  std::unordered_map<std::string_view, uint32_t> index_;
  std::vector<uint32_t> previous_order_, order_;  // columns as the previous / this row named them
  size_t rows_ = 0;
  size_t row_start_ = 0;  // of the current row in out_.cells
  size_t row_width_ = 0;  // cells the current row has in out_.cells
  // (first row, width) whenever the width of the rows changes; rows only ever widen.
  std::vector<std::pair<size_t, size_t>> widths_;
};

}  // namespace mqbase::ingest::detail
