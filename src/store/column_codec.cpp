// column_codec: see column_codec.h; the byte layouts are in docs/store-format.md#column-blocks.
#include "store/column_codec.h"

#include <endian.h>

#include <algorithm>
#include <array>
#include <utility>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "store/coding.h"

namespace mqbase::store::columns {
namespace {

using u128 = unsigned __int128;

// ---- bytes -------------------------------------------------------------------------------

void put_varint(std::string& out, uint64_t v) { put_varint64(out, v); }
bool get_varint(std::string_view& in, uint64_t& v) { return get_varint64(in, v); }
void put_signed(std::string& out, int64_t v) { put_svarint64(out, v); }
bool get_signed(std::string_view& in, int64_t& v) { return get_svarint64(in, v); }

// A count of values: at most kMaxValues, and (when each value takes at least a byte or a
// bit of the input) no more than the input can hold.
bool get_count(std::string_view& in, size_t& n) {
  uint64_t v;
  if (!get_varint(in, v) || v > kMaxValues) return false;
  n = static_cast<size_t>(v);
  return true;
}

void check_count(size_t n) {
  if (n > kMaxValues) throw std::length_error("column block of " + std::to_string(n) + " values (the most is " +
                                              std::to_string(kMaxValues) + ")");
}

unsigned width_of(uint64_t range) { return range == 0 ? 0 : 64 - static_cast<unsigned>(std::countl_zero(range)); }

// ---- bit packing: n values of `width` bits, least significant bit first -----------------

void pack(const uint64_t* v, size_t n, unsigned width, std::string& out) {
  if (width == 0 || n == 0) return;
  const size_t start = out.size();
  out.resize(start + (static_cast<u128>(n) * width + 7) / 8);
  char* p = out.data() + start;
  u128 acc = 0;
  unsigned bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc |= static_cast<u128>(v[i]) << bits;
    bits += width;
    while (bits >= 8) {
      *p++ = static_cast<char>(static_cast<uint8_t>(acc));
      acc >>= 8;
      bits -= 8;
    }
  }
  if (bits) *p = static_cast<char>(static_cast<uint8_t>(acc));
}

// Groups of 8 values of W bits (W bytes each) from p into out, while a group's last load (8
// bytes from its last value's first byte) stays within p[0..bytes): the offsets and shifts are
// constants, so a value is a load, a shift and a mask (the loop over any width computed them:
// twice the instructions). Returns the values read.
template <unsigned W>
size_t unpack_groups(const uint8_t* p, size_t bytes, size_t n, uint64_t* out) {
  constexpr uint64_t mask = (uint64_t{1} << W) - 1;
  size_t groups = std::min(n / 8, bytes >= W + 8 ? (bytes - 8) / W : 0);
  for (size_t g = 0; g < groups; ++g, p += W, out += 8) {
#pragma GCC unroll 8
    for (unsigned j = 0; j < 8; ++j) {
      uint64_t word;
      std::memcpy(&word, p + j * W / 8, 8);
      out[j] = (le64toh(word) >> (j * W % 8)) & mask;
    }
  }
  return groups * 8;
}

using UnpackGroups = size_t (*)(const uint8_t*, size_t, size_t, uint64_t*);
template <size_t... W>
constexpr std::array<UnpackGroups, sizeof...(W)> unpack_group_table(std::index_sequence<W...>) {
  return {(W == 0 ? nullptr : &unpack_groups<static_cast<unsigned>(W)>)...};
}
constexpr auto kUnpackGroups = unpack_group_table(std::make_index_sequence<57>());  // widths 1..56

// Reads n values of `width` bits from the front of `in` (advancing it) into out[0..n).
bool unpack(std::string_view& in, size_t n, unsigned width, uint64_t* out) {
  if (width > 64) return false;
  if (width == 0) {
    std::fill(out, out + n, 0);
    return true;
  }
  const size_t bytes = static_cast<size_t>((static_cast<u128>(n) * width + 7) / 8);
  if (bytes > in.size()) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const uint64_t mask = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  size_t i = 0;
  if (width <= 56) {
    // Each value lies within the 8 bytes from its first one: one unaligned load and a shift
    // (little-endian, as pack() writes), while those 8 bytes are inside the input.
    i = kUnpackGroups[width](p, bytes, n, out);
    size_t bit = i * width;  // a whole number of bytes: groups of 8 values
    for (; i < n && bit / 8 + 8 <= bytes; ++i, bit += width) {
      uint64_t word;
      std::memcpy(&word, p + bit / 8, 8);
      out[i] = (le64toh(word) >> (bit % 8)) & mask;
    }
    p += bit / 8;
    // The rest (the last few values) byte by byte below, from the bit where these stopped.
    if (i < n && bit % 8) {
      u128 acc = static_cast<u128>(*p++) >> (bit % 8);
      unsigned bits = 8 - static_cast<unsigned>(bit % 8);
      for (; i < n; ++i) {
        while (bits < width) {
          acc |= static_cast<u128>(*p++) << bits;
          bits += 8;
        }
        out[i] = static_cast<uint64_t>(acc) & mask;
        acc >>= width;
        bits -= width;
      }
    }
  }
  u128 acc = 0;
  unsigned bits = 0;
  for (; i < n; ++i) {
    while (bits < width) {
      acc |= static_cast<u128>(*p++) << bits;
      bits += 8;
    }
    out[i] = static_cast<uint64_t>(acc) & mask;
    acc >>= width;
    bits -= width;
  }
  in.remove_prefix(bytes);
  return true;
}

// Calls f(i, value) for values [lo, hi) of the values of `width` bits (at most 64) packed in
// p[0..bytes), in order. While a value's 8 bytes from its first lie inside p (up to 56 bits),
// one unaligned load and a shift, in a loop without a check per value; the last few (or wider
// values) byte by byte.
template <class F>
void for_each_packed(const uint8_t* p, size_t bytes, unsigned width, size_t lo, size_t hi, F f) {
  if (lo >= hi) return;
  if (width == 0) {
    for (size_t i = lo; i < hi; ++i) f(i, uint64_t{0});
    return;
  }
  const uint64_t mask = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  // The bit where value lo starts (below 2^64: the values' bits fit in `bytes`).
  uint64_t bit = static_cast<uint64_t>(static_cast<u128>(lo) * width);
  size_t i = lo;
  if (width <= 56 && bytes >= 8) {
    // Values i with (i * width) / 8 + 8 <= bytes.
    const size_t fast_end = static_cast<size_t>(std::min<u128>(hi, static_cast<u128>((bytes - 8) * 8 + 7) / width + 1));
    for (; i < fast_end; ++i, bit += width) {
      uint64_t word;
      std::memcpy(&word, p + bit / 8, 8);
      f(i, (le64toh(word) >> (bit % 8)) & mask);
    }
  }
  for (; i < hi; ++i, bit += width) {
    const size_t at = static_cast<size_t>(bit / 8);
    const unsigned shift = static_cast<unsigned>(bit % 8);
    u128 acc = 0;
    unsigned got = 0;
    for (size_t b = at; got < shift + width; ++b, got += 8) acc |= static_cast<u128>(p[b]) << got;
    f(i, static_cast<uint64_t>(acc >> shift) & mask);
  }
}

// Reads values [lo, hi) of the n values of `width` bits at the front of `in` into out[0..hi-lo),
// advancing `in` past all n.
bool unpack_range(std::string_view& in, size_t n, unsigned width, size_t lo, size_t hi, uint64_t* out) {
  if (width > 64 || lo > hi || hi > n) return false;
  const size_t bytes = static_cast<size_t>((static_cast<u128>(n) * width + 7) / 8);
  if (bytes > in.size()) return false;
  for_each_packed(reinterpret_cast<const uint8_t*>(in.data()), bytes, width, lo, hi,
                  [&](size_t i, uint64_t v) { out[i - lo] = v; });
  in.remove_prefix(bytes);
  return true;
}

// The sum of the 64 / w fields of w bits in `word` (w 1, 2, 4, 8 or 16): neighbours added in
// pairs, level by level up to one 64-bit sum (each level's sums fit the next's fields).
uint64_t sum_fields(uint64_t x, unsigned w) {
  if (w <= 1) x = (x & 0x5555555555555555ULL) + ((x >> 1) & 0x5555555555555555ULL);
  if (w <= 2) x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  if (w <= 4) x = (x & 0x0F0F0F0F0F0F0F0FULL) + ((x >> 4) & 0x0F0F0F0F0F0F0F0FULL);
  if (w <= 8) x = (x & 0x00FF00FF00FF00FFULL) + ((x >> 8) & 0x00FF00FF00FF00FFULL);
  x = (x & 0x0000FFFF0000FFFFULL) + ((x >> 16) & 0x0000FFFF0000FFFFULL);
  return (x & 0xFFFFFFFFULL) + (x >> 32);
}

// The sum (wrapping) of the first n of the values of `width` bits packed in p[0..bytes): whole
// 64-bit words at a time where the width divides 64 (up to 16 bits), else value by value
// without storing them (the prefix a delta block sums to reach a range, the true values of a
// bitmap before a range).
// Sums of k packed fields of another width (3, 5..28 bits), read in one unaligned 8-byte load
// (up to 57 bits past a bit offset): the even fields and the odd ones are added into slots of
// 2w bits, and one multiplication adds the slots up into the highest (SWAR, as sum_fields, for
// widths that do not divide 64). k is the most fields for which no slot carries into the next
// and the total fits above the highest slot.
class FieldSums {
 public:
  explicit FieldSums(unsigned width) : width_(width) {
    if (width < 3 || width > 28 || (width <= 16 && 64 % width == 0)) return;
    const uint64_t field = (uint64_t{1} << width) - 1;
    for (unsigned k = 57 / width; k >= 2; --k) {
      const unsigned slots = (k + 1) / 2, top = 2 * width * (slots - 1);
      const uint64_t total = k * field;  // every running sum of slots is at most this
      if (total >> (2 * width) != 0 || top + static_cast<unsigned>(std::bit_width(total)) > 64) continue;
      k_ = k;
      top_ = top;
      slot_ = (uint64_t{1} << (2 * width)) - 1;  // 2w <= 56
      fields_ = (uint64_t{1} << (k * width)) - 1;
      for (unsigned j = 0; j < slots; ++j) {
        even_ |= field << (2 * width * j);
        ones_ |= uint64_t{1} << (2 * width * j);
      }
      return;
    }
  }
  unsigned per_step() const { return k_; }  // 0: none (value by value)
  unsigned step_bits() const { return k_ * width_; }
  // The k fields from bit `bit` of p, whose 8 bytes from bit / 8 must be readable.
  uint64_t sum(const uint8_t* p, uint64_t bit) const {
    uint64_t word;
    std::memcpy(&word, p + bit / 8, 8);
    const uint64_t x = (le64toh(word) >> (bit % 8)) & fields_;
    const uint64_t pairs = (x & even_) + ((x >> width_) & even_);
    return ((pairs * ones_) >> top_) & slot_;  // the slots above the highest hold partial sums
  }

