// JwtVerifier: see jwt.h. The order of the checks matters: the header chooses a key and the
// key's algorithm must be the header's, the signature is checked before any claim is read, and
// only then are the claims judged.
#include "auth/jwt.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "auth/base64.h"
#include "auth/hmac_challenge.h"
#include "auth/password_file.h"
#include "auth/text_file.h"

namespace mqbase::auth {
namespace {

using simdjson::dom::element;

enum class Alg { hs256, rs256, es256 };

constexpr size_t kMinSecretBytes = 32;  // RFC 7518 3.2: a key at least as long as the hash
constexpr int kMinRsaBits = 2048;
constexpr size_t kP256CoordinateBytes = 32;
// NumericDates are clamped to the year 2200, so that no claim overflows a time_point
// (libstdc++'s system_clock counts nanoseconds in 64 bits: it ends in 2262).
constexpr double kLatestDate = 7258118400.0;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// What verifies a signature: an HMAC secret, or a public key.
struct KeyMaterial {
  Alg alg = Alg::hs256;
  std::string secret;  // HS256
  PkeyPtr pkey;        // RS256, ES256
};

std::optional<Alg> alg_named(std::string_view name) {
  if (name == "HS256") return Alg::hs256;
  if (name == "RS256") return Alg::rs256;
  if (name == "ES256") return Alg::es256;
  return std::nullopt;
}

// ---- keys ----------------------------------------------------------------------------------

std::optional<KeyMaterial> secret_key(std::string secret, std::string* error) {
  if (secret.size() < kMinSecretBytes) {
    *error = fmt::format("the HS256 secret is shorter than {} bytes", kMinSecretBytes);
    return std::nullopt;
  }
  return KeyMaterial{Alg::hs256, std::move(secret), nullptr};
}

// An RSA key of 2048 bits or more (RS256) or a P-256 key (ES256); other keys are refused.
std::optional<KeyMaterial> public_key(PkeyPtr pkey, std::string* error) {
  if (EVP_PKEY_get_base_id(pkey.get()) == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(pkey.get()) < kMinRsaBits) {
      *error = fmt::format("the RSA key has fewer than {} bits", kMinRsaBits);
      return std::nullopt;
    }
    return KeyMaterial{Alg::rs256, {}, std::move(pkey)};
  }
  if (EVP_PKEY_get_base_id(pkey.get()) == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey.get(), group, sizeof group, &len) != 1 || std::string_view(group) != "prime256v1") {
      *error = "the EC key is not on P-256 (ES256)";
      return std::nullopt;
    }
    return KeyMaterial{Alg::es256, {}, std::move(pkey)};
  }
  *error = "the key is neither RSA nor EC P-256";
  return std::nullopt;
}

std::optional<KeyMaterial> pem_key(const std::string& text, std::string* error) {
  auto read = [&](auto reader) {
    BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    auto* result = bio ? reader(bio) : nullptr;
    BIO_free(bio);
    return result;
  };
  PkeyPtr pkey(read([](BIO* b) { return PEM_read_bio_PUBKEY(b, nullptr, nullptr, nullptr); }));
  if (!pkey) {
    X509* cert = read([](BIO* b) { return PEM_read_bio_X509(b, nullptr, nullptr, nullptr); });
    if (cert) pkey.reset(X509_get_pubkey(cert));
    X509_free(cert);
  }
  ERR_clear_error();
  if (!pkey) {
    *error = "not a PEM public key or certificate";
    return std::nullopt;
  }
  return public_key(std::move(pkey), error);
}

// A key from OpenSSL parameters (a JWK's numbers), checked as a public key.
PkeyPtr key_from_params(const char* type, OSSL_PARAM_BLD* build) {
  PkeyPtr out;
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1) {
    out.reset(pkey);
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    if (!check || EVP_PKEY_public_check(check) != 1) out.reset();
    EVP_PKEY_CTX_free(check);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  ERR_clear_error();
  return out;
}

// The base64url member `name` of a JWK, or nothing (with the reason in *error).
std::optional<std::string> jwk_bytes(element jwk, const char* name, std::string* error) {
  std::string_view text;
  std::optional<std::string> bytes;
  if (jwk[name].get(text) == simdjson::SUCCESS) bytes = base64url_decode(text);
  if (!bytes || bytes->empty()) *error = fmt::format("'{}' is missing or not base64url", name);
  return bytes;
}

