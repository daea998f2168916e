#include "auth/hmac_challenge.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace mqbase::auth {
namespace {

class Exchange : public AuthExchange {
 public:
  explicit Exchange(const std::string& secret) : secret_(secret) {}

  AuthStep step(std::string_view client_data) override {
    if (challenge_.empty()) {
      challenge_.resize(32);
      if (RAND_bytes(reinterpret_cast<unsigned char*>(challenge_.data()), 32) != 1)
        return {AuthStep::Outcome::failure, {}, "no randomness for the challenge"};
      return {AuthStep::Outcome::challenge, challenge_, {}};
    }
    std::string expected = HmacChallengeAuthenticator::hmac_sha256(secret_, challenge_);
    if (client_data.size() == expected.size() &&
        CRYPTO_memcmp(client_data.data(), expected.data(), expected.size()) == 0) {
      return {AuthStep::Outcome::success, {}, {}};
    }
    return {AuthStep::Outcome::failure, {}, "wrong challenge response"};
  }

 private:
  const std::string& secret_;
  std::string challenge_;
};

}  // namespace

// A shared secret proves membership of a fleet, not a user: the exchange names none.
std::unique_ptr<AuthExchange> HmacChallengeAuthenticator::begin(std::string_view, std::string_view) {
  return std::make_unique<Exchange>(secret_);
}

std::string HmacChallengeAuthenticator::hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), out, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace mqbase::auth
