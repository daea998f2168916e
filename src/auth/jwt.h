// JwtVerifier: checks the JSON Web Tokens (RFC 7519) that OAuth 2.0 servers issue as bearer
// access tokens, so a client can log in with one (as its CONNECT password, or by the MQTT 5
// enhanced-authentication method "JWT"). A token passes when its JWS signature (HS256, RS256 or
// ES256 only) verifies with a configured key, its `exp` is in the future, its `nbf` and `iat`
// are not, and its `aud` and `iss` are the configured ones, each time within the leeway. A
// passing token names the user (a claim, `sub` by default) and may grant topic patterns to
// publish and subscribe to (claims `mqtt_pub` and `mqtt_sub`), which the ACL layer can use.
//
// The key decides the algorithm, never the token: an HMAC secret verifies only HS256, an RSA
// key only RS256, a P-256 key only ES256, so a token signed with HS256 and a public key as its
// secret (the algorithm-confusion attack) fails, and `alg: none` always fails. Keys come from a
// PEM public key or certificate, a file holding an HMAC secret, and/or a JWKS file (RFC 7517)
// whose keys the token's `kid` selects. Nothing is fetched over the network.
//
// Thread-safety: a loaded verifier is immutable; verify() is safe from any thread (the event
// loops share one).
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mqbase::auth {

struct JwtSettings {
  // A PEM public key (RSA >= 2048 bits for RS256, P-256 for ES256) or X.509 certificate, or
  // else a file whose bytes (a trailing newline trimmed) are the HS256 secret (>= 32 bytes).
  std::string key_file;
  // A JWKS file: {"keys": [...]} with RSA (n, e), EC P-256 (crv, x, y) and oct (k) keys. A key
  // meant for encryption (use: enc) or for another algorithm (alg) is skipped.
  std::string jwks_file;
  std::string audience;  // "" any: else `aud` (a string or an array) must hold it
  std::string issuer;    // "" any: else `iss` must equal it
  std::chrono::seconds leeway{30};  // clock skew allowed on exp, nbf and iat
  std::string username_claim = "sub";
  std::string publish_claim = "mqtt_pub";    // topic patterns the client may publish to
  std::string subscribe_claim = "mqtt_sub";  // topic filters the client may subscribe to
};

struct JwtResult {
  bool ok = false;
  std::string error;  // why it failed ("token expired", "bad signature", ...), for logs
  std::string username;
  std::chrono::system_clock::time_point expires;  // `exp`, without the leeway
  std::vector<std::string> publish;    // the publish claim: a string or an array of strings
  std::vector<std::string> subscribe;  // the subscribe claim, likewise
  bool has_grant_claims = false;       // the token has a publish or subscribe claim (even empty)
};

class JwtVerifier {
 public:
  static constexpr size_t kMaxTokenBytes = 8192;

  // Reads the key file and/or the JWKS file the settings name. Returns null, with what went
  // wrong (naming the file) in *error, when neither is set or a file cannot be used.
  static std::shared_ptr<JwtVerifier> load(const JwtSettings& settings, std::string* error);

  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;
  ~JwtVerifier();

  // Checks `token` (the compact serialization, header.payload.signature) at time `now`.
  // On success ok is set and the claims are filled in; on failure only error is.
  JwtResult verify(std::string_view token, std::chrono::system_clock::time_point now) const;

  const JwtSettings& settings() const { return settings_; }

 private:
  struct Key;  // one verification key and the algorithm it verifies (jwt.cpp)
  explicit JwtVerifier(JwtSettings settings);
  // Adds the signing keys of JWKS `text`. False, with the reason in *error, when it is not
  // a JWKS, a key in it is invalid, two keys share a kid, or none is usable.
  bool load_jwks(const std::string& text, std::string* error);
  // The key that verifies a token with this kid (or none), or null.
  const Key* find_key(const std::optional<std::string>& kid) const;

  JwtSettings settings_;
  std::vector<Key> keys_;  // the key file's first (without a kid), then the JWKS keys
  bool has_key_file_ = false;
  bool has_jwks_ = false;
};

}  // namespace mqbase::auth
