// Tables: see tables.h; the files are described in docs/store-format.md#tables.
//
//   <dir>/MANIFEST                 what is on disk: flushed LSN, schemas, files (replaced whole)
//   <dir>/t<id>/series             the table's series: appended, valid up to the length MANIFEST names
//   <dir>/t<id>/p<start>/<n>.blk   block files of one partition (start: its first ns)
#include "store/tables.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "store/coding.h"
#include "store/crc32c.h"
#include "store/file_ops.h"
#include "store/store.h"
#include "store/thread_setup.h"

namespace mqbase::store::tables {
namespace {

constexpr std::string_view kManifestMagic = "MQBMAN01";
constexpr std::string_view kBlockFileMagic = "MQBTBL01";
constexpr std::string_view kBlockFileFooterMagic = "MQBTBLFT";
constexpr size_t kFooterSize = 24;  // u64 index offset, u32 index length, u32 index crc, magic
// The longest flush() waits for the WAL to make what it froze durable.
constexpr auto kDurableWait = std::chrono::seconds(30);

int64_t partition_of(int64_t t, int64_t size) {
  int64_t p = t / size;
  if (t % size < 0) --p;  // floor
  return p * size;
}

// The rows of the next block when `left` rows remain to be cut into blocks of at most
// block_rows: whole blocks, then the last two even (1,010 rows: 505 and 505, not 1,000 and
// 10), since every block costs a scan the same to read however few rows it holds.
size_t block_length(size_t left, size_t block_rows) {
  if (left <= block_rows) return left;
  if (left < 2 * block_rows) return left / 2;
  return block_rows;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Into `key` (cleared first, so a reused buffer allocates nothing).
void series_key(const std::vector<std::string>& tags, std::string& key) {
  // Trailing empty tags do not count: a tag added to the table later is "" for the old series.
  size_t n = tags.size();
  while (n > 0 && tags[n - 1].empty()) --n;
  key.clear();
  for (size_t i = 0; i < n; ++i) put_length_prefixed(key, tags[i]);
}


// A block sealed in memory, waiting for a flush.
struct SealedBlock {
  int64_t partition = 0;
  uint32_t rows = 0;
  int64_t min_time = 0, max_time = 0;
  uint64_t seq = 0;
  std::string bytes;
};

struct BlockRef {
  uint64_t offset = 0;
  uint32_t length = 0, rows = 0;
  int64_t min_time = 0, max_time = 0;
  uint64_t seq = 0;
  uint32_t ordinal = 0;  // the block's number in its file (BlockFile::checked)
};

}  // namespace

// One immutable block file, open while anything refers to it. Once replaced (compaction) or
// expired (retention), the last reference unlinks it.
struct BlockFile {
  FileOps* io = nullptr;
  std::string path;     // absolute
  std::string name;     // relative to the table's directory: "p<start>/<n>.blk"
  int64_t partition = 0;
  uint64_t seq = 0, bytes = 0, rows = 0;
  int64_t min_time = 0, max_time = 0;
  int fd = -1;
  std::unordered_map<uint32_t, std::vector<BlockRef>> index;  // series -> its blocks, by seq
  // By ordinal: the block's checksum has passed once. The file never changes, so a mapped
  // block is checked on its first read only; a block read with pread is checked every time.
  std::unique_ptr<std::atomic<bool>[]> checked;
  std::atomic<bool> obsolete{false};

  // What scans learned of its blocks (by offset), kept so that the next scan need not read
  // the block again: its statistics (aggregates answered from them), and its rows at its
  // newest time (the latest row per series). Filled as scans read blocks; the file is
  // immutable, so they never go stale.
  mutable std::mutex cache_mu;
  mutable std::unordered_map<uint64_t, std::shared_ptr<const BlockMeta>> metas;
  mutable std::unordered_map<uint64_t, std::shared_ptr<const SeriesRows>> newest;

  template <typename T>
  std::shared_ptr<const T> cached(const std::unordered_map<uint64_t, std::shared_ptr<const T>>& m, uint64_t offset) const {
    std::lock_guard lock(cache_mu);
    auto it = m.find(offset);
    return it == m.end() ? nullptr : it->second;
  }
  template <typename T>
  void keep(std::unordered_map<uint64_t, std::shared_ptr<const T>>& m, uint64_t offset, std::shared_ptr<const T> v) const {
    std::lock_guard lock(cache_mu);
    m.emplace(offset, std::move(v));
  }

  // The file mapped read-only on its first read (the file never changes once written): a
  // block is then copied out of the mapping (no syscall) and checked on its first read. Not mapped
  // (null) when the file operations are not POSIX's (tests inject read faults through pread)
  // or mmap failed: reads then go through pread.
  mutable std::once_flag map_once;
  mutable const char* map = nullptr;
  mutable size_t map_size = 0;

  void map_file() const {
    std::call_once(map_once, [this] {
      struct stat st;
      if (io != &FileOps::posix() || fd < 0 || ::fstat(fd, &st) != 0 || st.st_size <= 0) return;
      void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) return;
      map = static_cast<const char*>(p);
      map_size = static_cast<size_t>(st.st_size);
    });
  }

  ~BlockFile() {
    if (map) ::munmap(const_cast<char*>(map), map_size);
    if (fd >= 0) io->close(fd);
    if (obsolete.load()) io->unlink(path);
  }
};
using BlockFilePtr = std::shared_ptr<BlockFile>;

// The block on disk that ends newest in a series, found once per change of its table's files
// (Table::files_gen) for the latest-row path, which would otherwise look the series up in
// every block file of its newest partition on every query.
struct NewestOnDisk {
  uint64_t gen = 0;                 // Table::files_gen it was found at
  std::weak_ptr<BlockFile> file;    // expired: no block on disk
  BlockRef ref;
  bool tie = false;                 // another block ends at the same time: the caller looks at all
  std::shared_ptr<const SeriesRows> top;  // its rows at ref.max_time, once a scan has decoded them
};

struct Series {
  // Shared with the scans that read the series (a query copies no strings to name a series).
  std::shared_ptr<const std::vector<std::string>> tags;
  SeriesRows head, overflow;
  int64_t head_max = INT64_MIN;
  int64_t sealed_through = INT64_MIN;  // the newest time sealed into a block (memory or disk)
  size_t seal_at = 0;                  // check the head again at this many rows
  std::vector<SealedBlock> sealed;
  size_t sealed_bytes = 0;
  std::unique_ptr<NewestOnDisk> newest;  // made by the first latest-row scan of the series
};

struct Table {
  std::shared_ptr<const Schema> schema;
  size_t field_count = 0;  // the schema's field columns (a head conformed to it has as many)
  std::vector<std::unique_ptr<Series>> series;
  std::unordered_map<std::string, uint32_t> by_key;
  std::map<std::pair<int, std::string>, std::vector<uint32_t>> tag_index;  // (column, value) -> series
  uint32_t persisted_series = 0;   // ids below this are in the series file
  uint64_t series_file_bytes = 0;  // its valid length
  std::map<int64_t, std::vector<BlockFilePtr>> partitions;
  uint64_t files_gen = 1;          // moves on every change of `partitions` (see NewestOnDisk)
  std::vector<std::pair<uint32_t, SealedBlock>> frozen;  // sealed, being flushed
  uint64_t bytes_on_disk = 0;
};

struct Tables::Impl {
  TablesOptions opts;
  FileOps& io;
  // Set once by attach(); a checkpoint (flush) may already run on its thread before that.
  std::atomic<Store*> store{nullptr};

