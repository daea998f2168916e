#include "auth/base64.h"

#include <array>
#include <cstdint>

namespace mqbase::auth {
namespace {

constexpr std::string_view kStandard = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xFF;

std::array<uint8_t, 256> reverse(std::string_view alphabet) {
  std::array<uint8_t, 256> values;
  values.fill(kInvalid);
  for (size_t i = 0; i < alphabet.size(); ++i) values[static_cast<uint8_t>(alphabet[i])] = static_cast<uint8_t>(i);
  return values;
}

std::string encode(std::string_view raw, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(raw[k])); };
  for (; i + 3 <= raw.size(); i += 3) {
    uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[(v >> shift) & 63];
  }
  size_t rest = raw.size() - i;  // 0, 1 or 2 bytes: 0, 2 or 3 characters
  if (rest > 0) {
    uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    for (size_t c = 0; c <= rest; ++c) out += alphabet[(v >> (18 - 6 * c)) & 63];
    if (pad) out.append(3 - rest, '=');
  }
  return out;
}

// Decodes unpadded text (the caller strips and checks any padding).
std::optional<std::string> decode(std::string_view text, const std::array<uint8_t, 256>& values) {
  if (text.size() % 4 == 1) return std::nullopt;  // 6 bits cannot end a byte
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    uint8_t v = values[static_cast<uint8_t>(c)];
    if (v == kInvalid) return std::nullopt;
    bits = bits << 6 | v;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  if ((bits & ((1u << count) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

}  // namespace

std::string base64_encode(std::string_view raw) { return encode(raw, kStandard, true); }

std::optional<std::string> base64_decode(std::string_view text) {
  static const auto values = reverse(kStandard);
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  return decode(text.substr(0, text.size() - padding), values);
}

std::string base64url_encode(std::string_view raw) { return encode(raw, kUrl, false); }

std::optional<std::string> base64url_decode(std::string_view text) {
  static const auto values = reverse(kUrl);
  return decode(text, values);
}

}  // namespace mqbase::auth
