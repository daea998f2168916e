#include "auth/access_control.h"

namespace mqbase::auth {
namespace {

std::shared_ptr<const JwtVerifier> load_verifier(const JwtSettings& settings) {
  std::string error;
  auto verifier = JwtVerifier::load(settings, &error);
  if (!verifier) throw AuthFileError(error);
  return verifier;
}

}  // namespace

AccessControl::AccessControl(AccessOptions options)
    : options_(std::move(options)), throttle_(options_.failed_attempts, options_.failed_delay) {
  if (!options_.password_file.empty())
    passwords_.store(std::make_shared<const PasswordFile>(PasswordFile::load(options_.password_file)));
  if (!options_.acl_file.empty()) acl_.store(std::make_shared<const AclFile>(AclFile::load(options_.acl_file)));
  if (options_.jwt_enabled()) jwt_ = std::make_shared<JwtAuthenticator>(load_verifier(options_.jwt));
  if (!options_.scram_file.empty())
    scram_ = std::make_shared<ScramAuthenticator>(
        std::make_shared<const ScramCredentials>(ScramCredentials::load(options_.scram_file)));
}

std::string AccessControl::reload() {
  std::lock_guard lock(reload_mu_);
  std::string errors;
  auto again = [&](bool configured, auto load, auto use) {
    if (!configured) return;
    try {
      use(load());
    } catch (const AuthFileError& e) {
      errors += std::string(errors.empty() ? "" : "\n") + e.what() + " (the previous contents stay in force)";
    }
  };
  again(
      !options_.password_file.empty(),
      [&] { return std::make_shared<const PasswordFile>(PasswordFile::load(options_.password_file)); },
      [&](auto f) { passwords_.store(std::move(f)); });
  again(
      !options_.acl_file.empty(), [&] { return std::make_shared<const AclFile>(AclFile::load(options_.acl_file)); },
      [&](auto f) { acl_.store(std::move(f)); });
  again(
      jwt_ != nullptr, [&] { return load_verifier(options_.jwt); },
      [&](auto v) { jwt_->replace_verifier(std::move(v)); });
  again(
      scram_ != nullptr,
      [&] { return std::make_shared<const ScramCredentials>(ScramCredentials::load(options_.scram_file)); },
      [&](auto users) { scram_->replace_credentials(std::move(users)); });
  return errors;
}

std::vector<std::shared_ptr<EnhancedAuthenticator>> AccessControl::authenticators() const {
  std::vector<std::shared_ptr<EnhancedAuthenticator>> out;
  if (jwt_) out.push_back(jwt_);
  if (scram_) out.push_back(scram_);
  return out;
}

AccessControl::Decision AccessControl::login(const Login& l) {
  Decision d;
  const PasswordFile* passwords = passwords_.get();
  if (l.accept_token && jwt_ && l.password && JwtAuthenticator::looks_like_token(*l.password)) {
    d.token = jwt_->check(*l.password, l.username);
    if (!d.token->ok) {
      d.verdict = Verdict::bad_credentials;
      d.why = "bad token: " + d.token->error;
    }
  } else if (l.username && passwords) {
    if (!passwords->verify(*l.username, l.password)) {
      d.verdict = Verdict::bad_credentials;
      d.why = "bad user name or password";
    }
  } else if (!l.allow_anonymous) {
    d.verdict = Verdict::not_authorized;
    d.why = l.username ? "no password file to check the user name against, and anonymous clients are refused here"
                       : "anonymous clients are refused here";
  }
  if (d.verdict != Verdict::accepted) d.delay = count_failure(l.peer);
  return d;
}

bool AccessControl::decide(const AclSubject& who, std::string_view topic, AclFile::Check check) const {
  const AclFile* file = acl_.get();
  if (who.grants) {
    bool granted = check == AclFile::Check::write  ? who.grants->may_write(topic)
                   : check == AclFile::Check::read ? who.grants->may_read(topic)
                                                   : who.grants->may_subscribe(topic);
    return granted && !(file && file->denies(who, topic, check));
  }
  if (!file) return options_.acl_file.empty();  // no ACL file: everything is allowed
  return check == AclFile::Check::write  ? file->may_write(who, topic)
         : check == AclFile::Check::read ? file->may_read(who, topic)
                                         : file->may_subscribe(who, topic);
}

std::string_view AccessControl::host_of(std::string_view peer) {
  if (peer.starts_with('[')) return peer.substr(1, peer.find(']') - 1);
  size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

}  // namespace mqbase::auth
