// Tables: rows through the WAL into heads, blocks and files; recovery after a crash at any
// point of a flush; duplicate policies; out-of-order and late rows; schema growth; retention;
// compaction; refusals.
#include "store/tables.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <malloc.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "store/store.h"
#include "store/table_block.h"
#include "store_test_util.h"

namespace mqbase::store::tables {
namespace {

using test::TempDir;
using ::testing::ElementsAre;

constexpr int64_t kT0 = 1'700'000'000LL * kNanosPerSecond;  // 2023-11-14
constexpr int64_t kSec = kNanosPerSecond;

Schema neo_tag_table(const std::string& name = "tag") {
  Schema s;
  s.name = name;
  s.columns = {{"name", ColumnType::tag}, {"time", ColumnType::time}, {"value", ColumnType::float64}};
  return s;
}

// Bytes the allocator has handed out and not had back (0 where a sanitizer replaces malloc).
size_t heap_in_use() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// One table's rows, flattened for comparison: "tags|time|v1|v2..." with NULL as "null".
std::vector<std::string> dump(const Tables& t, const std::string& table, ScanSpec spec = {}) {
  std::vector<std::string> out;
  std::string error;
  bool ok = t.scan(table, spec, [&](const std::vector<std::string>& tags, const SeriesRows& rows) {
    for (size_t r = 0; r < rows.rows(); ++r) {
      std::string line;
      for (auto& v : tags) line += v + ",";
      line += "|" + std::to_string((rows.times[r] - kT0) / kSec);
      for (const FieldValues& f : rows.fields) {
        line += "|";
        if (!f.valid[r]) {
          line += "null";
          continue;
        }
        switch (f.type) {
          case ColumnType::float64: {
            char b[32];
            std::snprintf(b, sizeof b, "%g", f.f[r]);
            line += b;
            break;
          }
          case ColumnType::int64:
          case ColumnType::boolean: line += std::to_string(f.i[r]); break;
          default: line += f.s[r]; break;
        }
      }
      out.push_back(line);
    }
  }, &error);
  EXPECT_TRUE(ok) << error;
  return out;
}

class TablesTest : public ::testing::Test {
 public:
  TempDir dir;
  std::unique_ptr<Tables> tables;
  std::unique_ptr<Store> store;
  TablesOptions topts;
  StoreOptions sopts;

  TablesTest() {
    topts.dir = dir.path() + "/tables";
    topts.block_rows = 100;
    topts.maintenance_interval = std::chrono::hours(1);  // tests call retention and compaction themselves
    sopts = test::options_for(dir.path());
  }

  void open() {
    tables = Tables::open(topts);
    StoreOptions o = sopts;
    Tables* t = tables.get();
    o.before_checkpoint = [t](Lsn covered) { return t->flush(covered); };
    store = Store::open(o, nullptr, [t](uint8_t type, Lsn lsn, std::string_view p) { t->replay(type, lsn, p); });
    tables->attach(*store);
  }
  // A process crash: the heads are lost; what the WAL holds is not (sync mode).
  void crash() {
    tables->close();
    store->close();
    store.reset();
    tables.reset();
  }
  void reopen() {
    crash();
    open();
  }

  void create(const Schema& s) {
    Lsn lsn;
    ASSERT_EQ(tables->create_table(s, false, &lsn), "");
    ASSERT_GT(lsn, 0u);
  }

  // Writes rows (name, seconds after kT0, value) to a neo tag table; NaN as NULL.
  WriteResult put(const std::string& table, const std::vector<std::tuple<std::string, int64_t, double>>& rows) {
    auto schema = tables->schema(table);
    EXPECT_TRUE(schema);
    RowBatch b;
    b.table_id = schema->id;
    b.columns = static_cast<uint32_t>(schema->columns.size());
    b.fields.resize(1);
    b.fields[0].type = ColumnType::float64;
    std::map<std::string, uint32_t> series;
    for (auto& [name, sec, v] : rows) {
      auto [it, added] = series.try_emplace(name, static_cast<uint32_t>(b.series.size()));
      if (added) b.series.push_back({name});
      b.row_series.push_back(it->second);
      b.times.push_back(kT0 + sec * kSec);
      if (std::isnan(v)) b.fields[0].push_null();
      else b.fields[0].push_f(v);
    }
    return tables->write(b);
  }

  std::vector<std::filesystem::path> block_file_paths() const {
    std::vector<std::filesystem::path> files;
    for (auto& e : std::filesystem::recursive_directory_iterator(topts.dir))
      if (e.path().extension() == ".blk") files.push_back(e.path());
    return files;
  }
  size_t block_files() const { return block_file_paths().size(); }
};

TEST_F(TablesTest, RowsWrittenAreReadBackSortedPerSeries) {
  open();
  create(neo_tag_table());
  ASSERT_GT(put("tag", {{"b", 2, 2.5}, {"a", 1, 1.5}, {"a", 0, 0.5}, {"b", 1, NAN}}).lsn, 0u);
  EXPECT_THAT(dump(*tables, "tag"), ElementsAre("b,|1|null", "b,|2|2.5", "a,|0|0.5", "a,|1|1.5"));
  ScanSpec only_a;
  only_a.tags = {{"NAME", "a"}};
  only_a.from = kT0 + 1 * kSec;
  EXPECT_THAT(dump(*tables, "tag", only_a), ElementsAre("a,|1|1.5"));
}

TEST_F(TablesTest, RowsInTheLogComeBackAfterACrash) {
  open();
  create(neo_tag_table());
  for (int i = 0; i < 350; ++i) ASSERT_GT(put("tag", {{"s" + std::to_string(i % 3), i, i * 0.25}}).lsn, 0u);
  auto before = dump(*tables, "tag");
  ASSERT_EQ(before.size(), 350u);
  reopen();
  EXPECT_EQ(dump(*tables, "tag"), before);
  EXPECT_EQ(block_files(), 0u);  // nothing was flushed: all of it came from the WAL
}

TEST_F(TablesTest, ACheckpointFlushesBlocksAndTheLogIsNotNeededAfterIt) {
  open();
  create(neo_tag_table());
  std::vector<std::tuple<std::string, int64_t, double>> rows;
  for (int i = 0; i < 1000; ++i) rows.emplace_back("dev" + std::to_string(i % 4), i * 10, std::round(i * 1.37 * 100) / 100);
  ASSERT_GT(put("tag", rows).lsn, 0u);
  auto before = dump(*tables, "tag");
  ASSERT_TRUE(store->checkpoint());
  EXPECT_GE(block_files(), 1u);
  EXPECT_EQ(tables->stats().flushes, 1u);
  auto info = tables->list();
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].rows_on_disk, 1000u);
  EXPECT_EQ(info[0].rows_in_memory, 0u);
  EXPECT_EQ(info[0].series, 4u);
  EXPECT_LT(info[0].bytes_on_disk, 1000u * 4);  // regular times, two-decimal values: a few bytes a row
  // The WAL segments the rows were in are gone; the rows come back from the block files.
  reopen();
  EXPECT_EQ(dump(*tables, "tag"), before);
  // More rows after the flush, then a crash: files + WAL replay.
  ASSERT_GT(put("tag", {{"dev0", 20000, 1.0}}).lsn, 0u);
  before = dump(*tables, "tag");
  reopen();
  EXPECT_EQ(dump(*tables, "tag"), before);
  EXPECT_EQ(before.size(), 1001u);
}

