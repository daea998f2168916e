// SCRAM-SHA-256: see scram.h. Names follow RFC 5802 section 3: SaltedPassword, ClientKey,
// StoredKey, ClientSignature, ClientProof, ServerKey, ServerSignature, AuthMessage.
#include "auth/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <charconv>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "auth/base64.h"
#include "auth/hmac_challenge.h"
#include "auth/text_file.h"

namespace mqbase::auth {
namespace {

constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
constexpr size_t kKeyBytes = 32;  // SHA-256
constexpr size_t kDefaultSaltBytes = 16;  // what PostgreSQL writes
constexpr uint32_t kMaxIterations = 100'000'000;

std::string hmac(std::string_view key, std::string_view data) { return HmacChallengeAuthenticator::hmac_sha256(key, data); }

std::string sha256(std::string_view data) {
  std::string out(kKeyBytes, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return out;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("OpenSSL has no random bytes");
  return out;
}

// One "a=value" of a SCRAM message.
struct Attribute {
  char name;
  std::string_view value;
};

// The comma-separated attributes of `message`; nothing when one is not a letter, '=' and a value.
std::optional<std::vector<Attribute>> attributes(std::string_view message) {
  std::vector<Attribute> out;
  while (true) {
    size_t comma = message.find(',');
    std::string_view part = message.substr(0, comma);
    if (part.size() < 2 || part[1] != '=' || !std::isalpha(static_cast<unsigned char>(part[0]))) return std::nullopt;
    out.push_back({part[0], part.substr(2)});
    if (comma == std::string_view::npos) return out;
    message.remove_prefix(comma + 1);
  }
}

// A saslname ("=2C" for ',' and "=3D" for '=') decoded; `why` says what is wrong otherwise.
std::optional<std::string> decode_username(std::string_view text, std::string* why) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      *why = "user names outside ASCII are not supported (no SASLprep)";
      return std::nullopt;
    }
    if (c < 0x20 || c == 0x7F) {
      *why = "control character in the user name";
      return std::nullopt;
    }
    if (c == '=') {
      std::string_view escape = text.substr(i, 3);
      if (escape != "=2C" && escape != "=3D") {
        *why = "bad '=' escape in the user name";
        return std::nullopt;
      }
      out += escape == "=2C" ? ',' : '=';
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.empty()) *why = "empty user name";
  return out.empty() ? std::nullopt : std::optional(out);
}

// RFC 5802: printable = %x21-2B / %x2D-7E (no ',').
bool valid_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce)
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  return true;
}

class ScramExchange : public AuthExchange {
 public:
  ScramExchange(std::shared_ptr<const ScramCredentials> users, std::string connect_username, std::string server_nonce)
      : users_(std::move(users)), connect_username_(std::move(connect_username)),
        server_nonce_(std::move(server_nonce)) {}

  AuthStep step(std::string_view client_data) override {
    AuthStep s;
    switch (state_) {
      case State::expect_client_first: s = client_first(client_data); break;
      case State::expect_client_final: s = client_final(client_data); break;
      case State::over: s = fail("other-error", "the SCRAM exchange is over"); break;
    }
    state_ = s.outcome == AuthStep::Outcome::challenge ? State::expect_client_final : State::over;
    return s;
  }

  std::string identity() const override { return user_; }

 private:
  enum class State { expect_client_first, expect_client_final, over };

  // A failure, with RFC 5802's server-error as the data.
  static AuthStep fail(std::string_view error, std::string reason) {
    return {AuthStep::Outcome::failure, fmt::format("e={}", error), std::move(reason)};
  }

