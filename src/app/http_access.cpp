#include "app/http_access.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/base64.h"
#include "http/url.h"

namespace mqbase::app {
namespace {

http::AuthDecision refuse(int status, std::string reason) {
  http::AuthDecision d;
  d.allowed = false;
  d.status = status;
  d.reason = std::move(reason);
  if (status == 401) d.www_authenticate = "Basic realm=\"mqbase\", charset=\"UTF-8\"";
  return d;
}

// The $CONTROL topic of an admin API path (app/admin_api.h), or "" for another path.
std::string_view admin_topic(const std::string& p) {
  if (p == "/api/users" || p.starts_with("/api/users/")) return "$CONTROL/mqbase/users";
  if (p == "/api/acl" || p.starts_with("/api/acl/")) return "$CONTROL/mqbase/acl";
  return {};
}

// What the request does, said as MQTT: a topic and whether it writes (PUBLISH) or reads
// (SUBSCRIBE). False for what needs no ACL check.
bool as_mqtt(const http::Request& r, std::string* topic, bool* write) {
  const std::string& p = r.path;
  *write = true;
  if (p == "/db/query") {
    *topic = "db/query";
  } else if (p.starts_with("/db/write/")) {
    *topic = "db/write/" + p.substr(10);
  } else if (p == "/db/write" || p == "/metrics/write" || p == "/write" || p == "/api/v2/write") {
    *topic = "db/write";
  } else if (p.starts_with("/db/watch/")) {
    *topic = "db/watch/" + p.substr(10);
    *write = false;
  } else if (p == "/metrics" || p == "/api/overview") {
    *topic = "$SYS/broker/metrics";  // whoever may read $SYS may read the same figures here
    *write = false;
  } else if (p == "/api/clients/disconnect") {
    *topic = "$CONTROL/mqbase/disconnect";
  } else if (std::string_view admin = admin_topic(p); !admin.empty()) {
    *topic = std::string(admin);
  } else {
    return false;
  }
  return true;
}

}  // namespace

http::Authorizer make_http_authorizer(std::shared_ptr<auth::AccessControl> access, bool allow_anonymous) {
  return [access = std::move(access), allow_anonymous](const http::Request& r) -> http::AuthDecision {
    std::string user, password;
    bool has_credentials = false, bearer = false;
    if (const std::string* h = r.header("Authorization")) {
      std::string_view v = *h;
      if (v.size() > 7 && http::iequals(v.substr(0, 7), "Bearer ")) {
        // An OAuth 2.0 access token (RFC 6750), verified as the JWT it must be, as in an MQTT
        // CONNECT's password field: its user name and grants are the request's.
        v.remove_prefix(7);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        password = std::string(v);
        bearer = true;
      } else if (v.size() > 6 && http::iequals(v.substr(0, 6), "Basic ")) {
        v.remove_prefix(6);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        auto raw = auth::base64_decode(v);
        size_t colon = raw ? raw->find(':') : std::string::npos;
        if (colon == std::string::npos) return refuse(401, "malformed Basic credentials (base64 of user:password)");
        user = raw->substr(0, colon);
        password = raw->substr(colon + 1);
      } else {
        return refuse(401, "only HTTP Basic credentials and Bearer tokens (JWT) are accepted");
      }
      has_credentials = true;
    }
    if (!admin_topic(r.path).empty()) {
      // The admin API changes who may do what, so it wants a verified login. Credentials are checked against something: a password file for Basic, a JWT key for a
      // Bearer token. Without either, a user name alone would pass where anonymous clients do.
      const auth::AccessOptions& o = access->options();
      if (o.password_file.empty() && !o.jwt_enabled())
        return refuse(409, "the admin API needs authentication: set auth.password_file (or auth.jwt_key_file)");
      if (!has_credentials)
        return refuse(401, "the admin API needs credentials (HTTP Basic or a Bearer token), even where anonymous "
                           "requests are allowed");
      if (!bearer && o.password_file.empty())
        return refuse(401, "HTTP Basic credentials need auth.password_file; send a Bearer token (JWT)");
    }
    auth::AccessControl::Login login;
    if (has_credentials) {
      if (!bearer) login.username = user;
      login.password = password;
      login.accept_token = bearer;
    }
    login.allow_anonymous = allow_anonymous;
    login.peer = r.peer;
    auto d = access->login(login);
    if (d.verdict != auth::AccessControl::Verdict::accepted) {
      spdlog::info("HTTP {} {} from {} refused: {}", r.method, r.path, r.peer, d.why);
      // A throttled address waits on MQTT; the HTTP thread must not, so it is told to.
      if (d.delay.count() > 0) return refuse(429, "too many failed logins from this address; try again later");
      return refuse(401, has_credentials ? std::string(d.why) : "authentication required (HTTP Basic or a Bearer token)");
    }
    if (bearer && !d.token) return refuse(401, "the Bearer token is not a JWT this server accepts (auth.jwt_*)");
    std::shared_ptr<const auth::TokenGrants> grants;
    if (d.token) {
      user = d.token->username;
      grants = d.token->grants;
    }
    std::string topic;
    bool write;
    if (access->has_acl() && as_mqtt(r, &topic, &write)) {
      auth::AclSubject who{"", has_credentials ? std::optional<std::string_view>(user) : std::nullopt, grants.get()};
      bool ok = write ? access->may_write(who, topic) : access->may_subscribe(who, topic);
      if (!ok)
        return refuse(403, fmt::format("not authorized: the ACL does not let {} {} {}",
                                       has_credentials ? "'" + user + "'" : std::string("anonymous clients"),
                                       write ? "publish to" : "subscribe to", topic));
    }
    return {};
  };
}

}  // namespace mqbase::app
