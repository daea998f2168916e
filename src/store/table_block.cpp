// table_block: see table_block.h. Layout of a block (docs/store-format.md#table-blocks):
//   u8 version (1), varint rows, varint64 seq, u8 flags (1: overflow), zig-zag min and max time,
//   varint field count, per field: u8 type, varint count of values, then its statistics:
//     DOUBLE: varint NaNs, then min, max, sum, first, last as 8-byte doubles (when count > 0)
//     BIGINT, BOOLEAN: zig-zag min, max, first, last, sum and a byte "sum overflowed" (count > 0)
//     VARCHAR, JSON: none
//   varint64 data bytes, then the data: the time column (an int block), and per field, when it
//   has NULLs (count < rows) its validity (a bool block), then its values (a block of the
//   column's type, of the non-null values only).
#include "store/table_block.h"

#include <bit>
#include <type_traits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <numeric>

#include "store/coding.h"

namespace mqbase::store::tables {
namespace {

constexpr uint8_t kBlockVersion = 1;

void put_double(std::string& out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_u64(out, bits);
}

bool get_double(std::string_view& in, double& v) {
  if (in.size() < 8) return false;
  uint64_t bits = decode_u64(in.data());
  std::memcpy(&v, &bits, 8);
  in.remove_prefix(8);
  return true;
}

#if defined(__x86_64__)
// Four rows at a time with AVX2: the 4 validity bytes make a mask m (bit j: row j has a
// value); lane j takes the dense value numbered by the set bits of m below j (a permutation
// of the four values from k, from a table of the 16 masks), NULL lanes are zeroed, and k moves
// on by the mask's count. Returns the rows done (a multiple of 4); `k` the values used.
struct ExpandTable {
  alignas(32) int32_t perm[16][8];
  alignas(32) int64_t keep[16][4];
  uint8_t count[16];
  ExpandTable() {
    for (unsigned m = 0; m < 16; ++m) {
      unsigned next = 0;
      for (unsigned j = 0; j < 4; ++j) {
        const bool on = (m >> j) & 1;
        const unsigned from = on ? next++ : 0;
        perm[m][2 * j] = static_cast<int32_t>(2 * from);
        perm[m][2 * j + 1] = static_cast<int32_t>(2 * from + 1);
        keep[m][j] = on ? -1 : 0;
      }
      count[m] = static_cast<uint8_t>(next);
    }
  }
};

__attribute__((target("avx2"))) size_t expand_avx2(const uint8_t* ok, const uint64_t* in, uint64_t* out, size_t n, size_t& k) {
  static const ExpandTable t;
  size_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const unsigned m = (ok[r] != 0) | (ok[r + 1] != 0) << 1 | (ok[r + 2] != 0) << 2 | (ok[r + 3] != 0) << 3;
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + k));
    const __m256i e = _mm256_permutevar8x32_epi32(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(t.perm[m])));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r),
                        _mm256_and_si256(e, _mm256_load_si256(reinterpret_cast<const __m256i*>(t.keep[m]))));
    k += t.count[m];
  }
  return r;
}
#endif

// A column's values (`values`, the non-NULL ones in row order) spread over its rows by
// `valid` (0 or 1 per row) into `out_valid` and `out`, a NULL row's value 0. Without a branch
// per row: the value is read whatever the row, and a NULL row's bits are masked to 0 (written
// as `ok ? value : 0`, GCC made a branch of it, a tenth of a full scan where rows have NULLs);
// with AVX2 four rows at a time (expand_avx2). `values` gets four 0s past its end, read by
// NULL rows after the last value. `out` is resized, not cleared first: a scan decodes block
// after block into the same vectors, and a vector of the same size is then not filled with
// zeros before every value is written over.
template <class T, class U>
void scatter(const std::vector<uint8_t>& valid, std::vector<T>& values, std::vector<uint8_t>& out_valid, std::vector<U>& out) {
  static_assert(sizeof(U) == 8);
  const size_t n = valid.size();
  out_valid.assign(valid.begin(), valid.end());
  out.resize(n);
  values.resize(values.size() + 4, T{});
  const uint8_t* ok = valid.data();
  const T* in = values.data();
  U* o = out.data();
  size_t k = 0, r = 0;
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, U>) {
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2) r = expand_avx2(ok, reinterpret_cast<const uint64_t*>(in), reinterpret_cast<uint64_t*>(o), n, k);
  }