  mutable std::mutex mu;  // the catalog, the heads, the partitions' file lists
  std::map<uint32_t, Table> tables;
  std::map<std::string, uint32_t, std::less<>> by_name;
  uint32_t next_table_id = 1;
  // See Tables::catalog_version(); changed under mu. Drawn from one counter for the process, so
  // that no two Tables (one made where another was) ever show the same version.
  static uint64_t new_catalog_version() {
    static std::atomic<uint64_t> versions{0};
    return versions.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  std::atomic<uint64_t> catalog_version{new_catalog_version()};
  uint64_t next_block_seq = 1;
  uint64_t next_file_seq = 1;
  Lsn flushed_lsn = 0;     // MANIFEST holds everything through this
  Lsn last_applied = 0;    // the newest record applied to the heads
  uint64_t memory = 0;     // heads + sealed blocks, roughly
  TablesStats stats;

  std::mutex files_mu;     // one writer of files and MANIFEST at a time
  std::mutex compact_mu;   // one compaction at a time (it merges without files_mu)

  std::thread background;
  std::mutex bg_mu;
  std::condition_variable bg_wake;
  bool bg_stop = false;
  bool flush_wanted = false;

  // ---- watchers ------------------------------------------------------------------------
  //
  // A write's rows reach a table's watchers after the write has left `mu`, so formatting them
  // never holds up the other tables. What keeps them in order is a ticket: a write takes the
  // next ticket of its table's channel while it still holds `mu` (the order the rows were
  // applied in), and delivers when every earlier ticket is done. Whoever holds the turn may
  // change the channel's watcher list; others swap in a copy (add) or wait for a turn
  // (remove), so a delivery reads its list without a lock.
  struct Watcher {
    uint64_t id;
    WatchFn fn;
  };
  struct WatchChannel {
    std::mutex mu;  // after watch_mu
    std::condition_variable turn;
    uint64_t next_ticket = 0, done = 0;
    std::shared_ptr<const std::vector<Watcher>> list = std::make_shared<std::vector<Watcher>>();
  };
  std::atomic<size_t> watcher_count{0};  // changed under mu and watch_mu; read relaxed by write()
  mutable std::mutex watch_mu;           // after mu
  std::map<uint32_t, std::shared_ptr<WatchChannel>> channels;  // by table id
  std::unordered_map<uint64_t, uint32_t> watcher_table;        // watcher id -> table id
  uint64_t next_watcher = 1;

  // A ticket of table `id`'s channel, with mu held; null when nobody watches it.
  std::shared_ptr<WatchChannel> take_ticket(uint32_t id, uint64_t* ticket) {
    if (watcher_count.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard wl(watch_mu);
    auto it = channels.find(id);
    if (it == channels.end()) return nullptr;
    std::lock_guard cl(it->second->mu);
    *ticket = it->second->next_ticket++;
    return it->second;
  }

  // Waits for `ticket`'s turn, and returns the watchers then.
  std::shared_ptr<const std::vector<Watcher>> wait_turn(WatchChannel& ch, uint64_t ticket) {
    std::unique_lock l(ch.mu);
    ch.turn.wait(l, [&] { return ch.done == ticket; });
    return ch.list;
  }
  void end_turn(WatchChannel& ch) {
    {
      std::lock_guard l(ch.mu);
      ++ch.done;
    }
    ch.turn.notify_all();
  }

  // With the turn of `ch` (table `table`): takes watchers `ids` off it.
  void unregister(uint32_t table, WatchChannel& ch, const std::vector<uint64_t>& ids) {
    if (ids.empty()) return;
    std::lock_guard wl(watch_mu);
    std::lock_guard cl(ch.mu);
    auto list = std::make_shared<std::vector<Watcher>>();
    for (const Watcher& w : *ch.list)
      if (std::find(ids.begin(), ids.end(), w.id) == ids.end()) list->push_back(w);
    for (uint64_t id : ids)
      if (watcher_table.erase(id)) watcher_count.fetch_sub(1, std::memory_order_relaxed);
    ch.list = std::move(list);
    if (auto it = channels.find(table); ch.list->empty() && it != channels.end() && it->second.get() == &ch)
      channels.erase(it);
  }

  // Hands `rows` to the watchers of `table` in the turn of `ticket`. A watcher whose fn returns
  // false (or throws), or every watcher when the table went (rows.rows null), is taken off.
  void deliver(uint32_t table, WatchChannel& ch, uint64_t ticket, const WatchedRows& rows) {
    auto list = wait_turn(ch, ticket);
    std::vector<uint64_t> finished;
    for (const Watcher& w : *list) {
      bool keep = false;
      try {
        keep = w.fn(rows);
      } catch (const std::exception& e) {  // the turn must end whatever happens
        log(std::string("tables: a watcher failed and is removed: ") + e.what());
      } catch (...) {
        log("tables: a watcher failed and is removed");
      }
      if (!keep || !rows.rows) finished.push_back(w.id);
    }
    unregister(table, ch, finished);
    end_turn(ch);
  }

  Tables* owner;

  Impl(const TablesOptions& o, Tables* t) : opts(o), io(o.io ? *o.io : FileOps::posix()), owner(t) {}

  void log(const std::string& line) const {
    if (opts.log) opts.log(line);
  }
  std::string table_dir(uint32_t id) const { return opts.dir + "/t" + std::to_string(id); }

  // ---- the catalog ---------------------------------------------------------------------

  Table* find(std::string_view name) {
    if (auto it = by_name.find(name); it != by_name.end()) return &tables.at(it->second);  // already lower case
    std::string n;
    if (!normalize_name(name, &n)) return nullptr;
    auto it = by_name.find(n);
    return it == by_name.end() ? nullptr : &tables.at(it->second);
  }

  void apply_schema(const Schema& s) {
    auto& t = tables[s.id];
    if (t.schema && t.schema->name != s.name) by_name.erase(t.schema->name);
    t.schema = std::make_shared<const Schema>(s);
    t.field_count = s.field_indexes().size();
    by_name[s.name] = s.id;
    catalog_version.store(new_catalog_version(), std::memory_order_release);
    if (s.id >= next_table_id) next_table_id = s.id + 1;
  }

  void apply_drop(uint32_t id) {
    auto it = tables.find(id);
    if (it == tables.end()) return;
    by_name.erase(it->second.schema->name);
    for (auto& [p, files] : it->second.partitions)
      for (auto& f : files) f->obsolete = true;
    for (auto& s : it->second.series) memory -= std::min<uint64_t>(memory, s->head.memory() + s->overflow.memory() + s->sealed_bytes);
    tables.erase(it);
    catalog_version.store(new_catalog_version(), std::memory_order_release);
  }

  // Logs a DDL record (under mu, so that it is ordered with the rows around it). False when
  // the store refuses it. Without a store (before attach) there is nothing to log.
  bool log_ddl(uint8_t type, std::string_view rec, Lsn* lsn) {
    Store* st = store.load();
    if (!st) return true;
    *lsn = st->write_record(type, rec);
    if (*lsn == 0) return false;
    last_applied = std::max(last_applied, *lsn);
    return true;
  }

  // ---- heads ---------------------------------------------------------------------------

  uint32_t series_for(Table& t, const std::vector<std::string>& tags) {
    thread_local std::string key;  // reused: a key past 15 bytes would allocate each row batch
    series_key(tags, key);
    auto [it, added] = t.by_key.try_emplace(key, static_cast<uint32_t>(t.series.size()));
    if (added) {
      auto s = std::make_unique<Series>();
      std::vector<int> tag_cols = t.schema->tag_indexes();
      auto own = std::make_shared<std::vector<std::string>>(tags);
      own->resize(std::max(own->size(), tag_cols.size()));
      for (size_t k = 0; k < tag_cols.size(); ++k) t.tag_index[{tag_cols[k], (*own)[k]}].push_back(it->second);
      s->tags = std::move(own);
      // The head is conformed by the first write, the overflow by the first late row: a
      // series costs nothing for rows it has not had (a million series are loaded at start).
      s->seal_at = opts.block_rows;
      t.series.push_back(std::move(s));
    }
    return it->second;
  }

  // Seals rows [0, n) of `rows` (sorted) into blocks of at most block_rows within one
  // partition, each partition's rows cut by block_length.
  void seal_rows(const Schema& schema, Series& s, SeriesRows& rows, size_t n, bool overflow) {
    size_t k = 0, run_end = 0;
    int64_t p = 0;  // the partition of rows [k, run_end)
    while (k < n) {
      if (k >= run_end) {  // the next partition's rows
        const int64_t size = schema.options.partition_ns;
        p = partition_of(rows.times[k], size);
        run_end = p > INT64_MAX - size ? n
                                       : std::lower_bound(rows.times.begin() + static_cast<ptrdiff_t>(k),
                                                          rows.times.begin() + static_cast<ptrdiff_t>(n), p + size) -
                                             rows.times.begin();
      }
      size_t e = k + block_length(run_end - k, opts.block_rows);
      SeriesRows part;
      part.fields.resize(rows.fields.size());
      for (size_t c = 0; c < rows.fields.size(); ++c) {
        part.fields[c].type = rows.fields[c].type;
        part.fields[c].reserve(e - k);
      }
      part.times.reserve(e - k);
      for (size_t r = k; r < e; ++r) part.push_from(rows, r);
      SealedBlock b;
      b.partition = p;
      b.rows = static_cast<uint32_t>(e - k);
      b.min_time = part.times.front();
      b.max_time = part.times.back();
      b.seq = next_block_seq++;
      encode_block(part, b.seq, overflow, b.bytes);
      s.sealed_bytes += b.bytes.size();
      memory += b.bytes.size();
      s.sealed.push_back(std::move(b));
      k = e;
    }
    if (n > 0 && !overflow) s.sealed_through = std::max(s.sealed_through, rows.times[n - 1]);
    if (n == rows.rows()) {
      rows.clear();  // all of it sealed: keep the vectors' capacity for the next rows
      return;
    }
    // Drop the sealed prefix.
    SeriesRows rest;
    rest.fields.resize(rows.fields.size());
    for (size_t c = 0; c < rows.fields.size(); ++c) rest.fields[c].type = rows.fields[c].type;
    for (size_t r = n; r < rows.rows(); ++r) rest.push_from(rows, r);
    rows = std::move(rest);
  }

  // The head has reached its check point: sort it, seal what is older than the window (or,
  // past four blocks, the oldest rows whatever the window says).
  void maybe_seal(const Schema& schema, Series& s, bool all) {
    uint64_t before = s.head.memory() + s.overflow.memory();
    if (s.head.rows() > 0) {
      sort_rows(s.head, schema.options.duplicates);
      size_t n = s.head.rows();
      size_t cut = n;
      size_t wait = 0;  // rows out of the window that wait in the head for a whole block
      if (!all) {
        int64_t limit = s.head_max - schema.options.ooo_window_ns;
        cut = std::lower_bound(s.head.times.begin(), s.head.times.end(), limit) - s.head.times.begin();
        if (n > 4 * opts.block_rows) cut = std::max(cut, n - 3 * opts.block_rows);
        if (cut > 0) {
          // Whole blocks only, in the partition that is still being written: a cut of 1,011
          // rows seals 1,000 and keeps 11 for the next block, rather than sealing a block of
          // 11 (the rows in the window vary with the device's gaps). Rows of an earlier
          // partition are sealed whatever their number: that partition gets no more in order.
          const int64_t size = schema.options.partition_ns;
          const int64_t last = partition_of(s.head.times[cut - 1], size);
          size_t first = std::lower_bound(s.head.times.begin(), s.head.times.begin() + static_cast<ptrdiff_t>(cut), last) -
                         s.head.times.begin();
          wait = (cut - first) % opts.block_rows;
          cut -= wait;
        }
      }
      if (cut > 0) seal_rows(schema, s, s.head, cut, false);
      // Check again once the waiting rows could make a block, and not on every row meanwhile
      // (a check sorts the head).
      s.seal_at = s.head.rows() + std::max(opts.block_rows - wait, opts.block_rows / 8 + 1);
    }
    if (s.overflow.rows() > 0 && (all || s.overflow.rows() >= opts.block_rows)) {
      sort_rows(s.overflow, schema.options.duplicates);
      seal_rows(schema, s, s.overflow, s.overflow.rows(), true);
    }
    uint64_t after = s.head.memory() + s.overflow.memory();
    memory = memory + after - std::min(memory + after, before);
  }

  void conform(const Schema& schema, SeriesRows& rows) {
    uint64_t before = rows.memory();
    rows.conform(schema);
    memory += rows.memory() - before;
  }

  // After a flush: what an idle series holds goes back to the allocator (clear() keeps the
  // vectors' capacity for a series being written; a flush comes once a checkpoint).
  void release_empty(Series& s) {
    for (SeriesRows* rows : {&s.head, &s.overflow})
      if (rows->rows() == 0 && rows->fields.capacity() + rows->times.capacity() > 0) {
        memory -= std::min<uint64_t>(memory, rows->memory());
        rows->release();
      }
    if (s.sealed.empty()) std::vector<SealedBlock>().swap(s.sealed);
  }

  void apply_rows(const RowBatch& b) {
    auto it = tables.find(b.table_id);
    if (it == tables.end()) return;  // dropped since
    Table& t = it->second;
    const Schema& schema = *t.schema;
    const size_t field_count = t.field_count;
    thread_local std::vector<uint32_t> ids;  // kept: a message's batch would allocate it each time
    ids.resize(b.series.size());
    for (size_t k = 0; k < b.series.size(); ++k) {
      ids[k] = series_for(t, b.series[k]);
      Series& s = *t.series[ids[k]];
      // A new or released head, or columns the table gained since the series' rows began
      // (conform() walks the schema).
      if (s.head.fields.size() != field_count) conform(schema, s.head);
    }
    for (size_t r = 0; r < b.rows(); ++r) {
      Series& s = *t.series[ids[b.row_series[r]]];
      int64_t time = b.times[r];
      bool late = time <= s.sealed_through;
      if (late && s.overflow.fields.size() != field_count) conform(schema, s.overflow);
      SeriesRows& dst = late ? s.overflow : s.head;
      dst.times.push_back(time);
      size_t added = 8;
      for (size_t c = 0; c < dst.fields.size(); ++c) {
        if (c < b.fields.size()) dst.fields[c].push_from(b.fields[c], r);
        else dst.fields[c].push_null();
        added += dst.fields[c].row_memory(dst.fields[c].size() - 1);
      }
      memory += added;
      if (late) {
        ++stats.late_rows;
        if (s.overflow.rows() >= opts.block_rows) maybe_seal(schema, s, false);
      } else {
        s.head_max = std::max(s.head_max, time);
        if (s.head.rows() >= s.seal_at) maybe_seal(schema, s, false);
      }
    }
    stats.rows_written += b.rows();
  }

  // ---- files -----------------------------------------------------------------------------

  [[noreturn]] void fail(const std::string& what) const { throw StoreError(what); }

  bool write_file(const std::string& path, std::string_view bytes, std::string* error) {
    std::string tmp = path + ".tmp";
    int fd = io.open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0) {
      *error = "cannot create " + tmp + ": " + errno_text(errno);
      return false;
    }
    bool ok = write_all(io, fd, bytes.data(), bytes.size(), 0) && io.fdatasync(fd) == 0;
    int err = errno;
    io.close(fd);
    if (!ok || io.rename(tmp, path) != 0) {
      *error = "cannot write " + path + ": " + errno_text(ok ? errno : err);
      io.unlink(tmp);
      return false;
    }
    return true;
  }

  // Reads a whole small file; false when missing (errno ENOENT) or unreadable.
  bool read_file(const std::string& path, std::string& out) const {
    int fd = io.open(path, O_RDONLY);
    if (fd < 0) return false;
    struct stat st;
    bool ok = ::fstat(fd, &st) == 0;
    if (ok) {
      out.resize(static_cast<size_t>(st.st_size));
      ok = read_exact(io, fd, out.data(), out.size(), 0);
    }
    io.close(fd);
    return ok;
  }

  // Opens a block file and reads its index. Throws StoreError when damaged.
  BlockFilePtr open_block_file(uint32_t table, const std::string& name) {
    auto f = std::make_shared<BlockFile>();
    f->io = &io;
    f->name = name;
    f->path = table_dir(table) + "/" + name;
    f->fd = io.open(f->path, O_RDONLY);
    if (f->fd < 0) fail("cannot open table file " + f->path + ": " + errno_text(errno));
    struct stat st;
    if (::fstat(f->fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < kBlockFileMagic.size() + kFooterSize)
      fail("table file " + f->path + " is truncated");
    f->bytes = static_cast<uint64_t>(st.st_size);
    char footer[kFooterSize];
    if (!read_exact(io, f->fd, footer, kFooterSize, static_cast<off_t>(f->bytes - kFooterSize)) ||
        std::string_view(footer + 16, 8) != kBlockFileFooterMagic)
      fail("table file " + f->path + " has no valid footer");
    uint64_t index_offset = decode_u64(footer);
    uint32_t index_length = decode_u32(footer + 8), index_crc = decode_u32(footer + 12);
    if (index_offset + index_length + kFooterSize != f->bytes) fail("table file " + f->path + ": index out of bounds");
    std::string index(index_length, '\0');
    if (!read_exact(io, f->fd, index.data(), index.size(), static_cast<off_t>(index_offset)) ||
        crc32c(index.data(), index.size()) != index_crc)
      fail("table file " + f->path + ": index checksum mismatch");
    std::string_view in(index);
    uint32_t nseries;
    if (!get_varint32(in, nseries)) fail("table file " + f->path + ": bad index");
    f->min_time = INT64_MAX;
    f->max_time = INT64_MIN;
    uint32_t blocks = 0;
    for (uint32_t k = 0; k < nseries; ++k) {
      uint32_t id, nblocks;
      if (!get_varint32(in, id) || !get_varint32(in, nblocks) || nblocks > in.size()) fail("table file " + f->path + ": bad index");
      auto& refs = f->index[id];
      refs.resize(nblocks);
      for (BlockRef& r : refs) {
        if (!get_varint64(in, r.offset) || !get_varint32(in, r.length) || !get_varint32(in, r.rows) ||
            !get_svarint64(in, r.min_time) || !get_svarint64(in, r.max_time) || !get_varint64(in, r.seq) ||
            r.offset + 4 + r.length > index_offset)
          fail("table file " + f->path + ": bad index");
        r.ordinal = blocks++;
        f->rows += r.rows;
        f->min_time = std::min(f->min_time, r.min_time);
        f->max_time = std::max(f->max_time, r.max_time);
      }
    }
    f->checked = std::make_unique<std::atomic<bool>[]>(blocks);
    return f;
  }

  // Writes one block file of `blocks` (by series) for `table`; returns it opened, or null
  // with *error.
  // A block file written as its blocks come, series by series: the blocks (each after its
  // crc), then the index and the footer; synced and renamed into place by finish(). A
  // compaction streams a partition through it instead of holding every merged block (the
  // TSBS load's 17 M-row partitions took 364 MB that way). Destroyed unfinished, it removes
  // its temporary file.
  class BlockFileWriter {
   public:
    explicit BlockFileWriter(Impl& m) : m_(m) {}
    ~BlockFileWriter() {
      if (fd_ >= 0) {
        m_.io.close(fd_);
        m_.io.unlink(tmp_);
      }
    }
    BlockFileWriter(const BlockFileWriter&) = delete;
    BlockFileWriter& operator=(const BlockFileWriter&) = delete;

    // File `seq` (from next_file_seq) of the table's partition.
    bool open(uint32_t table, int64_t partition, uint64_t seq, std::string* error) {
      table_ = table;
      partition_ = partition;
      seq_ = seq;
      pdir_ = m_.table_dir(table) + "/p" + std::to_string(partition);
      ::mkdir(m_.table_dir(table).c_str(), 0755);
      ::mkdir(pdir_.c_str(), 0755);
      name_ = "p" + std::to_string(partition) + "/" + std::to_string(seq) + ".blk";
      tmp_ = m_.table_dir(table) + "/" + name_ + ".tmp";
      fd_ = m_.io.open(tmp_, O_WRONLY | O_CREAT | O_TRUNC);
      if (fd_ < 0) {
        *error = "cannot create " + tmp_ + ": " + errno_text(errno);
        return false;
      }
      buf_ = kBlockFileMagic;
      return true;
    }

    // The blocks of one series (each series once).
    bool add(uint32_t series, const std::vector<const SealedBlock*>& blocks, std::string* error) {
      ++series_;
      put_varint32(index_, series);
      put_varint32(index_, static_cast<uint32_t>(blocks.size()));
      for (const SealedBlock* b : blocks) {
        put_varint64(index_, written_ + buf_.size());
        put_varint32(index_, static_cast<uint32_t>(b->bytes.size()));
        put_varint32(index_, b->rows);
        put_svarint64(index_, b->min_time);
        put_svarint64(index_, b->max_time);
        put_varint64(index_, b->seq);
        put_u32(buf_, crc32c(b->bytes.data(), b->bytes.size()));
        buf_ += b->bytes;
      }
      return buf_.size() < kFlushBytes || drain(error);
    }

    BlockFilePtr finish(std::string* error) {
      std::string index;
      put_varint32(index, series_);
      index += index_;
      const uint64_t index_offset = written_ + buf_.size();
      buf_ += index;
      put_u64(buf_, index_offset);
      put_u32(buf_, static_cast<uint32_t>(index.size()));
      put_u32(buf_, crc32c(index.data(), index.size()));
      buf_ += kBlockFileFooterMagic;
      const std::string path = m_.table_dir(table_) + "/" + name_;
      bool ok = drain(error) && m_.io.fdatasync(fd_) == 0;
      int err = errno;
      m_.io.close(fd_);
      fd_ = -1;
      if (!ok || m_.io.rename(tmp_, path) != 0) {
        if (error->empty()) *error = "cannot write " + path + ": " + errno_text(ok ? errno : err);
        m_.io.unlink(tmp_);
        return nullptr;
      }
      if (!fsync_dir(m_.io, pdir_) || !fsync_dir(m_.io, m_.table_dir(table_))) {
        *error = "cannot sync " + pdir_ + ": " + errno_text(errno);
        return nullptr;
      }
      try {
        BlockFilePtr f = m_.open_block_file(table_, name_);
        f->partition = partition_;
        f->seq = seq_;
        return f;
      } catch (const StoreError& e) {
        *error = e.what();
        return nullptr;
      }
    }

   private:
    static constexpr size_t kFlushBytes = 4 << 20;
    bool drain(std::string* error) {
      if (!write_all(m_.io, fd_, buf_.data(), buf_.size(), static_cast<off_t>(written_))) {
        *error = "cannot write " + tmp_ + ": " + errno_text(errno);
        return false;
      }
      written_ += buf_.size();
      buf_.clear();
      return true;
    }

    Impl& m_;
    uint32_t table_ = 0, series_ = 0;
    int64_t partition_ = 0;
    uint64_t seq_ = 0, written_ = 0;
    int fd_ = -1;
    std::string pdir_, name_, tmp_, buf_, index_;
  };

  BlockFilePtr write_block_file(uint32_t table, int64_t partition,
                                const std::map<uint32_t, std::vector<const SealedBlock*>>& blocks, std::string* error) {
    BlockFileWriter w(*this);
    if (!w.open(table, partition, next_file_seq++, error)) return nullptr;
    for (auto& [id, list] : blocks)
      if (!w.add(id, list, error)) return nullptr;
    return w.finish(error);
  }

  // The block `r` of `f`, its checksum checked: `block` is its bytes, in `buf` (copied from the
  // file's mapping, or read with pread where there is none).
  // `wanted` (with `compact` and `meta`): the fields the caller decodes. Once the block's
  // checksum has been checked, only its header is read and only the pieces of its data that
  // those fields need are copied out of the mapping (block_pieces): then *compact is true,
  // `meta` holds the header and `block` the compact data (for decode_block_data). Copying a
  // whole block of a dozen columns to read the times and one field of sixty rows was a tenth
  // of a narrow scan.
  bool read_block(const BlockFile& f, const BlockRef& r, std::string& buf, std::string_view& block,
                  std::string* error, const std::vector<bool>* wanted = nullptr, bool* compact = nullptr,
                  BlockMeta* meta = nullptr) const {
    std::string_view raw;
    f.map_file();
    if (compact) *compact = false;
    if (f.map) {
      if (r.offset > f.map_size || f.map_size - r.offset < uint64_t{r.length} + 4) {
        *error = "table file " + f.path + ": block at offset " + std::to_string(r.offset) + " lies past its end";
        return false;
      }
      if (wanted && compact && meta && f.checked[r.ordinal].load(std::memory_order_relaxed) &&
          std::find(wanted->begin(), wanted->end(), false) != wanted->end()) {
        struct Find {
          std::string_view block;
          const std::vector<bool>* wanted;
          BlockMeta* meta;
          std::vector<std::pair<size_t, size_t>>* pieces;
          bool ok = false;
        };
        thread_local std::vector<std::pair<size_t, size_t>> pieces;
        Find find{std::string_view(f.map + r.offset + 4, r.length), wanted, meta, &pieces};
        const bool read = read_mapping(
            [](void* p) {
              auto* x = static_cast<Find*>(p);
              x->ok = block_pieces(x->block, *x->wanted, *x->meta, *x->pieces);
            },
            &find);
        if (read && find.ok) {
          size_t total = 0;
          for (auto& [at, len] : pieces) total += len;
          buf.resize(total);
          size_t to = 0;
          bool copied = true;
          for (auto& [at, len] : pieces) {
            copied = copied && copy_from_mapping(buf.data() + to, f.map + r.offset + 4 + at, len);
            to += len;
          }
          if (copied) {
            block = buf;
            *compact = true;
            return true;
          }
        }
        // A read that failed, or a block that does not split: the whole copy below says why.
      }
      // Copied out, not decoded where it lies: a page that cannot be read (the file cut short
      // by someone else, a failing disk) raises SIGBUS, which the copy turns into this error.
      buf.resize(r.length + 4);
      if (!copy_from_mapping(buf.data(), f.map + r.offset, buf.size())) {
        *error = "table file " + f.path + ": block at offset " + std::to_string(r.offset) +
                 " cannot be read (the file is shorter than when it was opened, or the disk failed to read it)";
        return false;
      }
      raw = buf;
      if (f.checked[r.ordinal].load(std::memory_order_relaxed)) {
        block = raw.substr(4);
        return true;
      }
    } else {
      buf.resize(r.length + 4);
      if (!read_exact(io, f.fd, buf.data(), buf.size(), static_cast<off_t>(r.offset))) {
        *error = "cannot read " + f.path + ": " + errno_text(errno);
        return false;
      }
      raw = buf;
    }
    if (decode_u32(raw.data()) != crc32c(raw.data() + 4, r.length)) {
      *error = "table file " + f.path + ": block at offset " + std::to_string(r.offset) + " fails its checksum";
      return false;
    }
    if (f.map) f.checked[r.ordinal].store(true, std::memory_order_relaxed);
    block = raw.substr(4);
    return true;
  }

  // What a flush is about to make true, beside the state in memory: encode_manifest() writes
  // it as if it were (the state changes only once MANIFEST is on disk).
  struct Pending {
    Lsn flushed = 0;
    std::map<uint32_t, std::pair<uint32_t, uint64_t>> series;           // table -> series, file bytes
    std::map<uint32_t, std::vector<BlockFilePtr>> files;                 // table -> new block files
  };

  std::string encode_manifest(const Pending* pending = nullptr) const {
    std::string body;
    put_varint64(body, pending ? pending->flushed : flushed_lsn);
    put_varint64(body, next_file_seq);
    put_varint64(body, next_block_seq);
    put_varint32(body, next_table_id);
    put_varint32(body, static_cast<uint32_t>(tables.size()));
    static const std::vector<BlockFilePtr> kNone;
    for (auto& [id, t] : tables) {
      encode_schema(*t.schema, body);
      auto series = std::pair{t.persisted_series, t.series_file_bytes};
      const std::vector<BlockFilePtr>* added = &kNone;
      if (pending) {
        if (auto it = pending->series.find(id); it != pending->series.end()) series = it->second;
        if (auto it = pending->files.find(id); it != pending->files.end()) added = &it->second;
      }
      put_varint32(body, series.first);
      put_varint64(body, series.second);
      size_t nfiles = added->size();
      for (auto& [p, files] : t.partitions) nfiles += files.size();
      put_varint32(body, static_cast<uint32_t>(nfiles));
      auto put_file = [&](const BlockFile& f) {
        put_length_prefixed(body, f.name);
        put_svarint64(body, f.partition);
        put_varint64(body, f.seq);
      };
      for (auto& [p, files] : t.partitions)
        for (auto& f : files) put_file(*f);
      for (auto& f : *added) put_file(*f);
    }
    std::string out(kManifestMagic);
    put_u32(out, crc32c(body.data(), body.size()));
    put_u32(out, static_cast<uint32_t>(body.size()));
    return out + body;
  }

  // ---- open ------------------------------------------------------------------------------

  void load() {
    if (!opts.read_only) std::filesystem::create_directories(opts.dir);
    std::string bytes;
    std::string path = opts.dir + "/MANIFEST";
    if (!read_file(path, bytes)) {
      if (errno != ENOENT) fail("cannot read " + path + ": " + errno_text(errno));
      remove_strays();
      return;
    }
    if (bytes.size() < 16 || std::string_view(bytes).substr(0, 8) != kManifestMagic ||
        decode_u32(bytes.data() + 12) != bytes.size() - 16 ||
        decode_u32(bytes.data() + 8) != crc32c(bytes.data() + 16, bytes.size() - 16))
      fail(path + " is damaged (bad magic, length or checksum)");
    std::string_view in(bytes);
    in.remove_prefix(16);
    uint32_t ntables;
    if (!get_varint64(in, flushed_lsn) || !get_varint64(in, next_file_seq) || !get_varint64(in, next_block_seq) ||
        !get_varint32(in, next_table_id) || !get_varint32(in, ntables))
      fail(path + " is malformed");
    for (uint32_t k = 0; k < ntables; ++k) {
      Schema s;
      uint32_t persisted, nfiles;
      uint64_t series_bytes;
      if (!decode_schema(in, s) || !get_varint32(in, persisted) || !get_varint64(in, series_bytes) ||
          !get_varint32(in, nfiles))
        fail(path + " is malformed");
      apply_schema(s);
      Table& t = tables[s.id];
      load_series(t, persisted, series_bytes);
      for (uint32_t f = 0; f < nfiles; ++f) {
        std::string_view name;
        int64_t partition;
        uint64_t seq;
        if (!get_length_prefixed(in, name) || !get_svarint64(in, partition) || !get_varint64(in, seq))
          fail(path + " is malformed");
        BlockFilePtr file = open_block_file(s.id, std::string(name));
        file->partition = partition;
        file->seq = seq;
        t.bytes_on_disk += file->bytes;
        // Series that blocks name must exist (the series file was synced before MANIFEST).
        for (auto& [id, refs] : file->index)
          if (id >= t.series.size()) fail("table file " + file->path + " names series " + std::to_string(id) + " that " + table_dir(s.id) + "/series lacks");
        t.partitions[partition].push_back(std::move(file));
        ++t.files_gen;
      }
      // What the series have sealed on disk: later rows older than it are late.
      for (auto& [p, files] : t.partitions)
        for (auto& f : files)
          for (auto& [id, refs] : f->index)
            for (auto& r : refs) t.series[id]->sealed_through = std::max(t.series[id]->sealed_through, r.max_time);
    }
    if (!in.empty()) fail(path + " has trailing bytes");
    remove_strays();
  }

  void load_series(Table& t, uint32_t count, uint64_t length) {
    std::string path = table_dir(t.schema->id) + "/series";
    std::string bytes;
    if (length > 0 && !read_file(path, bytes)) fail("cannot read " + path + ": " + errno_text(errno));
    if (bytes.size() < length) fail(path + " is shorter than MANIFEST says (" + std::to_string(bytes.size()) + " < " + std::to_string(length) + ")");
    std::string_view in(bytes.data(), length);
    while (!in.empty()) {
      if (in.size() < 4) fail(path + " is malformed");
      uint32_t crc = decode_u32(in.data());
      in.remove_prefix(4);
      std::string_view rec;
      if (!get_length_prefixed(in, rec) || crc32c(rec.data(), rec.size()) != crc) fail(path + ": a series record fails its checksum");
      uint32_t id, ntags;
      if (!get_varint32(rec, id) || id != t.series.size() || !get_varint32(rec, ntags) || ntags > 1024) fail(path + " is malformed");
      std::vector<std::string> tags(ntags);
      for (auto& v : tags) {
        std::string_view sv;
        if (!get_length_prefixed(rec, sv)) fail(path + " is malformed");
        v = std::string(sv);
      }
      series_for(t, tags);
    }
    if (t.series.size() != count) fail(path + " holds " + std::to_string(t.series.size()) + " series, MANIFEST says " + std::to_string(count));
    t.persisted_series = count;
    t.series_file_bytes = length;
    if (bytes.size() > length && !opts.read_only) {
      // Appended by a flush whose MANIFEST never landed: cut it (the WAL still has those series).
      int fd = io.open(path, O_WRONLY);
      if (fd >= 0) {
        io.ftruncate(fd, static_cast<off_t>(length));
        io.fdatasync(fd);
        io.close(fd);
      }
    }
  }

  // Files no MANIFEST names: left by a flush or compaction that did not finish, or by a table
  // dropped before the crash.
  void remove_strays() {
    if (opts.read_only) return;
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator(opts.dir, ec)) {
      std::string name = entry.path().filename().string();
      if (name == "MANIFEST") continue;
      if (name.size() > 4 && name.ends_with(".tmp")) {
        std::filesystem::remove(entry.path(), ec);
        continue;
      }
      if (name.size() < 2 || name[0] != 't') continue;
      uint32_t id = static_cast<uint32_t>(std::strtoul(name.c_str() + 1, nullptr, 10));
      auto it = tables.find(id);
      if (it == tables.end()) {
        // A table that MANIFEST does not know yet may be re-created by the WAL: its series
        // file is rewritten by the next flush; its block files are strays either way.
        for (auto& sub : std::filesystem::directory_iterator(entry.path(), ec))
          if (sub.is_directory()) std::filesystem::remove_all(sub.path(), ec);
        std::filesystem::remove(entry.path() / "series", ec);
        continue;
      }
      std::set<std::string> known;
      for (auto& [p, files] : it->second.partitions)
        for (auto& f : files) known.insert(f->path);
      for (auto& sub : std::filesystem::recursive_directory_iterator(entry.path(), ec)) {
        if (!sub.is_regular_file()) continue;
        std::string path = sub.path().string();
        if (sub.path().filename() == "series") continue;
        if (!known.count(path)) {
          log("tables: removing " + path + " (not in MANIFEST: an interrupted flush or compaction)");
          std::filesystem::remove(sub.path(), ec);
        }
      }
    }
  }

  // ---- flush -----------------------------------------------------------------------------

  // Writes what `frozen` holds for every table, the new series, and MANIFEST through `lsn`.
  bool write_out(Lsn lsn, std::string* error);

  void background_loop();
  // The early checkpoint a write asked for (over the memory budget), if it did.
  void flush_if_wanted() {
    {
      std::lock_guard lock(bg_mu);
      if (!flush_wanted) return;
      flush_wanted = false;
    }
    // A checkpoint calls flush(): what is in memory goes to block files, and the WAL it came
    // from can go too. In none mode nothing is written: the budget refuses writes instead.
    if (Store* st = store.load(); st && st->durability() != Durability::none) st->checkpoint();
  }
};

std::unique_ptr<Tables> Tables::open(const TablesOptions& opts) {
  std::unique_ptr<Tables> t(new Tables(opts));
  t->impl_->load();
  return t;
}

Tables::Tables(const TablesOptions& opts) : impl_(std::make_unique<Impl>(opts, this)) {}

Tables::~Tables() { close(); }

void Tables::replay(uint8_t type, Lsn lsn, std::string_view payload) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  if (lsn <= m.flushed_lsn) return;
  m.last_applied = std::max(m.last_applied, lsn);
  switch (type) {
    case kRecordRows: {
      RowBatch b;
      if (!decode_rows(payload, b)) throw StoreError("WAL: table rows record at LSN " + std::to_string(lsn) + " is malformed");
      m.apply_rows(b);
      break;
    }
    case kRecordSchema: {
      Schema s;
      std::string_view in = payload;
      if (!decode_schema(in, s) || !in.empty() || !validate(s).empty())
        throw StoreError("WAL: table schema record at LSN " + std::to_string(lsn) + " is malformed");
      m.apply_schema(s);
      break;
    }
    case kRecordDrop: {
      uint32_t id;
      std::string_view in = payload;
      if (!get_varint32(in, id)) throw StoreError("WAL: drop-table record at LSN " + std::to_string(lsn) + " is malformed");
      m.apply_drop(id);
      break;
    }
    default: break;  // another owner's record type
  }
}

void Tables::attach(Store& store) {
  Impl& m = *impl_;
  m.store.store(&store);
  m.background = std::thread([&m] { m.background_loop(); });
}

void Tables::Impl::background_loop() {
  name_this_thread("mqbase-tables");
  // Retention and compaction can wait; the event loops sharing the core cannot.
  lower_this_thread_priority(5);
  auto next_maintenance = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  std::unique_lock lock(bg_mu);
  while (!bg_stop) {
    bg_wake.wait_until(lock, next_maintenance, [&] { return bg_stop || flush_wanted; });
    if (bg_stop) break;
    lock.unlock();
    flush_if_wanted();
    if (std::chrono::steady_clock::now() >= next_maintenance) {
      owner->enforce_retention(now_ns());
      owner->compact();
      next_maintenance = std::chrono::steady_clock::now() + opts.maintenance_interval;
    }
    lock.lock();
  }
}

bool Tables::flush(Lsn covered) {
  Impl& m = *impl_;
  std::lock_guard files(m.files_mu);
  Lsn target;
  {
    std::lock_guard lock(m.mu);
    for (auto& [id, t] : m.tables) {
      for (uint32_t k = 0; k < t.series.size(); ++k) {
        Series& s = *t.series[k];
        m.maybe_seal(*t.schema, s, true);
        for (SealedBlock& b : s.sealed) t.frozen.emplace_back(k, std::move(b));
        s.sealed.clear();
        s.sealed_bytes = 0;
        m.release_empty(s);
      }
    }
    target = m.last_applied;
  }
  if (target <= m.flushed_lsn && covered <= m.flushed_lsn) return true;
  // Never claim in MANIFEST more than the WAL has made durable: after a crash the log would
  // hand out those LSNs again, and recovery would skip the new records as flushed.
  if (!wait_durable(target, std::chrono::duration_cast<std::chrono::milliseconds>(kDurableWait))) {
    m.log("tables: flush waited " + std::to_string(kDurableWait.count()) + " s for the WAL to reach LSN " +
          std::to_string(target) + "; retried at the next checkpoint");
    return false;
  }
  std::string error;
  if (!m.write_out(target, &error)) {
    m.log("tables: flush failed: " + error);
    return false;
  }
  return true;
}

bool Tables::Impl::write_out(Lsn lsn, std::string* error) {
  // What to write, taken under the lock; the frozen blocks stay where they are (reads see
  // them) until the files holding them are in place.
  struct Work {
    uint32_t table;
    std::map<int64_t, std::map<uint32_t, std::vector<const SealedBlock*>>> by_partition;
    std::vector<std::vector<std::string>> new_series;
    uint32_t series_count = 0;
    uint64_t series_bytes = 0;
  };
  std::vector<Work> work;
  {
    std::lock_guard lock(mu);
    for (auto& [id, t] : tables) {
      Work w;
      w.table = id;
      for (auto& [sid, b] : t.frozen) w.by_partition[b.partition][sid].push_back(&b);
      for (uint32_t k = t.persisted_series; k < t.series.size(); ++k) w.new_series.push_back(*t.series[k]->tags);
      w.series_count = static_cast<uint32_t>(t.series.size());
      w.series_bytes = t.series_file_bytes;
      if (!w.by_partition.empty() || !w.new_series.empty()) work.push_back(std::move(w));
    }
  }
  // Frozen blocks are only added by flush (serialized by files_mu) and their vector is not
  // touched elsewhere, so the pointers above stay valid.
  std::vector<std::pair<uint32_t, BlockFilePtr>> written;
  auto undo = [&] {
    for (auto& [id, f] : written) f->obsolete = true;
  };
  for (Work& w : work) {
    std::filesystem::create_directories(table_dir(w.table));
    if (!w.new_series.empty()) {
      std::string out;
      uint32_t id = w.series_count - static_cast<uint32_t>(w.new_series.size());
      for (auto& tags : w.new_series) {
        std::string rec;
        put_varint32(rec, id++);
        put_varint32(rec, static_cast<uint32_t>(tags.size()));
        for (auto& v : tags) put_length_prefixed(rec, v);
        put_u32(out, crc32c(rec.data(), rec.size()));
        put_length_prefixed(out, rec);
      }
      std::string path = table_dir(w.table) + "/series";
      int fd = io.open(path, O_WRONLY | O_CREAT);
      bool ok = fd >= 0 && io.ftruncate(fd, static_cast<off_t>(w.series_bytes)) == 0 &&
                write_all(io, fd, out.data(), out.size(), static_cast<off_t>(w.series_bytes)) && io.fdatasync(fd) == 0;
      int err = errno;
      if (fd >= 0) io.close(fd);
      if (!ok || !fsync_dir(io, table_dir(w.table))) {
        *error = "cannot append to " + path + ": " + errno_text(err);
        undo();
        return false;
      }
      w.series_bytes += out.size();
    }
    for (auto& [p, blocks] : w.by_partition) {
      BlockFilePtr f = write_block_file(w.table, p, blocks, error);
      if (!f) {
        undo();
        return false;
      }
      written.emplace_back(w.table, std::move(f));
    }
  }
  Pending pending;
  pending.flushed = lsn;
  for (Work& w : work) pending.series[w.table] = {w.series_count, w.series_bytes};
  for (auto& [id, f] : written) pending.files[id].push_back(f);
  std::string manifest;
  {
    std::lock_guard lock(mu);
    manifest = encode_manifest(&pending);
  }
  if (!write_file(opts.dir + "/MANIFEST", manifest, error) || !fsync_dir(io, opts.dir)) {
    if (error->empty()) *error = "cannot sync " + opts.dir + ": " + errno_text(errno);
    undo();
    return false;
  }
  std::lock_guard lock(mu);
  flushed_lsn = lsn;
  for (Work& w : work) {
    auto it = tables.find(w.table);
    if (it == tables.end()) continue;
    it->second.persisted_series = w.series_count;
    it->second.series_file_bytes = w.series_bytes;
  }
  for (auto& [id, f] : written) {
    auto it = tables.find(id);
    if (it == tables.end()) {
      f->obsolete = true;
      continue;
    }
    it->second.partitions[f->partition].push_back(f);
    ++it->second.files_gen;
    it->second.bytes_on_disk += f->bytes;
  }
  for (auto& [id, t] : tables) {
    for (auto& [sid, b] : t.frozen) memory -= std::min<uint64_t>(memory, b.bytes.size());
    t.frozen.clear();
  }
  ++stats.flushes;
  return true;
}

namespace {
constexpr std::string_view kTableLimit = "the server is at its limit of ";
}  // namespace

bool is_table_limit_error(std::string_view error) { return error.find(kTableLimit) != std::string_view::npos; }

std::string Tables::create_table(Schema schema, bool if_not_exists, Lsn* lsn, bool limited) {
  Impl& m = *impl_;
  *lsn = 0;
  std::string name;
  if (!normalize_name(schema.name, &name))
    return "table name '" + schema.name + "' must be 1 to 63 letters, digits or '_', not starting with a digit";
  schema.name = name;
  for (Column& c : schema.columns) {
    std::string cn;
    if (!normalize_name(c.name, &cn))
      return "column name '" + c.name + "' must be 1 to 63 letters, digits or '_', not starting with a digit";
    c.name = cn;
  }
  std::lock_guard lock(m.mu);
  if (m.find(schema.name)) {
    if (if_not_exists) return "";
    return "table '" + schema.name + "' already exists";
  }
  // Each table costs memory for as long as it exists, and a line in every checkpoint's
  // MANIFEST: a client must not be able to make tables without end (db/append/t1, t2, ...).
  if (limited && m.opts.max_tables > 0 && m.tables.size() >= m.opts.max_tables)
    return "table '" + schema.name + "' cannot be created: " + std::string(kTableLimit) +
           std::to_string(m.opts.max_tables) + " tables (tables.max_tables)";
  schema.id = m.next_table_id;
  schema.version = 1;
  if (std::string why = validate(schema); !why.empty()) return why;
  std::string rec;
  encode_schema(schema, rec);
  if (!m.log_ddl(kRecordSchema, rec, lsn)) return "the store refuses writes (disk full or failing)";
  m.apply_schema(schema);
  m.log("tables: created table " + schema.name);
  return "";
}

std::string Tables::add_columns(std::string_view table, const std::vector<Column>& columns, Lsn* lsn) {
  Impl& m = *impl_;
  *lsn = 0;
  std::lock_guard lock(m.mu);
  Table* t = m.find(table);
  if (!t) return "table '" + std::string(table) + "' does not exist";
  Schema s = *t->schema;
  bool changed = false;
  for (const Column& c : columns) {
    std::string cn;
    if (!normalize_name(c.name, &cn))
      return "column name '" + c.name + "' must be 1 to 63 letters, digits or '_', not starting with a digit";
    int at = s.find(cn);
    if (at >= 0) {
      if (s.columns[at].type != c.type)
        return "column '" + cn + "' of table '" + s.name + "' is " + std::string(type_name(s.columns[at].type)) + ", not " +
               std::string(type_name(c.type));
      continue;
    }
    if (c.type == ColumnType::time) return "table '" + s.name + "' already has its TIME column";
    s.columns.push_back({cn, c.type});
    changed = true;
  }
  if (!changed) return "";
  ++s.version;
  if (std::string why = validate(s); !why.empty()) return why;
  std::string rec;
  encode_schema(s, rec);
  if (!m.log_ddl(kRecordSchema, rec, lsn)) return "the store refuses writes (disk full or failing)";
  m.apply_schema(s);
  return "";
}

std::string Tables::delete_before(std::string_view table, int64_t before, Lsn* lsn) {
  Impl& m = *impl_;
  *lsn = 0;
  std::lock_guard lock(m.mu);
  Table* t = m.find(table);
  if (!t) return "table '" + std::string(table) + "' does not exist";
  if (before <= t->schema->options.deleted_before) return "";
  Schema s = *t->schema;
  s.options.deleted_before = before;
  ++s.version;
  std::string rec;
  encode_schema(s, rec);
  if (!m.log_ddl(kRecordSchema, rec, lsn)) return "the store refuses writes (disk full or failing)";
  m.apply_schema(s);
  return "";
}

std::string Tables::define_table(const Schema& schema, Lsn* lsn) {
  *lsn = 0;
  if (!this->schema(schema.name)) {
    std::string e = create_table(schema, true, lsn);
    if (!e.empty() || this->schema(schema.name)->options == schema.options) return e;
  }
  Lsn l = 0;
  if (std::string e = add_columns(schema.name, schema.columns, &l); !e.empty()) return e;
  *lsn = std::max(*lsn, l);
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  Table* t = m.find(schema.name);
  if (!t) return "table '" + schema.name + "' was dropped meanwhile";
  if (t->schema->options == schema.options) return "";
  Schema s = *t->schema;
  s.options = schema.options;
  ++s.version;
  if (std::string why = validate(s); !why.empty()) return why;
  std::string rec;
  encode_schema(s, rec);
  if (!m.log_ddl(kRecordSchema, rec, &l)) return "the store refuses writes (disk full or failing)";
  *lsn = std::max(*lsn, l);
  m.apply_schema(s);
  m.log("tables: " + s.name + ": options from the config (partition " + format_duration(s.options.partition_ns) +
        ", retention " + (s.options.ttl_ns ? format_duration(s.options.ttl_ns) : std::string("none")) +
        ", duplicates " + std::string(policy_name(s.options.duplicates)) + ")");
  return "";
}

std::string Tables::drop_table(std::string_view table, Lsn* lsn) {
  Impl& m = *impl_;
  *lsn = 0;
  std::shared_ptr<Impl::WatchChannel> watch;
  uint64_t ticket = 0;
  WatchedRows gone;
  uint32_t id = 0;
  {
    // Not while a flush or compaction holds pointers into the table's blocks.
    std::lock_guard files(m.files_mu);
    std::lock_guard lock(m.mu);
    Table* t = m.find(table);
    if (!t) return "table '" + std::string(table) + "' does not exist";
    id = t->schema->id;
    std::string rec;
    put_varint32(rec, id);
    if (!m.log_ddl(kRecordDrop, rec, lsn)) return "the store refuses writes (disk full or failing)";
    gone.schema = t->schema;
    watch = m.take_ticket(id, &ticket);
    m.apply_drop(id);
  }
  if (watch) m.deliver(id, *watch, ticket, gone);
  return "";
}

std::shared_ptr<const Schema> Tables::schema(std::string_view table) const {
  std::lock_guard lock(impl_->mu);
  Table* t = impl_->find(table);
  return t ? t->schema : nullptr;
}

uint64_t Tables::catalog_version() const { return impl_->catalog_version.load(std::memory_order_acquire); }

WriteResult Tables::write(const RowBatch& batch, bool waited) {
  Impl& m = *impl_;
  WriteResult res;
  // Per thread and kept: built afresh, a message's record would grow (and allocate) several
  // times. write_record() copies it into the log's buffer.
  thread_local std::string rec;
  if (rec.capacity() > (size_t{1} << 20)) std::string().swap(rec);  // after a large batch
  rec.clear();
  encode_rows(batch, rec);
  bool want_flush = false;
  std::shared_ptr<Impl::WatchChannel> watch;
  uint64_t ticket = 0;
  WatchedRows watched{nullptr, &batch};
  {
    std::lock_guard lock(m.mu);
    auto it = m.tables.find(batch.table_id);
    if (it == m.tables.end()) {
      res.status = WriteStatus::closed;
      res.error = "table does not exist (dropped?)";
      ++m.stats.writes_refused;
      return res;
    }
    const Schema& s = *it->second.schema;
    if (s.options.disk_budget && it->second.bytes_on_disk >= s.options.disk_budget) {
      res.status = WriteStatus::over_budget;
      res.error = "table '" + s.name + "' is over its disk budget (" + std::to_string(s.options.disk_budget) +
                  " bytes): writes are refused until retention or DELETE frees space";
      ++m.stats.writes_refused;
      return res;
    }
    Store* st = m.store.load();
    if (!st) {
      res.status = WriteStatus::closed;
      res.error = "tables are not open for writing yet";
      return res;
    }
    bool none = st->durability() == Durability::none;
    if (none && m.memory >= m.opts.memory_budget) {
      res.status = WriteStatus::over_budget;
      res.error = "tables are over their memory budget (" + std::to_string(m.opts.memory_budget) +
                  " bytes) and durability = none keeps them in memory only";
      ++m.stats.writes_refused;
      return res;
    }
    res.lsn = st->write_record(kRecordRows, rec, &res.status, waited);
    if (res.lsn == 0) {
      res.error = res.status == WriteStatus::too_large ? "the message's rows are over the 64 MiB record limit"
                                                       : "the store refuses writes (disk full or failing)";
      ++m.stats.writes_refused;
      return res;
    }
    m.last_applied = std::max(m.last_applied, res.lsn);
    m.apply_rows(batch);
    want_flush = !none && m.memory >= m.opts.memory_budget;
    if ((watch = m.take_ticket(batch.table_id, &ticket))) watched.schema = it->second.schema;
  }
  if (watch) m.deliver(batch.table_id, *watch, ticket, watched);
  if (want_flush) {
    std::lock_guard lock(m.bg_mu);
    if (!m.flush_wanted) {
      m.flush_wanted = true;
      m.bg_wake.notify_one();
    }
  }
  return res;
}

uint64_t Tables::add_watcher(std::string_view table, WatchFn fn, std::string* error) {
  Impl& m = *impl_;
  // Under mu, so that every write that starts after this sees the watcher.
  std::lock_guard lock(m.mu);
  Table* t = m.find(table);
  if (!t) {
    *error = "table '" + std::string(table) + "' does not exist";
    return 0;
  }
  uint32_t tid = t->schema->id;
  std::lock_guard wl(m.watch_mu);
  auto& ch = m.channels[tid];
  if (!ch) ch = std::make_shared<Impl::WatchChannel>();
  uint64_t id = m.next_watcher++;
  {
    std::lock_guard cl(ch->mu);
    auto list = std::make_shared<std::vector<Impl::Watcher>>(*ch->list);
    list->push_back({id, std::move(fn)});
    ch->list = std::move(list);
  }
  m.watcher_table.emplace(id, tid);
  m.watcher_count.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void Tables::remove_watcher(uint64_t id) {
  Impl& m = *impl_;
  std::shared_ptr<Impl::WatchChannel> ch;
  uint64_t ticket = 0;
  uint32_t tid = 0;
  {
    std::lock_guard wl(m.watch_mu);
    auto it = m.watcher_table.find(id);
    if (it == m.watcher_table.end()) return;
    tid = it->second;
    ch = m.channels.at(tid);
    std::lock_guard cl(ch->mu);
    ticket = ch->next_ticket++;
  }
  // In a turn of its own: a delivery under way finishes with the watcher first.
  m.wait_turn(*ch, ticket);
  m.unregister(tid, *ch, {id});
  m.end_turn(*ch);
}

size_t Tables::watchers() const { return impl_->watcher_count.load(std::memory_order_relaxed); }

ScanEstimate Tables::estimate(std::string_view table, int64_t from, int64_t to) const {
  const Impl& m = *impl_;
  ScanEstimate e;
  std::lock_guard lock(m.mu);
  Table* t = const_cast<Impl&>(m).find(table);
  if (!t) return e;
  e.series = t->series.size();
  e.partitions_total = t->partitions.size();
  for (auto& [p, files] : t->partitions) {
    if (p + t->schema->options.partition_ns - 1 < from || p >= to) continue;
    ++e.partitions;
    for (auto& f : files) {
      if (f->max_time < from || f->min_time >= to) continue;
      ++e.files;
      for (auto& [sid, refs] : f->index)
        for (auto& r : refs) e.blocks += r.max_time >= from && r.min_time < to;
    }
  }
  for (auto& [sid, b] : t->frozen) e.rows_in_memory += b.rows;
  for (auto& s : t->series) {
    for (auto& b : s->sealed) e.rows_in_memory += b.rows;
    e.rows_in_memory += s->head.rows() + s->overflow.rows();
  }
  return e;
}

bool Tables::wait_durable(Lsn lsn, std::chrono::milliseconds timeout) const {
  Store* st = impl_->store.load();
  if (!st || st->durability() == Durability::none) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (st->durable_lsn() < lsn) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool Tables::scan(std::string_view table, const ScanSpec& spec_in,
                  const std::function<void(const std::vector<std::string>& tags, const SeriesRows& rows)>& fn,
                  std::string* error, const SummaryFn& summary) const {
  const Impl& m = *impl_;
  ScanSpec spec = spec_in;  // narrowed below by a DELETE's watermark
  // What each series has, gathered under the lock; decoded outside it.
  struct Source {
    BlockFilePtr file;        // a block on disk...
    BlockRef ref;
    std::string bytes;        // ...or in memory (encoded)
    uint64_t seq = 0;
    int64_t min_time = 0, max_time = 0;
    std::shared_ptr<const SeriesRows> top;  // the latest-row path: its rows at max_time, known
  };
  struct Gathered {
    std::shared_ptr<const std::vector<std::string>> tags;
    std::vector<Source> sources;
    SeriesRows head, overflow;
    // The latest-row path: the series' answer as it is (its newest block's one newest row,
    // which nothing else reaches): no sources, nothing to decode or merge.
    std::shared_ptr<const SeriesRows> answer;
  };
  std::vector<Gathered> all;
  DuplicatePolicy policy;
  std::shared_ptr<const Schema> schema;
  {
    std::unique_lock lock(m.mu);
    Table* t = const_cast<Impl&>(m).find(table);
    // The table's schema, policy and DELETE watermark; false when it is gone.
    auto adopt = [&](Table* found) {
      if (!found) {
        *error = "table '" + std::string(table) + "' does not exist";
        return false;
      }
      t = found;
      schema = t->schema;
      policy = schema->options.duplicates;
      spec.from = std::max(spec.from, schema->options.deleted_before);
      return true;
    };
    if (!adopt(t)) return false;
    if (spec.from >= spec.to) return true;
    std::vector<uint32_t> ids;
    if (spec.tags.empty()) {
      ids.resize(t->series.size());
      for (uint32_t k = 0; k < ids.size(); ++k) ids[k] = k;
    } else {
      bool first = true;
      for (auto& [col, value] : spec.tags) {
        int c = schema->find(col);
        if (c < 0 || schema->columns[c].type != ColumnType::tag) {
          *error = "column '" + col + "' is not a tag of table '" + schema->name + "'";
          return false;
        }
        auto it = t->tag_index.find({c, value});
        std::vector<uint32_t> match = it == t->tag_index.end() ? std::vector<uint32_t>{} : it->second;
        std::sort(match.begin(), match.end());
        if (first) ids = std::move(match);
        else {
          std::vector<uint32_t> both;
          std::set_intersection(ids.begin(), ids.end(), match.begin(), match.end(), std::back_inserter(both));
          ids = std::move(both);
        }
        first = false;
      }
    }
    if (spec.series_filter && !ids.empty()) {
      // The filter runs without the lock (it may take long over many series); the series it
      // keeps are looked up again after it, in the same table (series are never removed).
      std::vector<std::shared_ptr<const std::vector<std::string>>> held(ids.size());
      std::vector<const std::vector<std::string>*> tags(ids.size());
      for (size_t k = 0; k < ids.size(); ++k) tags[k] = (held[k] = t->series[ids[k]]->tags).get();
      const uint32_t table_id = schema->id;
      lock.unlock();
      std::vector<uint8_t> keep(ids.size(), 1);
      spec.series_filter(tags, keep);
      size_t n = 0;
      for (size_t k = 0; k < ids.size(); ++k)
        if (keep[k]) ids[n++] = ids[k];
      ids.resize(n);
      lock.lock();
      auto it = m.tables.find(table_id);
      if (!adopt(it == m.tables.end() ? nullptr : const_cast<Table*>(&it->second))) return false;
      if (spec.from >= spec.to) return true;
    }
    auto overlaps = [&](int64_t lo, int64_t hi) { return hi >= spec.from && lo < spec.to; };
    // The frozen blocks (being flushed) by series: (series, index in t->frozen), sorted.
    std::vector<std::pair<uint32_t, uint32_t>> frozen_at;
    for (uint32_t k = 0; k < t->frozen.size(); ++k) frozen_at.emplace_back(t->frozen[k].first, k);
    std::sort(frozen_at.begin(), frozen_at.end());
    auto frozen_of = [&](uint32_t id, auto&& each) {
      for (auto it = std::lower_bound(frozen_at.begin(), frozen_at.end(), std::pair<uint32_t, uint32_t>{id, 0});
           it != frozen_at.end() && it->first == id; ++it)
        each(t->frozen[it->second].second);
    };
    const size_t tag_count = schema->tag_indexes().size();
    // Calls each(file, block) for every block of series `id` on disk, newest partition first,
    // in the partitions that start before `to` and end at or after low(), which is asked again
    // before each partition (callers raise it as they learn more).
    auto blocks_of = [&](uint32_t id, int64_t to, auto&& low, auto&& each) {
      for (auto p = t->partitions.rbegin(); p != t->partitions.rend(); ++p) {
        if (p->first >= to) continue;
        if (p->first + schema->options.partition_ns - 1 < low()) break;
        for (auto& f : p->second)
          if (auto it = f->index.find(id); it != f->index.end())
            for (const BlockRef& r : it->second) each(f, r);
      }
    };
    auto on_disk = [](const BlockFilePtr& f, const BlockRef& r, std::shared_ptr<const SeriesRows> top = nullptr) {
      return Source{f, r, {}, r.seq, r.min_time, r.max_time, std::move(top)};
    };
    auto in_memory = [](const SealedBlock& b) { return Source{nullptr, {}, b.bytes, b.seq, b.min_time, b.max_time, nullptr}; };
    all.reserve(ids.size());
    for (uint32_t id : ids) {
      Series& s = *t->series[id];
      Gathered g;
      g.tags = s.tags;
      if (g.tags->size() < tag_count) {  // tags added since the series began: ""
        auto padded = std::make_shared<std::vector<std::string>>(*g.tags);
        padded->resize(tag_count);
        g.tags = std::move(padded);
      }

      if (spec.latest) {
        // Only what can hold the newest row in range: the heads' rows of their newest time,
        // and the blocks that reach at least as far (newest partitions first, the older ones
        // skipped once the heads' newest lies past them). Nothing else is copied.
        int64_t best = INT64_MIN;
        if (s.head.rows() > 0 && s.head_max >= spec.from && s.head_max < spec.to) {
          best = s.head_max;  // the newest row of a head is never sealed away from it
        } else {
          for (int64_t x : s.head.times)
            if (x >= spec.from && x < spec.to) best = std::max(best, x);
        }
        for (int64_t x : s.overflow.times)
          if (x >= spec.from && x < spec.to) best = std::max(best, x);
        // A block whose newest row lies in range has a row there: nothing older than that row
        // can be the newest.
        int64_t floor = best;
        auto raise_floor = [&](int64_t max_time) {
          if (max_time >= spec.from && max_time < spec.to) floor = std::max(floor, max_time);
        };
        // The block on disk that ends newest, found again only when the files have changed.
        if (!s.newest) s.newest = std::make_unique<NewestOnDisk>();
        NewestOnDisk& nd = *s.newest;
        if (nd.gen != t->files_gen) {
          nd = NewestOnDisk{};
          nd.gen = t->files_gen;
          auto low = [&] { return nd.file.expired() ? INT64_MIN : nd.ref.max_time; };
          blocks_of(id, INT64_MAX, low, [&](const BlockFilePtr& f, const BlockRef& r) {
            if (!nd.file.expired() && r.max_time == nd.ref.max_time) nd.tie = true;
            if (nd.file.expired() || r.max_time > nd.ref.max_time) {
              nd.file = f;
              nd.ref = r;
              nd.tie = false;
            }
          });
        }
        BlockFilePtr newest_file = nd.file.lock();
        // The newest block alone answers for the disk unless another ends at its time, or it
        // ends past the range (an older block may then hold the newest row in range).
        const bool one_block = !nd.tie && (!newest_file || nd.ref.max_time < spec.to);
        auto low = [&] { return std::max(floor, spec.from); };
        if (one_block) {
          if (newest_file) raise_floor(nd.ref.max_time);
        } else {
          blocks_of(id, spec.to, low, [&](const BlockFilePtr&, const BlockRef& r) { raise_floor(r.max_time); });
        }
        int64_t memory_newest = best;  // the newest time in range of the heads and the blocks in memory
        auto raise_memory = [&](int64_t max_time) {
          raise_floor(max_time);
          if (max_time >= spec.from && max_time < spec.to) memory_newest = std::max(memory_newest, max_time);
        };
        frozen_of(id, [&](const SealedBlock& b) { raise_memory(b.max_time); });
        for (const SealedBlock& b : s.sealed) raise_memory(b.max_time);
        auto reaches = [&](int64_t lo, int64_t hi) { return overlaps(lo, hi) && std::min(hi, spec.to - 1) >= floor; };
        if (one_block) {
          if (newest_file && reaches(nd.ref.min_time, nd.ref.max_time)) {
            const BlockRef& r = nd.ref;
            if (!nd.top) nd.top = newest_file->cached(newest_file->newest, r.offset);
            if (nd.top && nd.top->rows() == 1 && memory_newest < r.max_time) {
              g.answer = nd.top;  // the usual case once a series' rows are on disk
              all.push_back(std::move(g));
              continue;
            }
            g.sources.push_back(on_disk(newest_file, r, nd.top));
          }
        } else {
          blocks_of(id, spec.to, low, [&](const BlockFilePtr& f, const BlockRef& r) {
            if (reaches(r.min_time, r.max_time)) g.sources.push_back(on_disk(f, r));
          });
        }
        frozen_of(id, [&](const SealedBlock& b) {
          if (reaches(b.min_time, b.max_time)) g.sources.push_back(in_memory(b));
        });
        for (const SealedBlock& b : s.sealed)
          if (reaches(b.min_time, b.max_time)) g.sources.push_back(in_memory(b));
        if (best != INT64_MIN) {
          g.head.conform(*schema);
          g.overflow.conform(*schema);
          for (size_t r = 0; r < s.head.rows(); ++r)
            if (s.head.times[r] == best) g.head.push_from(s.head, r);
          for (size_t r = 0; r < s.overflow.rows(); ++r)
            if (s.overflow.times[r] == best) g.overflow.push_from(s.overflow, r);
        }
        if (g.sources.empty() && g.head.rows() == 0 && g.overflow.rows() == 0) continue;
        all.push_back(std::move(g));
        continue;
      }

      blocks_of(id, spec.to, [&] { return spec.from; }, [&](const BlockFilePtr& f, const BlockRef& r) {
        if (overlaps(r.min_time, r.max_time)) g.sources.push_back(on_disk(f, r));
      });
      frozen_of(id, [&](const SealedBlock& b) {
        if (overlaps(b.min_time, b.max_time)) g.sources.push_back(in_memory(b));
      });
      for (const SealedBlock& b : s.sealed)
        if (overlaps(b.min_time, b.max_time)) g.sources.push_back(in_memory(b));
      g.head = s.head;
      g.overflow = s.overflow;
      if (g.sources.empty() && g.head.rows() == 0 && g.overflow.rows() == 0) continue;
      all.push_back(std::move(g));
    }
  }
  std::string buf;
  // Reused from series to series: their vectors keep their capacity.
  SeriesRows merged, rows;
  BlockMeta meta;
  std::vector<size_t> order;
  std::vector<std::pair<uint64_t, std::shared_ptr<const SeriesRows>>> decoded;  // (seq, rows)
  struct Piece {
    size_t k;  // a source, or the head (sources.size()) or the overflow (sources.size() + 1)
    int64_t lo, hi;
  };
  std::vector<Piece> pieces;
  // Offers a block's statistics to `summary`: 1 when it took them, 0 when not, -1 on a read
  // error. A block file's statistics are read once and kept with the file.
  auto summarize = [&](const std::vector<std::string>& tags, Source& src) -> int {
    std::shared_ptr<const BlockMeta> kept = src.file ? src.file->cached(src.file->metas, src.ref.offset) : nullptr;
    if (!kept) {
      std::string_view bytes = src.bytes;
      if (src.file && !m.read_block(*src.file, src.ref, buf, bytes, error)) return -1;
      size_t data_bytes = 0;
      if (!decode_block_meta(bytes, meta, data_bytes)) {
        *error = "a block of table '" + schema->name + "' does not decode";
        return -1;
      }
      if (src.file) src.file->keep(src.file->metas, src.ref.offset, std::make_shared<const BlockMeta>(meta));
    }
    return summary(tags, kept ? *kept : meta) ? 1 : 0;
  };
  for (Gathered& g : all) {
    if (g.answer) {
      fn(*g.tags, *g.answer);
      continue;
    }
    std::sort(g.sources.begin(), g.sources.end(), [](const Source& a, const Source& b) { return a.seq < b.seq; });
    auto reset_merged = [&] {
      merged.clear();
      merged.conform(*schema);
    };
    auto take = [&](const SeriesRows& from) {
      // A block's rows are sorted: its rows in range are one run, copied column by column.
      if (std::is_sorted(from.times.begin(), from.times.end())) {
        auto lo = std::lower_bound(from.times.begin(), from.times.end(), spec.from) - from.times.begin();
        auto hi = std::lower_bound(from.times.begin(), from.times.end(), spec.to) - from.times.begin();
        merged.append_range(from, static_cast<size_t>(lo), static_cast<size_t>(hi));
        return;
      }
      for (size_t r = 0; r < from.rows(); ++r)
        if (from.times[r] >= spec.from && from.times[r] < spec.to) merged.push_from(from, r);
    };
    // `times` false: the block lies wholly in range and the caller does not read times.
    // `clip`: only the rows in range are wanted (decode_block leaves the others out when the
    // block's times are sorted, and decodes the fields for those rows only).
    auto decode = [&](Source& src, bool times = true, bool clip = false) {
      std::string_view bytes = src.bytes;
      // The latest-row path decodes every field: what it reads is kept for any later query.
      const std::vector<bool>* wanted = spec.latest || spec.fields.empty() ? nullptr : &spec.fields;
      bool compact = false;
      if (src.file && !m.read_block(*src.file, src.ref, buf, bytes, error, wanted, &compact, &meta)) return false;
      const int64_t from = clip ? spec.from : INT64_MIN, to = clip ? spec.to : INT64_MAX;
      if (compact ? !decode_block_data(bytes, meta, rows, wanted, times, from, to, true)
                  : !decode_block(bytes, meta, rows, wanted, times, from, to)) {
        *error = "a block of table '" + schema->name + "' does not decode";
        return false;
      }
      return true;
    };
    if (spec.latest) {
      // The newest time in range: from the heads, then from the blocks whose range can still
      // hold a newer one (by their max time, newest first); only those are decoded.
      auto newest = [&](const SeriesRows& r) {
        int64_t b = INT64_MIN;
        for (int64_t x : r.times)
          if (x >= spec.from && x < spec.to) b = std::max(b, x);
        return b;
      };
      const int64_t in_memory = std::max(newest(g.head), newest(g.overflow));
      int64_t best = in_memory;
      auto bound = [&](const Source& x) { return std::min(x.max_time, spec.to - 1); };
      order.resize(g.sources.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bound(g.sources[a]) > bound(g.sources[b]); });
      decoded.clear();
      for (size_t k : order) {
        Source& src = g.sources[k];
        if (bound(src) < best) break;
        if (src.file && src.max_time < spec.to && src.max_time >= spec.from) {
          // Wholly before the end of the range: its rows at its newest time are what it gives,
          // kept with the file after the first read.
          auto kept = src.top ? src.top : src.file->cached(src.file->newest, src.ref.offset);
          if (!kept) {
            if (!decode(src)) return false;
            auto top = std::make_shared<SeriesRows>();
            top->conform(*schema);
            for (size_t r = 0; r < rows.rows(); ++r)
              if (rows.times[r] == src.max_time) top->push_from(rows, r);
            src.file->keep(src.file->newest, src.ref.offset, std::shared_ptr<const SeriesRows>(top));
            kept = std::move(top);
          }
          best = std::max(best, newest(*kept));
          decoded.emplace_back(src.seq, std::move(kept));
          continue;
        }
        if (!decode(src)) return false;
        best = std::max(best, newest(rows));
        decoded.emplace_back(src.seq, std::make_shared<const SeriesRows>(rows));
      }
      if (best == INT64_MIN) continue;
      if (decoded.size() == 1 && in_memory < best && decoded[0].second->rows() == 1 && decoded[0].second->times[0] == best) {
        fn(*g.tags, *decoded[0].second);  // one row of one block (the usual case): nothing to merge
        continue;
      }
      std::sort(decoded.begin(), decoded.end(), [](auto& a, auto& b) { return a.first < b.first; });
      reset_merged();
      auto take_best = [&](const SeriesRows& from) {
        for (size_t r = 0; r < from.rows(); ++r)
          if (from.times[r] == best) merged.push_from(from, r);
      };
      for (auto& [seq, r] : decoded) take_best(*r);
      take_best(g.head);
      take_best(g.overflow);
    } else {
      // Each block's time span, and the head's and the overflow's (k = sources.size() and
      // sources.size() + 1). When none overlaps another (the usual case: the blocks of an
      // in-order series), each goes to fn on its own, in time order, as decoded: no merge, no
      // sort, no copy of the rows of a block wholly in range.
      pieces.clear();
      for (size_t k = 0; k < g.sources.size(); ++k) pieces.push_back({k, g.sources[k].min_time, g.sources[k].max_time});
      const SeriesRows* heads[2] = {&g.head, &g.overflow};
      for (size_t h = 0; h < 2; ++h)
        if (heads[h]->rows()) {
          auto [lo, hi] = std::minmax_element(heads[h]->times.begin(), heads[h]->times.end());
          pieces.push_back({g.sources.size() + h, *lo, *hi});
        }
      std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.lo < b.lo; });
      bool disjoint = true;
      for (size_t k = 1; k < pieces.size() && disjoint; ++k)
        if (pieces[k - 1].hi >= pieces[k].lo) disjoint = false;
      if (disjoint) {
        for (const Piece& piece : pieces) {
          const size_t k = piece.k;
          if (k >= g.sources.size()) {  // the head or the overflow
            reset_merged();
            take(*heads[k - g.sources.size()]);
            sort_rows(merged, policy);
            if (merged.rows() > 0) fn(*g.tags, merged);
            continue;
          }
          Source& src = g.sources[k];
          const bool inside = src.min_time >= spec.from && src.max_time < spec.to;
          if (summary && inside) {
            int taken = summarize(*g.tags, src);
            if (taken < 0) return false;
            if (taken) continue;
          }
          if (!decode(src, !inside || spec.times, !inside)) return false;
          // Wholly in range, or cut to the range as decoded (its times sorted): as it is.
          const bool in_range = inside || rows.rows() == 0 ||
                                (rows.times.front() >= spec.from && rows.times.back() < spec.to &&
                                 std::is_sorted(rows.times.begin(), rows.times.end()));
          if (in_range) {
            rows.conform(*schema);  // a block from before columns were added
            if (rows.rows() > 0) fn(*g.tags, rows);
            continue;
          }
          reset_merged();
          take(rows);
          if (merged.rows() > 0) fn(*g.tags, merged);
        }
        continue;
      }
      reset_merged();
      // Blocks wholly in range that overlap nothing else of the series may be summarized.
      std::vector<bool> alone(g.sources.size(), false);
      if (summary) {
        std::vector<std::pair<int64_t, int64_t>> spans;  // (min, max) of every source and the heads
        auto minmax = [&](const Source& x) -> std::pair<int64_t, int64_t> {
          return std::pair{x.min_time, x.max_time};
        };
        for (auto& x : g.sources) spans.push_back(minmax(x));
        for (const SeriesRows* r : {&g.head, &g.overflow})
          if (r->rows()) {
            auto [lo, hi] = std::minmax_element(r->times.begin(), r->times.end());
            spans.push_back({*lo, *hi});
          }
        for (size_t k = 0; k < g.sources.size(); ++k) {
          auto [lo, hi] = spans[k];
          bool ok = lo >= spec.from && hi < spec.to;
          for (size_t j = 0; ok && j < spans.size(); ++j)
            if (j != k && spans[j].first <= hi && spans[j].second >= lo) ok = false;
          alone[k] = ok;
        }
      }
      for (size_t k = 0; k < g.sources.size(); ++k) {
        Source& src = g.sources[k];
        if (alone[k]) {
          int taken = summarize(*g.tags, src);
          if (taken < 0) return false;
          if (taken) continue;
        }
        if (!decode(src, true, true)) return false;
        take(rows);
      }
      // The overflow's rows came after the head's rows of the same time (see apply_rows).
      take(g.head);
      take(g.overflow);
    }
    sort_rows(merged, policy);
    if (merged.rows() > 0) fn(*g.tags, merged);
  }
  return true;
}

