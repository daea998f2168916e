// QueryRequest: one SQL request as /db/query (GET query string, POST form or JSON body) and
// the MQTT db/query topic (a JSON payload) carry it (docs/http.md#query). Parameters:
//
//   q           the statement
//   format      json (default), csv, ndjson, box
//   timeformat  ns (default), us, ms, s, rfc3339, a Go layout ...   (the ResultWriter's)
//   tz          UTC (default), Local, +09:00, an IANA name
//   heading     true/false (csv, box: the header line)
//   precision   digits after the point for doubles (-1: all)
//   rownum      true/false: a leading row-number column
//   params      bind parameters $1, $2, ... as a JSON array: [42, 1.5, "text", true, null];
//               numbers without a fraction are bigint, others double precision, strings text
//               (the engine casts them where the context asks for a timestamp or an interval,
//               as PostgreSQL does with an untyped parameter), JSON objects/arrays json
//   timeout     milliseconds (capped by http.query_timeout)
//   memory_limit  bytes the query's sorts, groups and subqueries may hold (capped by
//               http.query_memory_limit)
//   compress    gzip: the answer is gzip-compressed (Content-Encoding: gzip)
//   reply       (MQTT only) the topic for the answer when there is no Response Topic
//
// In a JSON body, `heading`/`rownum` may be booleans, `precision`/`timeout`/`memory_limit` numbers, `params`
// an array; in a query string or form every value is text and `params` is the array's JSON
// text. Checking the format names is the ResultWriter's job (make_writer()).
//
// Thread-safety: plain functions and values.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/url.h"
#include "query/format.h"
#include "query/value.h"

namespace mqbase::http {

// How the answer is written; unset members keep the ResultWriter's defaults.
struct AnswerFormat {
  std::string format = "json";
  std::optional<std::string> timeformat;
  std::optional<std::string> tz;
  std::optional<bool> heading;
  std::optional<int> precision;
  std::optional<bool> rownum;
};

// The ResultWriter's options for `f` (its defaults where f leaves a member unset).
query::FormatOptions format_options(const AnswerFormat& f);

struct QueryRequest {
  std::string sql;
  AnswerFormat format;
  std::vector<query::Value> params;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<uint64_t> memory_limit;
  bool gzip = false;
  std::string reply;  // MQTT: the "reply" member
};

// From a query string or form body. False with *error ("parameter 'precision': expected an
// integer, got 'x'") on a bad value; a missing q is not an error here (the caller says it).
bool query_request_from_params(const Params& params, QueryRequest* out, std::string* error);

// From a JSON object {"q": ..., "format": ..., "params": [...], ...}: members override what
// *out holds already (the URL's parameters). Unknown members are ignored.
bool query_request_from_json(std::string_view json, QueryRequest* out, std::string* error);

// Bind parameters from the text of a JSON array.
bool parse_bind_params(std::string_view json_array, std::vector<query::Value>* out, std::string* error);

}  // namespace mqbase::http