 private:
  unsigned width_, k_ = 0, top_ = 0;
  uint64_t fields_ = 0, even_ = 0, ones_ = 0, slot_ = 0;
};

uint64_t sum_packed(const uint8_t* p, size_t bytes, unsigned width, size_t n) {
  if (width == 0) return 0;
  uint64_t sum = 0;
  size_t i = 0;
  if (width <= 16 && 64 % width == 0) {
    const size_t per_word = 64 / width;
    for (; i + per_word <= n; i += per_word) {
      uint64_t word;
      std::memcpy(&word, p + i * width / 8, 8);
      sum += sum_fields(le64toh(word), width);
    }
  } else if (const FieldSums fs(width); fs.per_step() > 0) {
    const size_t k = fs.per_step();
    uint64_t bit = 0;
    for (; i + k <= n && bit / 8 + 8 <= bytes; i += k, bit += fs.step_bits()) sum += fs.sum(p, bit);
  }
  for_each_packed(p, bytes, width, i, n, [&](size_t, uint64_t v) { sum += v; });
  return sum;
}

// ---- integers: frame of reference over values, deltas or deltas of deltas ----------------

// |a - b| of two int64 (exact: it fits in a uint64).
uint64_t distance(int64_t a, int64_t b) {
  return a >= b ? static_cast<uint64_t>(a) - static_cast<uint64_t>(b) : static_cast<uint64_t>(b) - static_cast<uint64_t>(a);
}

// The greatest common divisor of `g` and `x` (0 with 0 gives 0).
uint64_t gcd_step(uint64_t g, uint64_t x) { return std::gcd(g, x); }

// The width byte of a frame of reference: the bit width, with kFactorFlag when a common factor
// (a varint of at least 2) follows it.
constexpr uint8_t kFactorFlag = 0x80;

// Frame of reference: the minimum, a width, the offsets from it packed. When the offsets share
// a factor g > 1 (timestamps every 10 s with rows missing: deltas of 10, 20 or 30 s in ns; prices
// in steps of 5), the width byte carries kFactorFlag, g follows as a varint and the offsets are
// packed divided by it: deltas of 10 to 30 s take 2 bits instead of 35. `factor` is the gcd of
// the values' differences (distance() of each from one of them), which the caller may know.
void put_for(std::string& out, const int64_t* v, size_t n, std::vector<uint64_t>& scratch, uint64_t factor) {
  if (n == 0) return;
  const auto [lo, hi] = std::minmax_element(v, v + n);
  const int64_t base = *lo;
  const uint64_t range = static_cast<uint64_t>(*hi) - static_cast<uint64_t>(base);
  const uint64_t g = factor > 1 ? factor : 1;
  const unsigned width = width_of(range / g);
  put_signed(out, base);
  out.push_back(static_cast<char>(width | (g > 1 ? kFactorFlag : 0)));
  if (g > 1) put_varint(out, g);
  scratch.resize(n);
  if (g > 1) {
    for (size_t i = 0; i < n; ++i) scratch[i] = (static_cast<uint64_t>(v[i]) - static_cast<uint64_t>(base)) / g;
  } else {
    for (size_t i = 0; i < n; ++i) scratch[i] = static_cast<uint64_t>(v[i]) - static_cast<uint64_t>(base);
  }
  pack(scratch.data(), n, width, out);
}

// The width byte and the factor of a frame of reference (factor 1 when none).
bool get_for_header(std::string_view& in, unsigned& width, uint64_t& factor) {
  uint8_t w;
  if (!get_u8(in, w)) return false;
  factor = 1;
  if (w & kFactorFlag) {
    if (!get_varint(in, factor) || factor < 2) return false;
  }
  width = w & ~kFactorFlag;
  return width <= 64;
}

// get_for's values [lo, hi) of its n (out[0..hi-lo)), advancing `in` past all n.
bool get_for_range(std::string_view& in, size_t n, size_t lo, size_t hi, int64_t* out) {
  if (lo > hi || hi > n) return false;
  if (n == 0) return true;
  int64_t base;
  unsigned width;
  uint64_t factor;
  if (!get_signed(in, base) || !get_for_header(in, width, factor)) return false;
  auto* u = reinterpret_cast<uint64_t*>(out);
  if (!(lo == 0 && hi == n ? unpack(in, n, width, u) : unpack_range(in, n, width, lo, hi, u))) return false;
  // Wrapping arithmetic: damaged bytes give wrong numbers, never undefined behaviour. (Without a
  // factor, no multiply: a 64-bit multiply does not vectorize on AVX2, an add does.)
  const size_t m = hi - lo;
  if (factor > 1) {
    for (size_t i = 0; i < m; ++i) out[i] = static_cast<int64_t>(u[i] * factor + static_cast<uint64_t>(base));
  } else {
    for (size_t i = 0; i < m; ++i) out[i] = static_cast<int64_t>(u[i] + static_cast<uint64_t>(base));
  }
  return true;
}

bool get_for(std::string_view& in, size_t n, int64_t* out) { return get_for_range(in, n, 0, n, out); }

int64_t wrapping_sub(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b)); }
int64_t wrapping_add(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b)); }