std::vector<TableInfo> Tables::list() const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  std::vector<TableInfo> out;
  for (auto& [name, id] : m.by_name) {
    const Table& t = m.tables.at(id);
    TableInfo info;
    info.schema = t.schema;
    info.series = t.series.size();
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (auto& [p, files] : t.partitions) {
      ++info.partitions;
      for (auto& f : files) {
        ++info.files;
        info.rows_on_disk += f->rows;
        info.bytes_on_disk += f->bytes;
        lo = std::min(lo, f->min_time);
        hi = std::max(hi, f->max_time);
      }
    }
    for (auto& [sid, b] : t.frozen) {
      info.rows_in_memory += b.rows;
      lo = std::min(lo, b.min_time);
      hi = std::max(hi, b.max_time);
    }
    for (auto& s : t.series) {
      for (auto& b : s->sealed) {
        info.rows_in_memory += b.rows;
        lo = std::min(lo, b.min_time);
        hi = std::max(hi, b.max_time);
      }
      for (const SeriesRows* r : {&s->head, &s->overflow}) {
        info.rows_in_memory += r->rows();
        for (int64_t x : r->times) {
          lo = std::min(lo, x);
          hi = std::max(hi, x);
        }
      }
    }
    if (lo <= hi) {
      info.min_time = lo;
      info.max_time = hi;
    }
    out.push_back(std::move(info));
  }
  return out;
}

