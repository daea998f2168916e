// Recovery: a torn tail (cut at every byte of the last records, zeros, garbage, copies of a
// directory taken while a writer runs) loses only the incomplete record; corruption anywhere
// else (a flipped payload or length byte, an LSN gap, a missing segment, a lost segment tail)
// stops the start naming file and offset, or is skipped and reported with skip_corrupt; a bad
// checkpoint falls back to the previous one; leftovers are cleaned; check() agrees.
#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "store/store.h"
#include "store_test_util.h"

namespace mqbase::store {
namespace {

using namespace test;

constexpr const char* kSeg1 = "wal/0000000000000001.log";

// Writes `n` records, record i putting "k<i>" = "v<i>", and closes the store.
void write_numbered(const StoreOptions& o, int n) {
  auto store = Store::open(o);
  for (int i = 0; i < n; ++i) {
    WriteBatch b;
    b.put("k" + std::to_string(i), "v" + std::to_string(i));
    store->write(b);
  }
}

// What write_numbered's first `n` records leave.
KvMap numbered(int n) {
  KvMap m;
  for (int i = 0; i < n; ++i) m["k" + std::to_string(i)] = "v" + std::to_string(i);
  return m;
}

std::string open_error(const StoreOptions& o) {
  try {
    Store::open(o);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

TEST(RecoveryTest, TornTailAtEveryByteOfTheLastRecord) {
  TempDir dir;
  constexpr int kRecords = 30;
  write_numbered(options_for(dir.path()), kRecords);
  std::string seg = segment_paths(dir.path()).back();
  auto records = parse_records(seg);
  ASSERT_EQ(records.size(), size_t{kRecords});
  const std::string original = read_file(seg);
  const uint64_t from = records[kRecords - 1].offset;
  for (uint64_t cut = from; cut < original.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    TempDir copy;
    copy_wal(dir.path(), copy.path());
    std::string copy_seg = copy.wal() + "/" + fs::path(seg).filename().string();
    write_file(copy_seg, original.substr(0, cut));
    int complete = 0;
    uint64_t partial_at = 0;
    for (const auto& r : records) {
      if (r.offset + r.size <= cut) ++complete;
      else if (r.offset < cut) partial_at = r.offset;
    }
    RecoveryReport report;
    auto o = options_for(copy.path());
    FaultFileOps no_syncs;  // the syncs are not what this test is about, and cost time
    no_syncs.fake_syncs = true;
    o.io = &no_syncs;
    ASSERT_EQ(reopen_contents(o, &report), numbered(complete));
    EXPECT_EQ(report.last_lsn, Lsn(complete));
    if (partial_at) {
      ASSERT_EQ(report.warnings.size(), 1u);
      EXPECT_NE(report.warnings[0].find("torn record at " + std::string(kSeg1) + " offset " + std::to_string(partial_at)),
                std::string::npos)
          << report.warnings[0];
      EXPECT_EQ(fs::file_size(copy_seg), partial_at) << "truncated at the torn record";
    } else {
      EXPECT_TRUE(report.warnings.empty());
    }
    // Once cut, the tail is clean: the next start has nothing to say and LSNs go on.
    auto store = Store::open(o, &report);
    EXPECT_TRUE(report.warnings.empty());
    WriteBatch b;
    b.put("next", "1");
    EXPECT_EQ(store->write(b), Lsn(complete + 1));
  }
}

TEST(RecoveryTest, ZerosAfterTheLastRecordAreItsEndAndGarbageATornTail) {
  // Zeros are what a preallocated segment holds past its last record: the log ends there,
  // quietly. Anything else is a torn write, cut with a warning.
  for (int garbage = 0; garbage < 2; ++garbage) {
    TempDir dir;
    auto o = options_for(dir.path());
    write_numbered(o, 10);
    std::string seg = segment_paths(dir.path()).back();
    uint64_t size = fs::file_size(seg);
    std::string tail(garbage ? 4096 : 3 << 20, '\0');  // zeros: more than the reader's 1 MiB chunk
    std::mt19937 rng(7);
    if (garbage)
      for (char& c : tail) c = static_cast<char>(rng());
    write_file(seg, read_file(seg) + tail);
    RecoveryReport report;
    EXPECT_EQ(reopen_contents(o, &report), numbered(10));
    if (garbage) {
      ASSERT_EQ(report.warnings.size(), 1u);
      EXPECT_NE(report.warnings[0].find("offset " + std::to_string(size)), std::string::npos) << report.warnings[0];
    } else {
      EXPECT_TRUE(report.warnings.empty()) << report.warnings[0];
    }
    EXPECT_EQ(fs::file_size(seg), size);
  }
}

TEST(RecoveryTest, ZerosWithARecordAfterThemAreNotAnEnd) {
  // A zero page in the middle of the last segment, valid records after it: not the end of a
  // preallocated segment (those are zeros to the end of the file) but corruption.
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 10);
  std::string seg = segment_paths(dir.path()).back();
  std::string bytes = read_file(seg);
  size_t at = kFileHeaderSize + 3;  // inside the first record
  std::fill(bytes.begin() + static_cast<long>(at), bytes.begin() + static_cast<long>(at) + 40, '\0');
  write_file(seg, bytes);
  EXPECT_THROW(reopen_contents(o, nullptr), StoreError);
}

void copies_taken_while_a_writer_runs_recover_a_prefix(bool preallocate) {
  // A copy of the files at an arbitrary moment is what a kill -9 (or a power cut, for what
  // was synced) leaves: it must open, hold every record that was durable before the copy,
  // and be exactly the effect of the records up to its last LSN.
  TempDir dir;
  auto o = options_for(dir.path(), Durability::sync);
  o.segment_bytes = 16 * 1024;
  o.checkpoint_bytes = 1ull << 40;
  o.preallocate = preallocate;
  auto store = Store::open(o);
  std::mutex mu;
  std::vector<WriteBatch> batches(1);  // batches[lsn]
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      WriteBatch b;
      std::string key = "k" + std::to_string(i % 200);
      if (i % 9 == 4) b.del(key);
      else b.put(key, "v" + std::to_string(i) + std::string(i % 50, 'x'));
      Lsn lsn;
      {
        std::lock_guard lock(mu);  // keeps batches[] in LSN order with one writer
        lsn = store->write(b);
        ASSERT_EQ(lsn, batches.size());
        batches.push_back(std::move(b));
      }
      // Like a client waiting for its acknowledgements now and then: the log grows at the
      // disk's pace, not the CPU's.
      if (i % 16 == 15) {
        ASSERT_TRUE(eventually([&] { return store->durable_lsn() >= lsn; }));
      }
    }
  });
  for (int round = 0; round < 12; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
    Lsn durable = store->durable_lsn();
    TempDir copy;
    copy_wal(dir.path(), copy.path());
    RecoveryReport report;
    KvMap got = reopen_contents(options_for(copy.path()), &report);
    EXPECT_GE(report.last_lsn, durable) << "a durable record is missing from the copy";
    KvMap want;
    {
      std::lock_guard lock(mu);
      ASSERT_LT(report.last_lsn, batches.size());
      for (Lsn l = 1; l <= report.last_lsn; ++l)
        WriteBatch::for_each(batches[l].rep(), [&](bool is_put, std::string_view k, std::string_view v) {
          if (is_put) want[std::string(k)] = std::string(v);
          else want.erase(std::string(k));
        });
    }
    ASSERT_EQ(got, want) << "round " << round << ", last LSN " << report.last_lsn;
  }
  stop.store(true);
  writer.join();
  EXPECT_GT(segment_paths(dir.path()).size(), 1u);
  if (preallocate) {
    EXPECT_GT(store->stats().preallocated_segments, 0u);
  }
}