std::optional<KeyMaterial> rsa_jwk(element jwk, std::string* error) {
  auto n = jwk_bytes(jwk, "n", error);
  auto e = n ? jwk_bytes(jwk, "e", error) : std::nullopt;
  if (!e) return std::nullopt;
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  auto* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr);
  auto* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr);
  PkeyPtr pkey;
  if (build && bn_n && bn_e && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
    pkey = key_from_params("RSA", build);
  OSSL_PARAM_BLD_free(build);
  BN_free(bn_n);
  BN_free(bn_e);
  if (!pkey) {
    *error = "not a valid RSA public key";
    return std::nullopt;
  }
  return public_key(std::move(pkey), error);
}

std::optional<KeyMaterial> ec_jwk(element jwk, std::string* error) {
  std::string_view crv;
  if (jwk["crv"].get(crv) != simdjson::SUCCESS || crv != "P-256") {
    *error = "'crv' is not P-256";
    return std::nullopt;
  }
  auto x = jwk_bytes(jwk, "x", error);
  auto y = x ? jwk_bytes(jwk, "y", error) : std::nullopt;
  if (!y) return std::nullopt;
  if (x->size() != kP256CoordinateBytes || y->size() != kP256CoordinateBytes) {
    *error = "'x' or 'y' is not 32 bytes";
    return std::nullopt;
  }
  std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  PkeyPtr pkey;
  if (build && OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1)
    pkey = key_from_params("EC", build);
  OSSL_PARAM_BLD_free(build);
  if (!pkey) {
    *error = "not a valid P-256 public key";
    return std::nullopt;
  }
  return public_key(std::move(pkey), error);
}

// ---- JSON ----------------------------------------------------------------------------------

// Whether an object anywhere in `e` names a member twice (simdjson keeps both).
bool has_duplicate_names(element e) {
  simdjson::dom::object object;
  simdjson::dom::array array;
  if (e.get(object) == simdjson::SUCCESS) {
    std::vector<std::string_view> names;
    for (auto [name, value] : object) {
      names.push_back(name);
      if (has_duplicate_names(value)) return true;
    }
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) != names.end();
  }
  if (e.get(array) == simdjson::SUCCESS) {
    for (element value : array)
      if (has_duplicate_names(value)) return true;
  }
  return false;
}

// `json` parsed as an object whose names are all distinct; valid until the parser's next use.
std::optional<simdjson::dom::object> parse_object(simdjson::dom::parser& parser, std::string_view json) {
  element doc;
  simdjson::dom::object object;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || doc.get(object) != simdjson::SUCCESS ||
      has_duplicate_names(doc))
    return std::nullopt;
  return object;
}

// A string, or an array of strings, as a list. False for anything else.
bool string_list(element e, std::vector<std::string>& out) {
  std::string_view one;
  if (e.get(one) == simdjson::SUCCESS) {
    out.emplace_back(one);
    return true;
  }
  simdjson::dom::array array;
  if (e.get(array) != simdjson::SUCCESS) return false;
  for (element item : array) {
    if (item.get(one) != simdjson::SUCCESS) return false;
    out.emplace_back(one);
  }
  return true;
}

// A NumericDate (seconds since 1970, maybe fractional) as whole seconds.
std::optional<int64_t> numeric_date(element e) {
  double seconds;
  if (e.get(seconds) != simdjson::SUCCESS) return std::nullopt;
  return static_cast<int64_t>(std::floor(std::clamp(seconds, -kLatestDate, kLatestDate)));
}

// ---- signatures ----------------------------------------------------------------------------

bool verify_with_pkey(EVP_PKEY* pkey, std::string_view input, std::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, pkey, nullptr) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

// JOSE's ES256 signature, r || s (32 bytes each), as the DER ECDSA-Sig-Value OpenSSL takes.
std::optional<std::string> ecdsa_der(std::string_view raw) {
  if (raw.size() != 2 * kP256CoordinateBytes) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(bytes, kP256CoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + kP256CoordinateBytes, kP256CoordinateBytes, nullptr);
  std::optional<std::string> der;
  if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = nullptr;  // owned by sig now
    int len = i2d_ECDSA_SIG(sig, nullptr);
    if (len > 0) {
      der.emplace(static_cast<size_t>(len), '\0');
      auto* out = reinterpret_cast<unsigned char*>(der->data());
      if (i2d_ECDSA_SIG(sig, &out) != len) der.reset();
    }
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return der;
}