// Block files are mapped on their first read. One cut short behind the server's back (after
// it was opened, before it was read) is an error naming the file, not a crash (SIGBUS reading
// past the end of a mapping), and the blocks still in it read as before.
TEST_F(TablesTest, ABlockFileCutShortIsAnErrorNotACrash) {
  open();
  create(neo_tag_table());
  std::vector<std::tuple<std::string, int64_t, double>> rows;
  for (int i = 0; i < 1000; ++i) rows.emplace_back("dev0", i * 10, i * 0.5);
  ASSERT_GT(put("tag", rows).lsn, 0u);
  ASSERT_TRUE(store->checkpoint());
  reopen();  // the files open again, unmapped and not yet read
  std::vector<std::filesystem::path> files = block_file_paths();
  ASSERT_FALSE(files.empty());
  for (auto& f : files) std::filesystem::resize_file(f, std::filesystem::file_size(f) / 2);
  std::string error;
  size_t got = 0;
  EXPECT_FALSE(tables->scan("tag", {}, [&](const std::vector<std::string>&, const SeriesRows& r) { got += r.rows(); }, &error));
  EXPECT_THAT(error, ::testing::HasSubstr(".blk"));
  EXPECT_THAT(error, ::testing::HasSubstr("past its end"));
  EXPECT_GT(got, 0u) << "the blocks before the cut read as before";
  EXPECT_LT(got, 1000u);
}

// A block whose bytes changed on disk fails its CRC32C when first read: the scan stops with
// an error naming the file and the offset, and so does the next one (a block is marked
// checked only once its checksum has passed).
TEST_F(TablesTest, ABlockThatFailsItsChecksumIsAnError) {
  open();
  create(neo_tag_table());
  std::vector<std::tuple<std::string, int64_t, double>> rows;
  for (int i = 0; i < 1000; ++i) rows.emplace_back("dev0", i, i * 0.5);  // one partition, one file
  ASSERT_GT(put("tag", rows).lsn, 0u);
  ASSERT_TRUE(store->checkpoint());
  reopen();
  std::vector<std::filesystem::path> files = block_file_paths();
  ASSERT_EQ(files.size(), 1u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);  // inside the first block's columns
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(40);
    f.write(&c, 1);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string error;
    size_t got = 0;
    EXPECT_FALSE(tables->scan("tag", {}, [&](const std::vector<std::string>&, const SeriesRows& r) { got += r.rows(); }, &error));
    EXPECT_THAT(error, ::testing::HasSubstr(files[0].filename().string()));
    EXPECT_THAT(error, ::testing::HasSubstr("fails its checksum"));
    EXPECT_EQ(got, 0u);
  }
}

// A block file is read through a mapping. Cut short by someone else while mapped, its pages
// past the new end raise SIGBUS when touched: that must fail the query, not end the process.
// (Before the blocks were copied out under a SIGBUS guard this test died of the signal.)
TEST_F(TablesTest, AFileCutShortWhileMappedIsAnErrorNotACrash) {
  open();
  create(neo_tag_table());
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> value(-1e6, 1e6);  // random values: blocks of several KB
  for (int d = 0; d < 20; ++d) {
    std::vector<std::tuple<std::string, int64_t, double>> rows;
    for (int i = 0; i < 1000; ++i) rows.emplace_back("dev" + std::to_string(d), i, value(rng));
    ASSERT_GT(put("tag", rows).lsn, 0u);
  }
  ASSERT_TRUE(store->checkpoint());
  reopen();
  std::vector<std::filesystem::path> files = block_file_paths();
  ASSERT_EQ(files.size(), 1u);
  ASSERT_GT(std::filesystem::file_size(files[0]), 64u * 1024);
  // `fields`: {false} reads no field, so a checked block is read in pieces (the header and the
  // times, found by reading the column headers in the mapping: store::read_mapping).
  auto count = [&](std::string* error, std::vector<bool> fields = {}) {
    size_t got = 0;
    ScanSpec spec;
    spec.fields = fields;
    bool ok = tables->scan("tag", spec, [&](const std::vector<std::string>&, const SeriesRows& r) { got += r.rows(); }, error);
    return ok ? got : SIZE_MAX;
  };
  std::string error;
  ASSERT_EQ(count(&error), 20000u) << error;  // every block read once: the file is mapped, the blocks checked
  ASSERT_EQ(count(&error, {false}), 20000u) << error;
  std::filesystem::resize_file(files[0], 4096);  // the mapping now ends in pages that raise SIGBUS
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (std::vector<bool> fields : {std::vector<bool>{}, std::vector<bool>{false}}) {
      error.clear();
      EXPECT_EQ(count(&error, fields), SIZE_MAX);
      EXPECT_THAT(error, ::testing::HasSubstr(files[0].filename().string()));
      EXPECT_THAT(error, ::testing::HasSubstr("cannot be read"));
    }
  }
  // Rows written since are still taken and read back from memory.
  Schema other = neo_tag_table("other");
  create(other);
  ASSERT_GT(put("other", {{"x", 1, 2.5}}).lsn, 0u);
  EXPECT_THAT(dump(*tables, "other"), ::testing::ElementsAre("x,|1|2.5"));
}

