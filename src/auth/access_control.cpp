#include "auth/access_control.h"

namespace mqbase::auth {

AccessControl::AccessControl(AccessOptions options)
    : options_(std::move(options)), throttle_(options_.failed_attempts, options_.failed_delay) {
  if (!options_.password_file.empty())
    passwords_.store(std::make_shared<const PasswordFile>(PasswordFile::load(options_.password_file)));
  if (!options_.acl_file.empty()) acl_.store(std::make_shared<const AclFile>(AclFile::load(options_.acl_file)));
}

std::string AccessControl::reload() {
  std::string errors;
  auto again = [&](auto& slot, const std::string& path, auto parse) {
    if (path.empty()) return;
    try {
      slot.store(std::make_shared<const std::decay_t<decltype(parse(path))>>(parse(path)));
    } catch (const AuthFileError& e) {
      errors += std::string(errors.empty() ? "" : "\n") + e.what() + " (the previous contents stay in force)";
    }
  };
  again(passwords_, options_.password_file, [](const std::string& p) { return PasswordFile::load(p); });
  again(acl_, options_.acl_file, [](const std::string& p) { return AclFile::load(p); });
  return errors;
}

AccessControl::Decision AccessControl::login(const Login& l) {
  Decision d;
  const PasswordFile* passwords = passwords_.get();
  if (l.username && passwords) {
    if (!passwords->verify(*l.username, l.password)) {
      d.verdict = Verdict::bad_credentials;
      d.why = "bad user name or password";
    }
  } else if (!l.allow_anonymous) {
    d.verdict = Verdict::not_authorized;
    d.why = l.username ? "no password file to check the user name against, and anonymous clients are refused here"
                       : "anonymous clients are refused here";
  }
  if (d.verdict != Verdict::accepted) d.delay = throttle_.on_failure(host_of(l.peer));
  return d;
}

const AclFile* AccessControl::acl() const {
  static const AclFile kNothingAllowed;
  const AclFile* f = acl_.get();
  return f ? f : &kNothingAllowed;
}

std::string_view AccessControl::host_of(std::string_view peer) {
  if (peer.starts_with('[')) return peer.substr(1, peer.find(']') - 1);
  size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

}  // namespace mqbase::auth
