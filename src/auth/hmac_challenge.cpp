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
  Exchange(const std::string& secret, std::string client_id) : secret_(secret), client_id_(std::move(client_id)) {}

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

  std::string identity() const override { return client_id_; }

 private:
  const std::string& secret_;
  std::string client_id_;
  std::string challenge_;
};

}  // namespace

std::unique_ptr<AuthExchange> HmacChallengeAuthenticator::begin(std::string_view client_id, std::string_view) {
  return std::make_unique<Exchange>(secret_, std::string(client_id));
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
