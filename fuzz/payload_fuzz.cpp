// libFuzzer harness for the telemetry payload formats and time values (src/ingest/payload.h).
// The first byte picks the format (bits 0-1), CSV's header line (bit 2) and delimiter (bits
// 3-4), and the time format and zone tried on the result (bits 5-7); the rest is the payload.
// Whatever parses must be a consistent rectangle within the limits, whose text points into the
// payload or the arena; the first cells then go through parse_time, and so does the whole
// payload as a string. Errors must be printable ASCII (they go back to clients). Nothing may
// crash, leak or read out of bounds (built with ASan+UBSan).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ingest/payload.h"

using namespace mqbase::ingest;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_message(const std::string& e) {
  check(!e.empty());
  for (char c : e) check(c >= 0x20 && c < 0x7f);
}

bool inside(std::string_view s, std::string_view whole) {
  return s.data() >= whole.data() && s.data() + s.size() <= whole.data() + whole.size();
}

void check_text(const Cell& c, std::string_view payload, const ParsedRows& rows) {
  if (c.s.empty() || inside(c.s, payload)) return;
  for (const std::string& a : rows.arena)
    if (inside(c.s, a)) return;
  check(false);
}

void check_cell(const Cell& c, std::string_view payload, const ParsedRows& rows) {
  switch (c.kind) {
    case Cell::Kind::null: break;
    case Cell::Kind::integer: check(c.d == static_cast<double>(c.i)); break;
    case Cell::Kind::number: break;
    case Cell::Kind::boolean: check(c.i == 0 || c.i == 1); break;
    case Cell::Kind::string:
    case Cell::Kind::json: check_text(c, payload, rows); break;
    default: check(false);
  }
}

constexpr char kDelimiters[] = {',', ';', '\t', ' '};
constexpr std::string_view kTimeFormats[] = {"", "s", "ms", "us", "rfc3339", "2006-01-02 15:04:05.999999999",
                                             "Jan _2 2006 3:04:05PM MST", "02/01/06 15:04 -0700"};
constexpr std::string_view kZones[] = {"UTC", "+09:00", "Asia/Seoul", "America/New_York", "Australia/Sydney",
                                       "-0530", "Mars/Olympus", "Europe/Paris"};

void try_time(const Cell& c, uint8_t mode) {
  int64_t ns = 0;
  std::string error;
  std::string_view format = kTimeFormats[(mode >> 5) & 7];
  std::string_view zone = kZones[(mode >> 2) & 7];
  if (!parse_time(c, format, zone, &ns, &error)) check_message(error);
  // An integer read as nanoseconds is itself, whatever the zone.
  if (c.kind == Cell::Kind::integer) {
    int64_t direct = 0;
    check(parse_time(c, "ns", "UTC", &direct, nullptr) && direct == c.i);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0];
  std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  ParseOptions options;
  options.format = static_cast<Format>(mode & 3);
  options.header = (mode & 4) != 0;
  options.delimiter = kDelimiters[(mode >> 3) & 3];

  ParsedRows rows;
  std::string error = parse(payload, options, rows);
  if (!error.empty()) {
    check_message(error);
    check(rows.rows() == 0);
  } else {
    check(rows.rows() <= 1'000'000 && rows.width <= 1'024);
    check(rows.cells.size() == rows.rows() * rows.width);
    check(rows.columns.empty() || rows.columns.size() == rows.width);
    size_t n = rows.cells.size() < 4096 ? rows.cells.size() : 4096;
    for (size_t i = 0; i < n; ++i) check_cell(rows.cells[i], payload, rows);
    for (size_t i = 0; rows.rows() > 0 && i < rows.width && i < 4; ++i) try_time(rows.at(0, i), mode);
  }

  Cell whole;
  whole.kind = Cell::Kind::string;
  whole.s = payload;
  try_time(whole, mode);
  return 0;
}