TEST(RecoveryTest, CopiesTakenWhileAWriterRunsRecoverAPrefix) { copies_taken_while_a_writer_runs_recover_a_prefix(false); }

TEST(RecoveryTest, CopiesTakenWhileAWriterRunsRecoverAPrefixWithPreallocatedSegments) {
  // The copy then holds a segment at its full size, zeros after its records (and perhaps
  // next-segment.tmp).
  copies_taken_while_a_writer_runs_recover_a_prefix(true);
}

TEST(RecoveryTest, FlippedPayloadByteInAMiddleRecordStopsTheStart) {
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 20);
  auto records = parse_records(dir.wal() + "/0000000000000001.log");
  uint64_t bad = records[10].offset;
  flip_byte(dir.wal() + "/0000000000000001.log", bad + 17 + 3);
  EXPECT_EQ(open_error(o), "corrupt record in " + std::string(kSeg1) + " at offset " + std::to_string(bad) +
                               ": checksum mismatch");
}

TEST(RecoveryTest, BadLastRecordOfAnOlderSegmentIsCorruption) {
  // Only the last segment can have a torn tail: the older ones were synced before the next began.
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 20);
  write_numbered(o, 1);  // segment 2
  auto records = parse_records(dir.wal() + "/0000000000000001.log");
  flip_byte(dir.wal() + "/0000000000000001.log", records.back().offset + 20);
  std::string err = open_error(o);
  EXPECT_NE(err.find("corrupt record in " + std::string(kSeg1) + " at offset " + std::to_string(records.back().offset)),
            std::string::npos)
      << err;
}

