// The line reading the password and ACL files share: the whole file read at once, then split
// into lines numbered from 1, with a trailing '\r' and blanks trimmed off each.
#pragma once
#include <string>
#include <string_view>

namespace mqbase::auth {

// The contents of `path`. Throws AuthFileError naming `what` and the path when it cannot be read.
std::string read_text_file(const std::string& path, std::string_view what);

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

}  // namespace mqbase::auth