TEST_F(TablesTest, EachDuplicatePolicyAcrossMemoryAndFiles) {
  open();
  for (auto [name, policy] : {std::pair{"l", DuplicatePolicy::keep_last}, std::pair{"f", DuplicatePolicy::keep_first},
                              std::pair{"a", DuplicatePolicy::keep_all}}) {
    Schema s = neo_tag_table(name);
    s.options.duplicates = policy;
    create(s);
    ASSERT_GT(put(name, {{"x", 1, 1}, {"x", 1, 2}}).lsn, 0u);
  }
  ASSERT_TRUE(store->checkpoint());
  for (const char* name : {"l", "f", "a"}) ASSERT_GT(put(name, {{"x", 1, 3}}).lsn, 0u);
  for (int round = 0; round < 2; ++round) {
    EXPECT_THAT(dump(*tables, "l"), ElementsAre("x,|1|3"));
    EXPECT_THAT(dump(*tables, "f"), ElementsAre("x,|1|1"));
    EXPECT_THAT(dump(*tables, "a"), ElementsAre("x,|1|1", "x,|1|2", "x,|1|3"));
    reopen();
  }
}

TEST_F(TablesTest, OutOfOrderRowsMergeAndLateRowsGoToTheOverflow) {
  open();
  Schema s = neo_tag_table();
  s.options.ooo_window_ns = 100 * kSec;
  create(s);
  // 1000 rows, every one 10 s apart, shuffled within the window.
  std::vector<std::tuple<std::string, int64_t, double>> rows;
  for (int i = 0; i < 1000; ++i) rows.emplace_back("d", i * 10, i);
  std::mt19937 rng(7);
  for (size_t i = 0; i + 5 < rows.size(); i += 5) std::shuffle(rows.begin() + i, rows.begin() + i + 5, rng);
  for (auto& r : rows) ASSERT_GT(put("tag", {r}).lsn, 0u);
  EXPECT_EQ(tables->stats().late_rows, 0u);
  // Far behind what the series has sealed: late.
  ASSERT_GT(put("tag", {{"d", 5, -1}, {"d", 15, -2}}).lsn, 0u);
  EXPECT_EQ(tables->stats().late_rows, 2u);
  auto check = [&] {
    auto out = dump(*tables, "tag");
    ASSERT_EQ(out.size(), 1002u);
    EXPECT_EQ(out[0], "d,|0|0");
    EXPECT_EQ(out[1], "d,|5|-1");
    EXPECT_EQ(out[2], "d,|10|1");
    EXPECT_EQ(out[3], "d,|15|-2");
    EXPECT_EQ(out.back(), "d,|9990|999");
  };
  check();
  ASSERT_TRUE(store->checkpoint());
  check();
  reopen();
  check();
}

// A device that misses readings leaves a varying number of rows in the out-of-order window.
// The head still seals whole blocks: a cut of 103 rows is a block of 100 and 3 rows that wait,
// not a block of 100 and one of 3. Where rows must be sealed whatever their number (a flush,
// or the end of a partition), whole blocks come first and the last two share the rest evenly.
// Before: one block in three held a few rows.
TEST_F(TablesTest, RowsAreSealedInWholeBlocksWhateverTheWindowHolds) {
  open();
  Schema s = neo_tag_table();
  s.options.ooo_window_ns = 30 * kSec;
  s.options.partition_ns = 2000 * kSec;
  create(s);
  std::mt19937 rng(11);
  std::vector<int64_t> times;
  for (int64_t t = 0; t < 5000; t += 1 + static_cast<int64_t>(rng() % 3)) times.push_back(t);
  for (int64_t t : times) ASSERT_GT(put("tag", {{"d", t, static_cast<double>(t)}}).lsn, 0u);
  ASSERT_TRUE(store->checkpoint());
  // Every block on its own call (they overlap nothing), by partition.
  std::map<int64_t, std::vector<size_t>> blocks;
  std::string error;
  ASSERT_TRUE(tables->scan("tag", ScanSpec{}, [&](const std::vector<std::string>&, const SeriesRows& r) {
    int64_t p = (r.times.front() - kT0) / (2000 * kSec);  // kT0 is 1,700,000,000 s: a partition edge
    blocks[p].push_back(r.rows());
  }, &error)) << error;
  ASSERT_EQ(blocks.size(), 3u);
  size_t total = 0;
  for (auto& [p, sizes] : blocks) {
    size_t n = 0;
    for (size_t k : sizes) n += k;
    total += n;
    // Whole blocks, then the partition's rest cut evenly (or the flush's rest, in the last).
    EXPECT_EQ(sizes.size(), (n + 99) / 100) << "partition " << p;
    for (size_t k = 0; k + 2 < sizes.size(); ++k) EXPECT_EQ(sizes[k], 100u) << "partition " << p << " block " << k;
  }
  EXPECT_EQ(total, times.size());
  EXPECT_EQ(tables->estimate("tag", INT64_MIN, INT64_MAX).blocks, blocks[0].size() + blocks[1].size() + blocks[2].size());
}

TEST_F(TablesTest, AScanDecodesOnlyTheFieldsItWants) {
  open();
  Schema s;
  s.name = "wide";
  s.columns = {{"dev", ColumnType::tag}, {"time", ColumnType::time}, {"v", ColumnType::float64},
               {"note", ColumnType::varchar}, {"n", ColumnType::int64}};
  create(s);
  auto schema = tables->schema("wide");
  RowBatch b;
  b.table_id = schema->id;
  b.columns = 5;
  b.series = {{"a"}, {"b"}};
  b.fields.resize(3);
  b.fields[0].type = ColumnType::float64;
  b.fields[1].type = ColumnType::varchar;
  b.fields[2].type = ColumnType::int64;
  for (int i = 0; i < 3000; ++i) {
    b.row_series.push_back(i % 2);
    b.times.push_back(kT0 + i * kSec);
    b.fields[0].push_f(i * 0.25);
    if (i % 7 == 0) b.fields[1].push_null();
    else b.fields[1].push_s("note " + std::to_string(i % 5));
    if (i % 11 == 0) b.fields[2].push_null();
    else b.fields[2].push_i(i);
  }
  ASSERT_GT(tables->write(b).lsn, 0u);
  ASSERT_TRUE(store->checkpoint());  // every row in blocks on disk
  auto all = dump(*tables, "wide");
  ASSERT_EQ(all.size(), 3000u);
  for (std::vector<bool> want : {std::vector<bool>{true, false, true}, {false, true, false}, {false, false, true}}) {
    ScanSpec spec;
    spec.fields = want;
    auto some = dump(*tables, "wide", spec);
    ASSERT_EQ(some.size(), all.size());
    for (size_t r = 0; r < all.size(); ++r) {
      // "tags,|time|v|note|n": a field not wanted is NULL, the others as in the full scan.
      std::vector<std::string> full, part;
      auto split = [](const std::string& line, std::vector<std::string>& out) {
        size_t at = 0;
        for (size_t bar; (bar = line.find('|', at)) != std::string::npos; at = bar + 1) out.push_back(line.substr(at, bar - at));
        out.push_back(line.substr(at));
      };
      split(all[r], full);
      split(some[r], part);
      ASSERT_EQ(full.size(), 5u);
      ASSERT_EQ(part.size(), 5u);
      EXPECT_EQ(part[0], full[0]);
      EXPECT_EQ(part[1], full[1]);
      for (size_t f = 0; f < 3; ++f) EXPECT_EQ(part[2 + f], want[f] ? full[2 + f] : "null") << some[r];
    }
  }
}

