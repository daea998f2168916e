// HmacChallengeAuthenticator: a challenge/response enhanced-authentication method,
// "MQBASE-HMAC-SHA256". The server answers CONNECT with AUTH 0x18 carrying a 32-byte random
// challenge; the client proves it knows the shared secret by answering with
// HMAC-SHA256(secret, challenge); the server then sends CONNACK (or, on re-authentication,
// AUTH 0x00). It exists to exercise the AUTH flow end to end and as the simplest useful method
// for fleets that share a provisioning secret; SCRAM-SHA-256 and JWT come with the security work.
// Thread-safety: begin() is safe from any thread; each exchange is single-threaded.
#pragma once
#include <string>

#include "auth/enhanced_auth.h"

namespace mqbase::auth {

class HmacChallengeAuthenticator : public EnhancedAuthenticator {
 public:
  static constexpr std::string_view kMethod = "MQBASE-HMAC-SHA256";

  explicit HmacChallengeAuthenticator(std::string secret) : secret_(std::move(secret)) {}
  std::string_view method() const override { return kMethod; }
  std::unique_ptr<AuthExchange> begin(std::string_view client_id, std::string_view username) override;

  // HMAC-SHA256(key, data) as 32 raw bytes (exposed for tests and the CLI client).
  static std::string hmac_sha256(std::string_view key, std::string_view data);

 private:
  const std::string secret_;
};

}  // namespace mqbase::auth
