// Helpers shared by the store's unit tests: a fresh temporary directory per test, reading a
// store's live keys, the records of a segment parsed independently of the store's reader,
// byte-level file surgery (flip, truncate, append), and FaultFileOps, the FileOps that injects
// ENOSPC/EIO, torn writes and simulated crashes, and records the order of calls.
#pragma once
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/file_ops.h"
#include "store/store.h"

namespace mqbase::store::test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mqbase-store-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string wal() const { return path_ + "/wal"; }

 private:
  std::string path_;
};

using KvMap = std::map<std::string, std::string>;

inline KvMap contents(const Store& store) {
  KvMap out;
  store.for_each([&](std::string_view k, std::string_view v) { out.emplace(std::string(k), std::string(v)); });
  return out;
}

inline StoreOptions options_for(const std::string& dir, Durability d = Durability::sync) {
  StoreOptions o;
  o.dir = dir;
  o.durability = d;
  return o;
}

inline KvMap reopen_contents(const StoreOptions& o, RecoveryReport* report = nullptr) {
  auto store = Store::open(o, report);
  return contents(*store);
}

// Waits up to `timeout` for `pred`; returns its last value. The default is generous: the
// checkpoint thread runs at nice +10 and, with make test keeping both cores busy, it can
// wait seconds for its turn (BackgroundCheckpointWhenEnoughLogAccumulates failed at 5 s).
// A passing test returns as soon as `pred` holds.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline void flip_byte(const std::string& path, uint64_t offset, uint8_t mask = 0x01) {
  std::string d = read_file(path);
  d.at(offset) = static_cast<char>(d.at(offset) ^ mask);
  write_file(path, d);
}

