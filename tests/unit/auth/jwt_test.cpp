#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "auth/base64.h"
#include "auth/hmac_challenge.h"

namespace mqbase::auth {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

constexpr int64_t kNow = 1'700'000'000;  // the tests' "now", 2023-11-14
const Clock::time_point kNowTp{std::chrono::seconds(kNow)};
const std::string kSecret = "0123456789abcdef0123456789abcdef-hs256";

using Signer = std::function<std::string(std::string_view input)>;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Generated once: RSA generation is slow under the sanitizers.
EVP_PKEY* rsa_key() {
  static Pkey key(EVP_RSA_gen(2048));
  return key.get();
}
EVP_PKEY* ec_key() {
  static Pkey key(EVP_EC_gen("P-256"));
  return key.get();
}

std::string digest_sign(EVP_PKEY* key, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit_ex(ctx, nullptr, "SHA256", nullptr, nullptr, key, nullptr), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

Signer hs256(std::string secret) {
  return [secret](std::string_view input) { return HmacChallengeAuthenticator::hmac_sha256(secret, input); };
}
Signer rs256() {
  return [](std::string_view input) { return digest_sign(rsa_key(), input); };
}
// OpenSSL signs ECDSA in DER; JOSE wants r || s, 32 bytes each.
Signer es256() {
  return [](std::string_view input) {
    std::string der = digest_sign(ec_key(), input);
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    return raw;
  };
}

std::string token(const std::string& header, const std::string& claims, const Signer& sign) {
  std::string input = base64url_encode(header) + "." + base64url_encode(claims);
  return input + "." + base64url_encode(sign(input));
}

std::string header(std::string_view alg, std::string_view kid = {}) {
  if (kid.empty()) return fmt::format(R"({{"alg":"{}","typ":"JWT"}})", alg);
  return fmt::format(R"({{"alg":"{}","typ":"JWT","kid":"{}"}})", alg, kid);
}

// Claims valid at kNow, with `extra` members added.
std::string claims(std::string_view extra = {}) {
  return fmt::format(R"({{"sub":"alice","iat":{},"exp":{}{}{}}})", kNow - 60, kNow + 3600, extra.empty() ? "" : ",",
                     extra);
}

std::string public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

std::string rsa_jwk(std::string_view kid) {
  return fmt::format(R"({{"kty":"RSA","kid":"{}","use":"sig","alg":"RS256","n":"{}","e":"{}"}})", kid,
                     base64url_encode(bn_param(rsa_key(), OSSL_PKEY_PARAM_RSA_N)),
                     base64url_encode(bn_param(rsa_key(), OSSL_PKEY_PARAM_RSA_E)));
}

std::string ec_jwk(std::string_view kid) {
  auto pad32 = [](std::string s) { return std::string(32 - s.size(), '\0') + s; };
  return fmt::format(R"({{"kty":"EC","kid":"{}","crv":"P-256","x":"{}","y":"{}"}})", kid,
                     base64url_encode(pad32(bn_param(ec_key(), OSSL_PKEY_PARAM_EC_PUB_X))),
                     base64url_encode(pad32(bn_param(ec_key(), OSSL_PKEY_PARAM_EC_PUB_Y))));
}

std::string oct_jwk(std::string_view kid, std::string_view secret) {
  return fmt::format(R"({{"kty":"oct","kid":"{}","k":"{}"}})", kid, base64url_encode(secret));
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/jwt_test.XXXXXX";
    ASSERT_NE(mkdtemp(path), nullptr);
    dir_ = path;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // A verifier from a key file holding `key_text` (and the other settings as given).
  std::shared_ptr<JwtVerifier> with_key(const std::string& key_text, JwtSettings s = {}) {
    s.key_file = write("key", key_text);
    return load(s);
  }
  std::shared_ptr<JwtVerifier> with_jwks(const std::string& keys, JwtSettings s = {}) {
    s.jwks_file = write("jwks.json", fmt::format(R"({{"keys":[{}]}})", keys));
    return load(s);
  }
  std::shared_ptr<JwtVerifier> load(const JwtSettings& s) {
    std::string error;
    auto v = JwtVerifier::load(s, &error);
    EXPECT_TRUE(v) << error;
    return v;
  }
  std::string load_error(const JwtSettings& s) {
    std::string error;
    EXPECT_FALSE(JwtVerifier::load(s, &error));
    return error;
  }

  std::string dir_;
};

void expect_refused(const JwtVerifier& v, const std::string& tok, std::string_view why, Clock::time_point now = kNowTp) {
  JwtResult r = v.verify(tok, now);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, why);
  EXPECT_TRUE(r.username.empty());
}

TEST_F(JwtTest, Hs256WithASecretFile) {
  auto v = with_key(kSecret + "\n");
  JwtResult r = v->verify(token(header("HS256"), claims(), hs256(kSecret)), kNowTp);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.username, "alice");
  EXPECT_EQ(r.expires, kNowTp + 3600s);
  EXPECT_TRUE(r.publish.empty());
  EXPECT_TRUE(r.subscribe.empty());
  // The trailing newline is not part of the secret.
  expect_refused(*v, token(header("HS256"), claims(), hs256(kSecret + "\n")), "bad signature");
}

