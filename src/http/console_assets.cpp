#include "http/console_assets.h"

#include "http/router.h"

namespace mqbase::http {

namespace {

// Whether an Accept-Encoding field accepts gzip: a "gzip" (or "*") entry whose q is not zero.
bool accepts_gzip(const Request& r) {
  const std::string* field = r.header("Accept-Encoding");
  if (!field) return false;
  std::string_view rest = *field;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view coding = item.substr(0, semi), params = semi == std::string_view::npos ? "" : item.substr(semi + 1);
    auto trim = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
      return s;
    };
    coding = trim(coding);
    params = trim(params);
    if (!iequals(coding, "gzip") && coding != "*") continue;
    // q=0, q=0.0, q=0.000: refused.
    if (params.size() >= 3 && (params[0] == 'q' || params[0] == 'Q') && params[1] == '=' &&
        params.substr(2).find_first_not_of("0.") == std::string_view::npos)
      continue;
    return true;
  }
  return false;
}

}  // namespace

Response console_response(const Request& r) {
  if (r.method != "GET") {
    Response res = error_response(405, "method " + r.method + " is not allowed on " + r.path + " (allowed: GET)");
    res.headers.emplace_back("Allow", "GET");
    return res;
  }
  const ConsoleAsset* a = find_console_asset(r.path);
  if (!a) return error_response(404, "no such console file: " + r.path + " (the console starts at /)");
  Response res;
  res.content_type = std::string(a->content_type);
  res.headers.emplace_back("Cache-Control", a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // MQTT.js keeps its timers in a Web Worker made from a blob: (worker-timers), so that a
  // background tab's throttled timers do not miss keep-alives.
  if (r.path == "/")
    res.headers.emplace_back("Content-Security-Policy",
                             "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                             "connect-src 'self' ws: wss:; worker-src 'self' blob:; frame-ancestors 'none'");
  if (!a->gzip.empty()) {
    res.headers.emplace_back("Vary", "Accept-Encoding");
    if (accepts_gzip(r)) {
      res.headers.emplace_back("Content-Encoding", "gzip");
      res.body = std::string(a->gzip);
      return res;
    }
  }
  res.body = std::string(a->bytes);
  return res;
}

}  // namespace mqbase::http