#endif
  for (; r < n; ++r) {
    const uint64_t keep = uint64_t{0} - (ok[r] != 0);
    o[r] = std::bit_cast<U>(std::bit_cast<uint64_t>(static_cast<U>(in[k])) & keep);
    k += ok[r] != 0;
  }
}

}  // namespace

void SeriesRows::conform(const Schema& s) {
  size_t k = 0;
  for (const Column& c : s.columns) {
    if (!is_field(c.type)) continue;
    if (k++ < fields.size()) continue;
    FieldValues f;
    f.type = c.type;
    for (size_t r = 0; r < times.size(); ++r) f.push_null();
    fields.push_back(std::move(f));
  }
}

void SeriesRows::clear() {
  times.clear();
  for (FieldValues& f : fields) f.clear();
}

void SeriesRows::release() {
  std::vector<int64_t>().swap(times);
  std::vector<FieldValues>().swap(fields);
}

size_t SeriesRows::memory() const {
  size_t m = times.size() * 8;
  for (const FieldValues& f : fields) m += f.memory() + sizeof(f);
  return m;
}

void SeriesRows::push_from(const SeriesRows& from, size_t r) {
  times.push_back(from.times[r]);
  for (size_t c = 0; c < fields.size(); ++c) {
    if (c < from.fields.size()) fields[c].push_from(from.fields[c], r);
    else fields[c].push_null();
  }
}

void SeriesRows::append_range(const SeriesRows& from, size_t lo, size_t hi) {
  if (hi <= lo) return;
  auto b = static_cast<std::ptrdiff_t>(lo), e = static_cast<std::ptrdiff_t>(hi);
  times.insert(times.end(), from.times.begin() + b, from.times.begin() + e);
  for (size_t c = 0; c < fields.size(); ++c) {
    FieldValues& to = fields[c];
    if (c >= from.fields.size()) {
      for (size_t r = lo; r < hi; ++r) to.push_null();
      continue;
    }
    const FieldValues& f = from.fields[c];
    to.valid.insert(to.valid.end(), f.valid.begin() + b, f.valid.begin() + e);
    switch (to.type) {
      case ColumnType::float64: to.f.insert(to.f.end(), f.f.begin() + b, f.f.begin() + e); break;
      case ColumnType::int64:
      case ColumnType::boolean: to.i.insert(to.i.end(), f.i.begin() + b, f.i.begin() + e); break;
      default: to.s.insert(to.s.end(), f.s.begin() + b, f.s.begin() + e); break;
    }
  }
}

void sort_rows(SeriesRows& rows, DuplicatePolicy policy) {
  const size_t n = rows.rows();
  bool sorted = std::is_sorted(rows.times.begin(), rows.times.end());
  bool unique = sorted && std::adjacent_find(rows.times.begin(), rows.times.end()) == rows.times.end();
  if (unique || (sorted && policy == DuplicatePolicy::keep_all)) return;
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  if (!sorted) std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return rows.times[a] < rows.times[b]; });
  if (policy != DuplicatePolicy::keep_all) {
    std::vector<uint32_t> kept;
    kept.reserve(n);
    for (size_t k = 0; k < n;) {
      size_t e = k + 1;
      while (e < n && rows.times[order[e]] == rows.times[order[k]]) ++e;
      kept.push_back(policy == DuplicatePolicy::keep_last ? order[e - 1] : order[k]);
      k = e;
    }
    order.swap(kept);
  }
  SeriesRows out;
  out.times.reserve(order.size());
  out.fields.resize(rows.fields.size());
  for (size_t c = 0; c < rows.fields.size(); ++c) {
    out.fields[c].type = rows.fields[c].type;
    out.fields[c].reserve(order.size());
  }
  for (uint32_t r : order) out.push_from(rows, r);
  rows = std::move(out);
}

