// Tables: the time-series tables of a data directory (docs/tables.md, the files in
// docs/store-format.md#tables). Prometheus TSDB's shape: a WAL, a head in memory per series,
// immutable compressed blocks on disk, compaction.
//
// Write path. write() logs a RowBatch as one record of the store's WAL (group commit with
// everything else the broker writes; all rows or none after a crash) and applies it to the
// heads: per series, rows in memory. A head that reaches block_rows is sorted (the duplicate
// policy applied) and its rows older than the table's out-of-order window are sealed into
// compressed blocks (table_block.h), still in memory. A row older than what its series has
// already sealed is late: it goes to the series' overflow, sealed into blocks of its own that
// reads and compaction merge.
//
// Flush. Before the store's checkpoint drops WAL records (StoreOptions::before_checkpoint),
// flush() freezes everything in memory, waits until the WAL has made it durable, writes it as
// one block file per table and time partition, appends new series to each table's series
// file, and replaces MANIFEST (schemas, files, and the LSN it holds everything through). At
// open, MANIFEST is read and the WAL records after its LSN are replayed into the heads.
// Compaction merges a partition's files, size-tiered (compaction_start in tables.cpp), each
// series re-cut into whole blocks; partitions past a table's retention are deleted whole.
//
// Reads. scan() returns each matching series' rows in a time range, sorted, with the
// duplicate policy applied across heads, memory blocks and files.
//
// Watchers. add_watcher() lets a caller see every write's rows once they are applied (GET
// /db/watch): the writing thread calls the watcher after the write, outside the tables' mutex.
// With nobody watching a write pays one relaxed atomic load for this.
//
// Thread-safety: every public method is safe from any thread. One mutex guards the catalog
// and the heads (held briefly per write); file writing and watchers run outside it.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/row_batch.h"
#include "store/store_options.h"
#include "store/table_block.h"
#include "store/table_schema.h"

namespace mqbase::store {
class Store;
class FileOps;
}  // namespace mqbase::store