void encode_ints_into(std::span<const int64_t> v, std::string& out) {
  const size_t n = v.size();
  check_count(n);
  // One pass: the ranges of the values, their deltas and their deltas of deltas (with
  // wrapping arithmetic, which the decoder undoes exactly), and the common factor of each
  // one's differences (the gcd of their distances from its first; 1 ends the search).
  int64_t vlo = 0, vhi = 0, dlo = 0, dhi = 0, ddlo = 0, ddhi = 0;
  int64_t d1 = 0, dd2 = 0;  // the first delta, the first delta of deltas
  uint64_t vg = 0, dg = 0, ddg = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i == 0) {
      vlo = vhi = v[0];
      continue;
    }
    vlo = std::min(vlo, v[i]);
    vhi = std::max(vhi, v[i]);
    if (vg != 1) vg = gcd_step(vg, distance(v[i], v[0]));
    const int64_t d = wrapping_sub(v[i], v[i - 1]);
    if (i == 1) {
      dlo = dhi = d1 = d;
      continue;
    }
    dlo = std::min(dlo, d);
    dhi = std::max(dhi, d);
    if (dg != 1) dg = gcd_step(dg, distance(d, d1));
    const int64_t dd = wrapping_sub(d, wrapping_sub(v[i - 1], v[i - 2]));
    if (i == 2) {
      ddlo = ddhi = dd2 = dd;
      continue;
    }
    ddlo = std::min(ddlo, dd);
    ddhi = std::max(ddhi, dd);
    if (ddg != 1) ddg = gcd_step(ddg, distance(dd, dd2));
  }
  // Packed bits of each (a factor divides the range); the header values the delta forms and a
  // factor add are small next to a block.
  auto packed = [](int64_t lo, int64_t hi, uint64_t g, size_t count) {
    const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    return static_cast<u128>(width_of(g > 1 ? range / g : range)) * count + (g > 1 ? 40 : 0);
  };
  const u128 bits_for = packed(vlo, vhi, vg, n);
  const u128 bits_delta = n >= 2 ? packed(dlo, dhi, dg, n - 1) + 32 : ~u128{0};
  const u128 bits_delta2 = n >= 3 ? packed(ddlo, ddhi, ddg, n - 2) + 64 : ~u128{0};
  thread_local std::vector<uint64_t> scratch;
  thread_local std::vector<int64_t> diffs;
  if (bits_delta2 < bits_delta && bits_delta2 < bits_for) {
    out.push_back(static_cast<char>(Encoding::int_delta2));
    put_varint(out, n);
    put_signed(out, v[0]);
    put_signed(out, wrapping_sub(v[1], v[0]));
    diffs.resize(n - 2);
    for (size_t i = 2; i < n; ++i) diffs[i - 2] = wrapping_sub(wrapping_sub(v[i], v[i - 1]), wrapping_sub(v[i - 1], v[i - 2]));
    put_for(out, diffs.data(), n - 2, scratch, ddg);
  } else if (bits_delta < bits_for) {
    out.push_back(static_cast<char>(Encoding::int_delta));
    put_varint(out, n);
    put_signed(out, v[0]);
    diffs.resize(n - 1);
    for (size_t i = 1; i < n; ++i) diffs[i - 1] = wrapping_sub(v[i], v[i - 1]);
    put_for(out, diffs.data(), n - 1, scratch, dg);
  } else {
    out.push_back(static_cast<char>(Encoding::int_for));
    put_varint(out, n);
    put_for(out, v.data(), n, scratch, vg);
  }
}

