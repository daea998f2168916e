#include "store/write_batch.h"

#include <cstring>

#include "store/coding.h"

namespace mqbase::store {
namespace {

constexpr uint8_t kOpPut = 1;
constexpr uint8_t kOpDel = 2;
constexpr size_t kCountSize = 4;

// Parses one entry at `in`, advancing it. Returns false when malformed.
bool parse_entry(std::string_view& in, bool& is_put, std::string_view& key, std::string_view& value) {
  if (in.empty()) return false;
  uint8_t op = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  if (op != kOpPut && op != kOpDel) return false;
  is_put = op == kOpPut;
  if (!get_length_prefixed(in, key)) return false;
  value = {};
  if (is_put && !get_length_prefixed(in, value)) return false;
  return true;
}

}  // namespace

WriteBatch::WriteBatch() : rep_(kCountSize, '\0') {}

size_t WriteBatch::count() const { return decode_u32(rep_.data()); }

void WriteBatch::set_count(uint32_t n) { encode_u32(rep_.data(), n); }

void WriteBatch::put(std::string_view key, std::string_view value) {
  rep_.push_back(static_cast<char>(kOpPut));
  put_length_prefixed(rep_, key);
  put_length_prefixed(rep_, value);
  set_count(static_cast<uint32_t>(count() + 1));
  ++puts_;
}

void WriteBatch::del(std::string_view key) {
  rep_.push_back(static_cast<char>(kOpDel));
  put_length_prefixed(rep_, key);
  set_count(static_cast<uint32_t>(count() + 1));
}

void WriteBatch::clear() {
  rep_.assign(kCountSize, '\0');
  puts_ = 0;
}

bool WriteBatch::for_each(std::string_view rep,
                          const std::function<void(bool is_put, std::string_view key, std::string_view value)>& fn) {
  if (rep.size() < kCountSize) return false;
  uint32_t n = decode_u32(rep.data());
  std::string_view body = rep.substr(kCountSize);
  // Every entry takes at least 2 bytes (op + an empty key's length): a count larger than that
  // allows is malformed, and checking it first bounds the validation loop.
  if (n > body.size() / 2) return false;
  bool is_put;
  std::string_view key, value;
  std::string_view check = body;
  for (uint32_t i = 0; i < n; ++i) {
    if (!parse_entry(check, is_put, key, value)) return false;
  }
  if (!check.empty()) return false;
  for (uint32_t i = 0; i < n; ++i) {
    parse_entry(body, is_put, key, value);
    fn(is_put, key, value);
  }
  return true;
}

}  // namespace mqbase::store
