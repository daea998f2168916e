// Test helper: bytes from readable hex ("10 0D 00 04 ..."), spaces and other non-hex
// characters ignored. Shared by the codec, malformed-packet and property tests.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace mqbase::mqtt::testing_hex {

inline std::string unhex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi << 4 | v));
      hi = -1;
    }
  }
  EXPECT_EQ(hi, -1) << "odd number of hex digits in " << hex;
  return out;
}

}  // namespace mqbase::mqtt::testing_hex
