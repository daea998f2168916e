// libFuzzer harness for the column codecs of the time-series tables (src/store/column_codec.h).
// Two halves, chosen by the first byte:
//   even: the rest is a block from a damaged file. Every decoder takes it or refuses it;
//         whatever one takes must encode again to a block that decodes to the same values,
//         and the ranged decoders (a range of it, the values below a bound) must give the
//         same values as the whole decode cut; on a block the whole decode refuses they must
//         not crash either.
//   odd:  the rest is values (8-byte integers or doubles, bytes as booleans, strings cut at
//         NUL). They must encode and decode back to the bit.
// Nothing may crash, leak or read out of bounds (built with ASan+UBSan).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "store/column_codec.h"

using namespace mqbase::store::columns;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<uint64_t>(a[i]) != std::bit_cast<uint64_t>(b[i])) return false;
  return true;
}

void round_trip_ints(const std::vector<int64_t>& v) {
  std::string block;
  encode_ints(v, block);
  std::string_view in = block;
  std::vector<int64_t> got;
  check(decode_ints(in, got) && in.empty() && got == v);
}

void round_trip_doubles(const std::vector<double>& v) {
  std::string block;
  encode_doubles(v, block);
  std::string_view in = block;
  std::vector<double> got;
  check(decode_doubles(in, got) && in.empty() && same_bits(got, v));
}

void round_trip_bools(const std::vector<uint8_t>& v) {
  std::string block;
  encode_bools(v, block);
  std::string_view in = block;
  std::vector<uint8_t> got;
  check(decode_bools(in, got) && in.empty() && got.size() == v.size());
  for (size_t i = 0; i < v.size(); ++i) check(got[i] == (v[i] ? 1 : 0));
}

void round_trip_strings(const std::vector<std::string>& v) {
  std::vector<std::string_view> views(v.begin(), v.end());
  std::string block;
  encode_strings(views, block);
  std::string_view in = block;
  std::vector<std::string> got;
  check(decode_strings(in, got) && in.empty() && got == v);
}

// A range [lo, hi) of n values picked by `seed`.
std::pair<size_t, size_t> range_of(size_t n, uint8_t seed) {
  const size_t lo = n ? seed % (n + 1) : 0;
  const size_t hi = lo + (n - lo ? (seed / 3) % (n - lo + 1) : 0);
  return {lo, hi};
}

// The ranged decoders on `block` against the whole decode's values (`whole` null: it refused).
void ranges(std::string_view block, uint8_t seed, const std::vector<int64_t>* ints, const std::vector<double>* doubles,
            const std::vector<uint8_t>* bools) {
  const auto [lo, hi] = range_of(ints ? ints->size() : doubles ? doubles->size() : bools ? bools->size() : 1, seed);
  std::string_view in = block;
  std::vector<int64_t> iv;
  bool ok = decode_ints_range(in, iv, lo, hi);
  if (ints) check(ok && std::equal(iv.begin(), iv.end(), ints->begin() + static_cast<long>(lo), ints->begin() + static_cast<long>(hi)));
  in = block;
  const int64_t bound = ints && !ints->empty() ? (*ints)[seed % ints->size()] : static_cast<int64_t>(seed);
  const int64_t lower = ints && !ints->empty() ? (*ints)[(seed / 7) % ints->size()] - (seed & 1) : -static_cast<int64_t>(seed);
  size_t first = 0;
  ok = decode_ints_between(in, iv, lower, bound, first);
  if (ints && std::is_sorted(ints->begin(), ints->end())) {
    const auto b = std::lower_bound(ints->begin(), ints->end(), lower);
    const auto e = std::max(b, std::lower_bound(ints->begin(), ints->end(), bound));
    check(ok && iv == std::vector<int64_t>(b, e) && (iv.empty() || first == static_cast<size_t>(b - ints->begin())));
  }
  in = block;
  std::vector<double> dv;
  ok = decode_doubles_range(in, dv, lo, hi);
  if (doubles) check(ok && same_bits(dv, std::vector<double>(doubles->begin() + static_cast<long>(lo), doubles->begin() + static_cast<long>(hi))));
  in = block;
  std::vector<uint8_t> bv;
  ok = decode_bools_range(in, bv, lo, hi);
  if (bools) check(ok && std::equal(bv.begin(), bv.end(), bools->begin() + static_cast<long>(lo), bools->begin() + static_cast<long>(hi)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    std::string_view in = rest;
    std::vector<int64_t> ints;
    if (decode_ints(in, ints)) round_trip_ints(ints);
    in = rest;
    std::vector<double> doubles;
    if (decode_doubles(in, doubles)) round_trip_doubles(doubles);
    in = rest;
    std::vector<uint8_t> bools;
    if (decode_bools(in, bools)) round_trip_bools(bools);
    in = rest;
    std::vector<std::string> strings;
    if (decode_strings(in, strings)) round_trip_strings(strings);
    // Each ranged decoder is checked against its own whole decode (the others' may refuse).
    const uint8_t seed = rest.empty() ? 0 : static_cast<uint8_t>(rest.back());
    in = rest;
    const bool int_block = decode_ints(in, ints), double_block = (in = rest, decode_doubles(in, doubles)),
               bool_block = (in = rest, decode_bools(in, bools));
    ranges(rest, seed, int_block ? &ints : nullptr, nullptr, nullptr);
    ranges(rest, seed, nullptr, double_block ? &doubles : nullptr, nullptr);
    ranges(rest, seed, nullptr, nullptr, bool_block ? &bools : nullptr);
    return 0;
  }
  std::vector<int64_t> ints(rest.size() / 8);
  if (!ints.empty()) std::memcpy(ints.data(), rest.data(), ints.size() * 8);
  round_trip_ints(ints);
  std::vector<double> doubles(rest.size() / 8);
  if (!doubles.empty()) std::memcpy(doubles.data(), rest.data(), doubles.size() * 8);
  round_trip_doubles(doubles);
  // Small integers as decimals: the ALP path with exceptions mixed in.
  std::vector<double> decimals;
  for (size_t i = 0; i + 1 < rest.size(); i += 2)
    decimals.push_back(static_cast<int16_t>(static_cast<uint8_t>(rest[i]) | static_cast<uint8_t>(rest[i + 1]) << 8) / 100.0);
  round_trip_doubles(decimals);
  round_trip_bools(std::vector<uint8_t>(rest.begin(), rest.end()));
  std::vector<std::string> strings;
  size_t start = 0;
  for (size_t i = 0; i <= rest.size(); ++i)
    if (i == rest.size() || rest[i] == '\0') {
      strings.emplace_back(rest.substr(start, i - start));
      start = i + 1;
    }
  round_trip_strings(strings);
  return 0;
}