// Segment paths in wal/, in order.
inline std::vector<std::string> segment_paths(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir + "/wal")) {
    std::string name = e.path().filename().string();
    if (name.size() == 20 && name.ends_with(".log")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<std::string> wal_names(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir + "/wal")) return out;
  for (auto& e : fs::directory_iterator(dir + "/wal")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct ParsedRecord {
  uint64_t offset = 0, size = 0;
  uint8_t type = 0;
  uint64_t lsn = 0;
};

// The records of a segment, parsed from the format description (no crc check): a second
// opinion next to the store's own reader.
inline std::vector<ParsedRecord> parse_records(const std::string& path) {
  std::string d = read_file(path);
  std::vector<ParsedRecord> out;
  uint64_t pos = 32;
  while (pos + 17 <= d.size()) {
    uint32_t len;
    std::memcpy(&len, d.data() + pos + 4, 4);
    if (pos + 17 + len > d.size()) break;
    ParsedRecord r;
    r.offset = pos;
    r.size = 17 + len;
    r.type = static_cast<uint8_t>(d[pos + 8]);
    std::memcpy(&r.lsn, d.data() + pos + 9, 8);
    out.push_back(r);
    pos += r.size;
  }
  return out;
}

// Copies the store files of `from` (wal/ only, not LOCK) into `to`, newest segment first: a
// segment older than the newest was complete and synced before the newest was created, so
// the copy looks like a directory after a crash, never like one with a hole in the middle.
inline void copy_wal(const std::string& from, const std::string& to) {
  fs::create_directories(to + "/wal");
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(from + "/wal")) files.push_back(e.path());
  std::sort(files.rbegin(), files.rend());
  for (auto& p : files) {
    std::error_code ec;
    fs::copy_file(p, to + "/wal/" + p.filename().string(), fs::copy_options::overwrite_existing, ec);
  }
}

// FileOps with faults: every knob is atomic and may change while a store runs.
class FaultFileOps : public FileOps {
 public:
  // pwrite to segment files (*.log) fails with this errno (0: no fault).
  std::atomic<int> segment_write_errno{0};
  // ... after writing this many bytes of the request first (a torn write); -1: none.
  std::atomic<int> torn_write_bytes{-1};
  // open of a new segment (*.log.tmp, or the preallocated next-segment.tmp when it is taken
  // into use) fails with this errno (0: no fault).
  std::atomic<int> new_segment_errno{0};
  // fdatasync of segment files fails with this errno (0: no fault).
  std::atomic<int> segment_sync_errno{0};
  // A simulated crash: after this many more calls that change files (open, pwrite, fdatasync,
  // fsync, ftruncate, rename, unlink), every call but close fails with EIO and does nothing;
  // -1: disarmed.
  std::atomic<long> crash_after{-1};
  std::atomic<bool> crashed{false};
  // fdatasync and fsync return 0 at once: for tests of process crashes (the page cache
  // survives those), where real syncs would only make the test slow.
  std::atomic<bool> fake_syncs{false};
  // unlink fails with EIO and deletes nothing.
  std::atomic<bool> fail_unlink{false};
  std::atomic<long> calls{0};

  // Order of events for the durability test: called after each successful segment pwrite
  // with the highest LSN written, and after each segment fdatasync that returned 0.
  std::function<void(uint64_t lsn)> on_segment_written;
  std::function<void()> on_segment_synced;

  int open(const std::string& path, int flags, mode_t mode) override {
    if (crash_step()) return -1;
    if (new_segment_errno.load() != 0 && (path.ends_with(".log.tmp") || path.ends_with("/next-segment.tmp"))) {
      errno = new_segment_errno.load();
      return -1;
    }
    int fd = FileOps::open(path, flags, mode);
    if (fd >= 0) {
      std::lock_guard lock(mu_);
      paths_[fd] = path;
    }
    return fd;
  }
  int close(int fd) override {
    {
      std::lock_guard lock(mu_);
      paths_.erase(fd);
    }
    return FileOps::close(fd);  // even after a "crash": closing changes nothing on disk
  }
  ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) override {
    if (crash_step()) return -1;
    if (is_segment(fd)) {
      int err = segment_write_errno.load();
      if (err != 0) {
        int torn = torn_write_bytes.load();
        if (torn > 0) FileOps::pwrite(fd, buf, std::min<size_t>(n, static_cast<size_t>(torn)), off);
        errno = err;
        return -1;
      }
    }
    ssize_t w = FileOps::pwrite(fd, buf, n, off);
    if (w > 0 && is_segment(fd) && on_segment_written) {
      // Whole records only: the writer never writes a partial one.
      uint64_t max_lsn = 0;
      auto p = static_cast<const char*>(buf);
      size_t pos = 0;
      while (pos + 17 <= static_cast<size_t>(w)) {
        uint32_t len;
        std::memcpy(&len, p + pos + 4, 4);
        uint64_t lsn;
        std::memcpy(&lsn, p + pos + 9, 8);
        max_lsn = std::max(max_lsn, lsn);
        pos += 17 + len;
      }
      on_segment_written(max_lsn);
    }
    return w;
  }
  ssize_t pread(int fd, void* buf, size_t n, off_t off) override {
    if (crashed.load()) {
      errno = EIO;
      return -1;
    }
    return FileOps::pread(fd, buf, n, off);
  }
  int fdatasync(int fd) override {
    if (crash_step()) return -1;
    if (is_segment(fd) && segment_sync_errno.load() != 0) {
      errno = segment_sync_errno.load();
      return -1;
    }
    int rc = fake_syncs.load() ? 0 : FileOps::fdatasync(fd);
    if (rc == 0 && is_segment(fd) && on_segment_synced) on_segment_synced();
    return rc;
  }
  int fsync(int fd) override {
    if (crash_step()) return -1;
    return fake_syncs.load() ? 0 : FileOps::fsync(fd);
  }
  int ftruncate(int fd, off_t len) override {
    if (crash_step()) return -1;
    return FileOps::ftruncate(fd, len);
  }
  int rename(const std::string& from, const std::string& to) override {
    if (crash_step()) return -1;
    int rc = FileOps::rename(from, to);
    if (rc == 0) {
      // A segment is written under a temporary name and renamed with its descriptor open.
      std::lock_guard lock(mu_);
      for (auto& [fd, path] : paths_)
        if (path == from) path = to;
    }
    return rc;
  }
  int unlink(const std::string& path) override {
    if (crash_step()) return -1;
    if (fail_unlink.load()) {
      errno = EIO;
      return -1;
    }
    return FileOps::unlink(path);
  }

 private:
  // Counts the call; true (errno EIO) when the simulated crash has happened.
  bool crash_step() {
    calls.fetch_add(1);
    if (crashed.load()) {
      errno = EIO;
      return true;
    }
    if (crash_after.load() < 0) return false;
    if (crash_after.fetch_sub(1) <= 0) {
      crashed.store(true);
      errno = EIO;
      return true;
    }
    return false;
  }
  bool is_segment(int fd) {
    std::lock_guard lock(mu_);
    auto it = paths_.find(fd);
    return it != paths_.end() && it->second.ends_with(".log");
  }

  std::mutex mu_;
  std::unordered_map<int, std::string> paths_;
};

// FileOps whose fdatasync can be held and made to fail, for tests of what waits for the disk.
// While held, fdatasync waits (the writer sits in it; what is appended meanwhile stays in its
// pending buffer); when it returns, it fails with EIO while `fail_syncs` is set. An Unhold
// declared after the store lets the disk go when a test ends early (a failed ASSERT), before
// the store's close would wait in fdatasync forever.
class SyncGate : public FileOps {
 public:
  std::atomic<bool> fail_syncs{false};
  void set_hold(bool on) {
    {
      std::lock_guard lock(mu_);
      hold_ = on;
    }
    cv_.notify_all();
  }
  // Waits until the writer sits in a held fdatasync.
  bool wait_blocked() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return blocked_ > 0; });
  }
  struct Unhold {
    SyncGate& io;
    ~Unhold() { io.set_hold(false); }
  };
  int fdatasync(int fd) override {
    {
      std::unique_lock lock(mu_);
      ++blocked_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !hold_; });
      --blocked_;
    }
    if (fail_syncs.load()) {
      errno = EIO;
      return -1;
    }
    return FileOps::fdatasync(fd);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int blocked_ = 0;
};

}  // namespace mqbase::store::test