size_t Tables::enforce_retention(int64_t now) {
  Impl& m = *impl_;
  std::lock_guard files(m.files_mu);
  std::vector<BlockFilePtr> gone;
  std::string manifest;
  {
    std::lock_guard lock(m.mu);
    for (auto& [id, t] : m.tables) {
      int64_t ttl = t.schema->options.ttl_ns, size = t.schema->options.partition_ns;
      int64_t deleted = t.schema->options.deleted_before;
      if (ttl <= 0 && deleted == INT64_MIN) continue;
      // A partition goes when it ends before now - ttl, or before a DELETE's watermark.
      auto gone_at = [&](int64_t p) { return (ttl > 0 && p <= now - ttl - size) || (deleted != INT64_MIN && p <= deleted - size); };
      for (auto it = t.partitions.begin(); it != t.partitions.end();) {
        if (gone_at(it->first)) {
          for (auto& f : it->second) {
            gone.push_back(f);
            t.bytes_on_disk -= std::min(t.bytes_on_disk, f->bytes);
          }
          m.log("tables: " + t.schema->name + ": partition " + std::to_string(it->first) + " is past its retention (" +
                format_duration(ttl) + "): dropped");
          ++m.stats.partitions_dropped;
          it = t.partitions.erase(it);
          ++t.files_gen;
        } else {
          ++it;
        }
      }
      // Rows in memory of expired partitions go too.
      for (auto& s : t.series) {
        auto expired = [&](const SealedBlock& b) { return gone_at(b.partition); };
        for (auto& b : s->sealed)
          if (expired(b)) s->sealed_bytes -= std::min(s->sealed_bytes, b.bytes.size());
        s->sealed.erase(std::remove_if(s->sealed.begin(), s->sealed.end(), expired), s->sealed.end());
      }
    }
    if (gone.empty()) return 0;
    manifest = m.encode_manifest();
  }
  std::string error;
  if (!m.write_file(m.opts.dir + "/MANIFEST", manifest, &error) || !fsync_dir(m.io, m.opts.dir)) {
    // The files stay until the next MANIFEST, which no longer names them.
    m.log("tables: retention could not write MANIFEST: " + error);
    return 0;
  }
  for (auto& f : gone) f->obsolete = true;
  return gone.size();
}