TEST_F(JwtTest, Rs256WithAPemPublicKey) {
  auto v = with_key(public_pem(rsa_key()));
  JwtResult r = v->verify(token(header("RS256"), claims(), rs256()), kNowTp);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.username, "alice");
}

TEST_F(JwtTest, Es256WithAPemPublicKey) {
  auto v = with_key(public_pem(ec_key()));
  JwtResult r = v->verify(token(header("ES256"), claims(), es256()), kNowTp);
  ASSERT_TRUE(r.ok) << r.error;
  // The DER form OpenSSL makes is not JOSE's: a token carrying it fails.
  std::string input = base64url_encode(header("ES256")) + "." + base64url_encode(claims());
  expect_refused(*v, input + "." + base64url_encode(digest_sign(ec_key(), input)), "bad signature");
}

TEST_F(JwtTest, ExpiryNotBeforeAndLeeway) {
  JwtSettings s;
  s.leeway = 30s;
  auto v = with_key(kSecret, s);
  auto at = [&](int64_t exp, std::string_view extra = {}) {
    std::string c = fmt::format(R"({{"sub":"alice","exp":{}{}{}}})", exp, extra.empty() ? "" : ",", extra);
    return v->verify(token(header("HS256"), c, hs256(kSecret)), kNowTp);
  };
  EXPECT_TRUE(at(kNow + 1).ok);
  EXPECT_TRUE(at(kNow - 29).ok);  // expired 29 s ago: within the leeway
  EXPECT_EQ(at(kNow - 30).error, "token expired");
  EXPECT_EQ(at(kNow - 3600).error, "token expired");
  EXPECT_EQ(at(kNow + 3600, fmt::format(R"("nbf":{})", kNow + 31)).error, "token not yet valid");
  EXPECT_TRUE(at(kNow + 3600, fmt::format(R"("nbf":{})", kNow + 30)).ok);
  EXPECT_EQ(at(kNow + 3600, fmt::format(R"("iat":{})", kNow + 600)).error, "token issued in the future");
  EXPECT_TRUE(at(kNow + 3600, fmt::format(R"("iat":{}.5)", kNow)).ok);  // NumericDates may be fractional
  EXPECT_EQ(at(kNow + 3600, R"("nbf":"soon")").error, "malformed time claim");

  auto no_exp = v->verify(token(header("HS256"), R"({"sub":"alice"})", hs256(kSecret)), kNowTp);
  EXPECT_EQ(no_exp.error, "no exp claim");
  auto string_exp = v->verify(token(header("HS256"), R"({"sub":"alice","exp":"2099"})", hs256(kSecret)), kNowTp);
  EXPECT_EQ(string_exp.error, "malformed time claim");
  // A date past what a time_point holds does not overflow.
  auto far = v->verify(token(header("HS256"), R"({"sub":"alice","exp":1e300})", hs256(kSecret)), kNowTp);
  EXPECT_TRUE(far.ok) << far.error;
}

