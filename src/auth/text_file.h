// The line reading the password, SCRAM and ACL files share: the whole file read at once, then
// split into lines numbered from 1, with a trailing '\r' and blanks trimmed off each; and the
// `user:secret` lines of the password and SCRAM files.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace mqbase::auth {

// A password, SCRAM or ACL file that cannot be used; the message names the file and the line.
class AuthFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The contents of `path`. Throws AuthFileError naming `what` and the path when it cannot be read.
std::string read_text_file(const std::string& path, std::string_view what);

// The same, but "" for a file that does not exist yet (a first user, a first rule).
std::string read_text_file_if_exists(const std::string& path, std::string_view what);

// Writes `text` to a temporary file beside `path`, fsyncs it and renames it over `path`, so a
// reader (the server on SIGHUP) sees the old file or the new one, never half of one. The mode
// is the old file's, or 0600 for a new one. Returns "" or what failed.
std::string replace_text_file(const std::string& path, const std::string& text);

// `text`, a file of `user:secret` lines, with `user`'s line set to `user:secret` (appended
// when it has none) or, when `secret` is null, removed. Comments, blank lines and other users'
// lines stay as they were. *found: whether `user` had a line. Returns "" or, for a line that
// is not `user:secret`, "line N is not user:secret" (and *out is then unspecified).
std::string edit_user_line(std::string_view text, std::string_view user, const std::string* secret,
                           std::string* out, bool* found);

// `s` without leading and trailing spaces, tabs, '\r' and '\n'.
std::string_view trim_blanks(std::string_view s);

// Calls fn(line_number, line) for each line of `text`, trimmed.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    fn(++number, trim_blanks(line));
  }
}

// Splits a `user:secret` line at its first ':' (both parts trimmed of blanks, as mosquitto
// reads them). Returns false for a line without one.
bool split_password_line(std::string_view line, std::string_view& user, std::string_view& rest);

// The users of a file of `user:secret` lines, `#` comments and blank lines: parse(secret, &why)
// makes each T, or returns nothing with the reason. Throws AuthFileError naming `kind`, `origin`
// and the line of a line that is not `expected`, has an empty user name or a secret parse()
// refuses, or names a user already named.
template <typename T, typename Parse>
std::map<std::string, T, std::less<>> parse_user_lines(std::string_view text, std::string_view kind,
                                                       const std::string& origin, std::string_view expected,
                                                       Parse&& parse) {
  std::map<std::string, T, std::less<>> users;
  for_each_line(text, [&](size_t number, std::string_view line) {
    if (line.empty() || line.starts_with('#')) return;
    auto fail = [&](std::string_view what) {
      throw AuthFileError(fmt::format("{} {}:{}: {}", kind, origin, number, what));
    };
    std::string_view user, rest;
    if (!split_password_line(line, user, rest)) fail(fmt::format("expected {}", expected));
    if (user.empty()) fail("empty user name");
    std::string why;
    std::optional<T> secret = parse(rest, &why);
    if (!secret) fail(fmt::format("user '{}': {}", user, why));
    if (!users.emplace(std::string(user), std::move(*secret)).second)
      fail(fmt::format("user '{}' is already in the file", user));
  });
  return users;
}

}  // namespace mqbase::auth
