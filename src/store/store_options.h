// store_options: the types Store::open() takes and returns (options, recovery report, errors,
// write status), apart from Store itself so the store's internal pieces can share them.
// Included by store.h; callers include store.h.
// Thread-safety: plain values.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mqbase::store {

class FileOps;

using Lsn = uint64_t;

// none: nothing is written, every LSN is "durable" at once (tests, benchmarks, throwaway data).
// batch: a record is durable once written to the OS; fdatasync at most every batch_interval.
// sync: a record is durable once an fdatasync covering it has returned.
enum class Durability : uint8_t { none, batch, sync };

struct StoreOptions {
  std::string dir;                               // data directory (created if missing)
  Durability durability = Durability::sync;
  std::chrono::milliseconds batch_interval{10};  // batch mode: fdatasync at most this often
  uint64_t segment_bytes = 64ull << 20;          // rotate the log after this
  // Fill the next segment with zeros in the background once the active one is half full:
  // an fdatasync that need not update the file's size (a journal commit) is faster (ext4
  // here: 0.29 against 0.46 ms), but the zeros are written too. Off by default: in the
  // QoS 1 fan-in benchmark the extra writes cost more than the faster syncs gave (see
  // docs/durability.md). The zeros past the last record are read as the end of the segment.
  bool preallocate = false;
  // A segment that a checkpoint no longer needs becomes the next segment instead of being
  // deleted (PostgreSQL recycles WAL files the same way): records are written over its old
  // ones, so an fdatasync need not update the file's size either, and nothing is written twice.
  bool recycle_segments = true;
  uint64_t checkpoint_bytes = 256ull << 20;      // checkpoint when this much log has accumulated since the last one
  uint64_t disk_budget = 0;                      // 0: no budget; else refuse writes (see write()) while wal/ is above it
  bool skip_corrupt = false;                     // --recover-skip-corrupt
  std::function<void(const std::string&)> log;   // human-readable progress/warnings (may be empty)
  // The owner of records of its own types (2..126, Store::write_record): called on the
  // checkpoint thread before a checkpoint replaces the log through LSN `covered`, which drops
  // those records. It must have made everything they carried through `covered` durable
  // elsewhere (its own files, or KV writes it has seen durable) before it returns true; false
  // or an exception abandons this checkpoint (logged; retried later) and keeps the log. It must
  // not call Store::checkpoint() or close(). Empty: such records are simply dropped.
  std::function<bool(Lsn covered)> before_checkpoint;
  FileOps* io = nullptr;                         // fault injection for tests; null = POSIX
  // Addition: how often recovery logs its progress (records, bytes, percent); tests set 0.
  std::chrono::milliseconds progress_interval{1000};
};

struct RecoveryReport {
  uint64_t records = 0, bytes = 0, live_keys = 0;
  Lsn last_lsn = 0;
  std::vector<std::string> warnings;  // e.g. "torn record at wal/0000000000000003.log offset 4096: truncated 37 bytes"
  std::vector<std::string> skipped;   // what skip_corrupt skipped, with file and offset
  double seconds = 0;
};

// Thrown by Store::open() (data directory in use, corruption, I/O errors); the message names
// the file and offset when there is one.
class StoreError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// ok: accepted. over_budget: wal/ is above disk_budget. failing: the last write or fdatasync
// failed (ENOSPC, EIO) and the writer is retrying. Additions: too_large: the payload is over
// the 64 MiB record limit; closed: the store is closed.
enum class WriteStatus : uint8_t { ok, over_budget, failing, too_large, closed };

}  // namespace mqbase::store
