#include "http/query_request.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

namespace mqbase::http {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

bool read_int(std::string_view text, int64_t* v) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *v);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

std::string bad(std::string_view name, std::string_view expected, std::string_view got) {
  return "parameter '" + std::string(name) + "': expected " + std::string(expected) + ", got '" +
         std::string(got.substr(0, 60)) + "'";
}

bool set_bool(std::string_view name, std::string_view text, std::optional<bool>* out, std::string* error) {
  auto b = parse_bool(text);
  if (!b) {
    *error = bad(name, "true or false", text);
    return false;
  }
  *out = *b;
  return true;
}

bool set_precision(std::string_view text, std::optional<int>* out, std::string* error) {
  int64_t v = 0;
  if (!read_int(text, &v) || v < -1 || v > 30) {
    *error = bad("precision", "an integer from -1 to 30", text);
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

bool set_timeout(std::string_view text, std::optional<std::chrono::milliseconds>* out, std::string* error) {
  int64_t v = 0;
  if (!read_int(text, &v) || v < 0) {
    *error = bad("timeout", "milliseconds (an integer >= 0)", text);
    return false;
  }
  *out = std::chrono::milliseconds(v);
  return true;
}

bool set_memory_limit(std::string_view text, std::optional<uint64_t>* out, std::string* error) {
  int64_t v = 0;
  if (!read_int(text, &v) || v < 0) {
    *error = bad("memory_limit", "bytes (an integer >= 0)", text);
    return false;
  }
  *out = static_cast<uint64_t>(v);
  return true;
}

bool set_compress(std::string_view text, bool* gzip, std::string* error) {
  if (text.empty() || iequals(text, "none")) {
    *gzip = false;
  } else if (iequals(text, "gzip")) {
    *gzip = true;
  } else {
    *error = bad("compress", "gzip", text);
    return false;
  }
  return true;
}

query::Value value_of(const element& e) {
  switch (e.type()) {
    case element_type::INT64: return query::Value::of_int(int64_t(e));
    case element_type::UINT64: return query::Value::of_float(static_cast<double>(uint64_t(e)));
    case element_type::DOUBLE: return query::Value::of_float(double(e));
    case element_type::STRING: return query::Value::of_text(std::string_view(e));
    case element_type::BOOL: return query::Value::of_bool(bool(e));
    case element_type::NULL_VALUE: return query::Value::make_null();
    default: return query::Value::of_text(simdjson::minify(e), query::Type::json);
  }
}

bool params_of(const element& e, std::vector<query::Value>* out, std::string* error) {
  simdjson::dom::array a;
  if (e.get(a)) {
    *error = "parameter 'params': expected a JSON array such as [42, \"text\", 1.5]";
    return false;
  }
  out->clear();
  for (element v : a) out->push_back(value_of(v));
  return true;
}

// A member that may be a JSON string or a bare value of its own kind ("precision": 3 or "3").
std::string scalar_text(const element& e) {
  std::string_view s;
  if (!e.get(s)) return std::string(s);
  return simdjson::minify(e);
}

}  // namespace

bool parse_bind_params(std::string_view json_array, std::vector<query::Value>* out, std::string* error) {
  thread_local simdjson::dom::parser parser;
  element doc;
  if (parser.parse(json_array.data(), json_array.size(), true).get(doc)) {
    *error = "parameter 'params': not JSON: expected an array such as [42, \"text\", 1.5]";
    return false;
  }
  return params_of(doc, out, error);
}

query::FormatOptions format_options(const AnswerFormat& f) {
  query::FormatOptions fo;
  fo.format = f.format;
  if (f.timeformat) fo.timeformat = *f.timeformat;
  if (f.tz) fo.tz = *f.tz;
  if (f.heading) fo.heading = *f.heading;
  if (f.precision) fo.precision = *f.precision;
  if (f.rownum) fo.rownum = *f.rownum;
  return fo;
}

bool query_request_from_params(const Params& params, QueryRequest* out, std::string* error) {
  for (const auto& [k, v] : params.all()) {
    bool ok = true;
    if (k == "q") out->sql = v;
    else if (k == "format") out->format.format = v;
    else if (k == "timeformat") out->format.timeformat = v;
    else if (k == "tz") out->format.tz = v;
    else if (k == "heading") ok = set_bool(k, v, &out->format.heading, error);
    else if (k == "rownum") ok = set_bool(k, v, &out->format.rownum, error);
    else if (k == "precision") ok = set_precision(v, &out->format.precision, error);
    else if (k == "timeout") ok = set_timeout(v, &out->timeout, error);
    else if (k == "memory_limit") ok = set_memory_limit(v, &out->memory_limit, error);
    else if (k == "compress") ok = set_compress(v, &out->gzip, error);
    else if (k == "params") ok = parse_bind_params(v, &out->params, error);
    if (!ok) return false;
  }
  return true;
}

bool query_request_from_json(std::string_view json, QueryRequest* out, std::string* error) {
  thread_local simdjson::dom::parser parser;
  element doc;
  simdjson::dom::object obj;
  if (auto e = parser.parse(json.data(), json.size(), true).get(doc); e) {
    *error = std::string("request body is not JSON: ") + simdjson::error_message(e);
    return false;
  }
  if (doc.get(obj)) {
    *error = "request body must be a JSON object such as {\"q\": \"SELECT 1\"}";
    return false;
  }
  for (auto [key, value] : obj) {
    bool ok = true;
    std::string_view s;
    auto text = [&](std::string* dst) {
      if (value.get(s)) {
        *error = "member '" + std::string(key) + "' must be a string";
        return false;
      }
      *dst = std::string(s);
      return true;
    };
    if (key == "q") {
      ok = text(&out->sql);
    } else if (key == "format") {
      ok = text(&out->format.format);
    } else if (key == "timeformat" || key == "tz") {
      std::string v;
      ok = text(&v);
      (key == "tz" ? out->format.tz : out->format.timeformat) = std::move(v);
    } else if (key == "reply") {
      ok = text(&out->reply);
    } else if (key == "heading" || key == "rownum") {
      bool b;
      if (!value.get(b)) (key == "heading" ? out->format.heading : out->format.rownum) = b;
      else ok = set_bool(key, scalar_text(value), key == "heading" ? &out->format.heading : &out->format.rownum, error);
    } else if (key == "precision") {
      ok = set_precision(scalar_text(value), &out->format.precision, error);
    } else if (key == "timeout") {
      ok = set_timeout(scalar_text(value), &out->timeout, error);
    } else if (key == "memory_limit") {
      ok = set_memory_limit(scalar_text(value), &out->memory_limit, error);
    } else if (key == "compress") {
      ok = set_compress(scalar_text(value), &out->gzip, error);
    } else if (key == "params") {
      // A JSON array, or (as in a form) a string holding one.
      if (!value.get(s)) ok = parse_bind_params(s, &out->params, error);
      else ok = params_of(value, &out->params, error);
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace mqbase::http
