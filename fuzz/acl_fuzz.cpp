// libFuzzer harness for the ACL file (auth/acl_file.h): arbitrary text through
// AclFile::parse(), then the checks on a fuzzer-derived client. Input: the file's text, then
// optionally NUL-separated fields: client id, user name (absent: the anonymous client only),
// topic or filter. A parse error (AuthFileError) is fine; any other exception, a crash, a leak
// or UBSan is a bug. One property holds besides: for a valid topic name (no wildcard), the
// client may subscribe to it exactly when it may read it (a filter's coverage and a topic's
// match are the same thing there).
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/acl_file.h"
#include "auth/password_file.h"
#include "mqtt/topic.h"
#include "nul_fields.h"

using namespace mqbase::auth;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> fields = mqbase::fuzz::nul_fields(data, size);
  std::string_view text = fields[0];
  std::string_view client_id = fields.size() > 1 ? fields[1] : "client";
  std::optional<std::string_view> user;
  if (fields.size() > 2) user = fields[2];
  std::string_view topic = fields.size() > 3 ? fields[3] : "a/b";
  try {
    AclFile acl = AclFile::parse(text, "fuzz");
    acl.rule_count();
    std::vector<AclSubject> who{{client_id, std::nullopt}};
    if (user) who.push_back({client_id, user});
    for (const AclSubject& s : who) {
      bool read = acl.may_read(s, topic);
      acl.may_write(s, topic);
      bool subscribe = acl.may_subscribe(s, topic);
      if (mqbase::mqtt::valid_topic_name(topic) && !mqbase::mqtt::has_wildcard(topic) && read != subscribe) std::abort();
    }
  } catch (const AuthFileError&) {
  }
  return 0;
}
