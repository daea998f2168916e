#include "auth/jwt_authenticator.h"

#include <algorithm>

namespace mqbase::auth {
namespace {

class JwtExchange : public AuthExchange {
 public:
  JwtExchange(const JwtAuthenticator& authenticator, std::string connect_username)
      : authenticator_(authenticator), connect_username_(std::move(connect_username)) {}

  AuthStep step(std::string_view client_data) override {
    if (done_) return {AuthStep::Outcome::failure, {}, "the JWT exchange is over"};
    done_ = true;
    login_ = authenticator_.check(client_data, connect_username_.empty()
                                                   ? std::nullopt
                                                   : std::optional<std::string_view>(connect_username_));
    if (!login_.ok) {
      AuthStep s{AuthStep::Outcome::failure, {}, login_.error};
      s.bad_credentials = true;
      return s;
    }
    return {AuthStep::Outcome::success, {}, {}};
  }

  std::string identity() const override { return login_.ok ? login_.username : std::string(); }
  std::shared_ptr<const TokenGrants> grants() const override { return login_.grants; }
  std::optional<std::chrono::system_clock::time_point> valid_until() const override {
    if (!login_.ok) return std::nullopt;
    return login_.valid_until;
  }

 private:
  const JwtAuthenticator& authenticator_;
  const std::string connect_username_;
  TokenLogin login_;
  bool done_ = false;
};

}  // namespace

JwtAuthenticator::JwtAuthenticator(std::shared_ptr<const JwtVerifier> verifier) { verifier_.store(std::move(verifier)); }

std::unique_ptr<AuthExchange> JwtAuthenticator::begin(std::string_view, std::string_view username) {
  return std::make_unique<JwtExchange>(*this, std::string(username));
}

TokenLogin JwtAuthenticator::check(std::string_view token, std::optional<std::string_view> username,
                                   std::chrono::system_clock::time_point now) const {
  TokenLogin login;
  const JwtVerifier* verifier = verifier_.get();
  if (!verifier) {
    login.error = "no JWT keys";
    return login;
  }
  JwtResult r = verifier->verify(token, now);
  if (!r.ok) {
    login.error = std::move(r.error);
    return login;
  }
  if (username && *username != r.username) {
    login.error = "the token is for another user than the CONNECT's user name";
    return login;
  }
  if (r.has_grant_claims) {
    login.grants = TokenGrants::make(std::move(r.publish), std::move(r.subscribe), &login.error);
    if (!login.grants) return login;
  }
  login.ok = true;
  login.username = std::move(r.username);
  login.valid_until = r.expires + verifier->settings().leeway;
  return login;
}

bool JwtAuthenticator::looks_like_token(std::string_view password) {
  return password.starts_with("eyJ") && std::count(password.begin(), password.end(), '.') == 2;
}

}  // namespace mqbase::auth
