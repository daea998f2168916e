// Request, Response: an HTTP request as the endpoints see it (read whole, body included, by
// the connection in http_server.cpp) and an answer they give at once. Boost-free, so that the
// endpoints (router.h) are plain code that unit tests call without sockets.
//
// Also the seams for what comes later: an Authorizer (issue 13: passwords, tokens, TLS client
// certificates) sees every request before an endpoint does, and an UpgradeHandler takes the
// socket of a WebSocket upgrade on /mqtt (MQTT over WebSocket, served by net).
//
// Thread-safety: plain values.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/url.h"

namespace mqbase::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/db/query?q=SELECT%201"
  std::string path;    // decoded: "/db/query"
  Params query;        // the decoded query string
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  std::string body;
  std::string peer;    // "127.0.0.1:54321"
  int version = 11;    // 10: HTTP/1.0, 11: HTTP/1.1
  bool tls = false;    // arrived over TLS (issue 13)

  // The first header of that name (case-insensitive), or null.
  const std::string* header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";  // "": none (204)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields (Allow, Retry-After)
};

// What an Authorizer decides. Denied: the request gets `status` (401 or 403) with
// {"success":false,"reason":...} and, for 401, a WWW-Authenticate field.
struct AuthDecision {
  bool allowed = true;
  int status = 401;
  std::string reason;
  std::string www_authenticate;  // e.g. Basic realm="mqbase"
};
// Called on the HTTP I/O thread for every request but /health: it must not block.
using Authorizer = std::function<AuthDecision(const Request&)>;

// A WebSocket upgrade request on /mqtt, with the connection handed over: `fd` (non-blocking,
// now owned by the handler), the request as read, and any bytes read past it.
struct Upgrade {
  int fd = -1;
  Request request;
  std::string buffered;
};
// Called on the HTTP I/O thread; takes ownership of the socket.
using UpgradeHandler = std::function<void(Upgrade)>;

}  // namespace mqbase::http
