// Checkpointer: compacts the log on its own thread so group commit never waits for it. When
// checkpoint_bytes of closed segments have accumulated since the last checkpoint (or on
// request), it replays the current checkpoint and the closed segments numbered <= N into a map
// of where each live value lies (file, offset, length: no values in memory), writes
// checkpoint-N.ckpt.tmp with those values (copied with pread) and an end record, fdatasyncs
// it, renames it into place, fsyncs the directory, and only then deletes the older checkpoint
// and the segments <= N. A crash at any step leaves a directory that recovers to the same
// state (docs/store-format.md).
// Only KV batches (type 1) survive a checkpoint; records of other types are dropped with the
// segments that held them, once Options::before_checkpoint (StoreOptions) has said that their
// owner keeps what they carried elsewhere.
// Thread-safety: segment_closed() (from the writer thread), checkpoint_through() and stop()
// are safe from any thread; start() is for the owner, once.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "store/file_ops.h"
#include "store/histogram.h"
#include "store/log_format.h"

namespace mqbase::store {

class Checkpointer {
 public:
  struct Options {
    std::string wal_dir;
    uint64_t checkpoint_bytes = 256ull << 20;
    bool skip_corrupt = false;
    std::function<void(const std::string&)> log;
    FileOps* io = nullptr;
    std::function<bool(Lsn covered)> before_checkpoint;  // see StoreOptions
    Histogram* duration = nullptr;  // each checkpoint written, with the flush before it (may be null)
    // Offered each segment the checkpoint covers before it is deleted: true when it took the
    // file (WalWriter::recycle), which is then neither deleted nor subtracted from wal_bytes.
    std::function<bool(const std::string& path, uint64_t bytes)> recycle;
  };

  // `wal_bytes`: the store's count of bytes in wal/ (a checkpoint adds its file and subtracts
  // what it deletes); `checkpoints`: incremented per checkpoint written.
  Checkpointer(Options options, std::atomic<uint64_t>& wal_bytes, std::atomic<uint64_t>& checkpoints);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Starts the thread. `checkpoint_number`: the checkpoint in use (0: none); `closed`: the
  // closed segments after it, number -> bytes.
  void start(uint64_t checkpoint_number, std::map<uint64_t, uint64_t> closed);

  // Segment `number` (`bytes` long) is closed. `force`: checkpoint through it now (the disk
  // budget wants space back) rather than when checkpoint_bytes have accumulated.
  void segment_closed(uint64_t number, uint64_t bytes, bool force);

  // Checkpoints through closed segment `number` (at least) and blocks until a checkpoint
  // covering it is in place. Returns false when it failed (logged) or the checkpointer stopped.
  bool checkpoint_through(uint64_t number);

  // Aborts a checkpoint in progress (its temporary file is deleted) and ends the thread. Idempotent.
  void stop();

 private:
  void run();
  // Writes checkpoint `number` from the current one and the segments after it. Returns false
  // (logged) on any error or when stopping; the directory is then as it was, or holds the new
  // checkpoint with some old files not yet deleted.
  bool write_checkpoint(uint64_t number);
  void log(const std::string& line) const;

  Options options_;
  FileOps& io_;
  std::atomic<uint64_t>& wal_bytes_;
  std::atomic<uint64_t>& checkpoints_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::condition_variable wake_;  // the thread waits here
  std::condition_variable done_;  // checkpoint_through() waits here
  bool stop_ = false;
  uint64_t current_ = 0;                    // the checkpoint in place
  std::map<uint64_t, uint64_t> closed_;     // closed segments after it -> bytes
  uint64_t forced_through_ = 0;             // checkpoint at least through this now
  uint64_t failed_forced_ = 0;              // a forced attempt through this failed
  std::chrono::steady_clock::time_point retry_at_{};  // after a failed background attempt
};

}  // namespace mqbase::store