TEST(RecoveryTest, SkipCorruptOpensAndReportsWhatItSkipped) {
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 20);
  std::string seg = dir.wal() + "/0000000000000001.log";
  auto records = parse_records(seg);
  uint64_t bad = records[10].offset;
  flip_byte(seg, bad + 17 + 3);
  o.skip_corrupt = true;
  RecoveryReport report;
  KvMap want = numbered(20);
  want.erase("k10");
  {
    auto store = Store::open(o, &report);
    EXPECT_EQ(contents(*store), want);
    ASSERT_EQ(report.skipped.size(), 1u);
    EXPECT_NE(report.skipped[0].find(std::string(kSeg1) + " at offset " + std::to_string(bad)), std::string::npos)
        << report.skipped[0];
    EXPECT_NE(report.skipped[0].find("to offset " + std::to_string(records[11].offset)), std::string::npos)
        << report.skipped[0];
    EXPECT_EQ(report.last_lsn, 20u);
    // A checkpoint folds the damaged segment away, so the next start needs no skipping.
    EXPECT_TRUE(store->checkpoint());
  }
  o.skip_corrupt = false;
  EXPECT_EQ(reopen_contents(o, &report), want);
  EXPECT_TRUE(report.skipped.empty());
}

TEST(RecoveryTest, FlippedLengthInAMiddleRecordOfTheLastSegmentIsCorruptionNotATornTail) {
  // A length that now points past the end of the file, or over the limit, or just elsewhere,
  // looks like a torn tail from where it stands; the valid records after it say otherwise.
  for (int byte : {4, 5, 6, 7}) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x40}, uint8_t{0x80}}) {
      SCOPED_TRACE("length byte " + std::to_string(byte) + " mask " + std::to_string(mask));
      TempDir dir;
      auto o = options_for(dir.path());
      write_numbered(o, 20);
      std::string seg = dir.wal() + "/0000000000000001.log";
      auto records = parse_records(seg);
      uint64_t bad = records[15].offset;
      flip_byte(seg, bad + byte, mask);
      std::string err = open_error(o);
      EXPECT_NE(err.find("corrupt record in " + std::string(kSeg1) + " at offset " + std::to_string(bad)),
                std::string::npos)
          << err;
      // With skip_corrupt only that record is lost.
      o.skip_corrupt = true;
      RecoveryReport report;
      KvMap want = numbered(20);
      want.erase("k15");
      EXPECT_EQ(reopen_contents(o, &report), want);
      EXPECT_EQ(report.skipped.size(), 1u);
    }
  }
}

TEST(RecoveryTest, LsnGapIsCorruption) {
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 20);
  std::string seg = dir.wal() + "/0000000000000001.log";
  auto records = parse_records(seg);
  std::string d = read_file(seg);
  d.erase(records[8].offset, records[8].size);  // every record still checks out on its own
  write_file(seg, d);
  std::string err = open_error(o);
  EXPECT_NE(err.find("at offset " + std::to_string(records[8].offset) + ": LSN gap: expected LSN 9, found 10"),
            std::string::npos)
      << err;
  o.skip_corrupt = true;
  RecoveryReport report;
  KvMap want = numbered(20);
  want.erase("k8");
  EXPECT_EQ(reopen_contents(o, &report), want);
  EXPECT_TRUE(contains(report.skipped, "LSN gap")) << (report.skipped.empty() ? "" : report.skipped[0]);
}

TEST(RecoveryTest, MissingSegmentIsCorruption) {
  TempDir dir;
  auto o = options_for(dir.path(), Durability::batch);
  o.segment_bytes = 1024;
  o.checkpoint_bytes = 1ull << 40;
  write_numbered(o, 300);
  ASSERT_GE(segment_paths(dir.path()).size(), 4u);
  fs::remove(dir.wal() + "/0000000000000002.log");
  std::string err = open_error(o);
  EXPECT_NE(err.find("missing segment wal/0000000000000002.log"), std::string::npos) << err;
}

