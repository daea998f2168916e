// Faults, injected through FileOps: in sync mode on_durable(lsn) comes only after the
// fdatasync that covers lsn; ENOSPC, EIO, a torn write or a failed fdatasync make write()
// refuse ("failing") without losing what was accepted, and the log catches up once the disk
// recovers; and a crash at every step of a checkpoint, or of writing and rotating, leaves a
// directory that recovers everything acknowledged.
#include <gtest/gtest.h>

#include <mutex>
#include <sstream>
#include <vector>

#include "store/store.h"
#include "store_test_util.h"

namespace mqbase::store {
namespace {

using namespace test;

struct LogLines {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> fn() {
    return [this](const std::string& l) {
      std::lock_guard lock(mu);
      lines.push_back(l);
    };
  }
  int count(const std::string& needle) {
    std::lock_guard lock(mu);
    int n = 0;
    for (auto& l : lines) n += l.find(needle) != std::string::npos;
    return n;
  }
};

WriteBatch put(const std::string& k, const std::string& v) {
  WriteBatch b;
  b.put(k, v);
  return b;
}

TEST(FaultTest, OnDurableComesOnlyAfterTheFdatasyncThatCoversIt) {
  for (Durability mode : {Durability::sync, Durability::batch}) {
    SCOPED_TRACE(mode == Durability::sync ? "sync" : "batch");
    TempDir dir;
    FaultFileOps ops;
    std::mutex mu;
    Lsn written = 0, synced = 0;
    int calls = 0, early = 0;
    ops.on_segment_written = [&](Lsn lsn) {
      std::lock_guard lock(mu);
      written = std::max(written, lsn);
    };
    ops.on_segment_synced = [&] {
      std::lock_guard lock(mu);
      synced = written;
    };
    auto o = options_for(dir.path(), mode);
    o.io = &ops;
    o.segment_bytes = 8192;  // rotations too
    auto store = Store::open(o);
    store->set_on_durable([&](Lsn lsn) {
      std::lock_guard lock(mu);
      ++calls;
      // sync: fdatasync'd; batch: at least written.
      if (lsn > (mode == Durability::sync ? synced : written)) ++early;
    });
    constexpr int kThreads = 4, kWrites = 500;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kWrites; ++i) store->write(put("t" + std::to_string(t) + "/" + std::to_string(i), "v"));
      });
    for (auto& th : threads) th.join();
    ASSERT_TRUE(eventually([&] { return store->durable_lsn() == kThreads * kWrites; }));
    std::lock_guard lock(mu);
    EXPECT_GT(calls, 0);
    EXPECT_EQ(early, 0) << "on_durable ran before the fdatasync covering its LSN returned";
  }
}