void encode_block(const SeriesRows& rows, uint64_t seq, bool overflow, std::string& out) {
  const size_t n = rows.rows();
  out.push_back(static_cast<char>(kBlockVersion));
  put_varint32(out, static_cast<uint32_t>(n));
  put_varint64(out, seq);
  out.push_back(overflow ? 1 : 0);
  put_svarint64(out, n ? rows.times.front() : 0);
  put_svarint64(out, n ? rows.times.back() : 0);
  put_varint32(out, static_cast<uint32_t>(rows.fields.size()));

  std::string data;
  columns::encode_ints(rows.times, data);
  std::vector<double> dv;
  std::vector<int64_t> iv;
  std::vector<uint8_t> bv;
  std::vector<std::string_view> sv;
  for (const FieldValues& f : rows.fields) {
    size_t count = 0;
    for (uint8_t v : f.valid) count += v != 0;
    out.push_back(static_cast<char>(f.type));
    put_varint32(out, static_cast<uint32_t>(count));
    if (count < n) columns::encode_bools(f.valid, data);
    switch (f.type) {
      case ColumnType::float64: {
        dv.clear();
        for (size_t r = 0; r < n; ++r)
          if (f.valid[r]) dv.push_back(f.f[r]);
        columns::DoubleStats st = columns::double_stats(dv);
        put_varint32(out, st.nans);
        if (count) {
          for (double v : {st.min, st.max, st.sum, st.first, st.last}) put_double(out, v);
        }
        columns::encode_doubles(dv, data);
        break;
      }
      case ColumnType::int64:
      case ColumnType::boolean: {
        iv.clear();
        for (size_t r = 0; r < n; ++r)
          if (f.valid[r]) iv.push_back(f.i[r]);
        if (count) {
          columns::IntStats st = columns::int_stats(iv);
          for (int64_t v : {st.min, st.max, st.first, st.last, st.sum}) put_svarint64(out, v);
          out.push_back(st.sum_overflowed ? 1 : 0);
        }
        if (f.type == ColumnType::int64) {
          columns::encode_ints(iv, data);
        } else {
          bv.assign(iv.begin(), iv.end());
          columns::encode_bools(bv, data);
        }
        break;
      }
      default: {
        sv.clear();
        for (size_t r = 0; r < n; ++r)
          if (f.valid[r]) sv.push_back(f.s[r]);
        columns::encode_strings(sv, data);
        break;
      }
    }
  }
  put_varint64(out, data.size());
  out += data;
}

namespace {
// decode_block_meta; `whole` false: the data may be shorter than the header says (a compact
// block: block_pieces).
bool read_block_meta(std::string_view& in, BlockMeta& meta, size_t& data_bytes, bool whole);
}  // namespace

bool decode_block_meta(std::string_view& in, BlockMeta& meta, size_t& data_bytes) {
  return read_block_meta(in, meta, data_bytes, true);
}

namespace {
bool read_block_meta(std::string_view& in, BlockMeta& meta, size_t& data_bytes, bool whole) {
  uint8_t version, flags;
  uint32_t nfields;
  uint64_t bytes;
  // Reset field by field: `fields` keeps its capacity (a scan reads block after block into one).
  meta.rows = 0;
  meta.min_time = meta.max_time = 0;
  meta.seq = 0;
  meta.overflow = false;
  meta.fields.clear();
  if (!get_u8(in, version) || version != kBlockVersion || !get_varint32(in, meta.rows) ||
      meta.rows > columns::kMaxValues || !get_varint64(in, meta.seq) || !get_u8(in, flags) ||
      !get_svarint64(in, meta.min_time) || !get_svarint64(in, meta.max_time) || !get_varint32(in, nfields) ||
      nfields > 1024)
    return false;
  meta.overflow = flags & 1;
  meta.fields.assign(nfields, FieldStats{});
  for (FieldStats& f : meta.fields) {
    uint8_t t;
    if (!get_u8(in, t) || t < 3 || t > 7 || !get_varint32(in, f.count) || f.count > meta.rows) return false;
    f.type = static_cast<ColumnType>(t);
    switch (f.type) {
      case ColumnType::float64: {
        f.doubles.count = f.count;
        if (!get_varint32(in, f.doubles.nans)) return false;
        if (f.count) {
          auto& d = f.doubles;
          if (!get_double(in, d.min) || !get_double(in, d.max) || !get_double(in, d.sum) || !get_double(in, d.first) ||
              !get_double(in, d.last))
            return false;
        }
        break;
      }
      case ColumnType::int64:
      case ColumnType::boolean: {
        f.ints.count = f.count;
        if (f.count) {
          auto& s = f.ints;
          uint8_t of;
          if (!get_svarint64(in, s.min) || !get_svarint64(in, s.max) || !get_svarint64(in, s.first) ||
              !get_svarint64(in, s.last) || !get_svarint64(in, s.sum) || !get_u8(in, of))
            return false;
          s.sum_overflowed = of != 0;
        }
        break;
      }
      default: break;
    }
  }
  if (!get_varint64(in, bytes) || (whole && bytes > in.size())) return false;
  data_bytes = static_cast<size_t>(bytes);
  return true;
}
}  // namespace

