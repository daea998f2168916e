// libFuzzer harness for the password file (auth/password_file.h): arbitrary text through
// PasswordFile::parse(), then verify() with a fuzzer-derived user and password, and
// HashedPassword's round trip. Input: the file's text, then optionally NUL-separated fields:
// user name, password (absent: none). A parse error (AuthFileError) is fine; any other
// exception, a crash, a leak or UBSan is a bug. A hash that parses must print back to text
// that parses to the same hash.
//
// Inputs whose $7$ iteration counts exceed 1000 are skipped: the file may ask for up to 10^8
// PBKDF2 rounds (an administrator's choice, not a client's), which would spend the fuzzing
// time in OpenSSL.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/password_file.h"
#include "auth/text_file.h"
#include "nul_fields.h"

using namespace mqbase::auth;

namespace {

constexpr uint32_t kMaxIterations = 1000;

// Checks the round trip of every line's hash; false when a line asks for too many rounds.
bool check_hashes(std::string_view text) {
  bool cheap = true;
  for_each_line(text, [&](size_t, std::string_view line) {
    std::string_view user, rest;
    if (!split_password_line(line, user, rest)) return;
    auto h = HashedPassword::parse(rest, nullptr);
    if (!h) return;
    if (h->iterations > kMaxIterations) cheap = false;
    auto again = HashedPassword::parse(h->to_string(), nullptr);
    if (!again || again->type != h->type || again->iterations != h->iterations || again->salt != h->salt ||
        again->hash != h->hash)
      std::abort();
  });
  return cheap;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> fields = mqbase::fuzz::nul_fields(data, size);
  std::string_view text = fields[0];
  if (!check_hashes(text)) return 0;
  std::string_view user = fields.size() > 1 ? fields[1] : "user";
  std::optional<std::string_view> password;
  if (fields.size() > 2) password = fields[2];
  try {
    PasswordFile file = PasswordFile::parse(text, "fuzz");
    bool ok = file.verify(user, password);
    if (ok && (!password || !file.has_user(user))) std::abort();
  } catch (const AuthFileError&) {
  }
  return 0;
}