bool signature_valid(const KeyMaterial& key, std::string_view input, std::string_view signature) {
  switch (key.alg) {
    case Alg::hs256: {
      std::string expected = HmacChallengeAuthenticator::hmac_sha256(key.secret, input);
      return signature.size() == expected.size() &&
             CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
    }
    case Alg::rs256:
      return verify_with_pkey(key.pkey.get(), input, signature);
    case Alg::es256: {
      auto der = ecdsa_der(signature);
      return der && verify_with_pkey(key.pkey.get(), input, *der);
    }
  }
  return false;
}

JwtResult failure(std::string why) {
  JwtResult r;
  r.error = std::move(why);
  return r;
}

}  // namespace

struct JwtVerifier::Key {
  std::optional<std::string> kid;
  KeyMaterial material;
};

JwtVerifier::JwtVerifier(JwtSettings settings) : settings_(std::move(settings)) {}
JwtVerifier::~JwtVerifier() = default;

std::shared_ptr<JwtVerifier> JwtVerifier::load(const JwtSettings& settings, std::string* error) {
  if (settings.key_file.empty() && settings.jwks_file.empty()) {
    *error = "JWT: neither a key file nor a JWKS file is configured";
    return nullptr;
  }
  std::shared_ptr<JwtVerifier> v(new JwtVerifier(settings));
  std::string why;
  try {
    if (!settings.key_file.empty()) {
      std::string text = read_text_file(settings.key_file, "JWT key file");
      std::optional<KeyMaterial> key;
      // Anything PEM-like is a public key, never a secret: an HS256 secret that is a public
      // key would let anyone sign (algorithm confusion).
      if (text.find("-----BEGIN") != std::string::npos) {
        key = pem_key(text, &why);
      } else {
        if (text.ends_with('\n')) text.pop_back();
        if (text.ends_with('\r')) text.pop_back();
        key = secret_key(std::move(text), &why);
      }
      if (!key) {
        *error = fmt::format("JWT key file {}: {}", settings.key_file, why);
        return nullptr;
      }
      v->keys_.push_back(Key{std::nullopt, std::move(*key)});
      v->has_key_file_ = true;
    }
    if (!settings.jwks_file.empty() && !v->load_jwks(read_text_file(settings.jwks_file, "JWKS file"), &why)) {
      *error = fmt::format("JWKS file {}: {}", settings.jwks_file, why);
      return nullptr;
    }
  } catch (const AuthFileError& e) {
    *error = e.what();
    return nullptr;
  }
  return v;
}

bool JwtVerifier::load_jwks(const std::string& text, std::string* error) {
  simdjson::dom::parser parser;
  auto doc = parse_object(parser, text);
  simdjson::dom::array keys;
  if (!doc || (*doc)["keys"].get(keys) != simdjson::SUCCESS) {
    *error = "not a JSON object with a \"keys\" array (or a name appears twice)";
    return false;
  }
  size_t index = 0, usable = 0;
  for (element jwk : keys) {
    ++index;
    std::string_view kty, kid, use, alg;
    if (!jwk.is_object() || jwk["kty"].get(kty) != simdjson::SUCCESS) {
      *error = fmt::format("key {}: not an object with a \"kty\"", index);
      return false;
    }
    if (jwk["use"].get(use) == simdjson::SUCCESS && use != "sig") continue;
    bool has_alg = jwk["alg"].get(alg) == simdjson::SUCCESS;
    std::optional<KeyMaterial> key;
    std::string why;
    if (kty == "RSA" && (!has_alg || alg == "RS256")) {
      key = rsa_jwk(jwk, &why);
    } else if (kty == "EC" && (!has_alg || alg == "ES256")) {
      key = ec_jwk(jwk, &why);
    } else if (kty == "oct" && (!has_alg || alg == "HS256")) {
      auto k = jwk_bytes(jwk, "k", &why);
      if (k) key = secret_key(std::move(*k), &why);
    } else {
      continue;  // a key for an algorithm we do not verify
    }
    if (!key) {
      *error = fmt::format("key {}: {}", index, why);
      return false;
    }
    std::optional<std::string> name;
    if (jwk["kid"].get(kid) == simdjson::SUCCESS) {
      name.emplace(kid);
      for (const Key& other : keys_) {
        if (other.kid == name) {
          *error = fmt::format("key {}: kid \"{}\" appears twice", index, kid);
          return false;
        }
      }
    }
    keys_.push_back(Key{std::move(name), std::move(*key)});
    ++usable;
  }
  if (usable == 0) {
    *error = "no RS256, ES256 or HS256 signing key";
    return false;
  }
  has_jwks_ = true;
  return true;
}