bool block_pieces(std::string_view in, const std::vector<bool>& fields, BlockMeta& meta,
                  std::vector<std::pair<size_t, size_t>>& pieces) {
  const size_t total = in.size();  // (trivially destructible locals only: see the header)
  size_t data_bytes;
  if (!decode_block_meta(in, meta, data_bytes) || data_bytes > in.size()) return false;
  std::string_view data = in.substr(0, data_bytes);
  pieces.clear();
  auto add = [&](size_t at, size_t len) {
    if (!pieces.empty() && pieces.back().first + pieces.back().second == at) pieces.back().second += len;
    else pieces.emplace_back(at, len);
  };
  const size_t header = total - in.size();
  auto pos = [&] { return header + data_bytes - data.size(); };  // where `data` now starts in the block
  size_t at = pos();
  if (!columns::skip_block(data)) return false;  // the times
  add(at, pos() - at);
  for (size_t c = 0; c < meta.fields.size(); ++c) {
    at = pos();
    if ((meta.fields[c].count < meta.rows && !columns::skip_block(data)) || !columns::skip_block(data)) return false;
    if (c >= fields.size() || fields[c]) add(at, pos() - at);
  }
  return data.empty();
}

bool decode_block(std::string_view in, BlockMeta& meta, SeriesRows& rows, const std::vector<bool>* fields, bool times,
                  int64_t from, int64_t to) {
  size_t data_bytes;
  if (!decode_block_meta(in, meta, data_bytes)) return false;
  return decode_block_data(in.substr(0, data_bytes), meta, rows, fields, times, from, to, false);
}

