// RowBatch: see row_batch.h. Record layout (docs/store-format.md#table-records): varint table
// id, varint column count, varint series count and per series its tag values (varint count,
// length-prefixed strings), varint row count, per row its series index (varint) and time
// (zig-zag varint delta from the row before), varint field count, and per field column: type
// byte, the validity bytes as a bitmap, then the non-null values (doubles as 8 bytes, integers
// and booleans as zig-zag varints, strings length-prefixed).
#include "store/row_batch.h"

#include <cstring>

#include "store/coding.h"

namespace mqbase::store::tables {

void FieldValues::push_null() {
  valid.push_back(0);
  switch (type) {
    case ColumnType::float64: f.push_back(0); break;
    case ColumnType::int64:
    case ColumnType::boolean: i.push_back(0); break;
    default: s.emplace_back(); break;
  }
}

void FieldValues::reserve(size_t n) {
  valid.reserve(n);
  switch (type) {
    case ColumnType::float64: f.reserve(n); break;
    case ColumnType::int64:
    case ColumnType::boolean: i.reserve(n); break;
    default: s.reserve(n); break;
  }
}

size_t FieldValues::memory() const {
  if (!s.empty() || (type != ColumnType::float64 && type != ColumnType::int64 && type != ColumnType::boolean)) {
    size_t m = 0;
    for (size_t r = 0; r < s.size(); ++r) m += row_memory(r);
    return m;
  }
  return valid.size() * 9;
}

void RowBatch::clear() {
  series.clear();
  row_series.clear();
  times.clear();
  for (FieldValues& f : fields) f.clear();
}

void encode_rows(const RowBatch& b, std::string& out) {
  // Sized once, then written through a pointer: every message's rows come this way, and a
  // string grown byte by byte checks its capacity at each.
  const size_t n = b.rows();
  constexpr size_t V = kMaxVarint64;
  size_t bound = 4 * V + b.series.size() * V + n * 2 * V;
  for (const auto& tuple : b.series)
    for (const std::string& v : tuple) bound += V + v.size();
  for (const FieldValues& f : b.fields) {
    bound += 1 + (n + 7) / 8;
    if (f.type == ColumnType::float64) bound += n * 8;
    else if (f.type == ColumnType::int64 || f.type == ColumnType::boolean) bound += n * V;
    else
      for (const std::string& v : f.s) bound += V + v.size();
  }
  const size_t base = out.size();
  out.resize(base + bound);
  char* p = out.data() + base;
  auto put_bytes = [&p](std::string_view s) {
    p = encode_varint64(p, s.size());
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  p = encode_varint64(p, b.table_id);
  p = encode_varint64(p, b.columns);
  p = encode_varint64(p, b.series.size());
  for (const auto& tuple : b.series) {
    p = encode_varint64(p, tuple.size());
    for (const std::string& v : tuple) put_bytes(v);
  }
  p = encode_varint64(p, n);
  int64_t prev = 0;
  for (size_t r = 0; r < n; ++r) {
    p = encode_varint64(p, b.row_series[r]);
    // Wrapping subtraction: any two int64 times differ by something that round-trips.
    p = encode_varint64(p, zigzag(static_cast<int64_t>(static_cast<uint64_t>(b.times[r]) - static_cast<uint64_t>(prev))));
    prev = b.times[r];
  }
  p = encode_varint64(p, b.fields.size());
  for (const FieldValues& f : b.fields) {
    *p++ = static_cast<char>(f.type);
    for (size_t r = 0; r < n; r += 8) {  // the validity bitmap, a byte at a time
      unsigned bits = 0;
      for (size_t j = r; j < n && j < r + 8; ++j) bits |= (f.valid[j] ? 1u : 0u) << (j - r);
      *p++ = static_cast<char>(bits);
    }
    for (size_t r = 0; r < n; ++r) {
      if (!f.valid[r]) continue;
      switch (f.type) {
        case ColumnType::float64:
          std::memcpy(p, &f.f[r], 8);
          p += 8;
          break;
        case ColumnType::int64:
        case ColumnType::boolean: p = encode_varint64(p, zigzag(f.i[r])); break;
        default: put_bytes(f.s[r]); break;
      }
    }
  }
  out.resize(static_cast<size_t>(p - out.data()));
}

bool decode_rows(std::string_view in, RowBatch& b) {
  b = RowBatch{};
  uint32_t nseries, n, nfields;
  if (!get_varint32(in, b.table_id) || !get_varint32(in, b.columns) || b.columns > 1024 || !get_varint32(in, nseries) ||
      nseries > in.size())
    return false;
  b.series.resize(nseries);
  for (auto& tuple : b.series) {
    uint32_t k;
    if (!get_varint32(in, k) || k > 1024 || k > in.size()) return false;
    tuple.resize(k);
    for (std::string& v : tuple) {
      std::string_view sv;
      if (!get_length_prefixed(in, sv)) return false;
      v = std::string(sv);
    }
  }
  if (!get_varint32(in, n) || n > in.size()) return false;  // each row takes at least 2 bytes
  b.row_series.resize(n);
  b.times.resize(n);
  int64_t prev = 0;
  for (uint32_t r = 0; r < n; ++r) {
    uint64_t d;
    if (!get_varint32(in, b.row_series[r]) || b.row_series[r] >= nseries || !get_varint64(in, d)) return false;
    prev = static_cast<int64_t>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(unzigzag(d)));
    b.times[r] = prev;
  }
  if (!get_varint32(in, nfields) || nfields > b.columns) return false;
  b.fields.resize(nfields);
  for (FieldValues& f : b.fields) {
    if (in.empty()) return false;
    uint8_t t = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    if (t < 3 || t > 7) return false;
    f.type = static_cast<ColumnType>(t);
    size_t bitmap_bytes = (n + 7) / 8;
    if (in.size() < bitmap_bytes) return false;
    std::string_view bitmap = in.substr(0, bitmap_bytes);
    in.remove_prefix(bitmap_bytes);
    f.reserve(n);
    for (uint32_t r = 0; r < n; ++r) {
      if (!(static_cast<uint8_t>(bitmap[r / 8]) & (1 << (r % 8)))) {
        f.push_null();
        continue;
      }
      switch (f.type) {
        case ColumnType::float64: {
          if (in.size() < 8) return false;
          uint64_t bits = decode_u64(in.data());
          in.remove_prefix(8);
          double v;
          std::memcpy(&v, &bits, 8);
          f.push_f(v);
          break;
        }
        case ColumnType::int64:
        case ColumnType::boolean: {
          int64_t v;
          if (!get_svarint64(in, v)) return false;
          f.push_i(v);
          break;
        }
        default: {
          std::string_view sv;
          if (!get_length_prefixed(in, sv)) return false;
          f.push_s(sv);
          break;
        }
      }
    }
  }
  return in.empty();
}

}  // namespace mqbase::store::tables
