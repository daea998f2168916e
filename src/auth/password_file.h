// PasswordFile: the users of a mosquitto password file (the format mosquitto_passwd and
// `mqbase passwd` write) and the check of a CONNECT's password against them. A line is
// `user:$7$<iterations>$<base64 salt>$<base64 hash>` (PBKDF2-HMAC-SHA512, mosquitto 2's
// default: 101 iterations, 12-byte salt, 64-byte hash) or the older `user:$6$<salt>$<hash>`
// (SHA-512 of the password then the salt); `#` starts a comment line. Used by AccessControl
// at CONNECT and by the passwd command.
// Thread-safety: a loaded PasswordFile is immutable; verify() is safe from any thread.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "auth/text_file.h"

namespace mqbase::auth {

enum class PasswordHash : uint8_t {
  sha512,         // $6$: SHA-512(password || salt)
  sha512_pbkdf2,  // $7$: PBKDF2-HMAC-SHA512
};

inline constexpr uint32_t kDefaultPbkdf2Iterations = 101;  // mosquitto_passwd's default

// One hashed password, as the part after `user:` holds it.
struct HashedPassword {
  PasswordHash type = PasswordHash::sha512_pbkdf2;
  uint32_t iterations = kDefaultPbkdf2Iterations;  // $7$ only
  std::string salt;  // raw bytes, 12
  std::string hash;  // raw bytes, 64

  // `password` hashed with a fresh random salt. Throws std::runtime_error when OpenSSL fails.
  static HashedPassword make(std::string_view password, PasswordHash type = PasswordHash::sha512_pbkdf2,
                             uint32_t iterations = kDefaultPbkdf2Iterations);
  // Parses "$7$101$<salt>$<hash>" or "$6$<salt>$<hash>". Returns nothing, with the reason in
  // `why`, when it is not one.
  static std::optional<HashedPassword> parse(std::string_view text, std::string* why);
  // The text form parse() reads (what follows `user:` in the file).
  std::string to_string() const;
  // Whether `password` hashes to `hash`; the comparison takes the same time wherever the
  // bytes differ.
  bool matches(std::string_view password) const;
};

class PasswordFile {
 public:
  // Reads and parses `path`. Throws AuthFileError naming the file (and the line) when it
  // cannot be read, or a line is neither a comment nor a valid `user:hash`, or a user appears
  // twice.
  static PasswordFile load(const std::string& path);
  // The same from text; `origin` names it in errors.
  static PasswordFile parse(std::string_view text, const std::string& origin);

  // Whether `user` is in the file and `password` is theirs. A missing password fails. An
  // unknown user costs the same hashing as a known one (a dummy entry of the same kind), so
  // that which users exist cannot be learnt from the time a refusal takes.
  bool verify(std::string_view user, std::optional<std::string_view> password) const;
  bool has_user(std::string_view user) const { return users_.count(user) != 0; }
  size_t size() const { return users_.size(); }

 private:
  std::map<std::string, HashedPassword, std::less<>> users_;
  HashedPassword dummy_;
};

}  // namespace mqbase::auth