TEST(RecoveryTest, LostTailOfAnOlderSegmentIsAnLsnGap) {
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 20);
  write_numbered(o, 1);  // segment 2 starts at LSN 21
  std::string seg = dir.wal() + "/0000000000000001.log";
  auto records = parse_records(seg);
  fs::resize_file(seg, records.back().offset);  // a clean cut: segment 1 alone looks fine
  std::string err = open_error(o);
  EXPECT_NE(err.find("wal/0000000000000002.log"), std::string::npos) << err;
  EXPECT_NE(err.find("LSN gap: the segment starts at LSN 21, expected 20"), std::string::npos) << err;
}

// Segments that checkpoints free are written into again (recycle_segments). A copy of the
// directory taken while the writer runs is what a crash leaves: the active segment is a
// recycled file whose bytes past its last record are an older segment's, records with valid
// crcs among them. Recovery ends the segment at its last record, quietly, and cuts the rest;
// every record written is there. The same file with a plain (version 1) header would be a
// torn tail or corruption.
TEST(RecoveryTest, ARecycledSegmentEndsAtItsLastRecord) {
  TempDir dir;
  auto o = options_for(dir.path());
  o.segment_bytes = 4096;
  o.checkpoint_bytes = 8192;
  TempDir copy;
  KvMap want;
  Lsn last = 0;
  {
    auto store = Store::open(o);
    bool copied = false;
    for (int i = 0; i < 20000 && !copied; ++i) {
      WriteBatch b;
      std::string k = "k" + std::to_string(i % 40), v = std::string(60, static_cast<char>('a' + i % 26)) + std::to_string(i);
      b.put(k, v);
      last = store->write(b);
      want[k] = v;
      ASSERT_TRUE(eventually([&] { return store->durable_lsn() >= last; }));
      // Once a few segments were recycled, and the active one is a recycled file half written.
      if (store->stats().recycled_segments >= 3 && i % 17 == 0) {
        std::string active = segment_paths(dir.path()).back();
        std::string bytes = read_file(active);
        // Its own records, then (what the test needs) some of the older segment's bytes after
        // them: a moment when the writer's rotation or the records' sizes leave none is skipped.
        auto recs = parse_records(active);
        size_t own = 0;
        while (own < recs.size() && recs[own].lsn <= last && (own == 0 || recs[own].lsn == recs[own - 1].lsn + 1)) ++own;
        bool older_after = own > 0 && bytes.size() > recs[own - 1].offset + recs[own - 1].size;
        if (bytes.size() > 8 && bytes[8] == 2 && recs.size() > 3 && older_after &&
            fs::file_size(active) >= o.segment_bytes / 2 && recs.back().lsn < last) {
          copy_wal(dir.path(), copy.path());
          copied = true;
        }
      }
    }
    ASSERT_TRUE(copied) << "no recycled active segment seen";
  }
  // The copy's active segment: its own records up to `last`, then older ones.
  std::string seg = segment_paths(copy.path()).back();
  const std::string original = read_file(seg);
  auto recs = parse_records(seg);
  size_t own = 0;
  while (own < recs.size() && recs[own].lsn <= last && (own == 0 || recs[own].lsn == recs[own - 1].lsn + 1)) ++own;
  ASSERT_GT(own, 0u) << "the active segment holds records of its own";
  const uint64_t end = recs[own - 1].offset + recs[own - 1].size;
  ASSERT_GT(original.size(), end) << "nothing of the older segment after the last record";

  // As a plain segment the older bytes are a torn tail (or corruption): not the quiet end.
  {
    TempDir plain;
    copy_wal(copy.path(), plain.path());
    std::string p = segment_paths(plain.path()).back();
    std::string b = read_file(p);
    FileHeader h = *decode_file_header(b.substr(0, kFileHeaderSize), nullptr);
    h.recycled = false;
    write_file(p, encode_file_header(h) + b.substr(kFileHeaderSize));
    RecoveryReport report;
    auto po = o;
    po.dir = plain.path();
    std::string err;
    try {
      Store::open(po, &report);
    } catch (const StoreError& e) {
      err = e.what();
    }
    EXPECT_TRUE(!err.empty() || !report.warnings.empty()) << "a plain segment's older bytes were taken for its end";
  }

  // mqbase check says where the segment's records end, and finds nothing wrong.
  std::ostringstream out;
  EXPECT_TRUE(check(copy.path(), out)) << out.str();
  EXPECT_NE(out.str().find("recycled segment: its records end at offset " + std::to_string(end)), std::string::npos) << out.str();

  RecoveryReport report;
  auto co = o;
  co.dir = copy.path();
  EXPECT_EQ(reopen_contents(co, &report), want);
  EXPECT_EQ(report.last_lsn, last);
  EXPECT_TRUE(report.warnings.empty()) << report.warnings[0];
  EXPECT_TRUE(report.skipped.empty());
  EXPECT_EQ(fs::file_size(seg), end) << "cut at the end of its own records";
}