// Writes until write() says `failing`; returns the keys it accepted.
std::vector<std::string> write_until_failing(Store& store, const std::string& prefix) {
  std::vector<std::string> accepted;
  WriteStatus st = WriteStatus::ok;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int i = 0; st == WriteStatus::ok && std::chrono::steady_clock::now() < deadline; ++i) {
    std::string key = prefix + std::to_string(i);
    Lsn lsn = store.write(put(key, "v" + std::to_string(i)), &st);
    if (st == WriteStatus::ok) {
      EXPECT_GT(lsn, 0u);
      accepted.push_back(key);
    } else {
      EXPECT_EQ(lsn, 0u);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_EQ(st, WriteStatus::failing);
  return accepted;
}

// The common course of a disk fault: writes succeed, the fault starts (`inject`), write()
// turns to failing with the accepted records kept, the fault ends (`clear`), the log catches
// up, writes are accepted again, and a reopen has every accepted record and nothing torn.
void fault_course(Durability mode, const std::function<void(FaultFileOps&)>& inject,
                  const std::function<void(FaultFileOps&)>& clear, const std::string& errno_words) {
  TempDir dir;
  FaultFileOps ops;
  LogLines log;
  auto o = options_for(dir.path(), mode);
  o.io = &ops;
  o.log = log.fn();
  o.batch_interval = std::chrono::milliseconds(5);
  KvMap want;
  {
    auto store = Store::open(o);
    Lsn lsn = 0;
    for (int i = 0; i < 10; ++i) {
      lsn = store->write(put("before" + std::to_string(i), "v"));
      want["before" + std::to_string(i)] = "v";
    }
    ASSERT_TRUE(eventually([&] { return store->durable_lsn() == lsn; }));
    if (mode == Durability::batch) {
      ASSERT_TRUE(eventually([&] { return store->stats().syncs > 0; }));
    }
    EXPECT_TRUE(store->accepting());
    inject(ops);
    auto accepted = write_until_failing(*store, "during");
    EXPECT_FALSE(store->accepting()) << "failing: no new records taken";
    ASSERT_FALSE(accepted.empty());
    for (auto& k : accepted) want[k] = "v" + k.substr(6);
    Lsn last_accepted = 10 + accepted.size();
    if (mode == Durability::sync) {
      EXPECT_EQ(store->durable_lsn(), 10u) << "nothing written during the fault is durable";
    }
    // A retry (every 500 ms) fails again; the error is logged once.
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    WriteStatus st;
    EXPECT_EQ(store->write(put("x", "y"), &st), 0u);
    EXPECT_EQ(st, WriteStatus::failing);
    EXPECT_EQ(log.count(errno_words), 1) << "the errno text is logged once";
    clear(ops);
    // (In batch mode durable_lsn was there already: it means "written", and the failed
    // fdatasync came after; the log line says the retry went through.)
    ASSERT_TRUE(eventually([&] { return store->durable_lsn() == last_accepted && log.count("writes succeed again") == 1; },
                           std::chrono::seconds(3)))
        << store->durable_lsn() << " of " << last_accepted;
    EXPECT_TRUE(store->accepting());
    Lsn after = store->write(put("after", "v"), &st);
    EXPECT_EQ(st, WriteStatus::ok);
    EXPECT_EQ(after, last_accepted + 1);
    want["after"] = "v";
  }
  o.io = nullptr;
  RecoveryReport report;
  EXPECT_EQ(reopen_contents(o, &report), want);
  EXPECT_TRUE(report.warnings.empty()) << report.warnings.front();
  EXPECT_EQ(report.last_lsn, want.size());
}

TEST(FaultTest, EnospcKeepsAcceptedRecordsAndCatchesUp) {
  fault_course(
      Durability::sync, [](FaultFileOps& ops) { ops.segment_write_errno = ENOSPC; },
      [](FaultFileOps& ops) { ops.segment_write_errno = 0; }, "No space left on device");
}

TEST(FaultTest, TornWriteThenEioLeavesNoGarbage) {
  fault_course(
      Durability::sync,
      [](FaultFileOps& ops) {
        ops.torn_write_bytes = 23;
        ops.segment_write_errno = EIO;
      },
      [](FaultFileOps& ops) { ops.segment_write_errno = 0; }, "Input/output error");
}

TEST(FaultTest, FailedFdatasyncWritesTheRecordsAgain) {
  fault_course(
      Durability::sync, [](FaultFileOps& ops) { ops.segment_sync_errno = EIO; },
      [](FaultFileOps& ops) { ops.segment_sync_errno = 0; }, "Input/output error");
}

TEST(FaultTest, BatchModeFailedFdatasyncWritesTheRecordsAgain) {
  fault_course(
      Durability::batch, [](FaultFileOps& ops) { ops.segment_sync_errno = EIO; },
      [](FaultFileOps& ops) { ops.segment_sync_errno = 0; }, "Input/output error");
}

TEST(FaultTest, BatchModeEnospc) {
  fault_course(
      Durability::batch, [](FaultFileOps& ops) { ops.segment_write_errno = ENOSPC; },
      [](FaultFileOps& ops) { ops.segment_write_errno = 0; }, "No space left on device");
}

TEST(FaultTest, ANewSegmentThatCannotBeCreatedLeavesTheActiveOneInUse) {
  TempDir dir;
  FaultFileOps ops;
  LogLines log;
  auto o = options_for(dir.path());
  o.io = &ops;
  o.log = log.fn();
  o.segment_bytes = 1024;
  KvMap want;
  auto store = Store::open(o);
  ops.new_segment_errno = ENOSPC;
  Lsn lsn = 0;
  for (int i = 0; i < 200; ++i) {
    WriteStatus st;
    lsn = store->write(put("k" + std::to_string(i), std::string(30, 'v')), &st);
    ASSERT_EQ(st, WriteStatus::ok) << "rotation trouble does not refuse writes";
    want["k" + std::to_string(i)] = std::string(30, 'v');
  }
  ASSERT_TRUE(eventually([&] { return store->durable_lsn() == lsn; }));
  EXPECT_EQ(segment_paths(dir.path()).size(), 1u);
  EXPECT_GT(fs::file_size(segment_paths(dir.path())[0]), 4 * o.segment_bytes);
  EXPECT_EQ(log.count("No space left on device"), 1) << "logged once";
  EXPECT_FALSE(store->checkpoint()) << "a checkpoint needs the active segment closed";
  ops.new_segment_errno = 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(550));
  lsn = store->write(put("last", "1"));
  want["last"] = "1";
  ASSERT_TRUE(eventually([&] { return store->durable_lsn() == lsn; }));
  // The rotation follows the write that finds the retry time passed.
  EXPECT_TRUE(eventually([&] { return segment_paths(dir.path()).size() >= 2; }));
  EXPECT_TRUE(store->checkpoint());
  store.reset();
  o.io = nullptr;
  EXPECT_EQ(reopen_contents(o), want);
}