bool decode_ints_from(std::string_view& in, std::vector<int64_t>& out) {
  uint8_t enc;
  size_t n;
  if (!get_u8(in, enc) || !get_count(in, n)) return false;
  out.resize(n);
  switch (static_cast<Encoding>(enc)) {
    case Encoding::int_for:
      return get_for(in, n, out.data());
    case Encoding::int_delta: {
      if (n == 0) return false;  // the encoder writes int_for then
      int64_t v, base;
      unsigned width;
      uint64_t factor;
      if (!get_signed(in, v)) return false;
      out[0] = v;
      if (n == 1) return true;
      // The packed deltas unpacked in place, then base, factor and the running sum in one pass
      // (get_for's pass for base and factor, and a second for the sum, read them twice).
      auto* u = reinterpret_cast<uint64_t*>(out.data() + 1);
      if (!get_signed(in, base) || !get_for_header(in, width, factor) || !unpack(in, n - 1, width, u)) return false;
      uint64_t x = static_cast<uint64_t>(v);
      const uint64_t b = static_cast<uint64_t>(base);
      if (factor > 1) {
        for (size_t i = 0; i + 1 < n; ++i) u[i] = x += u[i] * factor + b;
      } else {
        for (size_t i = 0; i + 1 < n; ++i) u[i] = x += u[i] + b;
      }
      return true;
    }
    case Encoding::int_delta2: {
      if (n < 2) return false;
      int64_t delta;
      if (!get_signed(in, out[0]) || !get_signed(in, delta) || !get_for(in, n - 2, out.data() + 2)) return false;
      out[1] = wrapping_add(out[0], delta);
      for (size_t i = 2; i < n; ++i) {
        delta = wrapping_add(delta, out[i]);
        out[i] = wrapping_add(out[i - 1], delta);
      }
      return true;
    }
    default:
      return false;
  }
}

// decode_ints_from's values [lo, hi).
bool decode_ints_range_from(std::string_view& in, std::vector<int64_t>& out, size_t lo, size_t hi) {
  uint8_t enc;
  size_t n;
  if (!get_u8(in, enc) || !get_count(in, n) || lo > hi || hi > n) return false;
  out.resize(hi - lo);
  switch (static_cast<Encoding>(enc)) {
    case Encoding::int_for:
      return get_for_range(in, n, lo, hi, out.data());
    case Encoding::int_delta: {
      // Value i is the first plus the deltas before it: for value lo, the sum of the packed
      // deltas before it (sum_packed: not one by one) times the factor, plus lo times their
      // base; then the deltas [lo, hi - 1) one by one.
      if (n == 0) return false;
      int64_t v, base;
      unsigned width;
      uint64_t factor;
      if (!get_signed(in, v) || (n > 1 && (!get_signed(in, base) || !get_for_header(in, width, factor)))) return false;
      if (n == 1) {
        if (hi > lo) out[0] = v;
        return true;
      }
      const size_t count = n - 1;
      const size_t bytes = static_cast<size_t>((static_cast<u128>(count) * width + 7) / 8);
      if (bytes > in.size()) return false;
      const auto* p = reinterpret_cast<const uint8_t*>(in.data());
      if (hi > lo) {
        v = static_cast<int64_t>(static_cast<uint64_t>(v) + sum_packed(p, bytes, width, lo) * factor +
                                 static_cast<uint64_t>(lo) * static_cast<uint64_t>(base));
        out[0] = v;
        thread_local std::vector<uint64_t> u;  // the packed deltas [lo, hi - 1)
        u.resize(hi - 1 - lo);
        std::string_view packed = in;
        if (!unpack_range(packed, count, width, lo, hi - 1, u.data())) return false;
        for (size_t i = lo + 1; i < hi; ++i) {
          v = static_cast<int64_t>(static_cast<uint64_t>(v) + u[i - 1 - lo] * factor + static_cast<uint64_t>(base));
          out[i - lo] = v;
        }
      }
      in.remove_prefix(bytes);
      return true;
    }
    case Encoding::int_delta2: {
      if (n < 2) return false;
      int64_t v, delta;
      thread_local std::vector<int64_t> dd;  // the deltas of deltas up to hi
      dd.resize(hi > 2 ? hi - 2 : 0);
      if (!get_signed(in, v) || !get_signed(in, delta) || !get_for_range(in, n - 2, 0, dd.size(), dd.data())) return false;
      for (size_t i = 0; i < hi; ++i) {
        if (i == 1) v = wrapping_add(v, delta);
        if (i >= 2) {
          delta = wrapping_add(delta, dd[i - 2]);
          v = wrapping_add(v, delta);
        }
        if (i >= lo) out[i - lo] = v;
      }
      return true;
    }
    default:
      return false;
  }
}

// ---- doubles: ALP, or Gorilla XOR --------------------------------------------------------

// 10^e, exact as doubles up to 10^22.
constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                             1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
constexpr unsigned kMaxExponent = 18;

uint64_t bits_of(double d) { return std::bit_cast<uint64_t>(d); }

// v as an integer i with i / 10^e == v to the bit; false when there is none (NaN, +-Inf,
// -0.0, more than e decimals, or too large for the 53 bits a double holds exactly).
bool alp_encode(double v, unsigned e, int64_t& i) {
  const double p = v * kPow10[e];
  if (!(std::fabs(p) < 9007199254740992.0)) return false;  // 2^53; also NaN and Inf
  i = static_cast<int64_t>(std::nearbyint(p));
  return bits_of(static_cast<double>(i) / kPow10[e]) == bits_of(v);
}

// The exponent that turns the most of a sample of `v` into integers (the smallest, among
// equals), and how many of the sample did.
unsigned alp_exponent(std::span<const double> v, size_t& good, size_t& sampled) {
  constexpr size_t kSample = 64;
  const size_t step = std::max<size_t>(1, v.size() / kSample);
  unsigned best = 0;
  good = 0;
  sampled = 0;
  for (size_t i = 0; i < v.size(); i += step) ++sampled;
  for (unsigned e = 0; e <= kMaxExponent; ++e) {
    size_t ok = 0;
    int64_t unused;
    for (size_t i = 0; i < v.size(); i += step) ok += alp_encode(v[i], e, unused);
    if (ok > good) {
      good = ok;
      best = e;
      if (ok == sampled) break;  // a larger exponent cannot do better, only cost bits
    }
  }
  return best;
}

// Bits, least significant first, into a byte string.
class BitWriter {
 public:
  explicit BitWriter(std::string& out) : out_(out) {}
  void put(uint64_t v, unsigned n) {  // n <= 64
    if (n == 0) return;
    if (n < 64) v &= (uint64_t{1} << n) - 1;
    acc_ |= static_cast<u128>(v) << bits_;
    bits_ += n;
    while (bits_ >= 8) {
      out_.push_back(static_cast<char>(static_cast<uint8_t>(acc_)));
      acc_ >>= 8;
      bits_ -= 8;
    }
  }
  void flush() {
    if (bits_) out_.push_back(static_cast<char>(static_cast<uint8_t>(acc_)));
    acc_ = 0;
    bits_ = 0;
  }

