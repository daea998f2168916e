// The pluggable interface behind MQTT 5 enhanced authentication (the AUTH packet and the
// Authentication Method / Data properties). An EnhancedAuthenticator names one method and
// starts an exchange per connection attempt; the exchange answers each step of the client's
// data with a challenge to send back, success or failure. The broker drives it for the first
// authentication (CONNECT -> AUTH* -> CONNACK) and for re-authentication (AUTH 0x19).
// Thread-safety: an authenticator is shared by every event loop and must be safe to call
// concurrently; an exchange belongs to one connection and is used from its loop only.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/token_grants.h"

namespace mqbase::auth {

struct AuthStep {
  enum class Outcome { challenge, success, failure };
  Outcome outcome = Outcome::failure;
  std::string data;  // Authentication Data to send (challenge, or final server data)
  std::string reason;  // a short reason for logs and reason strings, on failure
  // On failure: the credentials were wrong (a bad password proof, an invalid token), answered
  // as "bad user name or password" (0x86), rather than the method refused (0x87).
  bool bad_credentials = false;
};

class AuthExchange {
 public:
  virtual ~AuthExchange() = default;
  // Consumes the client's Authentication Data (from CONNECT or AUTH) and says what next.
  virtual AuthStep step(std::string_view client_data) = 0;
  // The user name the exchange established once it succeeded: the client's user name for the
  // ACL from then on. Empty when the method names no user (the CONNECT's user name stays).
  virtual std::string identity() const { return {}; }
  // After success, a token method's grants (null: none, the ACL file decides as usual) and
  // when the connection's right to stay ends (nothing: never).
  virtual std::shared_ptr<const TokenGrants> grants() const { return nullptr; }
  virtual std::optional<std::chrono::system_clock::time_point> valid_until() const { return std::nullopt; }
};

class EnhancedAuthenticator {
 public:
  virtual ~EnhancedAuthenticator() = default;
  virtual std::string_view method() const = 0;
  // A new exchange for a client that announced `client_id` and, maybe, a user name.
  virtual std::unique_ptr<AuthExchange> begin(std::string_view client_id, std::string_view username) = 0;
};

}  // namespace mqbase::auth
