// The MQTT Variable Byte Integer (Remaining Length and v5 lengths/identifiers).
// Pure functions, safe from any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mqbase::mqtt {

enum class VarintStatus { ok, need_more, malformed };

struct VarintResult {
  VarintStatus status;
  uint32_t value = 0;
  size_t length = 0;  // bytes consumed when ok
};

// Decodes a Variable Byte Integer at the start of `in`. `need_more` when `in` ends inside
// the integer; `malformed` when a fifth byte would be needed.
VarintResult decode_varint(std::string_view in);

// Appends the encoding of `value` (must be <= kMaxRemainingLength) to `out`.
void encode_varint(uint32_t value, std::string& out);
// Writes the encoding of `value` at `out` (room for 4 bytes); returns the bytes written.
size_t encode_varint(uint32_t value, char* out);

// Bytes needed to encode `value`.
size_t varint_size(uint32_t value);

}  // namespace mqbase::mqtt