 private:
  std::string& out_;
  u128 acc_ = 0;
  unsigned bits_ = 0;
};

class BitReader {
 public:
  explicit BitReader(std::string_view in) : p_(reinterpret_cast<const uint8_t*>(in.data())), left_(in.size()) {}
  bool get(unsigned n, uint64_t& v) {  // n <= 64
    while (bits_ < n) {
      if (left_ == 0) return false;
      acc_ |= static_cast<u128>(*p_++) << bits_;
      --left_;
      bits_ += 8;
    }
    v = n == 64 ? static_cast<uint64_t>(acc_) : static_cast<uint64_t>(acc_) & ((uint64_t{1} << n) - 1);
    acc_ >>= n;
    bits_ -= n;
    return true;
  }
  size_t bits_left() const { return left_ * 8 + bits_; }

 private:
  const uint8_t* p_;
  size_t left_;
  u128 acc_ = 0;
  unsigned bits_ = 0;
};

// Gorilla: the first value whole, then each one's XOR with the one before: 0 for the same
// value; 10 and the meaningful bits when they fit the previous window of leading and trailing
// zeros; 11, 5 bits of leading zeros, 6 bits of length - 1, and the meaningful bits otherwise.
void encode_xor(std::span<const double> v, std::string& out) {
  out.push_back(static_cast<char>(Encoding::double_xor));
  put_varint(out, v.size());
  std::string stream;
  BitWriter w(stream);
  uint64_t prev = 0;
  unsigned prev_lead = 65, prev_trail = 0;  // 65: no window yet
  for (size_t i = 0; i < v.size(); ++i) {
    const uint64_t b = bits_of(v[i]);
    if (i == 0) {
      w.put(b, 64);
      prev = b;
      continue;
    }
    const uint64_t x = b ^ prev;
    prev = b;
    if (x == 0) {
      w.put(0, 1);
      continue;
    }
    const unsigned lead = std::min(31u, static_cast<unsigned>(std::countl_zero(x)));
    const unsigned trail = static_cast<unsigned>(std::countr_zero(x));
    if (prev_lead <= 64 && lead >= prev_lead && trail >= prev_trail) {
      w.put(0b01, 2);  // bits "1" then "0", least significant first
      w.put(x >> prev_trail, 64 - prev_lead - prev_trail);
    } else {
      const unsigned len = 64 - lead - trail;
      w.put(0b11, 2);
      w.put(lead, 5);
      w.put(len - 1, 6);
      w.put(x >> trail, len);
      prev_lead = lead;
      prev_trail = trail;
    }
  }
  w.flush();
  put_varint(out, stream.size());
  out.append(stream);
}

bool decode_xor(std::string_view& in, size_t n, std::vector<double>& out) {
  uint64_t bytes;
  if (!get_varint(in, bytes) || bytes > in.size()) return false;
  BitReader r(in.substr(0, bytes));
  in.remove_prefix(bytes);
  if (n > 0 && (n - 1) > r.bits_left()) return false;  // at least a bit per value
  out.resize(n);
  uint64_t prev = 0;
  unsigned lead = 0, trail = 0;
  bool window = false;
  for (size_t i = 0; i < n; ++i) {
    uint64_t b;
    if (i == 0) {
      if (!r.get(64, b)) return false;
    } else {
      uint64_t bit;
      if (!r.get(1, bit)) return false;
      if (bit == 0) {
        b = prev;
      } else {
        if (!r.get(1, bit)) return false;
        if (bit == 1) {
          uint64_t l, len;
          if (!r.get(5, l) || !r.get(6, len)) return false;
          lead = static_cast<unsigned>(l);
          ++len;
          if (lead + len > 64) return false;
          trail = 64 - lead - static_cast<unsigned>(len);
          window = true;
        } else if (!window) {
          return false;
        }
        uint64_t m;
        if (!r.get(64 - lead - trail, m)) return false;
        b = prev ^ (m << trail);
      }
    }
    out[i] = std::bit_cast<double>(b);
    prev = b;
  }
  return true;
}

}  // namespace

// ---- public ------------------------------------------------------------------------------

void encode_ints(std::span<const int64_t> values, std::string& out) { encode_ints_into(values, out); }

bool decode_ints(std::string_view& in, std::vector<int64_t>& out) {
  std::string_view rest = in;
  if (!decode_ints_from(rest, out)) return false;
  in = rest;
  return true;
}

// XOR, or the values as they are when XOR came out larger.
void encode_xor_or_raw(std::span<const double> v, std::string& out) {
  const size_t start = out.size();
  encode_xor(v, out);
  if (out.size() - start <= 11 + v.size() * 8) return;
  out.resize(start);
  out.push_back(static_cast<char>(Encoding::double_raw));
  put_varint(out, v.size());
  const size_t at = out.size();
  out.resize(at + v.size() * 8);
  std::memcpy(out.data() + at, v.data(), v.size() * 8);
}

void encode_doubles(std::span<const double> values, std::string& out) {
  const size_t n = values.size();
  check_count(n);
  size_t good, sampled;
  const unsigned e = alp_exponent(values, good, sampled);
  // Mostly not decimals (measured data with full precision, random values): XOR.
  if (n > 0 && good * 2 < sampled) return encode_xor_or_raw(values, out);
  thread_local std::vector<int64_t> ints;
  thread_local std::vector<uint32_t> exceptions;
  ints.resize(n);
  exceptions.clear();
  int64_t last = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t v;
    if (alp_encode(values[i], e, v)) {
      ints[i] = last = v;
    } else {
      ints[i] = last;  // a filler that keeps the deltas small
      exceptions.push_back(static_cast<uint32_t>(i));
    }
  }
  // More exceptions than the sample showed: XOR is smaller past a quarter.
  if (exceptions.size() * 4 > n) return encode_xor_or_raw(values, out);
  out.push_back(static_cast<char>(Encoding::double_alp));
  put_varint(out, n);
  out.push_back(static_cast<char>(e));
  encode_ints_into(ints, out);
  put_varint(out, exceptions.size());
  uint32_t prev = 0;
  for (uint32_t pos : exceptions) {
    put_varint(out, pos - prev);
    prev = pos;
    char raw[8];
    std::memcpy(raw, &values[pos], 8);
    out.append(raw, 8);
  }
}

