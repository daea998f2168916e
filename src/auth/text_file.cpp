#include "auth/text_file.h"

#include <cerrno>
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