  AuthStep client_first(std::string_view message) {
    // gs2-header: "n," or "y," (no channel binding), then an authzid we do not accept, then ','.
    if (message.starts_with("p="))
      return fail("channel-bindings-not-supported", "SCRAM channel binding is not supported");
    if (!message.starts_with("n,") && !message.starts_with("y,"))
      return fail("other-error", "malformed SCRAM client-first message");
    if (message.substr(2).starts_with("a="))
      return fail("other-error", "SCRAM authorization identities are not supported");
    if (!message.substr(2).starts_with(','))
      return fail("other-error", "malformed SCRAM client-first message");
    gs2_header_ = message.substr(0, 3);
    client_first_bare_ = message.substr(3);
    auto attrs = attributes(client_first_bare_);
    if (attrs && !attrs->empty() && (*attrs)[0].name == 'm')
      return fail("extensions-not-supported", "mandatory SCRAM extension");
    if (!attrs || attrs->size() < 2 || (*attrs)[0].name != 'n' || (*attrs)[1].name != 'r' ||
        !valid_nonce((*attrs)[1].value))
      return fail("other-error", "malformed SCRAM client-first message");
    std::string why;
    auto user = decode_username((*attrs)[0].value, &why);
    if (!user) return fail("invalid-username-encoding", why);
    if (!connect_username_.empty() && *user != connect_username_)
      return fail("other-error", "the SCRAM user name is not the CONNECT's");
    user_ = std::move(*user);

    // An unknown user's exchange goes on with an invented secret and fails at the proof.
    ScramSecret decoy = users_->decoy(user_);
    const ScramSecret* known = users_->find(user_);
    known_ = known != nullptr;
    secret_ = known ? *known : std::move(decoy);
    nonce_ = std::string((*attrs)[1].value) + server_nonce_;
    server_first_ = fmt::format("r={},s={},i={}", nonce_, base64_encode(secret_.salt), secret_.iterations);
    return {AuthStep::Outcome::challenge, server_first_, {}};
  }

  AuthStep client_final(std::string_view message) {
    // c=<base64 gs2 header>,r=<nonce>[,extensions],p=<proof>; the proof comes last.
    size_t proof_at = message.rfind(",p=");
    auto attrs = attributes(message);
    if (!attrs || attrs->size() < 3 || (*attrs)[0].name != 'c' || (*attrs)[1].name != 'r' ||
        attrs->back().name != 'p' || proof_at == std::string_view::npos)
      return fail("other-error", "malformed SCRAM client-final message");
    if (base64_decode((*attrs)[0].value) != gs2_header_)
      return fail("channel-bindings-dont-match", "SCRAM channel binding data is not the client-first's header");
    if ((*attrs)[1].value != nonce_) return fail("other-error", "SCRAM nonce mismatch");
    auto proof = base64_decode(attrs->back().value);
    if (!proof || proof->size() != kKeyBytes) return fail("invalid-proof", "malformed SCRAM proof");

    std::string auth_message = fmt::format("{},{},{}", client_first_bare_, server_first_, message.substr(0, proof_at));
    std::string client_key = hmac(secret_.stored_key, auth_message);  // ClientSignature, then ClientKey
    for (size_t i = 0; i < kKeyBytes; ++i) client_key[i] = static_cast<char>(client_key[i] ^ (*proof)[i]);
    std::string stored_key = sha256(client_key);
    bool matches = CRYPTO_memcmp(stored_key.data(), secret_.stored_key.data(), kKeyBytes) == 0;
    if (!matches || !known_) {
      AuthStep s = fail("invalid-proof", "wrong SCRAM proof (wrong password or unknown user)");
      s.bad_credentials = true;
      return s;
    }
    return {AuthStep::Outcome::success, "v=" + base64_encode(hmac(secret_.server_key, auth_message)), {}};
  }

  const std::shared_ptr<const ScramCredentials> users_;
  const std::string connect_username_;
  const std::string server_nonce_;
  State state_ = State::expect_client_first;
  std::string user_, gs2_header_, client_first_bare_, server_first_, nonce_;
  ScramSecret secret_;
  bool known_ = false;
};

}  // namespace

std::optional<ScramSecret> ScramSecret::parse(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<ScramSecret> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (!text.starts_with(kPrefix)) return fail("not a SCRAM-SHA-256 secret (expected SCRAM-SHA-256$...)");
  text.remove_prefix(kPrefix.size());
  // <iterations>:<salt>$<StoredKey>:<ServerKey>
  size_t colon1 = text.find(':'), dollar = text.find('$'), colon2 = text.rfind(':');
  if (colon1 == std::string_view::npos || dollar == std::string_view::npos || colon1 > dollar || colon2 < dollar)
    return fail("expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");
  ScramSecret s;
  std::string_view it = text.substr(0, colon1);
  auto [end, ec] = std::from_chars(it.data(), it.data() + it.size(), s.iterations);
  if (ec != std::errc() || end != it.data() + it.size() || s.iterations < 1 || s.iterations > kMaxIterations)
    return fail(fmt::format("invalid iteration count '{}'", it));
  auto salt = base64_decode(text.substr(colon1 + 1, dollar - colon1 - 1));
  if (!salt || salt->empty()) return fail("the salt is not base64");
  auto stored = base64_decode(text.substr(dollar + 1, colon2 - dollar - 1));
  if (!stored || stored->size() != kKeyBytes) return fail("the StoredKey is not 32 bytes of base64");
  auto server = base64_decode(text.substr(colon2 + 1));
  if (!server || server->size() != kKeyBytes) return fail("the ServerKey is not 32 bytes of base64");
  s.salt = std::move(*salt);
  s.stored_key = std::move(*stored);
  s.server_key = std::move(*server);
  return s;
}

