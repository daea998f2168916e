// run_query: one SQL request from start to answer, for both doors that take SQL (the HTTP
// /db/query route and the MQTT db/query topic): the ResultWriter for the request's format, the
// engine's execute() with the time and memory limits, gzip when asked, and the choice between
// an answer sent whole and one that streams (docs/http.md#query).
//
//   - the writer holds everything until the first chunk with rows, so an error found before
//     any row (a syntax error, an unknown table, a time limit hit while grouping) is the whole
//     answer: status 400 with the format's error answer ({"success":false,"reason":"...",
//     "elapse":"..."} in json and ndjson, "ERROR:  ..." in csv and box; docs/sql.md); a bad
//     format option, or a request that never reached the engine, gets the JSON one. A
//     statement without rows (CREATE TABLE, INSERT) or an empty result is sent whole too, 200;
//   - once the writer hands over bytes the answer streams (status 200): the bytes go to the
//     AnswerOutput as they come, and the AnswerOutput's back-pressure (stream_bytes() blocks
//     while the client is slow) bounds the memory a large result takes. An error after that
//     point is the writer's in-band error (json, ndjson); a csv or box answer that cannot say
//     it is cut short instead (stream_abort()), which an HTTP client sees as an incomplete
//     response.
//
// Thread-safety: run_query() runs on the calling thread (a QueryPool thread), and calls `out`
// on that thread only.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "http/query_request.h"
#include "query/engine.h"

namespace mqbase::http {

// Where an answer goes: an HTTP response (http_server.cpp) or an MQTT reply (query_topic.cpp).
// Either whole() once, or stream_begin(), stream_bytes()..., then stream_end() or stream_abort().
class AnswerOutput {
 public:
  virtual ~AnswerOutput() = default;
  // The whole answer. `gzip`: the body is gzip-compressed.
  virtual void whole(int status, std::string_view content_type, bool gzip, std::string body) = 0;
  // A streamed answer, status 200.
  virtual void stream_begin(std::string_view content_type, bool gzip) = 0;
  // The next bytes; may block while earlier ones wait for a slow receiver. False: the receiver
  // is gone (the query stops).
  virtual bool stream_bytes(std::string_view bytes) = 0;
  virtual void stream_end() = 0;
  // The answer failed after bytes were sent and cannot say so in band: end it visibly
  // incomplete (HTTP: close without the last chunk).
  virtual void stream_abort(const std::string& reason) = 0;
};

struct QueryLimits {
  std::chrono::milliseconds timeout{30000};  // when the request gives none; 0: none
  std::chrono::milliseconds max_timeout{0};  // a request may not ask more; 0: no cap
  uint64_t memory_limit = 256ull << 20;      // 0: none
  // An answer that would be sent whole is cut at this many bytes (an MQTT reply: 0 = none),
  // and streamed answers are not allowed (stream_begin() is never called): MQTT.
  size_t max_whole = 0;
  bool may_stream = true;
};

// What executes SQL: Engine::execute in the server, a fake in unit tests.
using Execute = std::function<query::QueryStatus(std::string_view sql, const query::QueryOptions& options,
                                                 query::ResultSink& sink)>;

// Runs `request` (its SQL must not be empty: the caller answers that) and writes the answer
// to `out`. `cancel` (may be null) stops the query when set (the client went away, the server
// stops). Returns the query's status (for the log).
query::QueryStatus run_query(const Execute& execute, const QueryRequest& request, const QueryLimits& limits,
                             AnswerOutput& out, const std::atomic<bool>* cancel);

// {"success":false,"reason":"<reason>","elapse":"<go duration>"}: every error answer.
std::string error_json(std::string_view reason, std::chrono::nanoseconds elapse);

}  // namespace mqbase::http