namespace mqbase::store::tables {

// The WAL record types the tables write (Store::write_record).
constexpr uint8_t kRecordRows = 2;    // a RowBatch
constexpr uint8_t kRecordSchema = 3;  // a table's schema, created or grown
constexpr uint8_t kRecordDrop = 4;    // varint table id

struct TablesOptions {
  std::string dir;                         // <data-dir>/tables
  size_t block_rows = 1000;                // rows per sealed block (a head seals at this many)
  uint64_t memory_budget = 256ull << 20;   // heads + blocks not yet on disk; past it: flush early
  size_t max_tables = 10'000;              // create_table refuses a table past it (0: no limit)
  size_t compact_files = 8;                // past this many files, a partition's newer files are merged
  std::chrono::milliseconds maintenance_interval{10000};  // retention and compaction run this often
  std::function<void(const std::string&)> log;
  FileOps* io = nullptr;                   // null: POSIX
  bool read_only = false;                  // offline readers: change nothing in dir
};

// Whether an error of create_table is the table limit's (a quota, not a bad request).
bool is_table_limit_error(std::string_view error);

struct WriteResult {
  Lsn lsn = 0;                             // 0: refused
  WriteStatus status = WriteStatus::ok;
  std::string error;                       // when refused: why, for the writer
};

// Decides on tags alone which series a scan reads: it gets the tags of every series the scan
// would read (schema tag order; a tuple shorter than the tag columns has "" for the rest) and
// sets keep[k] = 0 for those it drops. Called once per scan, without the tables' lock held.
using SeriesFilter = std::function<void(const std::vector<const std::vector<std::string>*>& tags, std::vector<uint8_t>& keep)>;

struct ScanSpec {
  int64_t from = INT64_MIN;                // inclusive
  int64_t to = INT64_MAX;                  // exclusive
  std::vector<std::pair<std::string, std::string>> tags;  // column = value, all of them
  SeriesFilter series_filter;              // optional: conditions on the other tags
  // Only each series' newest row in range (all rows of that time under keep_all): the latest
  // value per series, read from the heads and the newest blocks without decoding the rest.
  bool latest = false;
  // The field columns the caller reads, by field index in schema order (empty: all). The
  // others are not decoded from blocks and may come out NULL.
  std::vector<bool> fields;
  // False: the caller does not read the rows' times, which may then come out as any value (a
  // block wholly in range is not decoded for them). Their number is still the rows'.
  bool times = true;
  // True (and not `latest`): the rows fn is given are the scan's own scratch, which fn may
  // const_cast and swap vectors with (of the same element types, any length or contents): a
  // caller that hands a block's decoded columns on takes them instead of copying them, and
  // gives vectors back for the next block to decode into.
  bool lend_rows = false;
};

struct TableInfo {
  std::shared_ptr<const Schema> schema;
  uint64_t series = 0;
  uint64_t rows_on_disk = 0, rows_in_memory = 0;  // duplicates across blocks counted (compaction drops them)
  uint64_t bytes_on_disk = 0, files = 0, partitions = 0;
  int64_t min_time = 0, max_time = 0;      // of what is on disk and in memory (0, 0: empty)
};

// What a scan of a time range would read (EXPLAIN).
struct ScanEstimate {
  uint64_t partitions = 0, partitions_total = 0;  // on disk: overlapping the range, and all
  uint64_t files = 0, blocks = 0;                 // block files and blocks in the range
  uint64_t series = 0, rows_in_memory = 0;        // the table's series; rows not yet on disk
};

// What a watcher sees (Tables::add_watcher): the rows of one write to its table, after they
// were applied, or the end of the table.
struct WatchedRows {
  std::shared_ptr<const Schema> schema;  // the table's schema when the rows were applied
  // Valid during the call only. The batch's series are tag tuples (schema tag order; a tuple
  // shorter than the tag columns has "" for the rest), its fields the schema's first field
  // columns (the later ones are NULL). Null: the table was dropped and this is the last call.
  const RowBatch* rows = nullptr;
};
// Returns false to stop watching.
using WatchFn = std::function<bool(const WatchedRows&)>;

struct TablesStats {
  uint64_t rows_written = 0, writes_refused = 0, late_rows = 0, flushes = 0, compactions = 0;
  uint64_t partitions_dropped = 0, memory_bytes = 0, tables = 0;
};

class Tables {
 public:
  // Opens (creating) opts.dir: reads MANIFEST and each table's series file. Throws StoreError
  // naming the file when one is damaged. Call before Store::open(), and route that call's
  // records here (replay()) and its StoreOptions::before_checkpoint to flush().
  static std::unique_ptr<Tables> open(const TablesOptions& opts);
  ~Tables();  // close()
  Tables(const Tables&) = delete;
  Tables& operator=(const Tables&) = delete;

  // A record of Store::open()'s recovery; records through the manifest's LSN are skipped.
  // Throws StoreError on a malformed table record.
  void replay(uint8_t type, Lsn lsn, std::string_view payload);
  // From now on writes go to `store` (open, owned by the caller, outliving close()). Starts the
  // background thread (early flushes over the memory budget, retention, compaction).
  void attach(Store& store);
  // StoreOptions::before_checkpoint: makes every row through `covered` durable in block files.
  bool flush(Lsn covered);