// A recycled segment that is not the last may keep an older segment's bytes (a crash between
// opening the next segment and cutting this one): the next segment's first LSN shows whether
// records were lost from its end.
TEST(RecoveryTest, ARecycledSegmentsOlderBytesBeforeTheNextSegment) {
  for (int lost = 0; lost < 2; ++lost) {
    SCOPED_TRACE(lost ? "records lost from its end" : "none lost");
    TempDir dir;
    auto o = options_for(dir.path());
    write_numbered(o, 50);  // one segment: LSN 1..50, the records below re-cut into three
    std::string seg1 = dir.wal() + "/0000000000000001.log";
    const std::string old = read_file(seg1);
    auto recs = parse_records(seg1);  // recs[i] has LSN i + 1
    auto span = [&](size_t from, size_t to) {  // records [from, to) as bytes
      return old.substr(recs[from].offset, recs[to - 1].offset + recs[to - 1].size - recs[from].offset);
    };
    write_file(seg1, encode_file_header({FileKind::segment, 1, 1, false}) + span(0, 30));
    // Segment 2, recycled: LSN 31..40 (31..37 when records were lost), then what the file held
    // before: an older segment's bytes (LSN 1..30), from the middle of a record on.
    std::string older = span(0, 30).substr(5);
    write_file(dir.wal() + "/0000000000000002.log",
               encode_file_header({FileKind::segment, 2, 31, true}) + span(30, lost ? 37 : 40) + older);
    write_file(dir.wal() + "/0000000000000003.log", encode_file_header({FileKind::segment, 3, 41, false}) + span(40, 41));
    if (lost) {
      std::string err = open_error(o);
      EXPECT_NE(err.find("LSN gap: the segment starts at LSN 41, expected 38"), std::string::npos) << err;
      continue;
    }
    RecoveryReport report;
    EXPECT_EQ(reopen_contents(o, &report), numbered(41));
    EXPECT_TRUE(report.warnings.empty()) << report.warnings[0];
  }
}

TEST(RecoveryTest, BadCheckpointFallsBackToThePreviousOne) {
  for (int damage = 0; damage < 2; ++damage) {
    SCOPED_TRACE(damage ? "flipped byte" : "no end record");
    TempDir dir;
    FaultFileOps ops;
    auto o = options_for(dir.path());
    o.segment_bytes = 2048;
    o.checkpoint_bytes = 1ull << 40;
    o.io = &ops;
    o.recycle_segments = false;  // the replaced segments stay where they are (no rename either)
    KvMap want;
    auto round = [&](Store& s, int r) {
      for (int i = 0; i < 100; ++i) {
        WriteBatch b;
        std::string k = "k" + std::to_string(i % 30);
        if (i % 4 == 0) {
          b.del(k);
          want.erase(k);
        } else {
          std::string v = "r" + std::to_string(r) + "/" + std::to_string(i);
          b.put(k, v);
          want[k] = v;
        }
        s.write(b);
      }
    };
    {
      auto s = Store::open(o);
      round(*s, 1);
      ASSERT_TRUE(s->checkpoint());  // checkpoint A
      round(*s, 2);
      round(*s, 3);
      // Checkpoint B is renamed into place, but the files it replaces stay (as after a crash
      // right after the rename).
      ops.fail_unlink.store(true);
      ASSERT_TRUE(s->checkpoint());
      ops.fail_unlink.store(false);
      round(*s, 4);
    }
    std::vector<std::string> checkpoints;
    for (auto& name : wal_names(dir.path()))
      if (name.starts_with("checkpoint-")) checkpoints.push_back(name);
    ASSERT_EQ(checkpoints.size(), 2u);
    std::string ckpt = dir.wal() + "/" + checkpoints.back();
    if (damage) flip_byte(ckpt, 60);
    else fs::resize_file(ckpt, fs::file_size(ckpt) - 10);
    o.io = nullptr;
    RecoveryReport report;
    EXPECT_EQ(reopen_contents(o, &report), want);
    EXPECT_TRUE(contains(report.warnings, "checkpoint wal/" + checkpoints.back() + " ignored"))
        << ::testing::PrintToString(report.warnings);
    EXPECT_EQ(report.last_lsn, 400u);
    std::ostringstream out;
    EXPECT_FALSE(check(dir.path(), out)) << "check() calls the bad checkpoint corruption\n" << out.str();
  }
}

