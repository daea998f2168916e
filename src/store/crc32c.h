// crc32c: CRC-32C (Castagnoli), the checksum of every WAL and checkpoint record. Uses the SSE4.2
// crc32 instruction when the CPU has it (chosen once at run time), a table otherwise; both
// give the same result. crc32c_mask/unmask store a CRC the way LevelDB does, so the CRC of
// data that embeds CRCs is not trivially related to them.
// Thread-safety: pure functions, safe from any thread.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mqbase::store {

// Returns the CRC-32C of data[0..n) continued from `crc`, the CRC of the bytes before them
// (0 for none): crc32c(b, nb, crc32c(a, na)) == crc32c of a followed by b.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

// The table implementation, exposed so tests can compare it with the hardware path.
uint32_t crc32c_portable(const void* data, size_t n, uint32_t crc = 0);

// Whether crc32c() uses the SSE4.2 instruction on this machine.
bool crc32c_hardware();

constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;

inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta; }

inline uint32_t crc32c_unmask(uint32_t masked) {
  uint32_t rot = masked - kCrcMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace mqbase::store
