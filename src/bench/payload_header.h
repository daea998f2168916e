// The 16 bytes at the front of every payload `mqbase bench` publishes: which publisher sent
// it, its sequence number on that publisher's stream, and when it was sent (CLOCK_MONOTONIC
// nanoseconds, so latency is only meaningful on one machine). Subscribers read it back to
// count loss, duplicates and reordering per stream and to measure latency. Little-endian,
// fixed layout. Pure functions, safe from any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace mqbase::bench {

inline constexpr size_t kPayloadHeaderSize = 16;

struct PayloadHeader {
  uint32_t publisher = 0;  // index of the publisher in its run (0-based)
  uint32_t sequence = 0;   // 0, 1, 2, ... per publisher
  uint64_t sent_ns = 0;    // CLOCK_MONOTONIC when the message was written to the socket buffer
  bool operator==(const PayloadHeader&) const = default;
};

// Writes `h` into the first kPayloadHeaderSize bytes at `out` (the caller guarantees room).
inline void write_payload_header(const PayloadHeader& h, char* out) {
  uint8_t b[kPayloadHeaderSize];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(h.publisher >> (8 * i));
  for (int i = 0; i < 4; ++i) b[4 + i] = static_cast<uint8_t>(h.sequence >> (8 * i));
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(h.sent_ns >> (8 * i));
  std::memcpy(out, b, sizeof b);
}

// Reads the header at the front of `payload`; nullopt when the payload is too short to
// carry one (a message that did not come from `mqbase bench`).
inline std::optional<PayloadHeader> read_payload_header(std::string_view payload) {
  if (payload.size() < kPayloadHeaderSize) return std::nullopt;
  const auto* b = reinterpret_cast<const uint8_t*>(payload.data());
  PayloadHeader h;
  for (int i = 0; i < 4; ++i) h.publisher |= uint32_t{b[i]} << (8 * i);
  for (int i = 0; i < 4; ++i) h.sequence |= uint32_t{b[4 + i]} << (8 * i);
  for (int i = 0; i < 8; ++i) h.sent_ns |= uint64_t{b[8 + i]} << (8 * i);
  return h;
}

}  // namespace mqbase::bench
