// Store: the one durable storage of an mqbase process, a key/value log with group commit. A
// caller opens a data directory (recovering what is there), reads the recovered keys once
// with for_each(), then appends WriteBatches (and records of its own types) from any thread;
// write() never blocks on I/O and returns an LSN, and durable_lsn() / set_on_durable() say
// when that LSN is on disk in the chosen Durability. One writer thread does the I/O, many
// records per fdatasync (WalWriter); a background thread compacts the log into checkpoints
// (Checkpointer). Files: docs/store-format.md. It knows nothing about MQTT.
//
// Thread-safety: write(), write_record(), durable_lsn(), stats(), checkpoint() and close() are
// safe from any thread. for_each() and release_recovered() belong before the first write();
// set_on_durable() too. A data directory is open in at most one Store at a time (LOCK).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "store/file_ops.h"
#include "store/histogram.h"
#include "store/store_options.h"
#include "store/value_index.h"
#include "store/write_batch.h"

namespace mqbase::store {

class Checkpointer;
class DirLock;
class WalWriter;

class Store {
 public:
  // Opens dir: creates it, takes <dir>/LOCK (throws StoreError "data directory D is in use by
  // another mqbase (pid N)" when held), recovers (newest valid checkpoint, then every later
  // segment in order), then starts the writer and checkpoint threads. `on_record(type, lsn,
  // payload)` is called during recovery for records of types other than 1 (may be empty).
  // Progress (records, bytes, percent) goes to options.log at most once per
  // options.progress_interval. Throws StoreError naming file and offset on mid-log corruption
  // unless skip_corrupt. In none mode the lock is taken and recovery reads what is there, but
  // nothing is written, truncated or deleted. The caller owns the returned Store.
  static std::unique_ptr<Store> open(const StoreOptions& options, RecoveryReport* report = nullptr,
                                     std::function<void(uint8_t type, Lsn lsn, std::string_view payload)> on_record = {});
  ~Store();  // close()
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Every live key after recovery that starts with `prefix` ("" for all) and its value, in key
  // order (bytewise). Call before the first write(). Recovery kept where each value lies, not
  // the value: values are read from the log files as the call reaches them, and are valid
  // during fn only. Throws StoreError when a value cannot be read.
  void for_each(std::string_view prefix, const std::function<void(std::string_view key, std::string_view value)>& fn) const;
  void for_each(const std::function<void(std::string_view key, std::string_view value)>& fn) const { for_each("", fn); }
  // For a large set ordered by something other than bytes (a sequence number inside the key):
  // every live key with `prefix` and where its value lies, in no particular order, then
  // recovered_value() reads a value back (fast in the order the values were written). Same
  // rules as for_each(); the value is valid until the next call.
  void for_each_key(std::string_view prefix, const std::function<void(std::string_view key, ValueLocation where)>& fn) const;
  std::string_view recovered_value(const ValueLocation& where) const;
  // Forgets the recovered keys and closes the files they were read from (call after the caller
  // has loaded what it needs).
  void release_recovered();

  // Appends `batch` as one record. Any thread; never blocks on I/O (copies into the writer's
  // buffer under a short mutex). Returns the record's LSN (>0) and sets *status ok. Returns 0
  // and sets *status when refused: over_budget (disk_budget exceeded), failing (the last
  // write/fdatasync failed; the writer retries the pending bytes every 500 ms and write()
  // accepts again once a retry succeeds), too_large (over 64 MiB), closed. A batch of deletes
  // only is always accepted over the budget (it is how space is freed).
  Lsn write(const WriteBatch& batch, WriteStatus* status = nullptr);
  // Appends a record of a caller's own type (2..126; throws std::invalid_argument for others),
  // handed back to open()'s on_record at recovery. Same contract as write(); never exempt from
  // the budget. A checkpoint drops these records once StoreOptions::before_checkpoint says
  // their owner keeps what they carried.
  // `waited` false: nobody waits for this record to be durable (QoS 0 telemetry without a
  // reply topic): in sync mode it is written at once but shares a later fdatasync
  // (WalWriter::append).
  Lsn write_record(uint8_t type, std::string_view payload, WriteStatus* status = nullptr, bool waited = true);

