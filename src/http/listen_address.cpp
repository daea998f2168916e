#include "http/listen_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace mqbase::http {

bool parse_listen_address(std::string_view text, ListenAddress* out, std::string* error) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    *error = "expected host:port such as 127.0.0.1:8080 or [::1]:8080, got '" + std::string(text) + "'";
    return false;
  }
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  std::string h(host);
  unsigned char buf[16];
  bool v4 = !bracketed && ::inet_pton(AF_INET, h.c_str(), buf) == 1;
  bool v6 = bracketed && ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
  if (!v4 && !v6) {
    *error = !bracketed && h.find(':') != std::string::npos
                 ? "an IPv6 address takes brackets: [" + h + "]:" + std::string(port)
                 : "'" + h + "' is not an IP address (a literal such as 127.0.0.1 or [::1])";
    return false;
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value > 65535) {
    *error = "port '" + std::string(port) + "' is not a number between 0 and 65535";
    return false;
  }
  out->host = std::move(h);
  out->port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace mqbase::http
