// coding: little-endian fixed-width integers and LEB128 varints, the byte encodings of every
// store file (docs/store-format.md). Header-only helpers for the store's own files.
// Thread-safety: pure functions.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace mqbase::store {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the store's formats are little-endian; add byte swaps");

inline void encode_u32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void encode_u64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint32_t decode_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t decode_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

inline void put_u32(std::string& out, uint32_t v) {
  char b[4];
  encode_u32(b, v);
  out.append(b, 4);
}
inline void put_u64(std::string& out, uint64_t v) {
  char b[8];
  encode_u64(b, v);
  out.append(b, 8);
}

inline void put_varint64(std::string& out, uint64_t v);
inline bool get_varint64(std::string_view& in, uint64_t& v);

inline void put_varint32(std::string& out, uint32_t v) { put_varint64(out, v); }

// Reads a varint32 from the front of `in`, advancing it. False when truncated or over 32 bits.
inline bool get_varint32(std::string_view& in, uint32_t& v) {
  std::string_view rest = in;
  uint64_t wide;
  if (!get_varint64(rest, wide) || wide > UINT32_MAX) return false;
  v = static_cast<uint32_t>(wide);
  in = rest;
  return true;
}

inline bool get_u8(std::string_view& in, uint8_t& v) {
  if (in.empty()) return false;
  v = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  return true;
}

// Writes the varint of `v` at `p` (room for kMaxVarint64 bytes) and returns its end: for
// encoders that size their output once instead of growing a string byte by byte.
constexpr size_t kMaxVarint64 = 10;
inline char* encode_varint64(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void put_varint64(std::string& out, uint64_t v) {
  char b[kMaxVarint64];
  out.append(b, static_cast<size_t>(encode_varint64(b, v) - b));
}

// Reads a varint64 from the front of `in`, advancing it. False when truncated or longer than 10 bytes.
inline bool get_varint64(std::string_view& in, uint64_t& v) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; i < 10; ++i, shift += 7) {
    if (static_cast<size_t>(i) >= in.size()) return false;
    uint64_t byte = static_cast<uint8_t>(in[i]);
    if (i == 9 && byte > 0x01) return false;  // would overflow 64 bits
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      in.remove_prefix(i + 1);
      v = result;
      return true;
    }
  }
  return false;
}

// Zig-zag: small negative numbers as small unsigned ones (-1 -> 1, 1 -> 2).
inline uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t unzigzag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }
inline void put_svarint64(std::string& out, int64_t v) { put_varint64(out, zigzag(v)); }
inline bool get_svarint64(std::string_view& in, int64_t& v) {
  uint64_t u;
  if (!get_varint64(in, u)) return false;
  v = unzigzag(u);
  return true;
}

inline void put_length_prefixed(std::string& out, std::string_view s) {
  put_varint32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

inline bool get_length_prefixed(std::string_view& in, std::string_view& s) {
  uint32_t n;
  if (!get_varint32(in, n) || n > in.size()) return false;
  s = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

}  // namespace mqbase::store