TEST_F(JwtTest, AudienceAndIssuer) {
  JwtSettings s;
  s.audience = "mqbase";
  s.issuer = "https://id.example.com/";
  auto v = with_key(kSecret, s);
  auto check = [&](std::string_view extra) {
    return v->verify(token(header("HS256"), claims(extra), hs256(kSecret)), kNowTp);
  };
  constexpr auto iss = R"("iss":"https://id.example.com/")";
  EXPECT_TRUE(check(fmt::format(R"({},"aud":"mqbase")", iss)).ok);
  EXPECT_TRUE(check(fmt::format(R"({},"aud":["other","mqbase"])", iss)).ok);
  EXPECT_EQ(check(fmt::format(R"({},"aud":"other")", iss)).error, "audience mismatch");
  EXPECT_EQ(check(fmt::format(R"({},"aud":["other"])", iss)).error, "audience mismatch");
  EXPECT_EQ(check(iss).error, "audience mismatch");
  EXPECT_EQ(check(fmt::format(R"({},"aud":["mqbase",7])", iss)).error, "malformed aud claim");
  EXPECT_EQ(check(R"("iss":"https://evil.example.com/","aud":"mqbase")").error, "issuer mismatch");
  EXPECT_EQ(check(R"("aud":"mqbase")").error, "issuer mismatch");

  // Neither configured: any aud and iss pass.
  auto any = with_key(kSecret);
  EXPECT_TRUE(any->verify(token(header("HS256"), claims(R"("aud":"x","iss":"y")"), hs256(kSecret)), kNowTp).ok);
}

TEST_F(JwtTest, BadSignatures) {
  auto v = with_key(kSecret);
  std::string good = token(header("HS256"), claims(), hs256(kSecret));
  ASSERT_TRUE(v->verify(good, kNowTp).ok);
  // Flip a bit of the signature, and of the claims.
  std::string sig_flipped = good;
  sig_flipped[sig_flipped.size() - 5] = sig_flipped[sig_flipped.size() - 5] == 'A' ? 'B' : 'A';
  expect_refused(*v, sig_flipped, "bad signature");
  std::string input = base64url_encode(header("HS256")) + "." + base64url_encode(claims());
  std::string other_claims = base64url_encode(header("HS256")) + "." + base64url_encode(claims(R"("admin":true)"));
  expect_refused(*v, other_claims + good.substr(input.size()), "bad signature");
  expect_refused(*v, token(header("HS256"), claims(), hs256(kSecret + "x")), "bad signature");

  auto rsa = with_key(public_pem(rsa_key()));
  std::string rs = token(header("RS256"), claims(), rs256());
  rs[rs.size() - 10] = rs[rs.size() - 10] == 'A' ? 'B' : 'A';
  expect_refused(*rsa, rs, "bad signature");
  auto ec = with_key(public_pem(ec_key()));
  std::string es = token(header("ES256"), claims(), es256());
  es[es.size() - 10] = es[es.size() - 10] == 'A' ? 'B' : 'A';
  expect_refused(*ec, es, "bad signature");
  expect_refused(*ec, token(header("ES256"), claims(), [](std::string_view) { return std::string(64, '\0'); }),
                 "bad signature");
  expect_refused(*ec, token(header("ES256"), claims(), [](std::string_view) { return std::string(63, '\1'); }),
                 "bad signature");
}

TEST_F(JwtTest, AlgorithmNoneAndOthersAreRefused) {
  auto v = with_key(kSecret);
  // As such tokens come: an empty signature; and with one.
  std::string none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims()) + ".";
  expect_refused(*v, none, "algorithm none refused");
  expect_refused(*v, token(R"({"alg":"none"})", claims(), hs256(kSecret)), "algorithm none refused");
  expect_refused(*v, token(header("HS512"), claims(), hs256(kSecret)), "unsupported algorithm");
  expect_refused(*v, token(header("PS256"), claims(), hs256(kSecret)), "unsupported algorithm");
  expect_refused(*v, token(R"({"typ":"JWT"})", claims(), hs256(kSecret)), "malformed header");
  expect_refused(*v, token(R"({"alg":"HS256","crit":["exp"]})", claims(), hs256(kSecret)),
                 "critical header extensions refused");
}

// The classic attack: the RSA public key, which anyone has, used as an HS256 secret.
TEST_F(JwtTest, Hs256WithThePublicKeyAsSecretIsRefused) {
  std::string pem = public_pem(rsa_key());
  auto v = with_key(pem);
  expect_refused(*v, token(header("HS256"), claims(), hs256(pem)), "algorithm not allowed for the key");
  expect_refused(*v, token(header("ES256"), claims(), es256()), "algorithm not allowed for the key");
  auto hs = with_key(kSecret);
  expect_refused(*hs, token(header("RS256"), claims(), rs256()), "algorithm not allowed for the key");
  // A PEM after blank lines or text is still a key, not a secret.
  auto padded = with_key("\n# our IdP's key\n" + pem);
  expect_refused(*padded, token(header("HS256"), claims(), hs256("\n# our IdP's key\n" + pem)),
                 "algorithm not allowed for the key");
  EXPECT_TRUE(padded->verify(token(header("RS256"), claims(), rs256()), kNowTp).ok);
  // Through a JWKS, the same.
  auto jwks = with_jwks(rsa_jwk("r1"));
  expect_refused(*jwks, token(header("HS256", "r1"), claims(), hs256(pem)), "algorithm not allowed for the key");
}

TEST_F(JwtTest, JwksSelectsTheKeyByKid) {
  std::string secret2 = "another secret, at least 32 bytes long";
  auto v = with_jwks(rsa_jwk("r1") + "," + ec_jwk("e1") + "," + oct_jwk("h1", secret2) +
                     // skipped: for encryption, for another algorithm, of another type
                     R"(,{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"})"
                     R"(,{"kty":"RSA","kid":"ps","alg":"PS256","n":"AQAB","e":"AQAB"})"
                     R"(,{"kty":"OKP","kid":"ed","crv":"Ed25519","x":"AAAA"})");
  EXPECT_TRUE(v->verify(token(header("RS256", "r1"), claims(), rs256()), kNowTp).ok);
  EXPECT_TRUE(v->verify(token(header("ES256", "e1"), claims(), es256()), kNowTp).ok);
  EXPECT_TRUE(v->verify(token(header("HS256", "h1"), claims(), hs256(secret2)), kNowTp).ok);
  expect_refused(*v, token(header("RS256", "r2"), claims(), rs256()), "unknown key id");
  expect_refused(*v, token(header("RS256", "ps"), claims(), rs256()), "unknown key id");
  expect_refused(*v, token(header("RS256"), claims(), rs256()), "no key for a token without a key id");
  expect_refused(*v, token(header("ES256", "r1"), claims(), es256()), "algorithm not allowed for the key");
  expect_refused(*v, token(header("HS256", "h1"), claims(), hs256(kSecret)), "bad signature");
  expect_refused(*v, token(R"({"alg":"RS256","kid":7})", claims(), rs256()), "malformed header");

  // One key: a token without a kid uses it.
  auto single = with_jwks(ec_jwk("only"));
  EXPECT_TRUE(single->verify(token(header("ES256"), claims(), es256()), kNowTp).ok);
}