// ALP's integers back to doubles: out[i] = in[i] / scale, each division correctly rounded
// (the encoder checked exactly this). The scalar loop converts and divides one value at a
// time; with AVX2, four at a time: an integer of magnitude under 2^51 added to the bits of
// 1.5 * 2^52 is that double plus the integer, exactly, so a subtraction converts it. The
// results are the same bits either way.
namespace {

#if defined(__x86_64__)
__attribute__((target("avx2"))) bool alp_divide_avx2(const int64_t* in, double* out, size_t n, double scale) {
  // Any magnitude of 2^51 or more: the scalar loop instead. Unsigned, so that a value near
  // INT64_MAX (a corrupt or hostile block) wraps instead of overflowing.
  uint64_t outside = 0;
  for (size_t i = 0; i < n; ++i) outside |= (static_cast<uint64_t>(in[i]) + (uint64_t{1} << 51)) >> 52;
  if (outside) return false;
  const __m256i bias_bits = _mm256_set1_epi64x(0x4338000000000000LL);
  const __m256d bias = _mm256_set1_pd(6755399441055744.0);  // 1.5 * 2^52
  const __m256d s = _mm256_set1_pd(scale);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    __m256d d = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(x, bias_bits)), bias);
    _mm256_storeu_pd(out + i, _mm256_div_pd(d, s));
  }
  for (; i < n; ++i) out[i] = static_cast<double>(in[i]) / scale;
  return true;
}
#endif

// ALP's exceptions of a block of n values (their count, then per exception its position step
// and raw 8 bytes, positions ascending), read from the front of `in`: those at positions in
// [lo, hi) overwrite out[pos - lo].
bool put_exceptions(std::string_view& in, size_t n, size_t lo, size_t hi, double* out) {
  uint64_t count;
  if (!get_varint(in, count) || count > n) return false;
  uint64_t pos = 0;
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t step;
    if (!get_varint(in, step) || in.size() < 8) return false;
    pos += step;
    if (pos >= n || (k > 0 && step == 0)) return false;
    if (pos >= lo && pos < hi) std::memcpy(&out[pos - lo], in.data(), 8);
    in.remove_prefix(8);
  }
  return true;
}

void alp_divide(const int64_t* in, double* out, size_t n, double scale) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && alp_divide_avx2(in, out, n, scale)) return;
#endif
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<double>(in[i]) / scale;
}

}  // namespace

bool decode_doubles(std::string_view& in, std::vector<double>& out) {
  std::string_view rest = in;
  uint8_t enc;
  size_t n;
  if (!get_u8(rest, enc) || !get_count(rest, n)) return false;
  if (static_cast<Encoding>(enc) == Encoding::double_xor) {
    if (!decode_xor(rest, n, out)) return false;
    in = rest;
    return true;
  }
  if (static_cast<Encoding>(enc) == Encoding::double_raw) {
    if (n * 8 > rest.size()) return false;
    out.resize(n);
    if (n) std::memcpy(out.data(), rest.data(), n * 8);
    rest.remove_prefix(n * 8);
    in = rest;
    return true;
  }
  if (static_cast<Encoding>(enc) != Encoding::double_alp) return false;
  uint8_t e;
  thread_local std::vector<int64_t> ints;
  if (!get_u8(rest, e) || e > kMaxExponent || !decode_ints_from(rest, ints) || ints.size() != n) return false;
  out.resize(n);
  alp_divide(ints.data(), out.data(), n, kPow10[e]);
  if (!put_exceptions(rest, n, 0, n, out.data())) return false;
  in = rest;
  return true;
}

void encode_bools(std::span<const uint8_t> values, std::string& out) {
  check_count(values.size());
  out.push_back(static_cast<char>(Encoding::bool_bits));
  put_varint(out, values.size());
  BitWriter w(out);
  for (uint8_t b : values) w.put(b ? 1 : 0, 1);
  w.flush();
}

// Byte b of a bit-packed block as 8 bytes of 0 or 1, least significant bit first (in memory
// order: little-endian).
constexpr std::array<uint64_t, 256> kBitsToBytes = [] {
  std::array<uint64_t, 256> t{};
  for (unsigned b = 0; b < 256; ++b)
    for (unsigned i = 0; i < 8; ++i) t[b] |= static_cast<uint64_t>((b >> i) & 1) << (8 * i);
  return t;
}();
static_assert(std::endian::native == std::endian::little, "kBitsToBytes is laid out for little-endian memory");

bool decode_bools(std::string_view& in, std::vector<uint8_t>& out) {
  std::string_view rest = in;
  uint8_t enc;
  size_t n;
  if (!get_u8(rest, enc) || static_cast<Encoding>(enc) != Encoding::bool_bits || !get_count(rest, n)) return false;
  const size_t bytes = (n + 7) / 8;
  if (bytes > rest.size()) return false;
  out.resize(n);
  // Eight at a time: a packed byte becomes the 8 bytes of a table entry (bit i -> byte i).
  const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
  const size_t whole = n / 8;
  for (size_t k = 0; k < whole; ++k) std::memcpy(out.data() + 8 * k, &kBitsToBytes[p[k]], 8);
  for (size_t i = whole * 8; i < n; ++i) out[i] = (p[i / 8] >> (i % 8)) & 1;
  rest.remove_prefix(bytes);
  in = rest;
  return true;
}

bool decode_ints_range(std::string_view& in, std::vector<int64_t>& out, size_t lo, size_t hi) {
  std::string_view rest = in;
  if (!decode_ints_range_from(rest, out, lo, hi)) return false;
  in = rest;
  return true;
}