  // Takes back the record `lsn` (one write() of its own) if it has not been handed to the
  // disk yet: it becomes an empty batch and its keys are as if never written. True when taken
  // back; false when too late (then write the undo as usual), and always in none mode. For a
  // put that is moot before it is written (a message already acknowledged by its subscriber).
  bool cancel(Lsn lsn);

  // The highest LSN that is durable in this store's mode: sync: written and fdatasync'd;
  // batch: written (fdatasync follows within batch_interval); none: every LSN returned so far.
  Lsn durable_lsn() const;
  // Called on the writer thread after each group commit with the new durable_lsn(). Set before
  // the first write(). Must be quick (post elsewhere) and must not call checkpoint() or
  // close(), which wait for the writer thread (write() is fine). Never called in none mode,
  // where every LSN is durable as write() returns it.
  void set_on_durable(std::function<void(Lsn)> fn);

  // Writes a checkpoint now covering everything written before the call (the active segment
  // is closed first) and blocks until it is done. Returns false with a log line on I/O error
  // (or when the log is failing). True at once in none mode.
  bool checkpoint();

  // Flushes and fdatasyncs what is pending, stops the threads, releases LOCK. Idempotent.
  void close();

  struct Stats {
    uint64_t records = 0, bytes_written = 0, syncs = 0, checkpoints = 0, wal_bytes_on_disk = 0;
    uint64_t preallocated_segments = 0, recycled_segments = 0;
    uint64_t records_cancelled = 0;
    double last_sync_seconds = 0;
  };
  // records and bytes_written: written to segments; syncs: fdatasyncs of segments;
  // wal_bytes_on_disk: segments (up to their last record) + checkpoints in wal/;
  // preallocated_segments: segments filled with zeros ahead of time and then used;
  // recycled_segments: segments written into the file of an older one (recycle_segments);
  // records_cancelled: taken back by cancel() before they were written.
  Stats stats() const;
  // Durations (docs/operations.md): each write() of records to a segment, each fdatasync of
  // one, each checkpoint. Empty in none mode.
  const Histogram& write_latency() const { return write_latency_; }
  const Histogram& sync_latency() const { return sync_latency_; }
  const Histogram& checkpoint_latency() const { return checkpoint_latency_; }
  // Whether a write() with puts would be taken now: not closed, the log not failing, not over
  // the disk budget. A hint for refusing early (a SUBSCRIBE that would need a record): the
  // status of the write itself is what counts.
  bool accepting() const;
  Durability durability() const { return options_.durability; }

 private:
  explicit Store(const StoreOptions& options);
  Lsn append(uint8_t type, std::string_view payload, bool deletes_only, bool has_deletes, WriteStatus* status,
             bool waited = true);

  StoreOptions options_;
  Histogram write_latency_, sync_latency_, checkpoint_latency_;
  FileOps& io_;
  std::unique_ptr<DirLock> lock_;
  std::unique_ptr<ValueIndex> recovered_;
  std::atomic<uint64_t> wal_bytes_{0};
  std::atomic<uint64_t> checkpoints_{0};
  std::unique_ptr<WalWriter> writer_;          // null in none mode
  std::unique_ptr<Checkpointer> checkpointer_; // null in none mode
  std::atomic<Lsn> none_lsn_{0};               // none mode: the last LSN handed out
  std::atomic<bool> closed_{false};
  std::mutex checkpoint_mu_;                   // one explicit checkpoint at a time
  std::mutex close_mu_;
};

// Verifies every file of a data directory offline (no lock needed, never modifies anything):
// prints per file the records, bytes and any torn tail or corruption with file and offset to
// `out`. Returns true when no corruption (a torn tail alone is fine).
bool check(const std::string& dir, std::ostream& out);

}  // namespace mqbase::store