// Which files of a partition (oldest first) to merge, as [first, files.size()); none: first ==
// files.size(). Size-tiered, as LSM stores do, so that rows are rewritten a bounded number of
// times however long a partition is written:
// - all of them, once the files other than the largest hold a third of its bytes: the flushes
//   of a partition that is loaded or backfilled (each a block per series with the flush's
//   rest) become one file with whole blocks; a partition written a flush at a time is merged
//   each time it has grown by a third, which writes each row about four times in all;
// - past compact_files files, the ones newer than the largest (a trickle of late rows, or a
//   partition so large that a third of it takes many flushes): they are merged together, the
//   largest is not rewritten.
static size_t compaction_start(const std::vector<BlockFilePtr>& files, size_t compact_files) {
  if (files.size() < 2) return files.size();
  size_t largest = 0;
  uint64_t total = 0;
  for (size_t k = 0; k < files.size(); ++k) {
    total += files[k]->bytes;
    if (files[k]->bytes > files[largest]->bytes) largest = k;
  }
  const uint64_t big = files[largest]->bytes;
  if ((total - big) * 3 >= big) return 0;
  if (files.size() <= compact_files) return files.size();
  // Only files newer than the largest may be merged without it: their blocks keep the newest
  // sequence number of what they merge, which must stay above every block of the largest.
  return largest == 0 && files.size() - 1 >= 2 ? 1 : 0;
}

