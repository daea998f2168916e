// Base64 (RFC 4648) as the authentication methods need it, strict both ways: the standard
// alphabet with '=' padding (SCRAM's messages and stored keys) and the URL-safe alphabet
// without padding (JWT, JWK). A decoder refuses what a careful encoder never writes: other
// characters, whitespace, missing or surplus padding, and non-zero bits after the last byte,
// so each byte string has one accepted text. Used by the JWT verifier and SCRAM.
// Thread-safety: plain functions of their arguments.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace mqbase::auth {

// `raw` in the standard alphabet, padded with '=' to a multiple of 4 characters.
std::string base64_encode(std::string_view raw);
// The bytes of standard padded base64 `text`; nothing when it is not exactly that.
std::optional<std::string> base64_decode(std::string_view text);

// `raw` in the URL-safe alphabet ('-', '_'), without padding.
std::string base64url_encode(std::string_view raw);
// The bytes of unpadded URL-safe base64 `text`; nothing when it is not exactly that.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace mqbase::auth