TEST(RecoveryTest, BadSegmentHeaderIsCorruptionAndSkipCorruptSkipsTheFile) {
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 5);  // segment 1: k0..k4
  {
    auto s = Store::open(o);  // segment 2: k5
    WriteBatch b;
    b.put("k5", "v5");
    s->write(b);
  }
  write_numbered(o, 0);  // segment 3, empty: the damaged one is not the last
  flip_byte(dir.wal() + "/0000000000000002.log", 3);
  std::string err = open_error(o);
  EXPECT_NE(err.find("corrupt record in wal/0000000000000002.log at offset 0: bad magic"), std::string::npos) << err;
  o.skip_corrupt = true;
  RecoveryReport report;
  {
    auto s = Store::open(o, &report);
    EXPECT_EQ(contents(*s), numbered(5));
    EXPECT_TRUE(contains(report.skipped, "wal/0000000000000002.log at offset 0")) << ::testing::PrintToString(report.skipped);
    EXPECT_TRUE(s->checkpoint()) << "a checkpoint goes past the skipped file";
  }
  o.skip_corrupt = false;
  EXPECT_EQ(reopen_contents(o), numbered(5));
}

TEST(RecoveryTest, TemporaryFilesAndLeftoversAreDeletedAtOpen) {
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 5);
  {
    auto s = Store::open(o);
    ASSERT_TRUE(s->checkpoint());  // covers segments 1 and 2
  }
  write_file(dir.wal() + "/0000000000000001.log", "leftover of an interrupted cleanup");
  write_file(dir.wal() + "/0000000000000009.log.tmp", "an interrupted rotation");
  write_file(dir.wal() + "/checkpoint-0000000000000009.ckpt.tmp", "an interrupted checkpoint");
  RecoveryReport report;
  EXPECT_EQ(reopen_contents(o, &report), numbered(5));
  auto names = wal_names(dir.path());
  for (const auto& n : names) {
    EXPECT_FALSE(n.ends_with(".tmp")) << n;
    EXPECT_NE(n, "0000000000000001.log");
  }
}

TEST(RecoveryTest, CheckReportsCorruptionAndAcceptsATornTail) {
  TempDir dir;
  auto o = options_for(dir.path());
  write_numbered(o, 20);
  std::string seg = dir.wal() + "/0000000000000001.log";
  {
    std::ostringstream out;
    EXPECT_TRUE(check(dir.path(), out)) << out.str();
    EXPECT_NE(out.str().find(std::string(kSeg1) + ": 20 records"), std::string::npos) << out.str();
  }
  std::string original = read_file(seg);
  write_file(seg, original.substr(0, original.size() - 5));
  {
    std::ostringstream out;
    EXPECT_TRUE(check(dir.path(), out)) << out.str();
    EXPECT_NE(out.str().find("torn tail at offset"), std::string::npos) << out.str();
    EXPECT_EQ(fs::file_size(seg), original.size() - 5) << "check() changes nothing";
  }
  write_file(seg, original);
  auto records = parse_records(seg);
  flip_byte(seg, records[4].offset + 18);
  {
    std::ostringstream out;
    EXPECT_FALSE(check(dir.path(), out)) << out.str();
    EXPECT_NE(out.str().find("corrupt record in " + std::string(kSeg1) + " at offset " + std::to_string(records[4].offset)),
              std::string::npos)
        << out.str();
    EXPECT_NE(out.str().find("CORRUPT"), std::string::npos);
  }
  std::ostringstream out;
  EXPECT_TRUE(check(dir.path() + "/nonexistent", out)) << "an empty directory is a fresh store";
}

}  // namespace
}  // namespace mqbase::store
