// The HTTP API's door (http::Authorizer): who may call it, and what, with the same password
// and ACL files as MQTT (docs/security.md#the-http-api). Credentials come as HTTP Basic; an
// endpoint is allowed when the ACL lets the user do what the same request over MQTT does:
// POST /db/write/T = PUBLISH to db/write/T, a query = PUBLISH to db/query, GET /db/watch/T =
// SUBSCRIBE to db/watch/T, a line-protocol write = PUBLISH to db/write (its tables are in its
// lines), GET /metrics and /api/overview = SUBSCRIBE to $SYS/broker/metrics, POST
// /api/clients/disconnect = PUBLISH to $CONTROL/mqbase/disconnect, the admin API (/api/users,
// /api/acl) = PUBLISH to $CONTROL/mqbase/users or $CONTROL/mqbase/acl; the admin API also wants
// verified credentials where anonymous requests are allowed.
// Thread-safety: the authorizer is called on the HTTP I/O thread; AccessControl is safe from
// any thread.
#pragma once
#include <memory>

#include "auth/access_control.h"
#include "http/request.h"

namespace mqbase::app {

// `allow_anonymous`: a request without credentials passes the login (then the ACL decides, as
// for an anonymous MQTT client).
http::Authorizer make_http_authorizer(std::shared_ptr<auth::AccessControl> access, bool allow_anonymous);

}  // namespace mqbase::app
