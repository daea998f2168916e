// The HTTP admin API: users and ACL rules changed at runtime, without a restart
// (docs/security.md#changing-users-and-rules-at-runtime).
//
//   GET    /api/users                the user names of auth.password_file
//   PUT    /api/users/{name}         {"password": "..."}: add the user (201) or change its password
//   DELETE /api/users/{name}         remove the user
//   GET    /api/acl                  auth.acl_file's text
//   PUT    /api/acl                  replace it with the body (checked first: 400 names the line)
//   GET    /api/acl/check?access=read|write|subscribe&topic=T[&username=U][&client_id=C]
//
// Each change rewrites the file as `mqbase passwd` and `mqbase acl` do (a temporary file
// renamed over it) and reloads the authentication files, as SIGHUP does: new logins and every
// client's next PUBLISH, SUBSCRIBE and delivery follow the new contents. Who may call it is the
// HTTP authorizer's business (app/http_access.h): real credentials, and the ACL's write right
// on $CONTROL/mqbase/users or $CONTROL/mqbase/acl.
// Thread-safety: handle() from any thread; changes are serialized.
#pragma once
#include <memory>
#include <mutex>
#include <optional>

#include "auth/access_control.h"
#include "http/request.h"

namespace mqbase::app {

class AdminApi {
 public:
  explicit AdminApi(std::shared_ptr<auth::AccessControl> access) : access_(std::move(access)) {}

  // The answer to a request under /api/users or /api/acl; nullopt for any other path.
  std::optional<http::Response> handle(const http::Request& r);

 private:
  http::Response users(const http::Request& r);
  http::Response acl(const http::Request& r);
  http::Response acl_check(const http::Request& r);
  // After a file was replaced: the files read again. Returns the JSON success answer.
  http::Response reloaded(int status, const std::string& reason);

  std::shared_ptr<auth::AccessControl> access_;
  std::mutex mu_;  // one change at a time, from reading the file to reloading it
};

}  // namespace mqbase::app
