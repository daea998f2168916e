// url: the pieces of an HTTP request target the server reads itself: the path, the query
// string and form bodies (application/x-www-form-urlencoded), percent-decoded. The HTTP server
// (http_server.cpp) and the query parameters (query_request.h) use it.
//
// Thread-safety: plain functions and values.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mqbase::http {

// Decodes %XX escapes (and '+' as a space when `plus_is_space`: query strings and forms).
// Returns false for a malformed escape ("%4", "%zz"); *out then holds what was decoded.
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out);

// The decoded parameters of a query string or form body, in order ("a=1&b=&c" gives
// a="1", b="", c=""). A later value of a name does not replace an earlier one; get() returns
// the first.
class Params {
 public:
  // Parses "a=1&b=x%20y". Returns false (and keeps what parsed) when an escape is malformed;
  // *error names the parameter.
  bool parse(std::string_view text, std::string* error);
  const std::string* get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name) != nullptr; }
  void set(std::string name, std::string value);  // replaces every value of `name`
  const std::vector<std::pair<std::string, std::string>>& all() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// A request target split at '?': the decoded path and the raw query string.
struct Target {
  std::string path;
  std::string_view query;  // points into the target given to split_target()
};
// False when the path has a malformed escape or is not absolute ("/..."); "*" and absolute
// URIs ("http://h/p", proxies' form) are accepted: the path is then "/p".
bool split_target(std::string_view target, Target* out);

// A boolean parameter: "true", "1", "yes", "on" (true); "false", "0", "no", "off", "" (false);
// nullopt for anything else. Case-insensitive.
std::optional<bool> parse_bool(std::string_view text);

bool iequals(std::string_view a, std::string_view b);

}  // namespace mqbase::http
