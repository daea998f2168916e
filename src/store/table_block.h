// table_block: an immutable block of one series' rows, sorted by time, within one partition:
// the time column and every field column compressed with the column codecs
// (column_codec.h), and beside them the block's statistics (rows, time range, and per field
// its count of values, min, max, sum, first and last), so an aggregate over whole blocks reads
// the header only (docs/store-format.md#table-blocks).
//
// SeriesRows is the in-memory shape of a series' rows (heads, decoded blocks, scan results).
//
// Thread-safety: pure functions; values.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/column_codec.h"
#include "store/row_batch.h"
#include "store/table_schema.h"

namespace mqbase::store::tables {

struct SeriesRows {
  std::vector<int64_t> times;
  std::vector<FieldValues> fields;  // per field column, in schema order

  size_t rows() const { return times.size(); }
  // Matches the field columns of `s` (new columns are added, filled with NULL).
  void conform(const Schema& s);
  void clear();
  // Gives back the memory of an empty one (clear() keeps it for the next rows): a series that
  // is not being written then costs only its empty vectors. The next write conforms it again.
  void release();
  size_t memory() const;
  // Appends row `r` of `from` (whose fields may be fewer: the rest are NULL).
  void push_from(const SeriesRows& from, size_t r);
  // Appends rows [lo, hi) of `from` (the same way, column by column).
  void append_range(const SeriesRows& from, size_t lo, size_t hi);
};

// Sorts `rows` by time (stable: rows with the same time keep their order, oldest first) and
// applies `policy` to rows with equal times: keep_last keeps the latest of them, keep_first the
// first, keep_all all of them.
void sort_rows(SeriesRows& rows, DuplicatePolicy policy);

struct FieldStats {
  ColumnType type = ColumnType::float64;
  uint32_t count = 0;           // non-null values
  columns::IntStats ints;       // int64 and boolean (true = 1)
  columns::DoubleStats doubles; // float64
};

struct BlockMeta {
  uint32_t rows = 0;
  int64_t min_time = 0, max_time = 0;
  uint64_t seq = 0;        // the order blocks of a series were made in: with equal times, a later block wins under keep_last
  bool overflow = false;   // made of late rows (older than the out-of-order window)
  std::vector<FieldStats> fields;
};

// Appends the block of `rows` (sorted by time, at most columns::kMaxValues rows) to `out`.
void encode_block(const SeriesRows& rows, uint64_t seq, bool overflow, std::string& out);
// Reads the header of the block at the front of `in` (advancing past the header only; the
// returned `data_bytes` follow). False when malformed.
bool decode_block_meta(std::string_view& in, BlockMeta& meta, size_t& data_bytes);
// Decodes a whole block (header and data) into `meta` and `rows`. False when malformed.
// `fields` (by field index; null or shorter: the rest wanted): a field not wanted is skipped
// undecoded and comes out all NULL (its validity all 0; its values vector at least as long as
// the rows, of no meaning).
// `times` false: the time column is passed over, and rows.times holds `meta.rows` values of
// no meaning (they are there to be counted: rows()); the caller must not read them.
// [from, to): when the block's times are sorted (and decoded), only its rows in that range come
// out, and its fields are decoded for those rows (column_codec's *_range decoders); else all.
bool decode_block(std::string_view in, BlockMeta& meta, SeriesRows& rows, const std::vector<bool>* fields = nullptr,
                  bool times = true, int64_t from = INT64_MIN, int64_t to = INT64_MAX);
// decode_block after its header: `data` is the block's data, of the block whose header is
// `meta`. `compact`: `data` holds only the pieces block_pieces() gave for `fields` (the fields
// not wanted are absent from it, not passed over).
bool decode_block_data(std::string_view data, const BlockMeta& meta, SeriesRows& rows, const std::vector<bool>* fields,
                       bool times, int64_t from, int64_t to, bool compact);

// The header of the block `in` (into `meta`) and the pieces of its data that decode_block_data
// reads for the fields `fields` (by field index; shorter: the rest wanted), as (offset, length)
// in `in`: the time column, then each wanted field's bitmap and values, neighbours joined.
// Their bytes one after another are a compact block's data. Reads only the header and each
// column's own header (to find its length), and holds nothing to release if left midway
// (store::read_mapping runs it over a file mapping). False when malformed.
bool block_pieces(std::string_view in, const std::vector<bool>& fields, BlockMeta& meta,
                  std::vector<std::pair<size_t, size_t>>& pieces);

}  // namespace mqbase::store::tables
