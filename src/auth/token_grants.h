// TokenGrants: the topics a bearer token (a JWT's publish and subscribe claims) lets its
// connection publish to and subscribe to. When a token carries such claims they are that
// connection's ACL: what they do not grant is refused (the ACL file's deny rules still apply,
// AccessControl combines the two). The patterns are taken as they are: `%u` and `%c` mean
// nothing here, and `#`/`+` do not reach `$SYS` (mqtt::topic_matches).
// Made once per login by JwtAuthenticator; the Client and its Session hold it.
// Thread-safety: immutable once made; every check is safe from any thread.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mqbase::auth {

class TokenGrants {
 public:
  // The grants of these claim lists. Returns null, with the offending pattern named in
  // *error, when one is not a valid topic filter.
  static std::shared_ptr<const TokenGrants> make(std::vector<std::string> publish, std::vector<std::string> subscribe,
                                                 std::string* error);

  // PUBLISH to `topic` (a topic name), and the will: a publish pattern matches it.
  bool may_write(std::string_view topic) const;
  // A message on `topic` may be delivered: a subscribe pattern matches it.
  bool may_read(std::string_view topic) const;
  // SUBSCRIBE to `filter` (without "$share/{group}/"): a subscribe pattern covers all of it.
  bool may_subscribe(std::string_view filter) const;

  const std::vector<std::string>& publish() const { return publish_; }
  const std::vector<std::string>& subscribe() const { return subscribe_; }

 private:
  std::vector<std::string> publish_;
  std::vector<std::string> subscribe_;
};

}  // namespace mqbase::auth
