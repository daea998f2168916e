// AccessControl: who may connect and what a connected client may do, as mosquitto 2 decides
// it with password_file, allow_anonymous and acl_file, plus bearer tokens (JWT) and SCRAM.
// The server builds one from [auth] (docs/security.md) and hands it to the Broker; the Client
// asks it at CONNECT (login) and at each PUBLISH and SUBSCRIBE, the Broker at each delivery.
// The enhanced-authentication methods it configures (JWT, SCRAM-SHA-256) are registered with
// the Broker by the server (authenticators()). reload() reads the files again (SIGHUP): checks
// and logins made after it use the new files.
// Thread-safety: every method from any thread. The files are swapped whole; a check reads
// them without a lock (Swappable).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/acl_file.h"
#include "auth/enhanced_auth.h"
#include "auth/failure_throttle.h"
#include "auth/jwt.h"
#include "auth/jwt_authenticator.h"
#include "auth/password_file.h"
#include "auth/scram.h"
#include "auth/swappable.h"
#include "auth/token_grants.h"

namespace mqbase::auth {

struct AccessOptions {
  std::string password_file;  // "" none
  std::string acl_file;       // "" none: everything is allowed
  uint32_t failed_attempts = 5;  // free failed logins per address and minute
  std::chrono::milliseconds failed_delay{1000};  // the wait of each failure past those
  JwtSettings jwt;           // JWT logins when its key_file or jwks_file is set
  std::string scram_file;    // "" none: else the SCRAM-SHA-256 method, with these users

  bool jwt_enabled() const { return !jwt.key_file.empty() || !jwt.jwks_file.empty(); }
};

class AccessControl {
 public:
  // Reads the files the options name. Throws AuthFileError when one cannot be used.
  explicit AccessControl(AccessOptions options);
  AccessControl(const AccessControl&) = delete;
  AccessControl& operator=(const AccessControl&) = delete;

  // Reads the password, ACL, JWT key and SCRAM files again. A file that cannot be used keeps
  // its old contents. Returns what went wrong, one line per file ("" when all were read).
  // Reloads run one at a time, so the files last read are the ones in force.
  std::string reload();

  // The enhanced-authentication methods the options configure (JWT, SCRAM-SHA-256), for
  // Broker::add_authenticator. They follow reload().
  std::vector<std::shared_ptr<EnhancedAuthenticator>> authenticators() const;

  struct Login {
    std::optional<std::string_view> username;
    std::optional<std::string_view> password;
    bool allow_anonymous = true;  // the listener's policy
    std::string_view peer;        // "ip:port" or "[ip]:port" ("" unknown), for the throttle
    // A password that is a JWT is verified as one (JWT configured): for callers that keep
    // the Decision's token (its grants and expiry). Others check it against the password file.
    bool accept_token = false;
  };
  enum class Verdict : uint8_t { accepted, bad_credentials, not_authorized };
  struct Decision {
    Verdict verdict = Verdict::accepted;
    std::chrono::milliseconds delay{0};  // hold the refusal back this long (throttled address)
    std::string why;                     // for logs and reason strings, on refusal
    // A login by token: its user name (the client's from now on), grants and expiry.
    std::optional<TokenLogin> token;
  };
  // mosquitto 2's rules: no user name, or a user name while no password file is configured,
  // is allowed only where anonymous clients are; with a password file, the password must be
  // the user's. A JWT as the password (accept_token) is verified instead, and names the user;
  // a user name beside it must be the token's. A refusal counts against the peer's address
  // (FailureThrottle).
  Decision login(const Login& l);
  // Counts a failed login that was decided elsewhere (an AUTH exchange) against `peer`'s
  // address. Returns how long its refusal must wait.
  std::chrono::milliseconds count_failure(std::string_view peer) { return throttle_.on_failure(host_of(peer)); }

  // Checks are needed: an ACL file is configured, or tokens may bring grants (both fixed at
  // construction). Without, every check allows, and the hot paths skip them on this test alone.
  bool has_acl() const { return !options_.acl_file.empty() || options_.jwt_enabled(); }
  // A subject with token grants gets what they grant, less what the ACL file denies it; one
  // without gets what the ACL file grants (everything when there is none).
  bool may_write(const AclSubject& who, std::string_view topic) const {
    return decide(who, topic, AclFile::Check::write);
  }
  bool may_read(const AclSubject& who, std::string_view topic) const { return decide(who, topic, AclFile::Check::read); }
  bool may_subscribe(const AclSubject& who, std::string_view filter) const {
    return decide(who, filter, AclFile::Check::subscribe);
  }

  const AccessOptions& options() const { return options_; }

  // The IP of "ip:port" or "[ip]:port".
  static std::string_view host_of(std::string_view peer);

 private:
  bool decide(const AclSubject& who, std::string_view topic, AclFile::Check check) const;

  const AccessOptions options_;
  std::mutex reload_mu_;  // one reload() at a time: SIGHUP's and the admin API's (app/admin_api.h)
  Swappable<PasswordFile> passwords_;
  Swappable<AclFile> acl_;
  FailureThrottle throttle_;
  std::shared_ptr<JwtAuthenticator> jwt_;    // null: no JWT configured
  std::shared_ptr<ScramAuthenticator> scram_;  // null: no SCRAM file
};

}  // namespace mqbase::auth