TEST_F(JwtTest, KeyFileAndJwksTogether) {
  JwtSettings s;
  s.key_file = write("secret", kSecret);
  s.jwks_file = write("jwks.json", fmt::format(R"({{"keys":[{}]}})", rsa_jwk("r1")));
  auto v = load(s);
  EXPECT_TRUE(v->verify(token(header("HS256"), claims(), hs256(kSecret)), kNowTp).ok);
  EXPECT_TRUE(v->verify(token(header("RS256", "r1"), claims(), rs256()), kNowTp).ok);
  expect_refused(*v, token(header("HS256", "x"), claims(), hs256(kSecret)), "unknown key id");
  // Without a JWKS the key file's key serves tokens whatever their kid.
  auto key_only = with_key(kSecret);
  EXPECT_TRUE(key_only->verify(token(header("HS256", "x"), claims(), hs256(kSecret)), kNowTp).ok);
}

TEST_F(JwtTest, MalformedTokens) {
  auto v = with_key(kSecret);
  std::string good = token(header("HS256"), claims(), hs256(kSecret));
  ASSERT_TRUE(v->verify(good, kNowTp).ok);
  expect_refused(*v, "", "malformed token: not three parts");
  expect_refused(*v, "abc", "malformed token: not three parts");
  expect_refused(*v, good + ".x", "malformed token: not three parts");
  expect_refused(*v, "a.b", "malformed token: not three parts");
  expect_refused(*v, good + "=", "malformed token: not base64url");  // padding
  expect_refused(*v, " " + good, "malformed token: not base64url");  // whitespace
  expect_refused(*v, good + "\n", "malformed token: not base64url");
  std::string plus = good;
  plus[good.find('.') + 3] = '+';  // the standard alphabet, not URL-safe
  expect_refused(*v, plus, "malformed token: not base64url");
  expect_refused(*v, "e30." + good.substr(good.find('.') + 1), "malformed header");  // {} has no alg
  expect_refused(*v, token("[1]", claims(), hs256(kSecret)), "malformed header");
  expect_refused(*v, token(R"({"alg":"HS256")", claims(), hs256(kSecret)), "malformed header");
  expect_refused(*v, token(R"({"alg":"HS256","alg":"none"})", claims(), hs256(kSecret)), "malformed header");
  expect_refused(*v, token(header("HS256"), R"({"sub":"alice","sub":"root","exp":2e9})", hs256(kSecret)),
                 "malformed claims");
  expect_refused(*v, token(header("HS256"), R"({"sub":"a","exp":2e9,"x":{"y":1,"y":2}})", hs256(kSecret)),
                 "malformed claims");
  expect_refused(*v, token(header("HS256"), "not json", hs256(kSecret)), "malformed claims");
  expect_refused(*v, token(header("HS256"), "\"a string\"", hs256(kSecret)), "malformed claims");
  expect_refused(*v, token(header("HS256"), "{\"sub\":\"\xff\",\"exp\":2e9}", hs256(kSecret)), "malformed claims");

  // Large tokens: 8 KiB passes the size check, 9 KiB does not.
  std::string pad(5800, 'p');
  ASSERT_LE(token(header("HS256"), claims(fmt::format(R"("pad":"{}")", pad)), hs256(kSecret)).size(),
            JwtVerifier::kMaxTokenBytes);
  auto big = v->verify(token(header("HS256"), claims(fmt::format(R"("pad":"{}")", pad)), hs256(kSecret)), kNowTp);
  EXPECT_TRUE(big.ok) << big.error;
  std::string huge = token(header("HS256"), claims(fmt::format(R"("pad":"{}")", std::string(6850, 'p'))), hs256(kSecret));
  ASSERT_GT(huge.size(), 9000u);
  expect_refused(*v, huge, "token too long");
}

