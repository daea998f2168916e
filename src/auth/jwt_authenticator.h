// JwtAuthenticator: logins with a JWT bearer token, both ways a client can present one. As the
// MQTT 5 enhanced-authentication method "JWT", the CONNECT's (or a re-authenticating AUTH's)
// Authentication Data is the token, and the answer comes at once (no challenge). As a
// CONNECT password (MQTT 3.x, and 5.0 without a method), AccessControl::login() calls check().
// A passing token names the user (JwtSettings::username_claim) and may carry topic grants
// (TokenGrants); the connection ends when it expires (the Client arms the timer).
// Thread-safety: check() and begin() from any thread; replace_verifier() from any thread
// (SIGHUP: a JWKS rotation), later checks use the new keys. An exchange is single-threaded.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/enhanced_auth.h"
#include "auth/jwt.h"
#include "auth/swappable.h"
#include "auth/token_grants.h"

namespace mqbase::auth {

// The outcome of a token login.
struct TokenLogin {
  bool ok = false;
  std::string error;  // on failure, for logs and reason strings ("token expired", ...)
  std::string username;
  std::shared_ptr<const TokenGrants> grants;  // null: the token has no grant claims
  std::chrono::system_clock::time_point valid_until;  // `exp` plus the leeway
};

class JwtAuthenticator : public EnhancedAuthenticator {
 public:
  static constexpr std::string_view kMethod = "JWT";

  explicit JwtAuthenticator(std::shared_ptr<const JwtVerifier> verifier);
  std::string_view method() const override { return kMethod; }
  // `username`: the CONNECT's user name (empty: none); a token for another user fails.
  std::unique_ptr<AuthExchange> begin(std::string_view client_id, std::string_view username) override;

  // Verifies `token` at `now`. When `username` is given (the CONNECT named a user), the
  // token's user must be the same. The grant claims must be valid topic filters.
  TokenLogin check(std::string_view token, std::optional<std::string_view> username,
                   std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  // Whether a CONNECT password looks like a JWT (a JSON header in base64url, "eyJ...", and
  // three dot-separated parts), so that it goes to check() rather than the password file.
  static bool looks_like_token(std::string_view password);

  void replace_verifier(std::shared_ptr<const JwtVerifier> verifier) { verifier_.store(std::move(verifier)); }

 private:
  Swappable<JwtVerifier> verifier_;
};

}  // namespace mqbase::auth