TEST_F(TablesTest, ATableGrowsNewFieldsAndOldRowsReadThemAsNull) {
  open();
  create(neo_tag_table());
  ASSERT_GT(put("tag", {{"a", 1, 1}}).lsn, 0u);
  ASSERT_TRUE(store->checkpoint());
  Lsn lsn;
  ASSERT_EQ(tables->add_columns("tag", {{"unit", ColumnType::varchar}, {"site", ColumnType::tag}}, &lsn), "");
  EXPECT_THAT(tables->add_columns("tag", {{"value", ColumnType::int64}}, &lsn), ::testing::HasSubstr("is DOUBLE, not BIGINT"));
  auto schema = tables->schema("tag");
  ASSERT_EQ(schema->columns.size(), 5u);
  RowBatch b;
  b.table_id = schema->id;
  b.columns = 5;
  b.series = {{"a", "north"}};
  b.row_series = {0};
  b.times = {kT0 + 2 * kSec};
  b.fields.resize(2);
  b.fields[0].type = ColumnType::float64;
  b.fields[0].push_f(2);
  b.fields[1].type = ColumnType::varchar;
  b.fields[1].push_s("°C");
  ASSERT_GT(tables->write(b).lsn, 0u);
  for (int round = 0; round < 2; ++round) {
    EXPECT_THAT(dump(*tables, "tag"), ElementsAre("a,,|1|1|null", "a,north,|2|2|°C"));
    reopen();
  }
}

TEST_F(TablesTest, TablesPastTheLimitAreRefusedAndADropMakesRoom) {
  topts.max_tables = 3;
  open();
  for (const char* n : {"t1", "t2", "t3"}) create(neo_tag_table(n));
  Lsn lsn = 1;
  std::string e = tables->create_table(neo_tag_table("t4"), false, &lsn);
  EXPECT_EQ(e, "table 't4' cannot be created: the server is at its limit of 3 tables (tables.max_tables)");
  EXPECT_TRUE(is_table_limit_error(e));
  EXPECT_EQ(lsn, 0u);
  EXPECT_FALSE(tables->schema("t4"));
  // An existing table is no new one: IF NOT EXISTS still answers, and it grows.
  EXPECT_EQ(tables->create_table(neo_tag_table("t1"), true, &lsn), "");
  EXPECT_EQ(tables->add_columns("t1", {{"unit", ColumnType::varchar}}, &lsn), "");
  EXPECT_FALSE(is_table_limit_error(tables->create_table(neo_tag_table("t1"), false, &lsn)));
  // A table the server needs for itself is made even at the limit, and counts towards it.
  EXPECT_EQ(tables->create_table(neo_tag_table("_dead_letter"), false, &lsn, false), "");
  ASSERT_EQ(tables->drop_table("t2", &lsn), "");
  EXPECT_TRUE(is_table_limit_error(tables->create_table(neo_tag_table("t4"), false, &lsn)));
  ASSERT_EQ(tables->drop_table("_dead_letter", &lsn), "");
  create(neo_tag_table("t4"));
  EXPECT_TRUE(is_table_limit_error(tables->create_table(neo_tag_table("t5"), false, &lsn)));
  // A lower limit after a restart refuses new tables, and keeps every table there is.
  crash();
  topts.max_tables = 1;
  open();
  for (const char* n : {"t1", "t3", "t4"}) EXPECT_TRUE(tables->schema(n)) << n;
  EXPECT_TRUE(is_table_limit_error(tables->create_table(neo_tag_table("t5"), false, &lsn)));
  crash();
  topts.max_tables = 0;  // no limit
  open();
  for (int i = 5; i < 20; ++i) create(neo_tag_table("t" + std::to_string(i)));
}

// A series holds memory for its rows while it is written; once a checkpoint has flushed them,
// an idle series gives its head back (before: about 700 bytes of empty column vectors each,
// counted in the memory budget, and 1.4 KB more for every series loaded at start).
TEST_F(TablesTest, IdleSeriesGiveTheirHeadsBackAfterAFlush) {
  open();
  create(neo_tag_table());
  Schema wide;
  wide.name = "wide";
  wide.columns = {{"name", ColumnType::tag}, {"time", ColumnType::time}};
  for (int c = 0; c < 7; ++c) wide.columns.push_back({"f" + std::to_string(c), ColumnType::float64});
  create(wide);
  auto schema = tables->schema("wide");
  RowBatch b;
  b.table_id = schema->id;
  b.columns = static_cast<uint32_t>(schema->columns.size());
  b.fields.resize(7);
  constexpr int kSeries = 20000;
  const size_t heap_before = heap_in_use();
  for (int i = 0; i < kSeries; ++i) {
    b.series.push_back({"s" + std::to_string(i)});
    b.row_series.push_back(i);
    b.times.push_back(kT0 + i);
    for (auto& f : b.fields) f.push_f(i);
  }
  ASSERT_GT(tables->write(b).lsn, 0u);
  EXPECT_GT(tables->stats().memory_bytes, kSeries * 7 * 9u);
  ASSERT_TRUE(store->checkpoint());
  EXPECT_LT(tables->stats().memory_bytes, 64u * 1024) << "what idle series still hold after the flush";
  // Measured: 1.1 KB a series with the batch above still held (tags, index entries, its
  // block's index entry); 3.4 KB before heads were given back. Where a sanitizer's malloc
  // leaves glibc's counts still, there is nothing to measure.
  if (const size_t after = heap_in_use(); after > heap_before + kSeries * 100u) {
    EXPECT_LT((after - heap_before) / kSeries, 2000u) << "heap bytes per idle series";
  }
  // Written again, a series takes rows as before; late rows go to its overflow.
  ASSERT_GT(put("tag", {{"a", 5, 1}}).lsn, 0u);
  b.times.assign(kSeries, kT0 + 1000000);
  ASSERT_GT(tables->write(b).lsn, 0u);
  for (auto& t : b.times) t = kT0 - 1;  // older than what is sealed: late
  ASSERT_GT(tables->write(b).lsn, 0u);
  auto rows = dump(*tables, "wide");
  ASSERT_EQ(rows.size(), 3u * kSeries);
  ASSERT_TRUE(store->checkpoint());
  reopen();
  EXPECT_EQ(dump(*tables, "wide").size(), 3u * kSeries);
  EXPECT_THAT(dump(*tables, "tag"), ElementsAre("a,|5|1"));
}