std::string ScramSecret::to_string() const {
  return fmt::format("{}{}:{}${}:{}", kPrefix, iterations, base64_encode(salt), base64_encode(stored_key),
                     base64_encode(server_key));
}

std::string scram_secret(std::string_view password, int iterations) {
  return scram_secret(password, iterations, random_bytes(kDefaultSaltBytes));
}

std::string scram_secret(std::string_view password, int iterations, std::string_view salt) {
  if (iterations < 1 || static_cast<uint32_t>(iterations) > kMaxIterations)
    throw std::invalid_argument("SCRAM iteration count out of range");
  std::string salted(kKeyBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                        EVP_sha256(), static_cast<int>(kKeyBytes), reinterpret_cast<unsigned char*>(salted.data())) != 1)
    throw std::runtime_error("PBKDF2-HMAC-SHA256 failed");
  ScramSecret s{static_cast<uint32_t>(iterations), std::string(salt), sha256(hmac(salted, "Client Key")),
                hmac(salted, "Server Key")};
  return s.to_string();
}

ScramCredentials ScramCredentials::load(const std::string& path) {
  return parse(read_text_file(path, "SCRAM credentials file"), path);
}

ScramCredentials ScramCredentials::parse(std::string_view text, const std::string& origin) {
  ScramCredentials f;
  f.users_ = parse_user_lines<ScramSecret>(text, "SCRAM credentials file", origin, "user:SCRAM-SHA-256$...",
                                           [](std::string_view rest, std::string* why) {
                                             return ScramSecret::parse(rest, why);
                                           });
  // The decoys look like the most common kind of entry.
  std::map<uint32_t, size_t> iteration_counts;
  std::string keys;  // every key in the file: the decoy key is secret as they are
  for (const auto& [user, secret] : f.users_) {
    ++iteration_counts[secret.iterations];
    keys += secret.stored_key + secret.server_key;
  }
  size_t most = 0;
  for (const auto& [iterations, count] : iteration_counts)
    if (count > most) {
      most = count;
      f.usual_iterations_ = iterations;
    }
  for (const auto& [user, secret] : f.users_)
    if (secret.iterations == f.usual_iterations_) {
      f.usual_salt_bytes_ = secret.salt.size();
      break;
    }
  f.decoy_key_ = hmac("mqbase SCRAM decoy", keys);
  return f;
}

const ScramSecret* ScramCredentials::find(std::string_view user) const {
  auto it = users_.find(user);
  return it == users_.end() ? nullptr : &it->second;
}

ScramSecret ScramCredentials::decoy(std::string_view user) const {
  std::string name(user);
  ScramSecret s;
  s.iterations = usual_iterations_;
  for (int block = 0; s.salt.size() < usual_salt_bytes_; ++block)
    s.salt += hmac(decoy_key_, fmt::format("salt:{}:{}", block, name));
  s.salt.resize(usual_salt_bytes_);
  s.stored_key = hmac(decoy_key_, "stored:" + name);
  s.server_key = hmac(decoy_key_, "server:" + name);
  return s;
}

ScramAuthenticator::ScramAuthenticator(std::shared_ptr<const ScramCredentials> users) {
  users_.store(std::move(users));
}

std::unique_ptr<AuthExchange> ScramAuthenticator::begin(std::string_view, std::string_view username) {
  std::string nonce = fixed_nonce_.empty() ? base64_encode(random_bytes(kServerNonceBytes)) : fixed_nonce_;
  return std::make_unique<ScramExchange>(users_.load(), std::string(username), std::move(nonce));
}

}  // namespace mqbase::auth