bool decode_ints_between(std::string_view& in, std::vector<int64_t>& out, int64_t from, int64_t to, size_t& first) {
  std::string_view rest = in;
  uint8_t enc;
  size_t n;
  if (!get_u8(rest, enc) || !get_count(rest, n)) return false;
  const auto e = static_cast<Encoding>(enc);
  if ((e != Encoding::int_delta && e != Encoding::int_delta2) || n < 3) {
    if (!decode_ints(in, out)) return false;
    out.erase(std::lower_bound(out.begin(), out.end(), to), out.end());
    const auto b = std::lower_bound(out.begin(), out.end(), from);
    first = static_cast<size_t>(b - out.begin());
    out.erase(out.begin(), b);
    return true;
  }
  const bool dd = e == Encoding::int_delta2;
  int64_t v, delta = 0, base;
  unsigned width;
  uint64_t factor;
  if (!get_signed(rest, v) || (dd && !get_signed(rest, delta)) || !get_signed(rest, base) ||
      !get_for_header(rest, width, factor))
    return false;
  const size_t count = dd ? n - 2 : n - 1;  // packed deltas (of deltas)
  const size_t bytes = static_cast<size_t>((static_cast<u128>(count) * width + 7) / 8);
  if (bytes > rest.size()) return false;
  out.clear();
  first = 0;
  auto done = [&] {
    rest.remove_prefix(bytes);
    in = rest;
    return true;
  };
  // Value k (0 first) goes out when in [from, to); the first at or past `to` ends the block.
  size_t k = 0;
  auto put = [&](int64_t x) {  // false: x is at or past `to`
    if (x >= to) return false;
    if (x >= from) {
      if (out.empty()) first = k;
      out.push_back(x);
    }
    ++k;
    return true;
  };
  if (!put(v)) return done();
  if (dd) {
    v = wrapping_add(v, delta);
    if (!put(v)) return done();
  }
  size_t i = 0;  // the packed values consumed
  // Plain deltas that never go down (base >= 0): whole 64-bit words of them are passed over
  // while the value after the word is still below `from`, each word summed in a dozen
  // operations instead of unpacked value by value (a narrow range of a block's times, which
  // summed a thousand deltas to reach ten minutes of them). Wrapping arithmetic: damaged
  // bytes give wrong numbers, never undefined behaviour.
  if (!dd && base >= 0 && v < from) {
    const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
    if (width == 0) {
      // Every delta is `base`: the value k steps on is v + k * base.
      if (base > 0) {
        const uint64_t steps = (static_cast<uint64_t>(from) - static_cast<uint64_t>(v) - 1) / static_cast<uint64_t>(base);
        i = static_cast<size_t>(std::min<uint64_t>(steps, count));
        v = static_cast<int64_t>(static_cast<uint64_t>(v) + i * static_cast<uint64_t>(base));
      }
    } else if (width <= 16 && 64 % width == 0) {
      const size_t per_word = 64 / width;
      for (; i + per_word <= count; i += per_word) {
        uint64_t word;
        std::memcpy(&word, p + i * width / 8, 8);
        const uint64_t next = static_cast<uint64_t>(v) + sum_fields(le64toh(word), width) * factor +
                              per_word * static_cast<uint64_t>(base);
        if (static_cast<int64_t>(next) >= from) break;
        v = static_cast<int64_t>(next);
      }
    } else if (const FieldSums fs(width); fs.per_step() > 0) {
      const size_t k = fs.per_step();
      for (uint64_t bit = 0; i + k <= count && bit / 8 + 8 <= bytes; i += k, bit += fs.step_bits()) {
        const uint64_t next = static_cast<uint64_t>(v) + fs.sum(p, bit) * factor + k * static_cast<uint64_t>(base);
        if (static_cast<int64_t>(next) >= from) break;
        v = static_cast<int64_t>(next);
      }
    }
    k = 1 + i;  // v is value i; the next is value i + 1
  }
  constexpr size_t kChunk = 32;  // unpacked ahead of the sums: the range ends within a chunk
  uint64_t u[kChunk];
  for (; i < count; i += kChunk) {
    const size_t end = std::min(count, i + kChunk);
    std::string_view packed = rest;
    if (!unpack_range(packed, count, width, i, end, u)) return false;
    for (size_t j = 0; j < end - i; ++j) {
      const int64_t x = static_cast<int64_t>(u[j] * factor + static_cast<uint64_t>(base));
      if (dd) {
        delta = wrapping_add(delta, x);
        v = wrapping_add(v, delta);
      } else {
        v = wrapping_add(v, x);
      }
      if (!put(v)) return done();
    }
  }
  return done();
}

bool decode_doubles_range(std::string_view& in, std::vector<double>& out, size_t lo, size_t hi) {
  std::string_view rest = in;
  uint8_t enc;
  size_t n;
  if (!get_u8(rest, enc) || !get_count(rest, n) || lo > hi || hi > n) return false;
  if (static_cast<Encoding>(enc) != Encoding::double_alp) {
    // XOR is a stream (each value from the one before): the block whole, then the range.
    if (!decode_doubles(in, out) || out.size() != n) return false;
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(hi), out.end());
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(lo));
    return true;
  }
  uint8_t e;
  thread_local std::vector<int64_t> ints;
  if (!get_u8(rest, e) || e > kMaxExponent || !decode_ints_range_from(rest, ints, lo, hi)) return false;
  out.resize(hi - lo);
  alp_divide(ints.data(), out.data(), hi - lo, kPow10[e]);
  if (!put_exceptions(rest, n, lo, hi, out.data())) return false;
  in = rest;
  return true;
}

bool decode_bools_range(std::string_view& in, std::vector<uint8_t>& out, size_t lo, size_t hi, size_t* ones_before) {
  std::string_view rest = in;
  uint8_t enc;
  size_t n;
  if (!get_u8(rest, enc) || static_cast<Encoding>(enc) != Encoding::bool_bits || !get_count(rest, n) || lo > hi || hi > n)
    return false;
  const size_t bytes = (n + 7) / 8;
  if (bytes > rest.size()) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
  if (ones_before) *ones_before = static_cast<size_t>(sum_packed(p, bytes, 1, lo));
  out.resize(hi - lo);
  for (size_t i = lo; i < hi; ++i) out[i - lo] = (p[i / 8] >> (i % 8)) & 1;
  rest.remove_prefix(bytes);
  in = rest;
  return true;
}

void encode_strings(std::span<const std::string_view> values, std::string& out) {
  const size_t n = values.size();
  check_count(n);
  size_t total = 0;
  for (auto s : values) total += s.size();
  if (total > kMaxStringBytes)
    throw std::length_error("column block of " + std::to_string(total) + " string bytes (the most is " +
                            std::to_string(kMaxStringBytes) + ")");
  std::unordered_map<std::string_view, uint32_t> ids;
  thread_local std::vector<uint64_t> index;
  index.resize(n);
  std::vector<std::string_view> dict;
  for (size_t i = 0; i < n && dict.size() * 2 <= n; ++i) {
    auto [it, added] = ids.try_emplace(values[i], static_cast<uint32_t>(dict.size()));
    if (added) dict.push_back(values[i]);
    index[i] = it->second;
  }
  if (dict.size() * 2 > n || n == 0) {  // mostly distinct: the values as they are
    out.push_back(static_cast<char>(Encoding::string_plain));
    put_varint(out, n);
    for (auto s : values) {
      put_varint(out, s.size());
      out.append(s);
    }
    return;
  }
  out.push_back(static_cast<char>(Encoding::string_dict));
  put_varint(out, n);
  put_varint(out, dict.size());
  for (auto s : dict) {
    put_varint(out, s.size());
    out.append(s);
  }
  const unsigned width = width_of(dict.size() - 1);
  out.push_back(static_cast<char>(width));
  pack(index.data(), n, width, out);
}