TEST_F(TablesTest, ADefinedTableIsCreatedThenGrownAndItsOptionsFollowTheDefinition) {
  open();
  Schema s = neo_tag_table("defined");
  Lsn lsn;
  ASSERT_EQ(tables->define_table(s, &lsn), "");
  EXPECT_GT(lsn, 0u);
  ASSERT_EQ(tables->define_table(s, &lsn), "");  // the same again: nothing to do
  EXPECT_EQ(lsn, 0u);
  s.columns.push_back({"unit", ColumnType::varchar});
  s.options.ttl_ns = kDay;
  s.options.duplicates = DuplicatePolicy::keep_first;
  ASSERT_EQ(tables->define_table(s, &lsn), "");
  for (int round = 0; round < 2; ++round) {
    auto now = tables->schema("defined");
    ASSERT_TRUE(now);
    EXPECT_EQ(now->columns.size(), 4u);
    EXPECT_EQ(now->options.ttl_ns, kDay);
    EXPECT_EQ(now->options.duplicates, DuplicatePolicy::keep_first);
    reopen();  // from the WAL's schema records
  }
  ASSERT_TRUE(store->checkpoint());
  reopen();  // from MANIFEST
  EXPECT_EQ(tables->schema("defined")->options.duplicates, DuplicatePolicy::keep_first);
  s.columns[2].type = ColumnType::int64;
  EXPECT_THAT(tables->define_table(s, &lsn), ::testing::HasSubstr("is DOUBLE, not BIGINT"));
}

TEST_F(TablesTest, RetentionDropsWholePartitionsPastTheTtl) {
  open();
  Schema s = neo_tag_table();
  s.options.partition_ns = 3600 * kSec;
  s.options.ttl_ns = 2 * 3600 * kSec;
  create(s);
  std::vector<std::tuple<std::string, int64_t, double>> rows;
  for (int h = 0; h < 6; ++h) rows.emplace_back("a", h * 3600 + 60, h);
  ASSERT_GT(put("tag", rows).lsn, 0u);
  ASSERT_TRUE(store->checkpoint());
  EXPECT_EQ(tables->list()[0].partitions, 6u);
  // "Now" is 6 h after kT0: partitions ending before 4 h go (hours 0..3).
  EXPECT_EQ(tables->enforce_retention(kT0 + 6 * 3600 * kSec), 4u);
  EXPECT_THAT(dump(*tables, "tag"), ElementsAre("a,|14460|4", "a,|18060|5"));
  reopen();
  EXPECT_THAT(dump(*tables, "tag"), ElementsAre("a,|14460|4", "a,|18060|5"));
  EXPECT_EQ(block_files(), 2u);
}

TEST_F(TablesTest, CompactionMergesAPartitionsFilesIntoOne) {
  topts.compact_files = 3;
  open();
  Schema s = neo_tag_table();
  s.options.duplicates = DuplicatePolicy::keep_last;
  create(s);
  for (int f = 0; f < 5; ++f) {
    // Each flush: new rows and one rewrite of an old time.
    ASSERT_GT(put("tag", {{"a", f * 100 + 1, f}, {"b", f * 100 + 2, f}, {"a", 1, 100 + f}}).lsn, 0u);
    ASSERT_TRUE(store->checkpoint());
  }
  auto before = dump(*tables, "tag");
  EXPECT_EQ(before.front(), "a,|1|104");
  EXPECT_EQ(block_files(), 5u);
  EXPECT_EQ(tables->compact(), 1u);
  EXPECT_EQ(block_files(), 1u);
  EXPECT_EQ(dump(*tables, "tag"), before);
  reopen();
  EXPECT_EQ(dump(*tables, "tag"), before);
}

// Block sizes per series, as a scan sees them (one call per block that overlaps no other).
std::map<std::string, std::vector<size_t>> block_sizes(const Tables& t, const std::string& table) {
  std::map<std::string, std::vector<size_t>> out;
  std::string error;
  EXPECT_TRUE(t.scan(table, ScanSpec{}, [&](const std::vector<std::string>& tags, const SeriesRows& r) {
    out[tags[0]].push_back(r.rows());
  }, &error)) << error;
  return out;
}

// A partition loaded over several flushes has, per series and flush, a block of the flush's
// rest. Compaction makes them one file of whole blocks, though the partition has fewer files
// than compact_files: the flushes hold more than a third of the largest file's bytes.
TEST_F(TablesTest, APartitionsFlushesAreMergedIntoWholeBlocks) {
  open();
  create(neo_tag_table());
  int64_t t = 0;
  for (int flush = 0; flush < 4; ++flush) {
    std::vector<std::tuple<std::string, int64_t, double>> rows;
    for (int i = 0; i < 250; ++i, ++t) {
      rows.emplace_back("a", t, static_cast<double>(t));
      rows.emplace_back("b", t, -static_cast<double>(t));
    }
    ASSERT_GT(put("tag", rows).lsn, 0u);
    ASSERT_TRUE(store->checkpoint());
  }
  auto before = dump(*tables, "tag");
  ASSERT_EQ(before.size(), 2000u);
  EXPECT_EQ(block_files(), 4u);
  EXPECT_GT(block_sizes(*tables, "tag")["a"].size(), 10u);  // 100s and 50s
  EXPECT_EQ(tables->compact(), 1u);
  EXPECT_EQ(block_files(), 1u);
  EXPECT_THAT(block_sizes(*tables, "tag")["a"], ElementsAre(100, 100, 100, 100, 100, 100, 100, 100, 100, 100));
  EXPECT_EQ(dump(*tables, "tag"), before);
  EXPECT_EQ(tables->compact(), 0u);  // one file: nothing to do
  reopen();
  EXPECT_EQ(dump(*tables, "tag"), before);
}

