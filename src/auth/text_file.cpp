#include "auth/text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace mqbase::auth {

std::string read_text_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AuthFileError(fmt::format("{} {}: cannot open: {}", what, path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw AuthFileError(fmt::format("{} {}: cannot read: {}", what, path, std::strerror(errno)));
  return std::move(text).str();
}

std::string read_text_file_if_exists(const std::string& path, std::string_view what) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return "";
  return read_text_file(path, what);
}

std::string replace_text_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());  // mode 0600
  if (fd < 0) return "cannot create a temporary file beside " + path + ": " + std::strerror(errno);
  struct stat old{};
  if (::stat(path.c_str(), &old) == 0) ::fchmod(fd, old.st_mode & 07777);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == text.size() && ::fsync(fd) == 0;
  std::string why = ok ? "" : std::string("cannot write ") + tmp + ": " + std::strerror(errno);
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0)
    why = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
  if (!why.empty()) ::unlink(tmp.c_str());
  return why;
}

std::string edit_user_line(std::string_view text, std::string_view user, const std::string* secret,
                           std::string* out, bool* found) {
  std::string result;  // `text` may be *out
  *found = false;
  std::string error;
  for_each_line(text, [&](size_t number, std::string_view line) {
    if (!error.empty()) return;
    std::string_view name, rest;
    if (line.empty() || line.starts_with('#')) {
      result.append(line).append("\n");
    } else if (!split_password_line(line, name, rest) || name.empty() || rest.empty()) {
      error = fmt::format("line {} is not user:secret", number);
    } else if (name != user) {
      result.append(line).append("\n");
    } else {
      *found = true;
      if (secret) result.append(user).append(":").append(*secret).append("\n");
    }
  });
  if (error.empty() && secret && !*found) result.append(user).append(":").append(*secret).append("\n");
  *out = std::move(result);
  return error;
}

std::string_view trim_blanks(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

bool split_password_line(std::string_view line, std::string_view& user, std::string_view& rest) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  user = trim_blanks(line.substr(0, colon));
  rest = trim_blanks(line.substr(colon + 1));
  return true;
}

}  // namespace mqbase::auth
