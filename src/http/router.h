// Router: the endpoints of the HTTP API (docs/http.md), behind the connection handling of
// http_server.cpp:
//
//   GET  /health                         {"status":"ok"}
//   GET  /, /console/{name}              the web console's files (console_assets.h), no credentials
//   GET, POST /db/query                  SQL (query_request.h, query_runner.h) on the query pool
//   POST /db/write/{table}               JSON, CSV or NDJSON rows, through Ingest::submit()
//   POST /metrics/write?db=T, /write?db=T, /api/v2/write?bucket=T
//                                        InfluxDB line protocol (Telegraf's outputs), 204
//   GET  /db/watch/{table}               new rows as server-sent events (watch_streams.h)
//   GET  /db/watch                       how many watch streams there are
//   GET  /ready, /metrics, /api/...      the operations endpoints (app/operations.h), set_operations()
//   /mqtt                                501 until MQTT over WebSocket arrives
//
// Unknown paths get 404, a known path with a wrong method 405 (with Allow), both with
// {"success":false,"reason":...}. A full pool gets 503 with a reason and Retry-After.
//
// Thread-safety: handle() runs on the HTTP I/O thread; the work it starts runs on the pools.
// The router, the pools, the ingest and what `execute` reaches outlive every request.
#pragma once
#include <functional>
#include <memory>
#include <optional>

#include "http/answer.h"
#include "http/query_pool.h"
#include "http/query_runner.h"
#include "http/request.h"
#include "http/watch_streams.h"

namespace mqbase::ingest {
class Ingest;
}

namespace mqbase::http {

class Router {
 public:
  // `ingest` may be null: the write endpoints then answer 503; so may `tables`: /db/watch.
  Router(Execute execute, ingest::Ingest* ingest, QueryPool& queries, QueryPool& writes, QueryLimits limits,
         store::tables::Tables* tables = nullptr);

  // Answers at once (returns the Response), or starts the work that answers through `answer`
  // later and returns nullopt. `request` may be moved from.
  std::optional<Response> handle(Request& request, const std::shared_ptr<Answer>& answer);

  void set_authorizer(Authorizer a) { authorizer_ = std::move(a); }
  // The operations endpoints (app/operations.h): GET /ready (before the authorizer, like
  // /health), GET /metrics and /api/... (after it). It answers nullopt for a path it does not
  // serve, which then gets the router's 404.
  using OperationsHandler = std::function<std::optional<Response>(const Request&)>;
  void set_operations(OperationsHandler h) { operations_ = std::move(h); }
  // The server stops: ends the answers that would never end by themselves (watch streams).
  void stopping() { watches_.stop(); }

 private:
  std::optional<Response> query(Request& r, const std::shared_ptr<Answer>& answer);
  std::optional<Response> write_rows(Request& r, std::string_view table, const std::shared_ptr<Answer>& answer);
  std::optional<Response> write_lines(Request& r, const std::shared_ptr<Answer>& answer);

  Execute execute_;
  ingest::Ingest* ingest_;
  QueryPool& queries_;
  QueryPool& writes_;
  QueryLimits limits_;
  Authorizer authorizer_;
  OperationsHandler operations_;
  WatchStreams watches_;
};

// {"success":false,"reason":"..."} with `status`.
Response error_response(int status, std::string_view reason);
// {"success":true,"reason":"..."} with `status`.
Response success_response(int status, std::string_view reason);
// 405 naming the method and the path, with Allow: `allow`.
Response method_not_allowed(const Request& r, std::string_view allow);

}  // namespace mqbase::http
