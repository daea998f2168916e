#include "http/query_runner.h"

#include <memory>

#include "http/gzip_encoder.h"
#include "query/format.h"

namespace mqbase::http {

namespace {

std::chrono::nanoseconds since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t);
}

std::string with_charset(std::string_view content_type) {
  std::string s(content_type);
  if (s.starts_with("text/")) s += "; charset=utf-8";
  return s;
}

}  // namespace

std::string error_json(std::string_view reason, std::chrono::nanoseconds elapse) {
  std::string s = "{\"success\":false,\"reason\":";
  query::append_json_string(reason, s);
  s += ",\"elapse\":";
  query::append_json_string(query::go_duration(elapse), s);
  s += "}";
  return s;
}

query::QueryStatus run_query(const Execute& execute, const QueryRequest& request, const QueryLimits& limits,
                             AnswerOutput& out, const std::atomic<bool>* cancel) {
  const auto began = std::chrono::steady_clock::now();
  query::FormatOptions fo = format_options(request.format);

  // Where the writer's bytes go: collected (the answer is sent whole), streamed (through gzip
  // when asked), or dropped (an error answer replaces them).
  enum class Mode { collect, stream, drop };
  Mode mode = limits.may_stream ? Mode::stream : Mode::collect;
  bool streaming = false, too_large = false;
  std::string collected, zipped, content_type;
  std::unique_ptr<GzipEncoder> gzip;
  auto write = [&](std::string_view b) -> bool {
    switch (mode) {
      case Mode::drop: return true;
      case Mode::collect:
        if (limits.max_whole != 0 && collected.size() + b.size() > limits.max_whole) {
          too_large = true;
          return false;
        }
        collected.append(b);
        return true;
      case Mode::stream:
        if (!streaming) {
          streaming = true;
          if (request.gzip) gzip = std::make_unique<GzipEncoder>();
          out.stream_begin(content_type, request.gzip);
        }
        if (!gzip) return out.stream_bytes(b);
        zipped.clear();
        gzip->write(b, &zipped);
        return zipped.empty() || out.stream_bytes(zipped);
    }
    return false;
  };

  query::QueryStatus status;
  std::string error;
  std::unique_ptr<query::ResultWriter> writer = query::make_writer(fo, write, &error);
  if (!writer) {
    status.ok = false;
    status.error = error;
    out.whole(400, "application/json", false, error_json(error, since(began)));
    return status;
  }
  content_type = with_charset(writer->content_type());

  query::QueryOptions options;
  options.params = request.params;
  if (request.format.tz) options.tz = *request.format.tz;
  std::chrono::milliseconds timeout = request.timeout.value_or(limits.timeout);
  if (limits.max_timeout.count() > 0 && (timeout.count() == 0 || timeout > limits.max_timeout))
    timeout = limits.max_timeout;
  options.timeout = timeout;
  // A request may ask for less memory than the server allows, never more (0: no limit).
  options.memory_limit = limits.memory_limit;
  if (request.memory_limit && *request.memory_limit > 0 &&
      (limits.memory_limit == 0 || *request.memory_limit < limits.memory_limit))
    options.memory_limit = *request.memory_limit;
  options.cancel = cancel;

  status = execute(request.sql, options, *writer);

  // An error while nothing went out yet is the whole answer, in the request's format, as a
  // writer that saw no rows writes it (json, ndjson: {"success":false,...}; csv, box:
  // "ERROR:  ..."). Over MQTT, where nothing goes out before the end, that holds for errors
  // after rows too.
  auto answer_error = [&] {
    mode = Mode::drop;
    writer->finish(status, since(began));
    std::string text;
    auto alone = query::make_writer(fo, [&](std::string_view b) { text.append(b); return true; }, nullptr);
    if (alone) alone->finish(status, since(began));
    if (text.empty()) out.whole(400, "application/json", false, error_json(status.describe(), since(began)));
    else out.whole(400, content_type, false, std::move(text));
    return status;
  };
  if (!status.ok && (writer->bytes_sent() == 0 || !limits.may_stream)) return answer_error();
  auto answer_too_large = [&] {
    status.ok = false;
    status.error = "the answer is larger than " + std::to_string(limits.max_whole) +
                   " bytes: ask for fewer rows (LIMIT, a narrower time range) or query over HTTP";
    out.whole(400, "application/json", false, error_json(status.error, since(began)));
    return status;
  };
  if (too_large) {
    mode = Mode::drop;
    writer->finish(status, since(began));
    return answer_too_large();
  }
  if (!streaming) {
    // Nothing streamed yet (no rows, or the writer held them all): one answer with its length.
    mode = Mode::collect;
    writer->finish(status, since(began));
    if (too_large) return answer_too_large();
    if (request.gzip) collected = GzipEncoder::compress(collected);
    out.whole(200, content_type, request.gzip, std::move(collected));
    return status;
  }
  writer->finish(status, since(began));
  if (!status.ok && writer->content_type() == "text/csv") {
    out.stream_abort(status.describe());
    return status;
  }
  if (gzip) {
    zipped.clear();
    gzip->finish(&zipped);
    if (!zipped.empty()) out.stream_bytes(zipped);
  }
  out.stream_end();
  return status;
}

}  // namespace mqbase::http