TEST_F(JwtTest, UserNameAndTopicClaims) {
  JwtSettings s;
  s.username_claim = "preferred_username";
  auto v = with_key(kSecret, s);
  auto check = [&](std::string_view extra) {
    return v->verify(token(header("HS256"), claims(extra), hs256(kSecret)), kNowTp);
  };
  JwtResult r = check(R"("preferred_username":"bob","mqtt_pub":["sensors/bob/#","cmd/+/ack"],"mqtt_sub":"cmd/bob/#")");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.username, "bob");
  EXPECT_EQ(r.publish, (std::vector<std::string>{"sensors/bob/#", "cmd/+/ack"}));
  EXPECT_EQ(r.subscribe, (std::vector<std::string>{"cmd/bob/#"}));
  EXPECT_EQ(check(R"("preferred_username":"bob","mqtt_pub":"a","mqtt_sub":[])").subscribe.size(), 0u);
  EXPECT_EQ(check("").error, "no preferred_username claim naming the user");  // `sub` is not the claim now
  EXPECT_EQ(check(R"("preferred_username":"")").error, "no preferred_username claim naming the user");
  EXPECT_EQ(check(R"("preferred_username":42)").error, "no preferred_username claim naming the user");
  EXPECT_EQ(check(R"("preferred_username":"bob","mqtt_pub":7)").error, "malformed topic claim");
  EXPECT_EQ(check(R"("preferred_username":"bob","mqtt_sub":["a",null])").error, "malformed topic claim");

  JwtSettings custom;
  custom.publish_claim = "pub";
  custom.subscribe_claim = "sub_topics";
  auto c = with_key(kSecret, custom);
  r = c->verify(token(header("HS256"), claims(R"("pub":"x/y","sub_topics":["z/#"],"mqtt_pub":"ignored")"),
                      hs256(kSecret)),
                kNowTp);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.publish, (std::vector<std::string>{"x/y"}));
  EXPECT_EQ(r.subscribe, (std::vector<std::string>{"z/#"}));
}

TEST_F(JwtTest, LoadErrorsNameTheFile) {
  EXPECT_NE(load_error({}).find("neither a key file nor a JWKS file"), std::string::npos);
  JwtSettings s;
  s.key_file = dir_ + "/missing";
  EXPECT_NE(load_error(s).find("missing"), std::string::npos);
  s.key_file = write("short", "short secret\n");
  EXPECT_NE(load_error(s).find("shorter than 32 bytes"), std::string::npos);
  s.key_file = write("bad.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  std::string e = load_error(s);
  EXPECT_NE(e.find("bad.pem"), std::string::npos) << e;
  EXPECT_NE(e.find("not a PEM public key"), std::string::npos) << e;
  Pkey small(EVP_RSA_gen(1024));
  s.key_file = write("small.pem", public_pem(small.get()));
  EXPECT_NE(load_error(s).find("fewer than 2048 bits"), std::string::npos);
  Pkey p384(EVP_EC_gen("P-384"));
  s.key_file = write("p384.pem", public_pem(p384.get()));
  EXPECT_NE(load_error(s).find("not on P-256"), std::string::npos);

  auto jwks_error = [&](const std::string& text) {
    JwtSettings j;
    j.jwks_file = write("jwks.json", text);
    return load_error(j);
  };
  EXPECT_NE(jwks_error("[]").find("jwks.json"), std::string::npos);
  EXPECT_NE(jwks_error(R"({"keys":[]})").find("no RS256, ES256 or HS256 signing key"), std::string::npos);
  EXPECT_NE(jwks_error(fmt::format(R"({{"keys":[{},{}]}})", rsa_jwk("a"), ec_jwk("a"))).find("appears twice"),
            std::string::npos);
  EXPECT_NE(jwks_error(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})").find("key 1"),
            std::string::npos);
  // A point not on the curve.
  std::string x = base64url_encode(std::string(32, '\1')), y = base64url_encode(std::string(32, '\2'));
  EXPECT_NE(jwks_error(fmt::format(R"({{"keys":[{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}]}})", x, y))
                .find("not a valid P-256 public key"),
            std::string::npos);
  EXPECT_NE(jwks_error(R"({"keys":[{"kty":"RSA","n":"AQAB"}]})").find("'e' is missing"), std::string::npos);
  EXPECT_NE(jwks_error(R"({"keys":[{"kty":"oct","k":"c2hvcnQ"}]})").find("shorter than 32 bytes"), std::string::npos);
  EXPECT_NE(jwks_error(R"({"keys":[7]})").find("key 1: not an object"), std::string::npos);
}

// One verifier serves every event loop: verify() from several threads at once.
TEST_F(JwtTest, ConcurrentVerification) {
  auto v = with_jwks(rsa_jwk("r1") + "," + ec_jwk("e1") + "," + oct_jwk("h1", kSecret));
  const std::vector<std::string> tokens = {token(header("RS256", "r1"), claims(), rs256()),
                                           token(header("ES256", "e1"), claims(), es256()),
                                           token(header("HS256", "h1"), claims(), hs256(kSecret))};
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 30; ++i)
        if (v->verify(tokens[static_cast<size_t>(i) % tokens.size()], kNowTp).ok) ++passed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed, 4 * 30);
}

TEST(Base64, StrictBothWays) {
  using namespace std::string_literals;
  for (const std::string& raw : {""s, "f"s, "fo"s, "foo"s, "foob"s, "fooba"s, "foobar"s, "\xff\xfe\x00\x01"s}) {
    EXPECT_EQ(base64_decode(base64_encode(raw)), raw);
    EXPECT_EQ(base64url_decode(base64url_encode(raw)), raw);
  }
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_FALSE(base64_decode("Zm9vYg"));     // padding missing
  EXPECT_FALSE(base64_decode("Zm9vYg=a"));   // a character after padding
  EXPECT_FALSE(base64_decode("Zm9vYh=="));   // bits after the last byte
  EXPECT_FALSE(base64_decode("Zm9v Yg=="));  // whitespace
  EXPECT_FALSE(base64_decode("===="));
  EXPECT_FALSE(base64url_decode("Zm9vYg=="));  // padding
  EXPECT_FALSE(base64url_decode("+/8"));        // the standard alphabet
  EXPECT_FALSE(base64url_decode("Zm9vY"));      // 6 bits cannot end a byte
}

}  // namespace
}  // namespace mqbase::auth