bool decode_strings(std::string_view& in, std::vector<std::string>& out) {
  std::string_view rest = in;
  uint8_t enc;
  size_t n;
  if (!get_u8(rest, enc) || !get_count(rest, n)) return false;
  auto get_string = [&](std::string_view& s) {
    uint64_t len;
    if (!get_varint(rest, len) || len > rest.size()) return false;
    s = rest.substr(0, len);
    rest.remove_prefix(len);
    return true;
  };
  if (static_cast<Encoding>(enc) == Encoding::string_plain) {
    if (n > rest.size()) return false;  // a byte each at least
    out.resize(n);
    for (size_t i = 0; i < n; ++i) {
      std::string_view s;
      if (!get_string(s)) return false;
      out[i].assign(s);
    }
    in = rest;
    return true;
  }
  if (static_cast<Encoding>(enc) != Encoding::string_dict) return false;
  size_t d;
  if (!get_count(rest, d) || d == 0 || d > rest.size()) return false;
  std::vector<std::string_view> dict(d);
  for (auto& s : dict)
    if (!get_string(s)) return false;
  uint8_t width;
  if (!get_u8(rest, width) || width > 32) return false;
  thread_local std::vector<uint64_t> index;
  index.resize(n);
  if (!unpack(rest, n, width, index.data())) return false;
  // What the block expands to is bounded as the encoder bounds it.
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (index[i] >= d) return false;
    total += dict[index[i]].size();
    if (total > kMaxStringBytes) return false;
  }
  out.resize(n);
  for (size_t i = 0; i < n; ++i) out[i].assign(dict[index[i]]);
  in = rest;
  return true;
}

namespace {

// What skip_block() passes over, mirroring the decoders' layouts (docs/store-format.md).
bool skip_bytes(std::string_view& in, uint64_t bytes) {
  if (bytes > in.size()) return false;
  in.remove_prefix(bytes);
  return true;
}

bool skip_packed(std::string_view& in, size_t n, unsigned width) {
  return width <= 64 && skip_bytes(in, static_cast<uint64_t>((static_cast<u128>(n) * width + 7) / 8));
}

bool skip_for(std::string_view& in, size_t n) {  // get_for's layout
  if (n == 0) return true;
  int64_t base;
  unsigned width;
  uint64_t factor;
  return get_signed(in, base) && get_for_header(in, width, factor) && skip_packed(in, n, width);
}

bool skip_ints_from(std::string_view& in) {  // decode_ints_from's layout
  uint8_t enc;
  size_t n;
  int64_t first, delta;
  if (!get_u8(in, enc) || !get_count(in, n)) return false;
  switch (static_cast<Encoding>(enc)) {
    case Encoding::int_for: return skip_for(in, n);
    case Encoding::int_delta: return n > 0 && get_signed(in, first) && skip_for(in, n - 1);
    case Encoding::int_delta2: return n > 1 && get_signed(in, first) && get_signed(in, delta) && skip_for(in, n - 2);
    default: return false;
  }
}

}  // namespace

bool skip_block(std::string_view& in) {
  std::string_view rest = in;
  auto enc = encoding_of(rest);
  if (!enc) return false;
  bool ok = false;
  size_t n = 0;
  switch (*enc) {
    case Encoding::int_for:
    case Encoding::int_delta:
    case Encoding::int_delta2:
      ok = skip_ints_from(rest);
      break;
    case Encoding::double_xor: {
      uint64_t bytes;
      ok = skip_bytes(rest, 1) && get_count(rest, n) && get_varint(rest, bytes) && skip_bytes(rest, bytes);
      break;
    }
    case Encoding::double_raw:
      ok = skip_bytes(rest, 1) && get_count(rest, n) && skip_bytes(rest, uint64_t{n} * 8);
      break;
    case Encoding::double_alp: {
      uint8_t e;
      uint64_t count, step;
      ok = skip_bytes(rest, 1) && get_count(rest, n) && get_u8(rest, e) && skip_ints_from(rest) &&
           get_varint(rest, count) && count <= n;
      for (uint64_t k = 0; ok && k < count; ++k) ok = get_varint(rest, step) && skip_bytes(rest, 8);
      break;
    }
    case Encoding::bool_bits:
      ok = skip_bytes(rest, 1) && get_count(rest, n) && skip_bytes(rest, (uint64_t{n} + 7) / 8);
      break;
    case Encoding::string_plain:
    case Encoding::string_dict: {
      size_t strings = 0;
      uint64_t len;
      ok = skip_bytes(rest, 1) && get_count(rest, n);
      if (ok) {
        if (*enc == Encoding::string_plain) strings = n;
        else ok = get_count(rest, strings);
      }
      for (size_t k = 0; ok && k < strings; ++k) ok = get_varint(rest, len) && skip_bytes(rest, len);
      uint8_t width;
      if (ok && *enc == Encoding::string_dict) ok = get_u8(rest, width) && width <= 32 && skip_packed(rest, n, width);
      break;
    }
  }
  if (ok) in = rest;
  return ok;
}

std::optional<Encoding> encoding_of(std::string_view block) {
  if (block.empty()) return std::nullopt;
  const auto e = static_cast<uint8_t>(block[0]);
  if (e < static_cast<uint8_t>(Encoding::int_for) || e > static_cast<uint8_t>(Encoding::double_raw)) return std::nullopt;
  return static_cast<Encoding>(e);
}

IntStats int_stats(std::span<const int64_t> values) {
  IntStats s;
  if (values.empty()) return s;
  s.count = static_cast<uint32_t>(values.size());
  s.first = values.front();
  s.last = values.back();
  s.min = s.max = values.front();
  for (int64_t v : values) {
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    if (!s.sum_overflowed && __builtin_add_overflow(s.sum, v, &s.sum)) s.sum_overflowed = true;
  }
  if (s.sum_overflowed) s.sum = 0;
  return s;
}

DoubleStats double_stats(std::span<const double> values) {
  DoubleStats s;
  if (values.empty()) return s;
  s.count = static_cast<uint32_t>(values.size());
  s.first = values.front();
  s.last = values.back();
  bool any = false;
  for (double v : values) {
    if (std::isnan(v)) {
      ++s.nans;
      continue;
    }
    if (!any) {
      s.min = s.max = v;
      any = true;
    } else {
      s.min = std::min(s.min, v);
      s.max = std::max(s.max, v);
    }
    s.sum += v;
  }
  return s;
}

}  // namespace mqbase::store::columns