const JwtVerifier::Key* JwtVerifier::find_key(const std::optional<std::string>& kid) const {
  // With a JWKS, a kid chooses among its keys; without one, the key file's key serves all.
  if (kid && has_jwks_) {
    for (const Key& k : keys_)
      if (k.kid == kid) return &k;
    return nullptr;
  }
  if (has_key_file_) return &keys_.front();
  return keys_.size() == 1 ? &keys_.front() : nullptr;
}

JwtResult JwtVerifier::verify(std::string_view token, std::chrono::system_clock::time_point now) const {
  if (token.size() > kMaxTokenBytes) return failure("token too long");
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return failure("malformed token: not three parts");
  auto header_json = base64url_decode(token.substr(0, dot1));
  auto payload_json = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_json || !payload_json || !signature) return failure("malformed token: not base64url");

  thread_local simdjson::dom::parser parser;
  std::optional<std::string> kid;
  std::optional<Alg> alg;
  {
    auto header = parse_object(parser, *header_json);
    std::string_view text;
    if (!header || (*header)["alg"].get(text) != simdjson::SUCCESS) return failure("malformed header");
    if (text == "none") return failure("algorithm none refused");
    alg = alg_named(text);
    if (!alg) return failure("unsupported algorithm");
    if ((*header)["crit"].error() != simdjson::NO_SUCH_FIELD) return failure("critical header extensions refused");
    simdjson::dom::element kid_element;
    if ((*header)["kid"].get(kid_element) == simdjson::SUCCESS) {
      if (kid_element.get(text) != simdjson::SUCCESS) return failure("malformed header");
      kid.emplace(text);
    }
  }
  const Key* key = find_key(kid);
  if (!key) return failure(kid ? "unknown key id" : "no key for a token without a key id");
  if (key->material.alg != *alg) return failure("algorithm not allowed for the key");
  if (!signature_valid(key->material, token.substr(0, dot2), *signature)) return failure("bad signature");

  auto claims = parse_object(parser, *payload_json);
  if (!claims) return failure("malformed claims");
  const auto leeway = settings_.leeway.count();
  const int64_t at = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  auto date = [&](const char* name, std::optional<int64_t>& out) {
    element e;
    if ((*claims)[name].get(e) != simdjson::SUCCESS) return true;  // absent
    out = numeric_date(e);
    return out.has_value();
  };
  std::optional<int64_t> exp, nbf, iat;
  if (!date("exp", exp) || !date("nbf", nbf) || !date("iat", iat)) return failure("malformed time claim");
  if (!exp) return failure("no exp claim");
  if (at - leeway >= *exp) return failure("token expired");
  if (nbf && at + leeway < *nbf) return failure("token not yet valid");
  if (iat && at + leeway < *iat) return failure("token issued in the future");

  element e;
  std::vector<std::string> audiences;
  bool has_aud = (*claims)["aud"].get(e) == simdjson::SUCCESS;
  if (has_aud && !string_list(e, audiences)) return failure("malformed aud claim");
  if (!settings_.audience.empty() &&
      std::find(audiences.begin(), audiences.end(), settings_.audience) == audiences.end())
    return failure("audience mismatch");
  std::string_view text;
  if (!settings_.issuer.empty() && ((*claims)["iss"].get(text) != simdjson::SUCCESS || text != settings_.issuer))
    return failure("issuer mismatch");

  JwtResult r;
  if ((*claims)[settings_.username_claim].get(text) != simdjson::SUCCESS || text.empty())
    return failure(fmt::format("no {} claim naming the user", settings_.username_claim));
  r.username = text;
  auto topics = [&](const std::string& claim, std::vector<std::string>& out) {
    if ((*claims)[claim].get(e) != simdjson::SUCCESS) return true;  // absent
    r.has_grant_claims = true;
    return string_list(e, out);
  };
  if (!topics(settings_.publish_claim, r.publish) || !topics(settings_.subscribe_claim, r.subscribe))
    return failure("malformed topic claim");
  r.expires = std::chrono::system_clock::time_point(std::chrono::seconds(*exp));
  r.ok = true;
  return r;
}

}  // namespace mqbase::auth
