// The check both file parsers' tests make: parsing `text` throws AuthFileError whose message
// holds `needle` (the file, the line, the reason).
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "auth/password_file.h"

namespace mqbase::auth {

template <typename File>
void expect_parse_error(const std::string& text, const std::string& origin, const std::string& needle) {
  try {
    File::parse(text, origin);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const AuthFileError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace mqbase::auth