// Late rows trickle into a large partition, a file per flush. Past compact_files files, the
// small ones are merged together and the large file is not rewritten; a late row that rewrites
// a time of the large file still wins (keep last), before and after a restart.
TEST_F(TablesTest, LateFilesAreMergedWithoutRewritingTheLargeOne) {
  topts.compact_files = 3;
  open();
  create(neo_tag_table());
  std::vector<std::tuple<std::string, int64_t, double>> rows;
  for (int i = 0; i < 3000; ++i) rows.emplace_back("a", i, i);
  ASSERT_GT(put("tag", rows).lsn, 0u);
  ASSERT_TRUE(store->checkpoint());
  ASSERT_EQ(block_files(), 1u);
  const auto large = block_file_paths()[0];
  for (int f = 0; f < 4; ++f) {
    ASSERT_GT(put("tag", {{"a", 10 * f, -1000 - f}}).lsn, 0u);  // rewrites an old time
    ASSERT_TRUE(store->checkpoint());
  }
  auto before = dump(*tables, "tag");
  ASSERT_EQ(before.size(), 3000u);
  EXPECT_EQ(before[10], "a,|10|-1001");
  EXPECT_EQ(block_files(), 5u);
  EXPECT_EQ(tables->compact(), 1u);
  auto after = block_file_paths();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_TRUE(std::find(after.begin(), after.end(), large) != after.end()) << "the large file was rewritten";
  EXPECT_EQ(dump(*tables, "tag"), before);
  reopen();
  EXPECT_EQ(dump(*tables, "tag"), before);
}

// Compaction merges without holding up flushes: writers and checkpoints go on while partitions
// are merged again and again, and no row is lost or doubled (run under TSan too).
TEST_F(TablesTest, WritesAndFlushesGoOnWhileCompactionMerges) {
  topts.compact_files = 2;
  open();
  create(neo_tag_table());
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < 40; ++i) {
      std::vector<std::tuple<std::string, int64_t, double>> rows;
      for (int k = 0; k < 100; ++k) rows.emplace_back(k % 2 ? "a" : "b", i * 100 + k, i);
      if (put("tag", rows).lsn == 0) break;
      written += 100;
      if (!store->checkpoint()) break;
    }
  });
  size_t compactions = 0;
  for (int i = 0; i < 200 && written < 4000; ++i) compactions += tables->compact();
  writer.join();
  compactions += tables->compact();
  EXPECT_EQ(written.load(), 4000);
  EXPECT_GT(compactions, 0u);
  auto rows = dump(*tables, "tag");
  EXPECT_EQ(rows.size(), 4000u);
  reopen();
  EXPECT_EQ(dump(*tables, "tag"), rows);
}

TEST_F(TablesTest, ATableOverItsDiskBudgetRefusesWritesAndTheOthersGoOn) {
  open();
  Schema small = neo_tag_table("small");
  small.options.disk_budget = 1;  // any block file puts it over
  create(small);
  create(neo_tag_table("other"));
  ASSERT_GT(put("small", {{"a", 1, 1}}).lsn, 0u);  // nothing on disk yet: taken
  ASSERT_TRUE(store->checkpoint());
  WriteResult r = put("small", {{"a", 2, 2}});
  EXPECT_EQ(r.lsn, 0u);
  EXPECT_EQ(r.status, WriteStatus::over_budget);
  EXPECT_THAT(r.error, ::testing::HasSubstr("over its disk budget"));
  EXPECT_GT(put("other", {{"a", 2, 2}}).lsn, 0u);
  EXPECT_THAT(dump(*tables, "small"), ElementsAre("a,|1|1"));
}

TEST_F(TablesTest, ARefusedWriteLeavesNoRow) {
  test::FaultFileOps faults;
  sopts.io = &faults;
  open();
  Lsn created = 0;
  ASSERT_EQ(tables->create_table(neo_tag_table(), false, &created), "");
  // The table's record must be synced before syncs fail: else its failed sync turns the store
  // to failing before the first write, which is then refused (a flake, 1 run in 10).
  ASSERT_TRUE(test::eventually([&] { return store->durable_lsn() >= created; }));
  faults.segment_sync_errno = EIO;
  // The first write is taken (its sync fails afterwards); once failing, writes are refused.
  put("tag", {{"a", 1, 1}});
  ASSERT_TRUE(test::eventually([&] { return !store->accepting(); }));
  WriteResult r = put("tag", {{"a", 2, 2}, {"a", 3, 3}});
  EXPECT_EQ(r.lsn, 0u);
  EXPECT_THAT(r.error, ::testing::HasSubstr("refuses writes"));
  EXPECT_EQ(dump(*tables, "tag").size(), 1u);
  faults.segment_sync_errno = 0;
  crash();  // before `faults` goes
}

// A simulated crash after each number of file calls that `act` makes, in turn: each time a new
// directory, `prepare` (the table "tag" and its rows), `act` with the crash armed, a reopen. The
// rows must be those before `act`; `check` (given the number of calls) looks at the rest.
void crash_at_every_step(TablesTest& t, const std::function<void()>& prepare, const std::function<void()>& act,
                         const std::function<void(long)>& check = nullptr) {
  auto run = [&](long crash_after, test::FaultFileOps& faults) -> long {
    TempDir d;
    t.topts.dir = d.path() + "/tables";
    t.topts.io = &faults;
    t.sopts = test::options_for(d.path());
    t.sopts.io = &faults;
    faults.fake_syncs = true;
    t.open();
    prepare();
    auto before = dump(*t.tables, "tag");
    long start = faults.calls.load();
    faults.crash_after = crash_after;
    act();
    long used = faults.calls.load() - start;
    t.crash();
    faults.crash_after = -1;
    faults.crashed = false;
    t.open();
    EXPECT_EQ(dump(*t.tables, "tag"), before) << "crash after " << crash_after << " calls";
    if (check) check(crash_after);
    t.crash();
    return used;
  };
  test::FaultFileOps probe;
  long calls = run(-1, probe);
  ASSERT_GT(calls, 5);
  for (long k = 0; k <= calls; ++k) {
    test::FaultFileOps faults;
    run(k, faults);
    if (::testing::Test::HasFailure()) break;
  }
}

