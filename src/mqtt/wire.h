// Internal helpers of the codec: a bounds-checked reader over a packet body and big-endian
// writers. Not part of the public codec API.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "mqtt/utf8.h"

namespace mqbase::mqtt {

struct Reader {
  std::string_view rest;

  bool empty() const { return rest.empty(); }
  bool u8(uint32_t& v) {
    if (rest.empty()) return false;
    v = static_cast<uint8_t>(rest[0]);
    rest.remove_prefix(1);
    return true;
  }
  bool u16(uint32_t& v) {
    if (rest.size() < 2) return false;
    v = (uint32_t{static_cast<uint8_t>(rest[0])} << 8) | static_cast<uint8_t>(rest[1]);
    rest.remove_prefix(2);
    return true;
  }
  bool u32(uint32_t& v) {
    if (rest.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(rest[i]);
    rest.remove_prefix(4);
    return true;
  }
  bool binary(std::string_view& s) {
    uint32_t n;
    if (!u16(n) || rest.size() < n) return false;
    s = rest.substr(0, n);
    rest.remove_prefix(n);
    return true;
  }
  bool utf8(std::string_view& s) { return binary(s) && valid_utf8(s); }
};

inline void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
inline void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}
inline void put_string(std::string& out, std::string_view s) {
  put_u16(out, static_cast<uint16_t>(s.size()));
  out.append(s);
}

}  // namespace mqbase::mqtt
