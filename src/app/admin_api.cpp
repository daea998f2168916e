#include "app/admin_api.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <set>

#include "auth/acl_file.h"
#include "auth/password_file.h"
#include "auth/text_file.h"
#include "http/router.h"
#include "mqtt/topic.h"
#include "query/format.h"

namespace mqbase::app {
namespace {

// The password of a {"password": "..."} body; "" with *error set when there is none.
std::string password_of(std::string_view body, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view password;
  if (parser.parse(body.data(), body.size()).get(doc) || doc["password"].get(password)) {
    *error = "expected a JSON object {\"password\": \"...\"}";
    return "";
  }
  if (password.empty()) *error = "the password must not be empty";
  return std::string(password);
}

}  // namespace

std::optional<http::Response> AdminApi::handle(const http::Request& r) {
  const std::string& p = r.path;
  if (p == "/api/users" || p.starts_with("/api/users/")) return users(r);
  if (p == "/api/acl/check") return acl_check(r);
  if (p == "/api/acl") return acl(r);
  return std::nullopt;
}

http::Response AdminApi::reloaded(int status, const std::string& reason) {
  if (std::string errors = access_->reload(); !errors.empty())
    spdlog::warn("admin API: reloading the authentication files: {}", errors);
  spdlog::info("admin API: {}", reason);
  return http::success_response(status, reason);
}

http::Response AdminApi::users(const http::Request& r) {
  const std::string& path = access_->options().password_file;
  const bool one = r.path.size() > sizeof("/api/users/") - 1;
  if (!one && r.method != "GET") return http::method_not_allowed(r, "GET");
  if (one && r.method != "PUT" && r.method != "DELETE") return http::method_not_allowed(r, "PUT, DELETE");
  if (path.empty()) return http::error_response(409, "no password file: auth.password_file is not set");
  std::lock_guard lock(mu_);
  std::string text;
  try {
    text = auth::read_text_file_if_exists(path, "password file");
  } catch (const auth::AuthFileError& e) {
    return http::error_response(500, e.what());
  }
  if (!one) {
    std::set<std::string> names;
    auth::for_each_line(text, [&](size_t, std::string_view line) {
      std::string_view name, rest;
      if (!line.empty() && !line.starts_with('#') && auth::split_password_line(line, name, rest) && !name.empty())
        names.emplace(name);
    });
    http::Response res;
    res.body = "{\"users\":[";
    for (const std::string& n : names) {
      if (res.body.back() != '[') res.body += ',';
      query::append_json_string(n, res.body);
    }
    res.body += "]}";
    return res;
  }
  std::string user = r.path.substr(sizeof("/api/users/") - 1);
  for (unsigned char c : user)
    if (c < 0x20 || c == 0x7f || c == ':' || c == '/')
      return http::error_response(400, "a user name must not contain ':', '/' or control characters");
  std::string secret;
  if (r.method == "PUT") {
    std::string why;
    std::string password = password_of(r.body, &why);
    if (!why.empty()) return http::error_response(400, why);
    secret = auth::HashedPassword::make(password).to_string();
  }
  std::string out;
  bool found = false;
  if (std::string why = auth::edit_user_line(text, user, r.method == "PUT" ? &secret : nullptr, &out, &found);
      !why.empty())
    return http::error_response(500, "password file " + path + ": " + why);
  if (r.method == "DELETE" && !found) return http::error_response(404, "no user '" + user + "' in " + path);
  if (std::string why = auth::replace_text_file(path, out); !why.empty()) return http::error_response(500, why);
  if (r.method == "DELETE") return reloaded(200, "deleted user '" + user + "'");
  return reloaded(found ? 200 : 201, (found ? "changed the password of user '" : "added user '") + user + "'");
}

http::Response AdminApi::acl(const http::Request& r) {
  const std::string& path = access_->options().acl_file;
  if (r.method != "GET" && r.method != "PUT") return http::method_not_allowed(r, "GET, PUT");
  if (path.empty()) return http::error_response(409, "no ACL file: auth.acl_file is not set");
  std::lock_guard lock(mu_);
  try {
    if (r.method == "GET") {
      http::Response res;
      res.content_type = "text/plain; charset=utf-8";
      res.body = auth::read_text_file_if_exists(path, "ACL file");
      return res;
    }
    auth::AclFile::Summary s = auth::AclFile::parse(r.body, path).summary();
    if (std::string why = auth::replace_text_file(path, r.body); !why.empty()) return http::error_response(500, why);
    size_t n = s.anonymous_rules + s.user_rules + s.patterns;
    return reloaded(200, fmt::format("replaced the ACL: {} rule{}", n, n == 1 ? "" : "s"));
  } catch (const auth::AuthFileError& e) {
    if (r.method == "GET") return http::error_response(500, e.what());
    return http::error_response(400, std::string(e.what()) + " (the file is unchanged)");
  }
}

http::Response AdminApi::acl_check(const http::Request& r) {
  if (r.method != "GET") return http::method_not_allowed(r, "GET");
  const std::string* access = r.query.get("access");
  const std::string* topic = r.query.get("topic");
  if (!access || (*access != "read" && *access != "write" && *access != "subscribe"))
    return http::error_response(400, "give access=read, write or subscribe");
  if (!topic || topic->empty()) return http::error_response(400, "give the topic: topic=...");
  const std::string* user = r.query.get("username");
  const std::string* id = r.query.get("client_id");
  auth::AclSubject who{id ? std::string_view(*id) : std::string_view(),
                       user ? std::optional<std::string_view>(*user) : std::nullopt};
  std::string_view filter = *topic;
  if (mqtt::SharedFilter shared; *access == "subscribe" && mqtt::parse_shared(filter, shared) == mqtt::ShareParse::ok)
    filter = shared.filter;
  if (*access == "subscribe" ? !mqtt::valid_topic_filter(filter) : !mqtt::valid_topic_name(filter))
    return http::error_response(400, "'" + *topic + "' is not a valid topic " +
                                         (*access == "subscribe" ? "filter" : "name"));
  bool allowed = *access == "read"    ? access_->may_read(who, *topic)
                 : *access == "write" ? access_->may_write(who, *topic)
                                      : access_->may_subscribe(who, filter);
  http::Response res;
  res.body = allowed ? "{\"allowed\":true}" : "{\"allowed\":false}";
  return res;
}

}  // namespace mqbase::app
