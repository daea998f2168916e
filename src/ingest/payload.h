// payload: the formats a telemetry message may carry (JSON, CSV, NDJSON, InfluxDB line
// protocol), parsed into one neutral shape, ParsedRows: a rectangle of cells, with column
// names when the payload carries them. Ingest (ingest/ingest.h) then maps the rectangle onto
// a table's schema (or creates the table from it). Parsing knows nothing of tables.
//
// What each format yields (docs/ingest.md):
//   json     [name, time, value]                   one positional row
//            [[...], [...]]                         positional rows
//            {"data":{"columns":[..],"rows":[..]}}  named columns (neo's shape)
//            {"col": v, ...}                        one named row (also the NDJSON line shape)
//   ndjson   one JSON object per line, keyed by column name; the columns are the union of the
//            keys in order of first appearance, a key missing from a line is null
//   csv      positional rows, or named by a header line (ParseOptions::header); RFC 4180
//            quoting ("a ""b""", embedded delimiters and newlines); an empty field is null
//   line     InfluxDB line protocol: measurement,tag=v field=1.5,n=2i,s="x",b=t 1700000000000000000
//            columns: "measurement", then tags (ParsedColumn::tag), then fields, then "time" (an
//            integer cell in the precision the writer used, the caller converts; null when a
//            line has no timestamp); lines may name different tags and fields, missing = null
//
// Cells keep what the text said: an integer literal is Kind::integer (and also its double
// value), a number with a fraction or exponent Kind::number (so is an integer too big for
// int64), true/false Kind::boolean, a JSON object or array Kind::json (its text, minified),
// anything else a string. CSV fields are strings (Kind::string) unless they read completely as
// a number or true/false; quoted CSV fields stay strings.
//
// Errors name the row (1-based, as a user counts lines or array elements; CSV, NDJSON and line
// protocol count lines, so a CSV header is row 1) and the column when there is one:
// "row 3, column 2: unterminated quoted field", "line 3: invalid field value 'abc'".
//
// Thread-safety: parse() and parse_time() may be called from any number of threads at once
// (each thread keeps its own JSON parser; time zones are cached for the process behind a
// mutex). A ParsedRows is a plain value; a move keeps its cells valid, but a copy's text still
// points into the original's arena.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace mqbase::ingest {

enum class Format : uint8_t { json, csv, ndjson, line };

struct Cell {
  enum class Kind : uint8_t { null, integer, number, boolean, string, json };
  Kind kind = Kind::null;
  int64_t i = 0;          // integer; boolean: 0 or 1
  double d = 0;           // number; integer: its value as a double too
  std::string_view s;     // string (unescaped), json (its minified text); points into the
                          // payload (or a rule's topic) or into ParsedRows::arena
};

struct ParsedColumn {
  std::string name;
  bool tag = false;  // line protocol tags (and "measurement")
};

struct ParsedRows {
  std::vector<ParsedColumn> columns;  // empty: the rows are positional
  size_t width = 0;                   // cells per row (== columns.size() when named)
  std::vector<Cell> cells;            // row-major, rows() * width
  std::deque<std::string> arena;      // strings that could not point into the payload
  // Non-zero: the producer knows these columns (names and tag flags) are the ones it gave every
  // other ParsedRows of the same `layout` on this thread, so a consumer may reuse what it
  // worked out for them without comparing names (IngestRule::apply sets it; parse() leaves 0).
  uint64_t layout = 0;
  size_t rows() const { return width ? cells.size() / width : 0; }
  const Cell& at(size_t row, size_t col) const { return cells[row * width + col]; }
  void clear() {
    columns.clear();
    width = 0;
    cells.clear();
    arena.clear();
    layout = 0;
  }
};

struct ParseOptions {
  Format format = Format::json;
  char delimiter = ',';  // csv
  bool header = false;   // csv: the first line names the columns
};

// Parses `payload` into `out` (cleared first). Returns "" on success, else the error (and `out`
// is empty). The payload must outlive `out` (cells point into it). Limits: at most 1,000,000
// rows and 1,024 columns per message (an error past either); and rows x columns at most 2^24,
// and, where rows name different columns (NDJSON, line protocol, JSON objects) and the missing
// ones are filled with nulls, at most 4 per byte of payload once past 2^20.
std::string parse(std::string_view payload, const ParseOptions& options, ParsedRows& out);

// Time values. `format`: "ns" (the default), "us", "ms", "s" for epoch numbers (an integer or
// a number cell, or a string of digits), "rfc3339" for text like 2024-05-01T12:00:00.123Z or
// with an offset (+02:00), or a Go-style layout as machbase-neo takes ("2006-01-02 15:04:05",
// with optional fractional seconds ".999999999"), read in time zone `tz` ("UTC", "Local", a
// fixed offset "+09:00", or an IANA name found under /usr/share/zoneinfo; text with its own
// offset ignores it). A string cell is also accepted as RFC 3339 (with or without an offset)
// whatever `format` says. Returns false and sets *error (when not null: "time 'abc' is not an
// RFC 3339 time") when the cell does not read as a time, or as one between 1677 and 2262.
bool parse_time(const Cell& cell, std::string_view format, std::string_view tz, int64_t* ns, std::string* error);

// The inverse of parse_time: appends the instant `ns` to *out in `format`: "ns" (also ""), "us",
// "ms", "s" as an epoch integer (rounded down); "rfc3339" as 2024-05-01T21:00:00.123+09:00 (the
// fraction only when there is one, up to 9 digits); or a Go layout, as parse_time reads them
// ("2006-01-02 15:04:05.999", ".000" for fixed digits, "Jan", "Monday", "PM", "Z07:00", ...).
// The wall clock is that of zone `tz` (as parse_time names zones). MST shows "UTC" in UTC, else
// the numeric offset (+0900): zone abbreviations are not read. Returns false and sets *error
// (when not null), leaving *out alone, for an unknown zone ("unknown time zone 'Mars/X'") or a
// format that is none of these ("unknown time format 'iso'": a layout without an element).
bool format_time(int64_t ns, std::string_view format, std::string_view tz, std::string* out, std::string* error);

// The UTC offset of zone `tz` at the instant `ns`, in nanoseconds east of UTC (+09:00 is
// 32,400 s). Returns false and sets *error (when not null) for an unknown zone.
bool utc_offset(std::string_view tz, int64_t ns, int64_t* offset_ns, std::string* error);

// The instant at which zone `tz`'s wall clock reads `local_ns` (a wall-clock time counted as if
// it were UTC): what date_trunc in a zone needs after truncating the wall clock. A time skipped
// by a change to summer time, or repeated by the change back, gets one of its two readings, as
// parse_time does. Returns false and sets *error (when not null) for an unknown zone or a
// result outside the int64 range.
bool utc_from_local(std::string_view tz, int64_t local_ns, int64_t* utc_ns, std::string* error);

}  // namespace mqbase::ingest
