// SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5 enhanced-authentication method: the client
// proves it knows a password without sending it, and the server proves it holds the user's
// secret, so neither a passive listener nor a server impostor learns anything to log in with.
// The exchange, in the Authentication Data of CONNECT, AUTH and CONNACK:
//
//   CONNECT  n,,n=<user>,r=<client nonce>
//   AUTH     r=<client nonce><server nonce>,s=<salt>,i=<iterations>      (0x18, challenge)
//   AUTH     c=biws,r=<both nonces>,p=<ClientProof>                       (0x18)
//   CONNACK  v=<ServerSignature>                                           (success)
//
// The server keeps only StoredKey and ServerKey, in PostgreSQL's format (ScramCredentials), so
// a `rolpassword` from pg_authid can be pasted in. Channel binding (p=) is refused: the TLS
// channel is not visible to the broker's authentication. An unknown user gets a salt and
// iteration count invented from the name (the same every time) and fails at the proof, as a
// wrong password does, so which users exist cannot be learnt.
//
// Thread-safety: ScramCredentials is immutable once parsed. ScramAuthenticator is shared by
// every event loop: begin() and replace_credentials() are safe from any thread. An exchange
// belongs to one connection and is used from its loop only.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/enhanced_auth.h"
#include "auth/swappable.h"

namespace mqbase::auth {

inline constexpr int kDefaultScramIterations = 4096;  // PostgreSQL's and RFC 7677's

// One user's SCRAM-SHA-256 secret.
struct ScramSecret {
  uint32_t iterations = kDefaultScramIterations;
  std::string salt;        // raw bytes
  std::string stored_key;  // H(ClientKey), 32 bytes
  std::string server_key;  // HMAC(SaltedPassword, "Server Key"), 32 bytes

  // Parses "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64 each). Returns
  // nothing, with the reason in *why, when it is not one.
  static std::optional<ScramSecret> parse(std::string_view text, std::string* why);
  // The text parse() reads.
  std::string to_string() const;
};

// The secret for `password` as PostgreSQL stores it ("SCRAM-SHA-256$4096:<salt>$<StoredKey>:
// <ServerKey>"), with a fresh random 16-byte salt. The password is used as its bytes, which is
// what SASLprep makes of printable ASCII. Throws std::invalid_argument for iterations < 1 and
// std::runtime_error when OpenSSL fails.
std::string scram_secret(std::string_view password, int iterations = kDefaultScramIterations);
// The same with a given salt (raw bytes): for tests and known vectors.
std::string scram_secret(std::string_view password, int iterations, std::string_view salt);

// The users of a SCRAM credentials file: `user:SCRAM-SHA-256$...` lines, `#` comments and
// blank lines.
class ScramCredentials {
 public:
  // Reads and parses `path`. Throws AuthFileError naming the file and line of a line that is
  // not a comment or a valid `user:secret`, of a user named twice, or when it cannot be read.
  static ScramCredentials load(const std::string& path);
  static ScramCredentials parse(std::string_view text, const std::string& origin);

  // The user's secret, or null when `user` is not in the file.
  const ScramSecret* find(std::string_view user) const;
  // A secret for a user not in the file: the salt and keys derived from the name and the
  // file's own keys (so it stays the same across restarts), shaped like the file's entries.
  ScramSecret decoy(std::string_view user) const;
  size_t size() const { return users_.size(); }

 private:
  std::map<std::string, ScramSecret, std::less<>> users_;
  std::string decoy_key_;  // 32 bytes
  uint32_t usual_iterations_ = kDefaultScramIterations;
  size_t usual_salt_bytes_ = 16;
};

class ScramAuthenticator : public EnhancedAuthenticator {
 public:
  static constexpr std::string_view kMethod = "SCRAM-SHA-256";
  static constexpr size_t kServerNonceBytes = 24;

  explicit ScramAuthenticator(std::shared_ptr<const ScramCredentials> users);
  std::string_view method() const override { return kMethod; }
  // A new exchange. When the CONNECT named a user (`username` not empty), the SCRAM user name
  // must be the same.
  std::unique_ptr<AuthExchange> begin(std::string_view client_id, std::string_view username) override;

  // Exchanges begun after this call use `users` (a reloaded file); running ones keep theirs.
  void replace_credentials(std::shared_ptr<const ScramCredentials> users) { users_.store(std::move(users)); }

  // Tests only: every exchange uses `nonce` (printable, no ',') as its server nonce instead
  // of base64 of 24 random bytes. Call before any begin().
  void set_server_nonce_for_testing(std::string nonce) { fixed_nonce_ = std::move(nonce); }

 private:
  Swappable<ScramCredentials> users_;
  std::string fixed_nonce_;
};

}  // namespace mqbase::auth
