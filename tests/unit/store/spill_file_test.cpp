// SpillFile: a queue of records in a file. Order across the file and the write buffer, the
// file's lifetime (created on the first write, deleted once read back and with the object),
// and what I/O errors do: a failed write keeps the records in memory; a record that cannot be
// read back is reported, counted, and skipped.
#include "store/spill_file.h"

#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <random>

#include "store_test_util.h"

namespace mqbase::store {
namespace {

using test::TempDir;

std::string record(uint64_t i, size_t size) {
  std::string r = std::to_string(i) + ":";
  r.resize(std::max(size, r.size()), static_cast<char>('a' + i % 26));
  return r;
}

// A FileOps whose pwrite and pread fail with an errno while set.
class FailingOps : public FileOps {
 public:
  std::atomic<int> write_errno{0}, read_errno{0};
  ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) override {
    if (int e = write_errno.load()) {
      errno = e;
      return -1;
    }
    return FileOps::pwrite(fd, buf, n, offset);
  }
  ssize_t pread(int fd, void* buf, size_t n, off_t offset) override {
    if (int e = read_errno.load()) {
      errno = e;
      return -1;
    }
    return FileOps::pread(fd, buf, n, offset);
  }
};

TEST(SpillFileTest, RecordsComeBackInOrderFromTheFileAndThenTheBuffer) {
  TempDir dir;
  const std::string path = dir.path() + "/q.spill";
  SpillFile f(path);
  std::deque<std::string> model;
  std::mt19937 rng(7);
  uint64_t next = 0;
  size_t max_file = 0;
  // Appends and reads interleaved at random, records from 1 byte to 20 KiB.
  for (int step = 0; step < 4000; ++step) {
    if (rng() % 3 != 0) {
      int n = 1 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) {
        model.push_back(record(next, rng() % 4 == 0 ? rng() % 20000 : rng() % 200));
        f.append(model.back());
        ++next;
      }
    } else {
      size_t want = rng() % 60;
      size_t got = f.read(want, [&](std::string_view r) {
        ASSERT_FALSE(model.empty());
        ASSERT_EQ(r, model.front());
        model.pop_front();
      });
      EXPECT_EQ(got, std::min(want, got + model.size()));
    }
    ASSERT_EQ(f.size(), model.size());
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) max_file = std::max<size_t>(max_file, std::filesystem::file_size(path));
  }
  EXPECT_GT(max_file, size_t{64} << 10) << "the file was never written";
  f.read(model.size(), [&](std::string_view r) {
    ASSERT_EQ(r, model.front());
    model.pop_front();
  });
  EXPECT_TRUE(f.empty());
  EXPECT_FALSE(std::filesystem::exists(path)) << "a spill file read back in full is deleted";
  EXPECT_EQ(f.lost(), 0u);
}

TEST(SpillFileTest, PeekAllSeesEverythingAndTakesNothing) {
  TempDir dir;
  SpillFile f(dir.path() + "/q.spill");
  for (int i = 0; i < 3000; ++i) f.append(record(i, 100));  // part in the file, part in the buffer
  int seen = 0;
  f.peek_all([&](std::string_view r) { EXPECT_EQ(r, record(seen++, 100)); });
  EXPECT_EQ(seen, 3000);
  EXPECT_EQ(f.size(), 3000u);
  int taken = 0;
  f.read(5000, [&](std::string_view r) { EXPECT_EQ(r, record(taken++, 100)); });
  EXPECT_EQ(taken, 3000);
}

TEST(SpillFileTest, TheFileGoesWithTheObject) {
  TempDir dir;
  const std::string path = dir.path() + "/q.spill";
  {
    SpillFile f(path);
    for (int i = 0; i < 1000; ++i) f.append(record(i, 200));
    EXPECT_TRUE(std::filesystem::exists(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SpillFileTest, AFailedWriteKeepsTheRecordsInMemoryAndSaysSoOnce) {
  TempDir dir;
  FailingOps ops;
  std::vector<std::string> lines;
  SpillFile f(dir.path() + "/q.spill", [&](const std::string& l) { lines.push_back(l); }, ops);
  ops.write_errno = ENOSPC;
  for (int i = 0; i < 2000; ++i) f.append(record(i, 300));  // ~600 KiB: many flushes fail
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("No space left on device"), std::string::npos) << lines[0];
  ops.write_errno = 0;
  for (int i = 2000; i < 2400; ++i) f.append(record(i, 300));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("works again"), std::string::npos) << lines[1];
  int taken = 0;
  f.read(10000, [&](std::string_view r) { EXPECT_EQ(r, record(taken++, 300)); });
  EXPECT_EQ(taken, 2400);
  EXPECT_EQ(f.lost(), 0u);
}

TEST(SpillFileTest, ACorruptRecordIsReportedAndWhatTheFileHeldIsCounted) {
  TempDir dir;
  const std::string path = dir.path() + "/q.spill";
  std::vector<std::string> lines;
  SpillFile f(path, [&](const std::string& l) { lines.push_back(l); });
  for (int i = 0; i < 1000; ++i) f.append(record(i, 100));  // 108 KiB framed: one flush of 64 KiB
  const size_t in_file = f.size() - 0;
  ASSERT_TRUE(std::filesystem::exists(path));
  const auto file_bytes = std::filesystem::file_size(path);
  {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(file_bytes / 2));
    io.put('\xff');
  }
  size_t taken = 0;
  f.read(in_file, [&](std::string_view) { ++taken; });
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("checksum mismatch"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(path), std::string::npos) << lines[0];
  EXPECT_GT(f.lost(), 0u);
  // What was in the write buffer still comes, after what could be read.
  EXPECT_EQ(taken + f.lost(), 1000u);
  EXPECT_TRUE(f.empty());
}

TEST(SpillFileTest, AReadErrorIsReportedNotFatal) {
  TempDir dir;
  FailingOps ops;
  std::vector<std::string> lines;
  SpillFile f(dir.path() + "/q.spill", [&](const std::string& l) { lines.push_back(l); }, ops);
  for (int i = 0; i < 1000; ++i) f.append(record(i, 100));
  ops.read_errno = EIO;
  size_t taken = f.read(1000, [](std::string_view) {});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("Input/output error"), std::string::npos) << lines[0];
  EXPECT_EQ(taken + f.lost(), 1000u);
}

}  // namespace
}  // namespace mqbase::store
