#include "auth/password_file.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/base64.h"
#include "auth/text_file.h"

namespace mqbase::auth {
namespace {

constexpr size_t kSaltBytes = 12;  // what mosquitto writes and requires
constexpr size_t kHashBytes = 64;  // SHA-512

std::string digest(std::string_view password, const HashedPassword& h) {
  std::string out(kHashBytes, '\0');
  auto* md = reinterpret_cast<unsigned char*>(out.data());
  const auto* salt = reinterpret_cast<const unsigned char*>(h.salt.data());
  bool ok;
  if (h.type == PasswordHash::sha512_pbkdf2) {
    ok = PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, static_cast<int>(h.salt.size()),
                           static_cast<int>(h.iterations), EVP_sha512(), static_cast<int>(kHashBytes), md) == 1;
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
         EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
         EVP_DigestUpdate(ctx, salt, h.salt.size()) == 1 && EVP_DigestFinal_ex(ctx, md, &len) == 1 &&
         len == kHashBytes;
    EVP_MD_CTX_free(ctx);
  }
  if (!ok) throw std::runtime_error("OpenSSL failed to hash a password");
  return out;
}

// "$"-separated fields after the leading '$'.
std::vector<std::string_view> dollar_fields(std::string_view text) {
  std::vector<std::string_view> out;
  if (!text.starts_with('$')) return out;
  text.remove_prefix(1);
  while (true) {
    size_t d = text.find('$');
    out.push_back(text.substr(0, d));
    if (d == std::string_view::npos) return out;
    text.remove_prefix(d + 1);
  }
}

}  // namespace

HashedPassword HashedPassword::make(std::string_view password, PasswordHash type, uint32_t iterations) {
  HashedPassword h;
  h.type = type;
  h.iterations = type == PasswordHash::sha512_pbkdf2 ? iterations : 0;
  h.salt.resize(kSaltBytes);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(h.salt.data()), static_cast<int>(kSaltBytes)) != 1)
    throw std::runtime_error("OpenSSL has no random bytes for a salt");
  h.hash = digest(password, h);
  return h;
}

std::optional<HashedPassword> HashedPassword::parse(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<HashedPassword> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  auto fields = dollar_fields(text);
  if (fields.empty())
    return fail("not a hashed password (expected $7$... or $6$...; hash a file of plain passwords with "
                "`mqbase passwd -U`)");
  HashedPassword h;
  size_t next = 1;
  if (fields[0] == "7") {
    h.type = PasswordHash::sha512_pbkdf2;
    if (fields.size() != 4) return fail("expected $7$<iterations>$<salt>$<hash>");
    std::string_view it = fields[1];
    auto [end, ec] = std::from_chars(it.data(), it.data() + it.size(), h.iterations);
    if (ec != std::errc() || end != it.data() + it.size() || h.iterations < 1 || h.iterations > 100'000'000)
      return fail(fmt::format("invalid iteration count '{}'", it));
    next = 2;
  } else if (fields[0] == "6") {
    h.type = PasswordHash::sha512;
    h.iterations = 0;
    if (fields.size() != 3) return fail("expected $6$<salt>$<hash>");
  } else {
    return fail(fmt::format("unknown hash type ${}$ (mosquitto's are $6$ and $7$)", fields[0]));
  }
  auto salt = base64_decode(fields[next]);
  if (!salt || salt->size() != kSaltBytes) return fail("the salt is not 12 bytes of base64");
  auto hash = base64_decode(fields[next + 1]);
  if (!hash || hash->size() != kHashBytes) return fail("the hash is not 64 bytes of base64");
  h.salt = std::move(*salt);
  h.hash = std::move(*hash);
  return h;
}

std::string HashedPassword::to_string() const {
  if (type == PasswordHash::sha512) return fmt::format("$6${}${}", base64_encode(salt), base64_encode(hash));
  return fmt::format("$7${}${}${}", iterations, base64_encode(salt), base64_encode(hash));
}

bool HashedPassword::matches(std::string_view password) const {
  std::string computed = digest(password, *this);
  return hash.size() == computed.size() && CRYPTO_memcmp(hash.data(), computed.data(), computed.size()) == 0;
}

PasswordFile PasswordFile::load(const std::string& path) { return parse(read_text_file(path, "password file"), path); }

PasswordFile PasswordFile::parse(std::string_view text, const std::string& origin) {
  PasswordFile f;
  f.users_ = parse_user_lines<HashedPassword>(text, "password file", origin, "user:password-hash",
                                              [](std::string_view rest, std::string* why) {
                                                return HashedPassword::parse(rest, why);
                                              });
  // An unknown user is checked against an entry like the others, so a refusal costs the same.
  const HashedPassword* model = f.users_.empty() ? nullptr : &f.users_.begin()->second;
  f.dummy_ = HashedPassword::make("", model ? model->type : PasswordHash::sha512_pbkdf2,
                                  model ? model->iterations : kDefaultPbkdf2Iterations);
  return f;
}

bool PasswordFile::verify(std::string_view user, std::optional<std::string_view> password) const {
  auto it = users_.find(user);
  const bool known = it != users_.end();
  const bool matches = (known ? it->second : dummy_).matches(password.value_or(std::string_view()));
  return known && password && matches;
}

}  // namespace mqbase::auth
