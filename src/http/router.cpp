#include "http/router.h"

#include <spdlog/spdlog.h>

#include <cctype>

#include "http/console_assets.h"
#include "ingest/ingest.h"
#include "query/format.h"

namespace mqbase::http {

namespace {

using Clock = std::chrono::steady_clock;

std::string reason_json(bool success, std::string_view reason, std::chrono::nanoseconds elapse) {
  std::string s = success ? "{\"success\":true,\"reason\":" : "{\"success\":false,\"reason\":";
  query::append_json_string(reason, s);
  s += ",\"elapse\":";
  query::append_json_string(query::go_duration(elapse), s);
  s += "}";
  return s;
}

// InfluxDB's error body, which Telegraf logs: {"code":"invalid","message":"..."}.
std::string influx_error(std::string_view code, std::string_view message) {
  std::string s = "{\"code\":";
  query::append_json_string(code, s);
  s += ",\"message\":";
  query::append_json_string(message, s);
  s += "}";
  return s;
}

Response busy(std::string_view what, const QueryPool& pool, std::string_view keys) {
  auto st = pool.stats();
  Response res = error_response(503, "too many " + std::string(what) + ": " + std::to_string(st.running) +
                                         " running and " + std::to_string(st.queued) + " waiting (" +
                                         std::string(keys) + "); try again later");
  res.headers.emplace_back("Retry-After", "1");
  return res;
}

// The media type of a Content-Type field, lower-case, without parameters.
std::string media_type(const Request& r) {
  const std::string* ct = r.header("Content-Type");
  if (!ct) return "";
  std::string t = ct->substr(0, ct->find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  size_t first = t.find_first_not_of(" \t");
  t = first == std::string::npos ? "" : t.substr(first);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

// Whether the body is gzip-compressed (Content-Encoding: gzip, or compress=gzip); false with
// *error for an encoding we do not read.
bool body_gzip(const Request& r, bool* gzip, std::string* error) {
  *gzip = false;
  if (const std::string* ce = r.header("Content-Encoding"); ce && !ce->empty() && !iequals(*ce, "identity")) {
    if (!iequals(*ce, "gzip") && !iequals(*ce, "x-gzip")) {
      *error = "Content-Encoding '" + *ce + "' is not supported (gzip is)";
      return false;
    }
    *gzip = true;
  }
  if (const std::string* c = r.query.get("compress"); c && !c->empty()) {
    if (!iequals(*c, "gzip")) {
      *error = "compress '" + *c + "' is not supported (gzip is)";
      return false;
    }
    *gzip = true;
  }
  return true;
}

}  // namespace

namespace {
Response outcome(int status, bool success, std::string_view reason) {
  Response r;
  r.status = status;
  r.body = success ? "{\"success\":true,\"reason\":" : "{\"success\":false,\"reason\":";
  query::append_json_string(reason, r.body);
  r.body += "}";
  return r;
}
}  // namespace

Response error_response(int status, std::string_view reason) { return outcome(status, false, reason); }
Response success_response(int status, std::string_view reason) { return outcome(status, true, reason); }

Response method_not_allowed(const Request& r, std::string_view allow) {
  Response res = error_response(405, "method " + r.method + " is not allowed on " + r.path + " (allowed: " +
                                         std::string(allow) + ")");
  res.headers.emplace_back("Allow", std::string(allow));
  return res;
}


Router::Router(Execute execute, ingest::Ingest* ingest, QueryPool& queries, QueryPool& writes, QueryLimits limits,
               store::tables::Tables* tables)
    : execute_(std::move(execute)),
      ingest_(ingest),
      queries_(queries),
      writes_(writes),
      limits_(limits),
      watches_(tables) {}

std::optional<Response> Router::handle(Request& r, const std::shared_ptr<Answer>& answer) {
  const std::string& p = r.path;
  if (p == "/health") {
    if (r.method != "GET") return method_not_allowed(r, "GET");
    Response res;
    res.body = "{\"status\":\"ok\"}";
    return res;
  }
  // The console's page and files are public; the calls it makes carry credentials.
  if (is_console_path(p)) return console_response(r);
  if (p == "/ready" && operations_)
    if (auto res = operations_(r)) return res;
  if (authorizer_) {
    AuthDecision d = authorizer_(r);
    if (!d.allowed) {
      Response res = error_response(d.status, d.reason.empty() ? "not authorized" : d.reason);
      if (!d.www_authenticate.empty()) res.headers.emplace_back("WWW-Authenticate", d.www_authenticate);
      return res;
    }
  }
  if (p == "/db/query") {
    if (r.method != "GET" && r.method != "POST") return method_not_allowed(r, "GET, POST");
    return query(r, answer);
  }
  if (p.starts_with("/db/write/") || p == "/db/write") {
    if (r.method != "POST") return method_not_allowed(r, "POST");
    std::string_view table = std::string_view(p).substr(std::min(p.size(), sizeof("/db/write/") - 1));
    if (table.empty() || table.find('/') != std::string_view::npos)
      return error_response(404, "no such endpoint: " + p + " (POST /db/write/{table})");
    return write_rows(r, table, answer);
  }
  if (p.starts_with("/db/watch/") || p == "/db/watch") {
    if (r.method != "GET") return method_not_allowed(r, "GET");
    if (p == "/db/watch") return watches_.status();
    std::string_view table = std::string_view(p).substr(sizeof("/db/watch/") - 1);
    if (table.empty() || table.find('/') != std::string_view::npos)
      return error_response(404, "no such endpoint: " + p + " (GET /db/watch/{table})");
    return watches_.start(table, r, answer);
  }
  if (p == "/metrics/write" || p == "/write" || p == "/api/v2/write") {
    if (r.method != "POST") return method_not_allowed(r, "POST");
    return write_lines(r, answer);
  }
  if (operations_ && (p == "/metrics" || p.starts_with("/api/")))
    if (auto res = operations_(r)) return res;
  if (p == "/mqtt")
    return error_response(426, "/mqtt is MQTT over WebSocket: send a WebSocket upgrade (Connection: Upgrade, "
                               "Upgrade: websocket, Sec-WebSocket-Version: 13), as MQTT clients do for ws://");
  return error_response(404, "no such endpoint: " + p + " (see docs/http.md)");
}

std::optional<Response> Router::query(Request& r, const std::shared_ptr<Answer>& answer) {
  QueryRequest q;
  std::string error;
  if (!query_request_from_params(r.query, &q, &error)) return error_response(400, error);
  if (r.method == "POST" && !r.body.empty()) {
    std::string type = media_type(r);
    bool json = type == "application/json" ||
                (type.empty() && r.body.find_first_not_of(" \t\r\n") != std::string::npos &&
                 r.body[r.body.find_first_not_of(" \t\r\n")] == '{');
    if (json) {
      if (!query_request_from_json(r.body, &q, &error)) return error_response(400, error);
    } else if (type == "application/x-www-form-urlencoded" || type.empty()) {
      Params form;
      if (!form.parse(r.body, &error) || !query_request_from_params(form, &q, &error))
        return error_response(400, error);
    } else if (type == "text/plain" || type == "application/sql") {
      q.sql = std::move(r.body);
    } else {
      return error_response(415, "Content-Type '" + type +
                                     "' is not read here: send application/json, application/x-www-form-urlencoded "
                                     "or text/plain (the SQL itself)");
    }
  }
  if (q.sql.find_first_not_of(" \t\r\n;") == std::string::npos)
    return error_response(400, "no query: give q, e.g. GET /db/query?q=SELECT%201 (docs/http.md)");
  // The job holds what it uses (the pool may outlive the router).
  auto job = [execute = execute_, limits = limits_, q = std::move(q), answer] {
    query::QueryStatus st = run_query(execute, q, limits, *answer, answer->flag().get());
    if (!st.ok) spdlog::debug("http: query failed: {}", st.describe());
  };
  if (!queries_.try_submit(std::move(job), answer->flag()))
    return busy("queries", queries_, "http.query_threads, http.query_queue");
  return std::nullopt;
}

std::optional<Response> Router::write_rows(Request& r, std::string_view table, const std::shared_ptr<Answer>& answer) {
  const auto began = Clock::now();
  auto fail = [&](int status, std::string_view reason) {
    Response res;
    res.status = status;
    res.body = reason_json(false, reason, Clock::now() - began);
    return res;
  };
  if (!ingest_) return fail(503, "writes are not available on this server");
  ingest::Target target;
  target.table = std::string(table);
  std::string error;
  if (!body_gzip(r, &target.gzip, &error)) return fail(415, error);
  if (const std::string* f = r.query.get("format"); f && !f->empty()) {
    auto format = ingest::format_named(*f);
    if (!format) return fail(400, "unknown format '" + *f + "' (json, csv, ndjson, line)");
    target.format = *format;
  } else {
    std::string type = media_type(r);
    if (type == "text/csv" || type == "application/csv")
      target.format = ingest::Format::csv;
    else if (type == "application/x-ndjson" || type == "application/ndjson" || type == "application/jsonl" ||
             type == "application/x-jsonlines" || type == "application/jsonlines")
      target.format = ingest::Format::ndjson;
    else
      target.format = ingest::Format::json;
  }
  ingest::WriteOptions wo;
  if (const std::string* v = r.query.get("timeformat")) wo.timeformat = *v;
  if (const std::string* v = r.query.get("tz")) wo.tz = *v;
  if (const std::string* v = r.query.get("header")) {
    if (iequals(*v, "columns") || iequals(*v, "true")) wo.header = true;
    else if (iequals(*v, "skip")) wo.skip_header = true;
    else if (!v->empty() && !iequals(*v, "false") && !iequals(*v, "none"))
      return fail(400, "header '" + *v + "': expected columns, skip or false");
  }
  if (const std::string* v = r.query.get("delimiter"); v && !v->empty()) {
    if (*v == "\\t" || iequals(*v, "tab")) wo.delimiter = '\t';
    else if (v->size() == 1) wo.delimiter = (*v)[0];
    else return fail(400, "delimiter must be one character (or \\t)");
  }
  auto job = [ingest = ingest_, target = std::move(target), wo = std::move(wo), body = std::move(r.body), answer,
              began]() mutable {
    ingest->submit(target, wo, std::move(body), [answer, began](const ingest::WriteOutcome& o) {
      int status = o.ok ? 200 : o.refused ? 503 : 400;
      answer->whole(status, "application/json", false, reason_json(o.ok, o.reason, Clock::now() - began));
    });
  };
  if (!writes_.try_submit(std::move(job), answer->flag())) return busy("writes", writes_, "one write thread");
  return std::nullopt;
}

std::optional<Response> Router::write_lines(Request& r, const std::shared_ptr<Answer>& answer) {
  auto fail = [](int status, std::string_view code, const std::string& message) {
    Response res;
    res.status = status;
    res.body = influx_error(code, message);
    res.headers.emplace_back("X-Influxdb-Error", message);
    return res;
  };
  if (!ingest_) return fail(503, "unavailable", "writes are not available on this server");
  bool v2 = r.path == "/api/v2/write";
  const char* table_param = v2 ? "bucket" : "db";
  const std::string* table = r.query.get(table_param);
  if (!table || table->empty())
    return fail(400, "invalid", std::string("missing the table: ?") + table_param + "=TABLE");
  ingest::Target target;
  target.table = *table;
  target.format = ingest::Format::line;
  std::string error;
  if (!body_gzip(r, &target.gzip, &error)) return fail(415, "invalid", error);
  ingest::WriteOptions wo;
  wo.timeformat = "ns";
  if (const std::string* p = r.query.get("precision"); p && !p->empty()) {
    // v2: ns, us, ms, s; v1 also n, u.
    const std::string& v = *p;
    if (v == "ns" || v == "n") wo.timeformat = "ns";
    else if (v == "us" || v == "u") wo.timeformat = "us";
    else if (v == "ms") wo.timeformat = "ms";
    else if (v == "s") wo.timeformat = "s";
    else return fail(400, "invalid", "precision '" + v + "' is not supported (ns, us, ms, s)");
  }
  auto job = [ingest = ingest_, target = std::move(target), wo = std::move(wo), body = std::move(r.body),
              answer]() mutable {
    ingest->submit(target, wo, std::move(body), [answer](const ingest::WriteOutcome& o) {
      if (o.ok) {
        answer->whole(204, "", false, "");
        return;
      }
      int status = o.refused ? 503 : 400;
      std::vector<std::pair<std::string, std::string>> headers{{"X-Influxdb-Error", o.reason}};
      if (o.refused) headers.emplace_back("Retry-After", "1");
      answer->whole_with(status, "application/json", influx_error(o.refused ? "unavailable" : "invalid", o.reason),
                         std::move(headers));
    });
  };
  if (!writes_.try_submit(std::move(job), answer->flag()))
    return fail(503, "unavailable", "too many writes waiting; try again later");
  return std::nullopt;
}

const std::string* Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

}  // namespace mqbase::http
