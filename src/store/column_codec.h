// column_codec: how a block of one column of a time-series table is compressed, and the
// statistics kept beside it (docs/store-format.md#column-blocks). The tables (issue 11) cut
// each series into blocks of up to a few thousand rows and store every column of a block
// with one of these encoders:
//
//   integers and times  frame-of-reference bit-packing of the values, of their deltas, or of
//                       their deltas of deltas: whichever is smallest. Regular timestamps
//                       (every 10 s) take 0 bits per row; counters take their step's bits.
//   doubles             ALP (Afroozeh et al., SIGMOD 2023): a value with few decimals is an
//                       integer times 10^-e; those integers are packed as above, and the
//                       values that do not round-trip exactly (NaN, +-Inf, -0.0, too many
//                       digits) are kept raw as exceptions. When most values are exceptions
//                       (random doubles), Gorilla XOR (Pelkonen et al., VLDB 2015) instead,
//                       or the raw 8 bytes when XOR would be larger (noise).
//   booleans            one bit each (as bytes 0 and 1 in memory, for the executor's sake).
//   strings             a dictionary of the block's distinct values and bit-packed indices;
//                       plain (length-prefixed) when most values are distinct.
//
// Every encoding is lossless to the bit (NaN payloads and -0.0 included). Decoders take
// untrusted bytes (a damaged file): they return false on anything malformed, never read
// outside their input, and never allocate more than the input can describe.
//
// Nulls are not the codecs' business: a nullable column stores a validity bitmap
// (encode_bools) and the codec sees only the non-null values.
//
// Thread-safety: pure functions.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mqbase::store::columns {

// Limits of one block, which the encoders enforce (std::length_error) and the decoders check:
// values in it, and bytes its strings add up to. Tables cut blocks well below both.
inline constexpr size_t kMaxValues = 65536;
inline constexpr size_t kMaxStringBytes = size_t{256} << 20;

// The first byte of every encoded block: which encoding follows.
enum class Encoding : uint8_t {
  int_for = 1,        // frame of reference: min, bit width, packed (v - min)
  int_delta = 2,      // first value, then the deltas as int_for
  int_delta2 = 3,     // first value, first delta, then the deltas of deltas as int_for
  double_alp = 4,     // exponent, the integers (an int block), exceptions
  double_xor = 5,     // Gorilla XOR bit stream
  bool_bits = 6,      // count, one bit each
  string_dict = 7,    // dictionary, then its indices bit-packed
  string_plain = 8,   // length-prefixed values
  double_raw = 9,     // 8 bytes each: noise that XOR would only grow
};

// Appends the block of `values` to `out`.
void encode_ints(std::span<const int64_t> values, std::string& out);
void encode_doubles(std::span<const double> values, std::string& out);
void encode_bools(std::span<const uint8_t> values, std::string& out);  // 0: false, else true
void encode_strings(std::span<const std::string_view> values, std::string& out);

// Decode one block from the front of `in` (advancing it past the block) into `out`
// (replacing what it held). False when the bytes are not a block of that type.
bool decode_ints(std::string_view& in, std::vector<int64_t>& out);
bool decode_doubles(std::string_view& in, std::vector<double>& out);
bool decode_bools(std::string_view& in, std::vector<uint8_t>& out);  // 0 or 1
bool decode_strings(std::string_view& in, std::vector<std::string>& out);

// The values [lo, hi) of one block (lo <= hi <= its count, else false), advancing `in` past
// the whole block as the decoders above do: a scan whose time range cuts a block decodes the
// rows it keeps. A frame of reference (and ALP over one) reads only those values; deltas read
// the values up to hi (each is the sum of those before it); Gorilla XOR and strings decode
// the block and keep the range.
bool decode_ints_range(std::string_view& in, std::vector<int64_t>& out, size_t lo, size_t hi);
bool decode_doubles_range(std::string_view& in, std::vector<double>& out, size_t lo, size_t hi);
// `ones_before`: also the count of true values before lo (a validity bitmap's values before a
// range: where the range's values begin among the non-NULL ones).
bool decode_bools_range(std::string_view& in, std::vector<uint8_t>& out, size_t lo, size_t hi, size_t* ones_before = nullptr);
// The values of a block of ascending integers (a block's times) in [from, to), and in `first`
// the index of the first of them (or of where it would be), advancing `in` past the whole
// block. Deltas (of deltas) are summed only up to the first value at or past `to`; plain
// deltas in bit widths of 1 to 16 that divide 64 are summed a 64-bit word at a time up to
// `from`. (On a block that is not ascending the answer is some of its values: never more than
// there are, never undefined behaviour.)
bool decode_ints_between(std::string_view& in, std::vector<int64_t>& out, int64_t from, int64_t to, size_t& first);

// Advances `in` past one block of any type without decoding it (a column a scan does not
// need). False when the bytes are not a block; never reads outside `in`.
bool skip_block(std::string_view& in);

// The encoding of an encoded block (its first byte), or nullopt.
std::optional<Encoding> encoding_of(std::string_view block);

// Statistics of a block, kept beside it so that aggregates over whole blocks need not decode
// them. Of the non-null values; `count` 0: none.
struct IntStats {
  uint32_t count = 0;
  int64_t min = 0, max = 0, first = 0, last = 0;
  int64_t sum = 0;
  bool sum_overflowed = false;  // the sum left int64: decode to sum wider
};
struct DoubleStats {
  uint32_t count = 0;
  uint32_t nans = 0;  // NaN is in count but not in min, max or sum
  double min = 0, max = 0, first = 0, last = 0, sum = 0;
};
IntStats int_stats(std::span<const int64_t> values);
DoubleStats double_stats(std::span<const double> values);

}  // namespace mqbase::store::columns
