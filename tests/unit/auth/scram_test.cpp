#include "auth/scram.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <functional>

#include <fmt/format.h>

#include "auth/base64.h"
#include "auth/hmac_challenge.h"
#include "auth/password_file.h"
#include "expect_parse_error.h"

namespace mqbase::auth {
namespace {

using Outcome = AuthStep::Outcome;

// RFC 7677 section 3: user "user", password "pencil".
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// PostgreSQL 15's pg_authid.rolpassword after CREATE ROLE alice PASSWORD 'pencil'.
constexpr std::string_view kPostgresLine =
    "alice:SCRAM-SHA-256$4096:Igwe+z7spE+c/+Wpig/RTg==$fxrK/3PGauD96UeLtkXbMLg/tw9JTF6p85wdC1ciXzk=:"
    "UEa2zLYxWd0nAVMGM+Mu5up1QkssPEZ8lrRJZB+IPg4=";

std::string rfc_user_line() { return "user:" + scram_secret("pencil", 4096, *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==")); }

std::shared_ptr<ScramAuthenticator> authenticator(std::string_view lines) {
  return std::make_shared<ScramAuthenticator>(
      std::make_shared<const ScramCredentials>(ScramCredentials::parse(lines, "test")));
}

// The client's side of SCRAM-SHA-256, as RFC 5802 describes it.
struct ScramClient {
  ScramClient(std::string u, std::string p) : user(std::move(u)), password(std::move(p)) {}

  std::string user, password, nonce = "fyko+d2lbbFgONRv9qkxdawL";
  std::string gs2 = "n,,";
  std::string client_first_bare, server_first, auth_message, salted;
  std::string identity;  // what the server's exchange established (set by run())

  std::string first() {
    client_first_bare = fmt::format("n={},r={}", user, nonce);
    return gs2 + client_first_bare;
  }
  // The client-final message for `server_first_message`.
  std::string final(std::string_view server_first_message) {
    server_first = server_first_message;
    std::string_view s = server_first;
    size_t salt_at = s.find(",s="), iter_at = s.find(",i=");
    std::string combined_nonce(s.substr(2, salt_at - 2));
    std::string salt = *base64_decode(s.substr(salt_at + 3, iter_at - salt_at - 3));
    int iterations = std::stoi(std::string(s.substr(iter_at + 3)));
    salted.resize(32);
    PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                      EVP_sha256(), 32, reinterpret_cast<unsigned char*>(salted.data()));
    std::string without_proof = fmt::format("c={},r={}", base64_encode(gs2), combined_nonce);
    auth_message = fmt::format("{},{},{}", client_first_bare, server_first, without_proof);
    std::string client_key = hmac(salted, "Client Key");
    std::string stored_key(32, '\0');
    EVP_Digest(client_key.data(), client_key.size(), reinterpret_cast<unsigned char*>(stored_key.data()), nullptr,
               EVP_sha256(), nullptr);
    std::string proof = hmac(stored_key, auth_message);
    for (size_t i = 0; i < proof.size(); ++i) proof[i] = static_cast<char>(proof[i] ^ client_key[i]);
    return without_proof + ",p=" + base64_encode(proof);
  }
  // The server-final message the server must send.
  std::string expected_server_final() const {
    return "v=" + base64_encode(hmac(hmac(salted, "Server Key"), auth_message));
  }
  static std::string hmac(std::string_view key, std::string_view data) {
    return HmacChallengeAuthenticator::hmac_sha256(key, data);
  }
};

// Runs a whole exchange; returns the last step.
AuthStep run(EnhancedAuthenticator& a, ScramClient& client, std::string_view connect_username = {}) {
  auto exchange = a.begin("client-1", connect_username);
  AuthStep first = exchange->step(client.first());
  if (first.outcome != Outcome::challenge) return first;
  AuthStep last = exchange->step(client.final(first.data));
  client.identity = exchange->identity();
  return last;
}

TEST(Scram, Rfc7677TestVector) {
  auto a = authenticator(rfc_user_line());
  a->set_server_nonce_for_testing(std::string(kRfcServerNonce));
  EXPECT_EQ(a->method(), "SCRAM-SHA-256");
  auto exchange = a->begin("client-1", "");
  AuthStep first = exchange->step(kRfcClientFirst);
  ASSERT_EQ(first.outcome, Outcome::challenge) << first.reason;
  EXPECT_EQ(first.data, kRfcServerFirst);
  AuthStep final = exchange->step(kRfcClientFinal);
  ASSERT_EQ(final.outcome, Outcome::success) << final.reason;
  EXPECT_EQ(final.data, kRfcServerFinal);
  EXPECT_EQ(exchange->identity(), "user");
  // The exchange is over.
  EXPECT_EQ(exchange->step(kRfcClientFinal).outcome, Outcome::failure);
}

TEST(Scram, FullExchangeWithRandomNonces) {
  auto a = authenticator(fmt::format("# users\n{}\nbob:{}\n", rfc_user_line(), scram_secret("hunter2", 5000)));
  ScramClient bob{"bob", "hunter2"};
  AuthStep last = run(*a, bob);
  ASSERT_EQ(last.outcome, Outcome::success) << last.reason;
  EXPECT_EQ(last.data, bob.expected_server_final());
  EXPECT_EQ(bob.identity, "bob");
  // The server nonce: 24 random bytes in base64, after the client's.
  EXPECT_EQ(bob.server_first.find("r=fyko+d2lbbFgONRv9qkxdawL"), 0u);
  EXPECT_EQ(bob.server_first.find(",s="), 2 + bob.nonce.size() + 32);
  EXPECT_NE(bob.server_first.find(",i=5000"), std::string::npos);

  ScramClient again{"bob", "hunter2"};
  ASSERT_EQ(run(*a, again).outcome, Outcome::success);
  EXPECT_NE(again.server_first, bob.server_first);  // a fresh server nonce

  ScramClient y{"bob", "hunter2"};
  y.gs2 = "y,,";  // supports channel binding, thinks the server does not
  EXPECT_EQ(run(*a, y).outcome, Outcome::success);
  // A user name with ',' and '=' travels escaped.
  auto odd = authenticator(fmt::format("a,b=c:{}", scram_secret("pw", 4096)));
  ScramClient escaped{"a=2Cb=3Dc", "pw"};
  ASSERT_EQ(run(*odd, escaped).outcome, Outcome::success);
  EXPECT_EQ(escaped.identity, "a,b=c");
}

TEST(Scram, ConnectUserNameMustBeTheScramOne) {
  auto a = authenticator(fmt::format("bob:{}\n", scram_secret("hunter2")));
  ScramClient bob{"bob", "hunter2"};
  EXPECT_EQ(run(*a, bob, "bob").outcome, Outcome::success);
  AuthStep s = run(*a, bob, "alice");
  EXPECT_EQ(s.outcome, Outcome::failure);
  EXPECT_EQ(s.reason, "the SCRAM user name is not the CONNECT's");
}

TEST(Scram, WrongPasswordAndUnknownUserFailAlikeAtTheProof) {
  auto a = authenticator(fmt::format("bob:{}\ncarol:{}\n", scram_secret("hunter2"), scram_secret("x", 4096)));
  ScramClient wrong{"bob", "hunter3"};
  AuthStep w = run(*a, wrong);
  EXPECT_EQ(w.outcome, Outcome::failure);
  EXPECT_FALSE(wrong.server_first.empty());  // it got as far as the proof
  ScramClient unknown{"mallory", "hunter2"};
  AuthStep u = run(*a, unknown);
  EXPECT_EQ(u.outcome, Outcome::failure);
  ASSERT_FALSE(unknown.server_first.empty());
  EXPECT_EQ(u.reason, w.reason);
  EXPECT_EQ(u.data, "e=invalid-proof");
  EXPECT_EQ(w.data, "e=invalid-proof");

  // The invented salt is the same each time, and shaped like the file's (16 bytes, 4096).
  ScramClient unknown2{"mallory", "other"};
  run(*a, unknown2);
  auto salt_of = [](const std::string& sf) { return sf.substr(sf.find(",s=")); };
  EXPECT_EQ(salt_of(unknown.server_first), salt_of(unknown2.server_first));
  EXPECT_EQ(salt_of(unknown.server_first).size(), salt_of(wrong.server_first).size());
  EXPECT_NE(unknown.server_first.find(",i=4096"), std::string::npos);
  ScramClient someone_else{"trudy", "x"};
  run(*a, someone_else);
  EXPECT_NE(salt_of(someone_else.server_first), salt_of(unknown.server_first));
}

TEST(Scram, MalformedMessagesFail) {
  auto a = authenticator(rfc_user_line());
  auto first_fails = [&](std::string_view message, std::string_view error) {
    AuthStep s = a->begin("c", "")->step(message);
    EXPECT_EQ(s.outcome, Outcome::failure) << message;
    EXPECT_EQ(s.data, fmt::format("e={}", error)) << message;
    EXPECT_FALSE(s.reason.empty());
  };
  first_fails("p=tls-unique,,n=user,r=abc", "channel-bindings-not-supported");
  first_fails("", "other-error");
  first_fails("n,,", "other-error");
  first_fails("x,,n=user,r=abc", "other-error");
  first_fails("n,a=admin,n=user,r=abc", "other-error");  // authorization identity
  first_fails("n,,r=abc,n=user", "other-error");
  first_fails("n,,n=user", "other-error");
  first_fails("n,,n=user,r=", "other-error");
  first_fails("n,,n=user,r=a b", "other-error");
  first_fails("n,,n=user,r=abc,", "other-error");
  first_fails("n,,m=ext,n=user,r=abc", "extensions-not-supported");
  first_fails("n,,n=,r=abc", "invalid-username-encoding");
  first_fails("n,,n=us=er,r=abc", "invalid-username-encoding");
  first_fails("n,,n=us\ter,r=abc", "invalid-username-encoding");
  AuthStep s = a->begin("c", "")->step("n,,n=j\xc3\xb6rg,r=abc");
  EXPECT_EQ(s.outcome, Outcome::failure);
  EXPECT_EQ(s.reason, "user names outside ASCII are not supported (no SASLprep)");

  auto final_fails = [&](std::function<std::string(std::string)> edit, std::string_view error) {
    ScramClient c{"user", "pencil"};
    auto exchange = a->begin("c", "");
    AuthStep first = exchange->step(c.first());
    ASSERT_EQ(first.outcome, Outcome::challenge);
    std::string message = edit(c.final(first.data));
    AuthStep last = exchange->step(message);
    EXPECT_EQ(last.outcome, Outcome::failure) << message;
    EXPECT_EQ(last.data, fmt::format("e={}", error)) << message;
  };
  auto proof_at = [](const std::string& m) { return m.find(",p="); };
  final_fails([&](std::string m) { return m.substr(0, proof_at(m)); }, "other-error");
  final_fails([&](std::string m) { return m + ",x=1"; }, "other-error");  // the proof must come last
  final_fails([](std::string) { return std::string("hello"); }, "other-error");
  final_fails([](std::string) { return std::string(); }, "other-error");
  final_fails([](std::string m) { return "c=eSws" + m.substr(6); }, "channel-bindings-dont-match");  // y,,
  final_fails([](std::string m) { return "c=cD10bHMtdW5pcXVlLCw=" + m.substr(6); }, "channel-bindings-dont-match");
  final_fails([&](std::string m) { return m.insert(proof_at(m), "x"); }, "other-error");  // another nonce
  final_fails([&](std::string m) { return m.substr(0, proof_at(m)) + ",p=!!!!"; }, "invalid-proof");
  final_fails([&](std::string m) { return m.substr(0, proof_at(m)) + ",p=" + base64_encode(std::string(31, 'x')); },
              "invalid-proof");
  final_fails([&](std::string m) { return m.substr(0, proof_at(m)) + ",p=" + base64_encode(std::string(32, 'x')); },
              "invalid-proof");
}

TEST(Scram, PostgresSecretsRoundTrip) {
  // scram_secret() writes what PostgreSQL writes, given the same salt.
  std::string_view pg = kPostgresLine.substr(kPostgresLine.find(':') + 1);
  std::string why;
  auto parsed = ScramSecret::parse(pg, &why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(parsed->iterations, 4096u);
  EXPECT_EQ(parsed->to_string(), pg);
  EXPECT_EQ(scram_secret("pencil", 4096, parsed->salt), pg);

  // PostgreSQL's line as it is logs alice in with her password.
  auto a = authenticator(kPostgresLine);
  ScramClient alice{"alice", "pencil"};
  EXPECT_EQ(run(*a, alice).outcome, Outcome::success);
  ScramClient wrong{"alice", "Pencil"};
  EXPECT_EQ(run(*a, wrong).outcome, Outcome::failure);

  // A fresh secret: a random 16-byte salt, read back as written.
  std::string fresh = scram_secret("s3cret", 10000);
  auto back = ScramSecret::parse(fresh, &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->iterations, 10000u);
  EXPECT_EQ(back->salt.size(), 16u);
  EXPECT_EQ(back->to_string(), fresh);
  EXPECT_NE(scram_secret("s3cret", 10000), fresh);
  EXPECT_THROW(scram_secret("x", 0), std::invalid_argument);
  auto b = authenticator("dave:" + fresh);
  ScramClient dave{"dave", "s3cret"};
  EXPECT_EQ(run(*b, dave).outcome, Outcome::success);
}

TEST(Scram, CredentialFileErrorsNameTheFileAndLine) {
  std::string ok = rfc_user_line();
  auto f = ScramCredentials::parse("# comment\n\n" + ok + "\r\n", "creds");
  EXPECT_EQ(f.size(), 1u);
  EXPECT_NE(f.find("user"), nullptr);
  EXPECT_EQ(f.find("nobody"), nullptr);
  std::string secret = ok.substr(5);
  expect_parse_error<ScramCredentials>("# c\nno colon here\n", "creds", "creds:2: expected user:SCRAM-SHA-256$");
  expect_parse_error<ScramCredentials>(":" + secret, "creds", "creds:1: empty user name");
  expect_parse_error<ScramCredentials>(ok + "\n" + ok, "creds", "creds:2: user 'user' is already in the file");
  expect_parse_error<ScramCredentials>("u:$7$101$abc$def", "creds", "creds:1: user 'u': not a SCRAM-SHA-256 secret");
  expect_parse_error<ScramCredentials>("u:SCRAM-SHA-256$4096", "creds", "creds:1: user 'u': expected SCRAM-SHA-256$<iterations>");
  std::string rest = secret.substr(secret.find(':'));  // ":<salt>$<StoredKey>:<ServerKey>"
  expect_parse_error<ScramCredentials>("u:SCRAM-SHA-256$0" + rest, "creds", "invalid iteration count '0'");
  expect_parse_error<ScramCredentials>("u:SCRAM-SHA-256$x" + rest, "creds", "invalid iteration count 'x'");
  std::string keys = secret.substr(secret.find('$', 14));  // "$<StoredKey>:<ServerKey>"
  expect_parse_error<ScramCredentials>("u:SCRAM-SHA-256$4096:@@@@" + keys, "creds", "the salt is not base64");
  std::string salt_part = secret.substr(0, secret.find('$', 14));
  expect_parse_error<ScramCredentials>("u:" + salt_part + "$AAAA:" + base64_encode(std::string(32, 'k')), "creds",
                                       "the StoredKey is not 32 bytes");
  expect_parse_error<ScramCredentials>("u:" + salt_part + "$" + base64_encode(std::string(32, 'k')) + ":AAAA", "creds",
                                       "the ServerKey is not 32 bytes");
  EXPECT_THROW(ScramCredentials::load("/nonexistent/scram"), AuthFileError);
}

TEST(Scram, ReplacedCredentialsServeNewExchanges) {
  auto a = authenticator(fmt::format("bob:{}\n", scram_secret("old")));
  ScramClient old_pw{"bob", "old"};
  ASSERT_EQ(run(*a, old_pw).outcome, Outcome::success);
  a->replace_credentials(
      std::make_shared<const ScramCredentials>(ScramCredentials::parse("bob:" + scram_secret("new"), "test")));
  ScramClient new_pw{"bob", "new"};
  EXPECT_EQ(run(*a, new_pw).outcome, Outcome::success);
  EXPECT_EQ(run(*a, old_pw).outcome, Outcome::failure);
}

}  // namespace
}  // namespace mqbase::auth
