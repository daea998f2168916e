// listen_address: "host:port" as the [http] listen key and the --http-listen flag write it
// ("127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0"). The config loader checks it with this; the
// HTTP server binds what it returns.
//
// Thread-safety: a plain function.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mqbase::http {

struct ListenAddress {
  std::string host;  // an IPv4 or IPv6 literal, without brackets
  uint16_t port = 0; // 0: ephemeral
};

// Parses "1.2.3.4:80" or "[::1]:80". Returns false with *error saying what is wrong
// ("expected host:port such as 127.0.0.1:8080", "'x' is not an IP address", "port 70000 is
// out of range 0..65535").
bool parse_listen_address(std::string_view text, ListenAddress* out, std::string* error);

}  // namespace mqbase::http
