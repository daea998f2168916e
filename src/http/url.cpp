#include "http/url.h"

#include <cctype>

namespace mqbase::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && plus_is_space) {
      *out += ' ';
    } else if (c == '%') {
      int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      *out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      *out += c;
    }
  }
  return true;
}

bool Params::parse(std::string_view text, std::string* error) {
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view item = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string name, value;
    if (!percent_decode(item.substr(0, eq), true, &name)) {
      *error = "malformed %-escape in parameter name '" + std::string(item.substr(0, eq)) + "'";
      return false;
    }
    if (eq != std::string_view::npos && !percent_decode(item.substr(eq + 1), true, &value)) {
      *error = "malformed %-escape in the value of parameter '" + name + "'";
      return false;
    }
    items_.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

const std::string* Params::get(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (k == name) return &v;
  return nullptr;
}

void Params::set(std::string name, std::string value) {
  std::erase_if(items_, [&](const auto& kv) { return kv.first == name; });
  items_.emplace_back(std::move(name), std::move(value));
}

bool split_target(std::string_view target, Target* out) {
  if (target == "*") {
    out->path = "*";
    out->query = {};
    return true;
  }
  // An absolute URI (RFC 9112 3.2.2): keep its path.
  if (size_t scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
    size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  if (target.empty() || target[0] != '/') return false;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (size_t hash = out->query.find('#'); hash != std::string_view::npos) out->query = out->query.substr(0, hash);
  return percent_decode(path, false, &out->path);
}

std::optional<bool> parse_bool(std::string_view text) {
  for (std::string_view t : {"true", "1", "yes", "on"})
    if (iequals(text, t)) return true;
  for (std::string_view f : {"false", "0", "no", "off", ""})
    if (iequals(text, f)) return false;
  return std::nullopt;
}

}  // namespace mqbase::http