TEST(FaultTest, CrashAtEveryStepOfACheckpoint) {
  // One run per step: the crash takes effect at the k-th call that changes a file, and from
  // then on nothing reaches the disk. Whatever the step, the directory must reopen with every
  // record, and the next checkpoint must work. (A process crash leaves the page cache to the
  // next process, so syncs are skipped here: they would only cost time.)
  bool crashed = true;
  int steps = 0;
  for (long k = 0; crashed; ++k) {
    SCOPED_TRACE("crash at step " + std::to_string(k));
    TempDir dir;
    FaultFileOps ops, after;
    ops.fake_syncs = true;
    after.fake_syncs = true;
    auto o = options_for(dir.path());
    o.segment_bytes = 700;
    o.checkpoint_bytes = 1ull << 40;
    o.io = &ops;
    KvMap want;
    auto round = [&](Store& s, int r) {
      Lsn lsn = 0;
      for (int i = 0; i < 40; ++i) {
        std::string key = "k" + std::to_string(i % 12);
        WriteBatch b;
        if (i % 5 == 2) {
          b.del(key);
          want.erase(key);
        } else {
          std::string v = "r" + std::to_string(r) + "/" + std::to_string(i);
          b.put(key, v);
          want[key] = v;
        }
        lsn = s.write(b);
      }
      ASSERT_TRUE(eventually([&] { return s.durable_lsn() == lsn; }));
    };
    {
      auto store = Store::open(o);
      round(*store, 1);
      ASSERT_TRUE(store->checkpoint());  // so the crashed one also replaces a checkpoint
      round(*store, 2);
      ops.crash_after = k;
      bool ok = store->checkpoint();
      crashed = ops.crashed.load();
      // A crash while deleting the replaced files comes after the checkpoint is in place.
      if (!crashed) {
        EXPECT_TRUE(ok);
      }
    }
    o.io = &after;
    RecoveryReport report;
    {
      auto store = Store::open(o, &report);
      ASSERT_EQ(contents(*store), want);
      EXPECT_EQ(report.last_lsn, 80u);
      EXPECT_TRUE(store->checkpoint());
    }
    ASSERT_EQ(reopen_contents(o), want);
    std::ostringstream out;
    EXPECT_TRUE(check(dir.path(), out)) << out.str();
    ++steps;
  }
  EXPECT_GT(steps, 10) << "a checkpoint takes more steps than that";
}

TEST(FaultTest, CrashAtEveryStepOfWritingAndRotating) {
  // The same for the writer: records, fdatasyncs, and the rotations between segments. What
  // was acknowledged (durable) before the crash must be there, and the state must be exactly
  // the effect of the records up to the recovered LSN.
  bool crashed = true;
  for (long k = 0; crashed; ++k) {
    SCOPED_TRACE("crash at step " + std::to_string(k));
    TempDir dir;
    FaultFileOps ops, after;
    ops.fake_syncs = true;
    after.fake_syncs = true;
    auto o = options_for(dir.path());
    o.segment_bytes = 200;
    o.checkpoint_bytes = 1ull << 40;
    o.io = &ops;
    std::vector<std::pair<std::string, std::string>> records;  // records[lsn - 1]
    Lsn acknowledged = 0;
    {
      auto store = Store::open(o);
      ops.crash_after = k;
      for (int i = 0; i < 16 && !ops.crashed.load(); ++i) {
        std::string key = "k" + std::to_string(i % 5), value = "v" + std::to_string(i);
        WriteStatus st;
        Lsn lsn = store->write(put(key, value), &st);
        if (st != WriteStatus::ok) break;
        records.emplace_back(key, value);
        ASSERT_TRUE(eventually([&] { return store->durable_lsn() >= lsn || ops.crashed.load(); }));
        acknowledged = store->durable_lsn();
      }
      crashed = ops.crashed.load();
    }
    o.io = &after;
    RecoveryReport report;
    KvMap got = reopen_contents(o, &report);
    EXPECT_GE(report.last_lsn, acknowledged);
    ASSERT_LE(report.last_lsn, records.size());
    KvMap want;
    for (Lsn l = 1; l <= report.last_lsn; ++l) want[records[l - 1].first] = records[l - 1].second;
    ASSERT_EQ(got, want);
  }
}

}  // namespace
}  // namespace mqbase::store