bool decode_block_data(std::string_view data, const BlockMeta& meta, SeriesRows& rows, const std::vector<bool>* fields,
                       bool times, int64_t from, int64_t to, bool compact) {
  const size_t n = meta.rows;
  // `rows` keeps the capacity of its vectors (a scan decodes block after block into one), and
  // so do the scratch vectors: no allocation per block once they have grown.
  // The rows [lo, hi) that come out: those in [from, to) (blocks are sorted by time: see
  // encode_block), else all.
  size_t lo = 0, hi = n;
  const bool ranged = times && (from > INT64_MIN || to < INT64_MAX) && n > 0;
  if (!times) {
    // Times unread: n of them, of no particular value (only counted, by rows()). Resized, not
    // filled: zeros written for every block were a twentieth of a full scan reading no time.
    if (!columns::skip_block(data)) return false;
    rows.times.resize(n);
  } else if (ranged && (meta.max_time >= to || meta.min_time < from)) {
    // Cut by the range: only the times in it come out (summed up to `to`, and passed over a
    // word of deltas at a time up to `from`: decode_ints_between).
    if (!columns::decode_ints_between(data, rows.times, from, to, lo) || lo > n || rows.times.size() > n - lo ||
        !std::is_sorted(rows.times.begin(), rows.times.end()))
      return false;
    hi = lo + rows.times.size();
  } else if (!columns::decode_ints(data, rows.times) || rows.times.size() != n) {
    return false;
  }
  const size_t m = hi - lo;
  const bool cut = m != n;
  rows.fields.resize(meta.fields.size());
  thread_local std::vector<uint8_t> valid;
  thread_local std::vector<double> dv;
  thread_local std::vector<int64_t> iv;
  thread_local std::vector<uint8_t> bv;
  thread_local std::vector<std::string> sv;
  for (size_t c = 0; c < meta.fields.size(); ++c) {
    const FieldStats& st = meta.fields[c];
    FieldValues& f = rows.fields[c];
    if (fields && c < fields->size() && !(*fields)[c]) {
      // Not wanted: passed over (its validity bitmap too), NULL in every row. A scan decodes
      // block after block into the same rows: a column already NULL in all its rows is cut or
      // grown to m (the rows it gains are NULL), not filled again, which for six unread fields
      // was most of a narrow scan's time. Its values vector (of the type's) only grows: a NULL
      // row's value is never read, and blocks of 1,000 rows between blocks of a dozen (a
      // flush's remainders) had it zeroed again every other block, a sixth of a full scan.
      if (!compact && ((st.count < n && !columns::skip_block(data)) || !columns::skip_block(data))) return false;
      auto values_size = [&]() -> size_t {
        switch (st.type) {
          case ColumnType::float64: return f.f.size();
          case ColumnType::int64:
          case ColumnType::boolean: return f.i.size();
          default: return f.s.size();
        }
      };
      uint8_t any = 1;
      if (f.type == st.type && values_size() >= f.valid.size()) {
        any = 0;
        for (uint8_t v : f.valid) any |= v;  // no early exit: vectorized
      }
      if (any) {  // not (only) NULLs of this type: emptied, then filled like the rest
        f.clear();
        f.type = st.type;
      }
      f.valid.resize(m, 0);
      if (values_size() < m) {
        switch (st.type) {
          case ColumnType::float64: f.f.resize(m, 0); break;
          case ColumnType::int64:
          case ColumnType::boolean: f.i.resize(m, 0); break;
          default: f.s.resize(m); break;
        }
      }
      continue;
    }
    // Emptied, but the vector that numbers of the type use keeps its size: the decoders and
    // scatter resize it to m, which for a vector already of m values writes nothing twice.
    if (f.type == st.type && (st.type == ColumnType::float64 || st.type == ColumnType::int64 || st.type == ColumnType::boolean)) {
      f.s.clear();
      if (st.type == ColumnType::float64) f.i.clear();
      else f.f.clear();
      f.valid.clear();
    } else {
      f.clear();
      f.type = st.type;
    }
    // The non-NULL values [klo, khi) are those of rows [lo, hi).
    size_t klo = lo, khi = hi;
    if (st.count < n) {
      // The bitmap's rows [lo, hi), and how many values come before lo (counted a word at a
      // time); whole when the block is whole, and then its count checked.
      size_t before = 0, count = 0;
      if (!(cut ? columns::decode_bools_range(data, valid, lo, hi, &before) : columns::decode_bools(data, valid)) ||
          valid.size() != m)
        return false;
      for (size_t r = 0; r < m; ++r) count += valid[r] != 0;
      if (cut ? before + count > st.count : count != st.count) return false;
      klo = before;
      khi = before + count;
    } else if (st.type != ColumnType::float64 && st.type != ColumnType::int64) {
      valid.assign(m, 1);  // (doubles and integers without NULLs decode in place, without it)
    }
    // Numbers take the decoded vector whole or scatter it (below); strings are pushed.
    if (st.type != ColumnType::float64 && st.type != ColumnType::int64 && st.type != ColumnType::boolean) f.reserve(m);
    size_t k = 0;
    switch (st.type) {
      case ColumnType::float64:
        if (st.count == n) {  // no NULLs (the common case): decoded in place
          if (!(cut ? columns::decode_doubles_range(data, f.f, lo, hi) : columns::decode_doubles(data, f.f)) || f.f.size() != m)
            return false;
          f.valid.assign(m, 1);
          break;
        }
        if (!(cut ? columns::decode_doubles_range(data, dv, klo, khi) : columns::decode_doubles(data, dv)) || dv.size() != khi - klo)
          return false;
        scatter(valid, dv, f.valid, f.f);
        break;
      case ColumnType::int64:
        if (st.count == n) {
          if (!(cut ? columns::decode_ints_range(data, f.i, lo, hi) : columns::decode_ints(data, f.i)) || f.i.size() != m)
            return false;
          f.valid.assign(m, 1);
          break;
        }
        if (!(cut ? columns::decode_ints_range(data, iv, klo, khi) : columns::decode_ints(data, iv)) || iv.size() != khi - klo)
          return false;
        scatter(valid, iv, f.valid, f.i);
        break;
      case ColumnType::boolean:
        if (!(cut ? columns::decode_bools_range(data, bv, klo, khi) : columns::decode_bools(data, bv)) || bv.size() != khi - klo)
          return false;
        scatter(valid, bv, f.valid, f.i);
        break;
      default:
        if (!columns::decode_strings(data, sv) || sv.size() != st.count) return false;
        k = klo;
        for (size_t r = 0; r < m; ++r) {
          if (valid[r]) {
            f.valid.push_back(1);
            f.s.push_back(std::move(sv[k++]));
          } else {
            f.push_null();
          }
        }
        break;
    }
  }
  return data.empty();
}

}  // namespace mqbase::store::tables
