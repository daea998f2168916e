// AccessControl: who may connect and what a connected client may do, as mosquitto 2 decides
// it with password_file, allow_anonymous and acl_file. The server builds one from [auth]
// (docs/security.md) and hands it to the Broker; the Client asks it at CONNECT (login) and
// at each PUBLISH and SUBSCRIBE, the Broker at each delivery. reload() reads the files again
// (SIGHUP): checks made after it use the new files.
// Thread-safety: every method from any thread. The files are swapped whole; a check reads
// them without a lock (Swappable).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/acl_file.h"
#include "auth/failure_throttle.h"
#include "auth/password_file.h"
#include "auth/swappable.h"

namespace mqbase::auth {

struct AccessOptions {
  std::string password_file;  // "" none
  std::string acl_file;       // "" none: everything is allowed
  uint32_t failed_attempts = 5;  // free failed logins per address and minute
  std::chrono::milliseconds failed_delay{1000};  // the wait of each failure past those
};

class AccessControl {
 public:
  // Reads the files the options name. Throws AuthFileError when one cannot be used.
  explicit AccessControl(AccessOptions options);
  AccessControl(const AccessControl&) = delete;
  AccessControl& operator=(const AccessControl&) = delete;

  // Reads the password and ACL files again. A file that cannot be used keeps its old
  // contents. Returns what went wrong, one line per file ("" when both were read).
  std::string reload();

  struct Login {
    std::optional<std::string_view> username;
    std::optional<std::string_view> password;
    bool allow_anonymous = true;  // the listener's policy
    std::string_view peer;        // "ip:port" or "[ip]:port" ("" unknown), for the throttle
  };
  enum class Verdict : uint8_t { accepted, bad_credentials, not_authorized };
  struct Decision {
    Verdict verdict = Verdict::accepted;
    std::chrono::milliseconds delay{0};  // hold the refusal back this long (throttled address)
    std::string_view why;                // for logs and reason strings, on refusal
  };
  // mosquitto 2's rules: no user name, or a user name while no password file is configured,
  // is allowed only where anonymous clients are; with a password file, the password must be
  // the user's. A refusal counts against the peer's address (FailureThrottle).
  Decision login(const Login& l);

  // An ACL file is configured (fixed at construction). Without one every check allows, and
  // the hot paths skip them on this test alone.
  bool has_acl() const { return !options_.acl_file.empty(); }
  bool may_write(const AclSubject& who, std::string_view topic) const { return acl()->may_write(who, topic); }
  bool may_read(const AclSubject& who, std::string_view topic) const { return acl()->may_read(who, topic); }
  bool may_subscribe(const AclSubject& who, std::string_view filter) const {
    return acl()->may_subscribe(who, filter);
  }

  // The IP of "ip:port" or "[ip]:port".
  static std::string_view host_of(std::string_view peer);

 private:
  const AclFile* acl() const;

  const AccessOptions options_;
  Swappable<PasswordFile> passwords_;
  Swappable<AclFile> acl_;
  FailureThrottle throttle_;
};

}  // namespace mqbase::auth