TEST_F(TablesTest, ACrashAtEveryStepOfAFlushLosesNothing) {
  crash_at_every_step(*this, [&] {
    create(neo_tag_table());
    std::vector<std::tuple<std::string, int64_t, double>> rows;
    for (int i = 0; i < 300; ++i) rows.emplace_back("s" + std::to_string(i % 7), i, i);
    EXPECT_GT(put("tag", rows).lsn, 0u);
    EXPECT_TRUE(store->checkpoint());
    Lsn last = put("tag", {{"late", 1, 1}, {"s0", 1000, 2}}).lsn;
    EXPECT_GT(last, 0u);
    // Acknowledged rows only: the crash must not take a record the writer has not written yet.
    EXPECT_TRUE(test::eventually([&] { return store->durable_lsn() >= last; }));
  }, [&] { store->checkpoint(); });
}

// Compaction streams the merged file to disk (a .tmp, synced, renamed, then MANIFEST). A crash
// after any number of its file calls leaves the rows as they were: the old files, or the new one
// once MANIFEST names it; the rest are strays that the next open removes.
TEST_F(TablesTest, ACrashAtEveryStepOfACompactionLosesNothing) {
  crash_at_every_step(*this, [&] {
    create(neo_tag_table());
    for (int f = 0; f < 3; ++f) {
      std::vector<std::tuple<std::string, int64_t, double>> rows;
      for (int i = 0; i < 150; ++i) rows.emplace_back("s" + std::to_string(i % 5), f * 1000 + i, f * 1000 + i);
      rows.emplace_back("s0", 3, -f);  // rewrites an old time: keep last across files
      EXPECT_GT(put("tag", rows).lsn, 0u);
      EXPECT_TRUE(store->checkpoint());
    }
  }, [&] { tables->compact(); }, [&](long crash_after) {
    for (auto& e : std::filesystem::recursive_directory_iterator(topts.dir))
      EXPECT_FALSE(e.path().string().ends_with(".tmp")) << e.path() << " after a crash after " << crash_after;
    size_t files = block_files();
    EXPECT_TRUE(files == 1 || files == 3) << files << " block files after a crash after " << crash_after;
  });
}

// ---- watchers ------------------------------------------------------------------------------

TEST_F(TablesTest, AWatcherSeesEachWriteOnceAppliedAndTheDropEndsIt) {
  open();
  create(neo_tag_table());
  std::string error;
  EXPECT_EQ(tables->add_watcher("nope", [](const WatchedRows&) { return true; }, &error), 0u);
  EXPECT_EQ(error, "table 'nope' does not exist");
  EXPECT_EQ(tables->watchers(), 0u);

  std::vector<std::string> seen;
  bool dropped = false;
  uint64_t id = tables->add_watcher("TAG", [&](const WatchedRows& w) {
    if (!w.rows) {
      dropped = true;
      return true;
    }
    EXPECT_EQ(w.schema->name, "tag");
    // Applied before the watcher hears of them: a read sees them.
    EXPECT_EQ(dump(*tables, "tag").size(), seen.size() + w.rows->rows());
    for (size_t r = 0; r < w.rows->rows(); ++r)
      seen.push_back(w.rows->series[w.rows->row_series[r]][0] + "@" +
                     std::to_string((w.rows->times[r] - kT0) / kSec));
    return true;
  }, &error);
  ASSERT_GT(id, 0u);
  EXPECT_EQ(tables->watchers(), 1u);
  ASSERT_GT(put("tag", {{"a", 1, 1.0}, {"b", 2, 2.0}}).lsn, 0u);
  ASSERT_GT(put("tag", {{"a", 3, 3.0}}).lsn, 0u);
  EXPECT_THAT(seen, ElementsAre("a@1", "b@2", "a@3"));

  Lsn lsn;
  ASSERT_EQ(tables->drop_table("tag", &lsn), "");
  EXPECT_TRUE(dropped);
  EXPECT_EQ(tables->watchers(), 0u);
  tables->remove_watcher(id);  // gone already: fine
}

TEST_F(TablesTest, AWatcherThatReturnsFalseOrIsRemovedIsNotCalledAgain) {
  open();
  create(neo_tag_table());
  create(neo_tag_table("other"));
  std::string error;
  int once = 0, kept = 0, other = 0;
  tables->add_watcher("tag", [&](const WatchedRows&) {
    ++once;
    return false;
  }, &error);
  uint64_t id = tables->add_watcher("tag", [&](const WatchedRows&) {
    ++kept;
    return true;
  }, &error);
  tables->add_watcher("other", [&](const WatchedRows&) {
    ++other;
    return true;
  }, &error);
  EXPECT_EQ(tables->watchers(), 3u);
  put("tag", {{"a", 1, 1.0}});
  put("tag", {{"a", 2, 1.0}});
  EXPECT_EQ(once, 1);
  EXPECT_EQ(kept, 2);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(tables->watchers(), 2u);
  tables->remove_watcher(id);
  put("tag", {{"a", 3, 1.0}});
  EXPECT_EQ(kept, 2);
  EXPECT_EQ(tables->watchers(), 1u);
}

// Writers on several threads: a watcher is called one write at a time, each write once, and
// the rows of each writer's series in the order it wrote them; remove_watcher() waits for a
// call under way, after which none comes.
TEST_F(TablesTest, ConcurrentWritesReachAWatcherOneAtATimeInOrder) {
  open();
  create(neo_tag_table());
  constexpr int kThreads = 4, kWrites = 300;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false}, removed{false}, called_after{false};
  std::map<std::string, std::vector<int64_t>> seen;  // only the watcher touches it
  std::string error;
  uint64_t id = tables->add_watcher("tag", [&](const WatchedRows& w) {
    if (inside.fetch_add(1) != 0) overlapped = true;
    if (removed) called_after = true;
    for (size_t r = 0; r < w.rows->rows(); ++r)
      seen[w.rows->series[w.rows->row_series[r]][0]].push_back(w.rows->times[r]);
    std::this_thread::yield();
    inside.fetch_sub(1);
    return true;
  }, &error);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) put("tag", {{"s" + std::to_string(t), i, double(i)}});
    });
  for (auto& w : writers) w.join();
  EXPECT_FALSE(overlapped);
  ASSERT_EQ(seen.size(), size_t{kThreads});
  for (auto& [series, times] : seen) {
    ASSERT_EQ(times.size(), size_t{kWrites}) << series;
    EXPECT_TRUE(std::is_sorted(times.begin(), times.end())) << series;
  }
  // Removal while writes go on.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = kWrites; !stop; ++i) put("tag", {{"s0", i, 1.0}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  tables->remove_watcher(id);
  removed = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  writer.join();
  EXPECT_FALSE(called_after);
}

}  // namespace
}  // namespace mqbase::store::tables

