// format: the result encoders. A ResultWriter is the ResultSink that turns the chunks a query
// streams into the text an answer carries, in one of four formats (docs/sql.md#answer-formats):
//   json    machbase-neo's {"data":{"columns","types","rows"},"success","reason","elapse"}
//   ndjson  one object per row, keyed by column name
//   csv     RFC 4180, with a header line
//   box     a boxed table for people (the CLI shell), psql-like
// The HTTP /db/query handler, the MQTT db/query handler and the CLI create one per query with
// make_writer(), pass it to Engine::execute() and then call finish() with the status.
//
// Streaming: json, ndjson and csv never hold the answer. Text is built in a buffer that goes to
// the output callback whenever it passes 64 KiB and at the end of every chunk with rows, so a
// client sees rows as they come and memory stays flat whatever the size of the result. box
// needs every row to size its columns: it holds at most FormatOptions::box_rows rows, then stops
// the query (rows() returns false) and says so under the table.
//
// Nothing reaches the callback before the first chunk with rows (begin() only buffers), so
// while bytes_sent() is 0 the caller may still choose an HTTP status; an error reported to
// finish() at that point replaces whatever was buffered with the error answer alone.
//
// Thread-safety: a ResultWriter is used by one thread at a time (the query's); make_writer()
// and the free functions may be called from any number of threads at once.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "query/engine.h"
#include "query/value.h"

namespace mqbase::query {

struct FormatOptions {
  std::string format = "json";  // json, csv, ndjson, box (any case; "" is json)
  // How timestamps are written: "ns" (also ""), "us", "ms", "s" as epoch integers (numbers in
  // json/ndjson), "ns.str" ... "s.str" the same as JSON strings; one of machbase-neo's names
  // (any case): "default" (2006-01-02 15:04:05.999), "default_us", "default_ns", "default.ms"
  // (fixed digits), "rfc3339", "rfc3339nano", "kitchen", "rfc1123", ... (docs/sql.md); or a Go
  // layout ("2006-01-02T15:04:05.000Z07:00").
  std::string timeformat = "ns";
  std::string tz = "UTC";   // UTC, Local, +09:00, or an IANA name (Asia/Seoul)
  bool heading = true;      // csv: the header line; box: the header and the "(N rows)" footer
  int precision = -1;       // digits after the point for doubles, 0..100; -1: shortest round-trip
  bool rownum = false;      // a first column ROWNUM (int64, from 1), as machbase-neo has
  size_t box_rows = 10'000; // box: rows shown at most; past them the query stops
  // ndjson: each row as a server-sent event instead of a line, "data: {...}\n\n" (GET
  // /db/watch; Content-Type text/event-stream).
  bool event_stream = false;
};

class ResultWriter : public ResultSink {
 public:
  ~ResultWriter() override = default;
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  // "application/json", "application/x-ndjson", "text/csv" or "text/plain" (box); the caller
  // adds "; charset=utf-8" if it wants.
  virtual std::string_view content_type() const = 0;

  // Ends the answer; call it exactly once, after execute() returned (also when it failed before
  // begin(), and for statements without rows: DDL, INSERT, DELETE). What it writes:
  //   ok, rows       json: the closing ]},"success":true,"reason":"success","elapse":"1.2ms"};
  //                  box: the table and "(N rows)"; ndjson, csv: nothing more
  //   ok, no begin() json/ndjson: {"success":true,"reason":"<status.tag>","elapse":..};
  //                  csv/box: the tag on a line ("CREATE TABLE")
  //   error, nothing sent yet (bytes_sent() == 0): json/ndjson {"success":false,"reason":
  //                  "<status.describe()>","elapse":..}; csv/box "ERROR:  <describe()>" on a line
  //   error after rows were sent: json closes the document with "success":false and the reason;
  //                  ndjson adds the {"success":false,...} line; csv cannot say it in band and
  //                  writes nothing more (the caller reports it out of band: docs/sql.md)
  // `elapse` is written as Go's time.Duration prints it ("1.234ms"), as machbase-neo does.
  // Does nothing once the client is gone.
  virtual void finish(const QueryStatus& status, std::chrono::nanoseconds elapse) = 0;

  // Bytes handed to the output callback so far.
  virtual uint64_t bytes_sent() const = 0;
  // Rows received by rows() (box: also those past box_rows, which stop the query).
  virtual uint64_t rows_written() const = 0;
  // True once the callback returned false: the writer calls it no more, rows() returns false.
  virtual bool client_gone() const = 0;

 protected:
  ResultWriter() = default;
};

// The output callback: receives the answer piece by piece, in order; returns false when the
// client is gone. The view is valid only during the call.
using WriteFn = std::function<bool(std::string_view)>;

// A writer for `options`, writing to `out`. Returns null and sets *error (when not null) when the
// options are bad: "unknown format 'xml'; use json, csv, ndjson or box", "unknown time zone
// 'Mars/X'", "unknown time format 'iso'", "precision 200 is out of range (-1 to 100)".
std::unique_ptr<ResultWriter> make_writer(const FormatOptions& options, WriteFn out, std::string* error);

// Go's time.Duration.String(), which machbase-neo's "elapse" carries: "0s", "850ns", "12.5µs",
// "1.234567ms", "2.5s", "1m30s", "2h0m0.5s".
std::string go_duration(std::chrono::nanoseconds d);

// An interval as PostgreSQL writes one (IntervalStyle postgres): "00:00:00", "01:30:00",
// "1 day", "2 days 00:00:00.5", "-1 days -02:00:00". An interval is nanoseconds here, so whole
// days are split off as PostgreSQL's justify_hours would (a '30 hours' interval is "1 day
// 06:00:00"), and the fraction shows up to 9 digits, trailing zeros dropped.
void append_interval(int64_t ns, std::string& out);

// `s` as a JSON string, quotes included: '"' and '\' escaped, control characters as \n, \t,
// ... or \u00XX, U+2028 and U+2029 as \u2028 and \u2029 (so the text is also valid JavaScript),
// valid UTF-8 kept as it is, and each byte of invalid UTF-8 replaced by U+FFFD.
void append_json_string(std::string_view s, std::string& out);

}  // namespace mqbase::query
