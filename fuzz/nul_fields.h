// The fuzz inputs that carry a text and a few strings to check it with (acl_fuzz.cpp,
// password_fuzz.cpp) separate them with NUL bytes: "text\0field\0field". Pure function.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mqbase::fuzz {

// The NUL-separated parts of data[0, size): at least one (the whole input when it has no NUL).
inline std::vector<std::string_view> nul_fields(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> fields;
  for (size_t nul; (nul = in.find('\0')) != std::string_view::npos; in.remove_prefix(nul + 1))
    fields.push_back(in.substr(0, nul));
  fields.push_back(in);
  return fields;
}

}  // namespace mqbase::fuzz
