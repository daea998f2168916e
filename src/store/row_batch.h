// RowBatch: the rows one write puts into one table (one MQTT message's rows, one INSERT), in
// columns. Tables::write() logs a batch as one WAL record, so after a crash all of its rows
// are there or none (docs/store-format.md#table-records), and applies it to the series heads.
//
// The batch holds the rows' series as distinct tuples of tag values (in the schema's tag
// column order) and, per row, the index of its tuple; the time; and per field column of the
// schema (in column order) a typed vector and a validity byte per row (0: NULL).
//
// Thread-safety: a plain value, filled by one thread.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/table_schema.h"

namespace mqbase::store::tables {

// One field column of a batch (or of a series head): exactly one of the value vectors is used,
// by type: float64 -> f; int64 and boolean -> i; varchar and json -> s. Values of NULL rows
// are present (0 or "") so every vector has one entry per row.
struct FieldValues {
  ColumnType type = ColumnType::float64;
  std::vector<uint8_t> valid;
  std::vector<double> f;
  std::vector<int64_t> i;
  std::vector<std::string> s;

  size_t size() const { return valid.size(); }
  void push_null();
  void push_f(double v) { valid.push_back(1); f.push_back(v); }
  void push_i(int64_t v) { valid.push_back(1); i.push_back(v); }
  void push_s(std::string_view v) { valid.push_back(1); s.emplace_back(v); }
  // Appends row `row` of `from` (same type). Inline: the heads take every row this way.
  void push_from(const FieldValues& from, size_t row) {
    valid.push_back(from.valid[row]);
    switch (type) {
      case ColumnType::float64: f.push_back(from.f[row]); break;
      case ColumnType::int64:
      case ColumnType::boolean: i.push_back(from.i[row]); break;
      default: s.push_back(from.s[row]); break;
    }
  }
  void clear() {  // inline: a message's batch clears every field
    valid.clear();
    f.clear();
    i.clear();
    s.clear();
  }
  void reserve(size_t n);
  // Bytes this column's values take in memory (for the memory budget), roughly: by size, not
  // capacity, so that adding and removing rows add and subtract the same amounts.
  size_t memory() const;
  size_t row_memory(size_t r) const { return s.empty() ? 9 : 33 + s[r].size(); }
};

struct RowBatch {
  uint32_t table_id = 0;
  uint32_t columns = 0;                            // the schema's column count these rows were made for
  std::vector<std::vector<std::string>> series;    // distinct tag tuples
  std::vector<uint32_t> row_series;                // per row: index into series
  std::vector<int64_t> times;                      // per row, ns
  std::vector<FieldValues> fields;                 // per field column of the schema

  size_t rows() const { return times.size(); }
  void clear();
};

// The WAL record (type kRecordRows) and back. decode checks everything (counts, types, lengths)
// and returns false for malformed bytes.
void encode_rows(const RowBatch& b, std::string& out);
bool decode_rows(std::string_view in, RowBatch& b);

}  // namespace mqbase::store::tables
