#include "store/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace mqbase::store {
namespace {

constexpr uint32_t kPolyReflected = 0x82f63b78u;

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolyReflected : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = make_table();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const void* data, size_t n, uint32_t crc) {
  auto p = static_cast<const unsigned char*>(data);
  uint64_t c = ~crc;
  // Align to 8 bytes so the 8-byte loads in the main loop never straddle a cache line needlessly.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  return ~static_cast<uint32_t>(c);
}

// Three streams at once. One crc32 instruction waits for the one before (3 cycles), so a
// single stream does 8 bytes per 3 cycles; three independent stripes of kStripe bytes keep the
// unit busy, and their CRCs join by linearity: crc(A B) = crc(A) * x^(8 |B|) ^ crc(B), the
// product modulo the polynomial taken from kShift's tables (one lookup per byte of crc(A)).
constexpr size_t kStripe = 1024;

// a * b modulo the polynomial, bit-reflected (as zlib's multmodp).
constexpr uint32_t multmodp(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kPolyReflected : b >> 1;
  }
  return p;
}

// x^(8 n) modulo the polynomial (x^0 is 1 << 31, reflected).
constexpr uint32_t x8n(size_t n) {
  uint32_t p = 1u << 31, sq = 1u << 23;  // sq: x^8, squared as n's bits are consumed
  for (; n; n >>= 1) {
    if (n & 1) p = multmodp(sq, p);
    sq = multmodp(sq, sq);
  }
  return p;
}

// kShift[j][v] = (v << 8 j) * x^(8 kStripe): the shift of a CRC past a stripe, byte by byte.
struct ShiftTables {
  std::array<std::array<uint32_t, 256>, 4> t{};
  constexpr ShiftTables() {
    const uint32_t k = x8n(kStripe);
    for (uint32_t j = 0; j < 4; ++j)
      for (uint32_t v = 0; v < 256; ++v) t[j][v] = multmodp(k, v << (8 * j));
  }
  uint32_t shift(uint32_t crc) const {
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
  }
};
constexpr ShiftTables kShift;

__attribute__((target("sse4.2"))) uint32_t crc32c_sse42_3way(const void* data, size_t n, uint32_t crc) {
  auto p = static_cast<const unsigned char*>(data);
  while (n >= 3 * kStripe) {
    uint64_t a = ~crc, b = 0xffffffffu, c = 0xffffffffu;
    for (size_t i = 0; i < kStripe; i += 8) {
      uint64_t wa, wb, wc;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, p + kStripe + i, 8);
      std::memcpy(&wc, p + 2 * kStripe + i, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      c = _mm_crc32_u64(c, wc);
    }
    crc = kShift.shift(~static_cast<uint32_t>(a)) ^ ~static_cast<uint32_t>(b);
    crc = kShift.shift(crc) ^ ~static_cast<uint32_t>(c);
    p += 3 * kStripe;
    n -= 3 * kStripe;
  }
  return crc32c_sse42(p, n, crc);
}

bool detect_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

}  // namespace

uint32_t crc32c_portable(const void* data, size_t n, uint32_t crc) {
  auto p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

bool crc32c_hardware() {
#if defined(__x86_64__)
  static const bool has = detect_sse42();
  return has;
#else
  return false;
#endif
}

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
#if defined(__x86_64__)
  if (crc32c_hardware()) return crc32c_sse42_3way(data, n, crc);
#endif
  return crc32c_portable(data, n, crc);
}

}  // namespace mqbase::store