  // DDL. Each logs a record and returns "" (and its LSN in *lsn), or the error for the user.
  // create_table refuses a table when there are TablesOptions::max_tables (an error for which
  // is_table_limit_error holds), unless `limited` is false: a table the server itself needs,
  // which counts towards the limit like any other but is made even at it.
  std::string create_table(Schema schema, bool if_not_exists, Lsn* lsn, bool limited = true);
  // Appends columns (fields or tags) that the table lacks; columns it has with the same type
  // are fine, another type is an error.
  std::string add_columns(std::string_view table, const std::vector<Column>& columns, Lsn* lsn);
  std::string drop_table(std::string_view table, Lsn* lsn);
  // DELETE FROM table WHERE time < before: from now on reads skip those rows, and retention
  // drops the partitions wholly before `before` (logged as a schema change). "" or the error.
  std::string delete_before(std::string_view table, int64_t before, Lsn* lsn);
  // A table as the config defines it: created when missing; when present, the columns it
  // lacks are added and its options become these. "" or the error.
  std::string define_table(const Schema& schema, Lsn* lsn);
  std::shared_ptr<const Schema> schema(std::string_view table) const;  // null: no such table
  // Changes whenever a table is created, altered or dropped: a schema() looked up while it
  // read V is still the table's schema while it reads V (ingest keeps its lookups by it).
  uint64_t catalog_version() const;

  // Logs and applies the rows of `batch` (table_id and columns from schema(); the fields in
  // the schema's field order, as many as batch.columns had). All or nothing. `waited` false:
  // nobody waits for the rows to be durable (Store::write_record).
  WriteResult write(const RowBatch& batch, bool waited = true);

  // Calls fn per matching series (in series order) with its tag values (in tag column order)
  // and its rows in [from, to), sorted, duplicates resolved. A series may come in several
  // consecutive calls (one per block, when its blocks overlap nothing), each later in time
  // than the one before. False (with *error) when the table does not exist or a block file
  // cannot be read.
  // With `summary`: a block that lies wholly in [from, to) and overlaps no other rows of its
  // series (so no duplicate policy applies) is offered as its statistics first; when summary
  // returns true it took them and the block is not decoded, else its rows go to fn as usual.
  // Aggregates answer from block statistics this way without decompressing.
  using SummaryFn = std::function<bool(const std::vector<std::string>& tags, const BlockMeta& meta)>;
  bool scan(std::string_view table, const ScanSpec& spec,
            const std::function<void(const std::vector<std::string>& tags, const SeriesRows& rows)>& fn,
            std::string* error, const SummaryFn& summary = nullptr) const;
  std::vector<TableInfo> list() const;

  // Calls `fn` after each write() to `table` from now on (every write that starts after this
  // returned) with that write's rows. fn runs on the writing thread, outside the tables'
  // mutex; the writes to one table reach their watchers one at a time, in the order they were
  // applied, so fn is never called twice at once and the rows of a series come in order. fn
  // must be quick and must not wait (hand the rows on to a queue): the next write to the table
  // waits for it. Returning false removes the watcher before the next call. DROP TABLE calls
  // fn once more with rows == nullptr and removes it. Returns the watcher's id (> 0), or 0 with
  // *error ("table 'x' does not exist").
  uint64_t add_watcher(std::string_view table, WatchFn fn, std::string* error);
  // Removes watcher `id` (one that is gone already is fine). Waits for a call of its fn under
  // way: once this returns, fn is not running and is not called again. Not from within fn
  // (return false instead).
  void remove_watcher(uint64_t id);
  size_t watchers() const;  // how many are registered

  // The partitions, files and blocks of `table` that overlap [from, to).
  ScanEstimate estimate(std::string_view table, int64_t from, int64_t to) const;
  // Waits until the WAL has made `lsn` durable (at once in durability none, or before
  // attach()). False when `timeout` passed first.
  bool wait_durable(Lsn lsn, std::chrono::milliseconds timeout) const;

  // Deletes the partitions of every table that ended before now - ttl. Returns how many.
  size_t enforce_retention(int64_t now_ns);
  // Merges the files of each partition whose files other than its largest hold a third of
  // its bytes (all of them), or that has more than compact_files (those newer than its
  // largest). Returns how many merges were made.
  size_t compact();
  TablesStats stats() const;
  // Stops the background thread. The heads stay in the WAL (the caller closes the store).
  void close();

  struct Impl;

 private:
  explicit Tables(const TablesOptions& opts);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mqbase::store::tables