size_t Tables::compact() {
  Impl& m = *impl_;
  std::lock_guard one_at_a_time(m.compact_mu);
  struct Job {
    uint32_t table;
    int64_t partition;
    std::vector<BlockFilePtr> files;
    DuplicatePolicy policy;
    std::shared_ptr<const Schema> schema;
  };
  std::vector<Job> jobs;
  {
    std::lock_guard lock(m.mu);
    for (auto& [id, t] : m.tables)
      for (auto& [p, files] : t.partitions)
        if (size_t first = compaction_start(files, m.opts.compact_files); first < files.size())
          jobs.push_back({id, p, {files.begin() + static_cast<ptrdiff_t>(first), files.end()}, t.schema->options.duplicates, t.schema});
  }
  size_t done = 0;
  for (Job& job : jobs) {
    // Every series' blocks from the files, merged and re-cut; the newest block wins a tie. The
    // files are immutable and held here, so this runs without files_mu: flushes (and the
    // checkpoints waiting on them) go on meanwhile.
    std::map<uint32_t, std::vector<std::pair<const BlockFile*, BlockRef>>> per_series;
    for (auto& f : job.files)
      for (auto& [id, refs] : f->index)
        for (auto& r : refs) per_series[id].emplace_back(f.get(), r);
    // Written as the series are merged: only one series' rows and blocks are held at a time.
    uint64_t seq;
    {
      std::lock_guard files(m.files_mu);
      seq = m.next_file_seq++;
    }
    Impl::BlockFileWriter writer(m);
    std::string error, buf;
    bool ok = writer.open(job.table, job.partition, seq, &error);
    BlockMeta meta;
    SeriesRows rows, merged, part;
    std::vector<SealedBlock> out_blocks;
    std::vector<const SealedBlock*> out_list;
    for (auto it = per_series.begin(); ok && it != per_series.end(); ++it) {
      auto& [id, refs] = *it;
      std::sort(refs.begin(), refs.end(), [](auto& a, auto& b) { return a.second.seq < b.second.seq; });
      merged.clear();
      merged.conform(*job.schema);
      uint64_t max_seq = 0;
      for (auto& [f, r] : refs) {
        std::string_view block;
        if (!m.read_block(*f, r, buf, block, &error) || !decode_block(block, meta, rows)) {
          ok = false;
          break;
        }
        merged.append_range(rows, 0, rows.rows());
        max_seq = std::max(max_seq, r.seq);
      }
      if (!ok) break;
      sort_rows(merged, job.policy);
      out_blocks.clear();
      for (size_t k = 0; k < merged.rows();) {
        size_t e = k + block_length(merged.rows() - k, m.opts.block_rows);
        part.clear();
        part.conform(*job.schema);
        part.append_range(merged, k, e);
        SealedBlock b;
        b.partition = job.partition;
        b.rows = static_cast<uint32_t>(e - k);
        b.min_time = part.times.front();
        b.max_time = part.times.back();
        b.seq = max_seq;  // keeps its place against blocks made later (in memory now)
        encode_block(part, b.seq, false, b.bytes);
        out_blocks.push_back(std::move(b));
        k = e;
      }
      out_list.clear();
      for (const SealedBlock& b : out_blocks) out_list.push_back(&b);
      ok = writer.add(id, out_list, &error);
      m.flush_if_wanted();  // the memory budget is kept while a large partition is merged
    }
    BlockFilePtr f = ok ? writer.finish(&error) : nullptr;
    if (!f) {
      m.log("tables: compaction of " + job.schema->name + " partition " + std::to_string(job.partition) + " failed: " + error);
      continue;
    }
    std::lock_guard files(m.files_mu);
    // Retention, DROP TABLE or a recovery may have taken the files meanwhile.
    auto still_there = [&] {
      auto it = m.tables.find(job.table);
      if (it == m.tables.end()) return false;
      auto p = it->second.partitions.find(job.partition);
      if (p == it->second.partitions.end()) return false;
      for (auto& old : job.files)
        if (std::find(p->second.begin(), p->second.end(), old) == p->second.end()) return false;
      return true;
    };
    std::string manifest;
    std::vector<BlockFilePtr> before;
    {
      std::lock_guard lock(m.mu);
      if (!still_there()) {
        f->obsolete = true;
        continue;
      }
      Table& t = m.tables.find(job.table)->second;
      auto& files = t.partitions[job.partition];
      before = files;
      ++t.files_gen;
      // The merged file takes the place of the oldest file it merges.
      auto at = std::find(files.begin(), files.end(), job.files.front()) - files.begin();
      for (auto& old : job.files) {
        files.erase(std::remove(files.begin(), files.end(), old), files.end());
        t.bytes_on_disk -= std::min(t.bytes_on_disk, old->bytes);
      }
      files.insert(files.begin() + at, f);
      t.bytes_on_disk += f->bytes;
      manifest = m.encode_manifest();
    }
    if (!m.write_file(m.opts.dir + "/MANIFEST", manifest, &error) || !fsync_dir(m.io, m.opts.dir)) {
      m.log("tables: compaction could not write MANIFEST: " + error);
      std::lock_guard lock(m.mu);
      auto it = m.tables.find(job.table);
      if (it != m.tables.end()) {
        ++it->second.files_gen;
        it->second.partitions[job.partition] = before;
        it->second.bytes_on_disk -= std::min(it->second.bytes_on_disk, f->bytes);
        for (auto& old : job.files) it->second.bytes_on_disk += old->bytes;
      }
      f->obsolete = true;
      continue;
    }
    for (auto& old : job.files) old->obsolete = true;
    ++done;
    std::lock_guard lock(m.mu);
    ++m.stats.compactions;
  }
  return done;
}

TablesStats Tables::stats() const {
  std::lock_guard lock(impl_->mu);
  TablesStats s = impl_->stats;
  s.memory_bytes = impl_->memory;
  s.tables = impl_->tables.size();
  return s;
}

void Tables::close() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.bg_mu);
    m.bg_stop = true;
  }
  m.bg_wake.notify_all();
  if (m.background.joinable()) m.background.join();
}

}  // namespace mqbase::store::tables