namespace mqbase::store::tables {
namespace {

// NULLs anywhere: each row decodes to its own value or NULL, for every pattern of NULLs four
// rows at a time takes (the decoder spreads a column's values over its rows four at a time
// with AVX2, by a table of the 16 patterns), at every length around a multiple of four, into
// rows reused from block to block as a scan reuses them.
TEST(TableBlock, NullsAnywhereComeOutInTheirRows) {
  std::mt19937_64 rng(11);
  SeriesRows out;
  BlockMeta meta;
  for (int density : {0, 1, 2, 3, 4})  // in quarters: the chance that a row has a value
    for (size_t n = 1; n <= 70; ++n) {
      SeriesRows rows;
      rows.fields.resize(3);
      rows.fields[0].type = ColumnType::float64;
      rows.fields[1].type = ColumnType::int64;
      rows.fields[2].type = ColumnType::boolean;
      for (size_t r = 0; r < n; ++r) {
        rows.times.push_back(static_cast<int64_t>(r) * 10);
        for (size_t c = 0; c < 3; ++c) {
          if (static_cast<int>(rng() % 4) >= density) {
            rows.fields[c].push_null();
          } else if (c == 0) {
            rows.fields[c].push_f(static_cast<double>(rng() % 100000) / 100 - 300);
          } else if (c == 1) {
            rows.fields[c].push_i(static_cast<int64_t>(rng()));
          } else {
            rows.fields[c].push_i(static_cast<int64_t>(rng() & 1));
          }
        }
      }
      std::string block;
      encode_block(rows, 1, false, block);
      ASSERT_TRUE(decode_block(block, meta, out));
      ASSERT_EQ(out.times, rows.times);
      for (size_t c = 0; c < 3; ++c) {
        const FieldValues& a = out.fields[c];
        const FieldValues& b = rows.fields[c];
        ASSERT_EQ(a.valid, b.valid) << "field " << c << ", " << n << " rows";
        for (size_t r = 0; r < n; ++r) {
          if (c == 0) {
            ASSERT_EQ(a.f[r], b.valid[r] ? b.f[r] : 0.0) << "row " << r << " of " << n;
          } else {
            ASSERT_EQ(a.i[r], b.valid[r] ? b.i[r] : 0) << "field " << c << ", row " << r << " of " << n;
          }
        }
      }
    }
}

// decode_block with a time range: the rows in range come out, every field as the whole decode
// gives it for those rows (NULLs, strings and unread fields included), for every range over a
// block of 40 rows.
TEST(TableBlock, ATimeRangeDecodesTheRowsInItAsTheWholeBlockHasThem) {
  SeriesRows rows;
  rows.fields.resize(4);
  rows.fields[0].type = ColumnType::float64;
  rows.fields[1].type = ColumnType::int64;
  rows.fields[2].type = ColumnType::boolean;
  rows.fields[3].type = ColumnType::varchar;
  std::mt19937_64 rng(5);
  int64_t t = 1'000'000;
  for (int r = 0; r < 40; ++r) {
    rows.times.push_back(t += 10 * static_cast<int64_t>(1 + rng() % 3));  // gaps: a factor of 10
    if (r % 4 == 1) rows.fields[0].push_null();
    else rows.fields[0].push_f(static_cast<double>(static_cast<int>(rng() % 2000)) / 100);
    rows.fields[1].push_i(static_cast<int64_t>(rng() % 50) * 3);
    if (r % 3 == 0) rows.fields[2].push_null();
    else rows.fields[2].push_i(static_cast<int64_t>(rng() & 1));
    if (r % 5 == 2) rows.fields[3].push_null();
    else rows.fields[3].push_s("s" + std::to_string(rng() % 7));
  }
  std::string block;
  encode_block(rows, 1, false, block);
  BlockMeta meta;
  SeriesRows whole, cut;
  ASSERT_TRUE(decode_block(block, meta, whole));
  ASSERT_EQ(whole.rows(), 40u);
  const std::vector<bool> some = {true, false, true, true};  // field 1 not read
  std::vector<int64_t> edges = {INT64_MIN, whole.times.front() - 1, INT64_MAX};
  for (int64_t x : whole.times) {
    edges.push_back(x);
    edges.push_back(x + 1);
  }
  for (const std::vector<bool>* wanted : {static_cast<const std::vector<bool>*>(nullptr), &some})
    for (int64_t from : edges)
      for (int64_t to : edges) {
        if (from > to) continue;
        // `cut` is reused across ranges, as a scan reuses its rows from block to block.
        ASSERT_TRUE(decode_block(block, meta, cut, wanted, true, from, to));
        std::vector<size_t> in;
        for (size_t r = 0; r < whole.rows(); ++r)
          if (whole.times[r] >= from && whole.times[r] < to) in.push_back(r);
        ASSERT_EQ(cut.rows(), in.size()) << "[" << from << ", " << to << ")";
        for (size_t k = 0; k < in.size(); ++k) {
          const size_t r = in[k];
          ASSERT_EQ(cut.times[k], whole.times[r]);
          for (size_t c = 0; c < 4; ++c) {
            const FieldValues& a = cut.fields[c];
            const FieldValues& b = whole.fields[c];
            ASSERT_EQ(a.type, b.type);
            ASSERT_EQ(a.valid.size(), cut.rows());
            if (wanted && !(*wanted)[c]) {
              ASSERT_EQ(a.valid[k], 0) << "an unread field is NULL";
              continue;
            }
            ASSERT_EQ(a.valid[k], b.valid[r]) << "field " << c << ", row " << r << " of [" << from << ", " << to << ")";
            if (!b.valid[r]) continue;
            if (c == 0) {
              ASSERT_EQ(a.f[k], b.f[r]);
            } else if (c == 3) {
              ASSERT_EQ(a.s[k], b.s[r]);
            } else {
              ASSERT_EQ(a.i[k], b.i[r]);
            }
          }
        }
      }
}

}  // namespace
}  // namespace mqbase::store::tables
