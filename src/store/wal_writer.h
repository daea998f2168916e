// WalWriter: the log's one writer thread and its group commit. Callers' append() copies a
// record into a pending buffer under a short mutex and assigns its LSN; the thread swaps the
// whole buffer out, writes it to the active segment with one pwrite, fdatasyncs it once (sync
// mode) and then publishes the highest LSN in it as durable: one fdatasync covers every record
// that arrived while the previous one ran. Batch mode publishes after the write and fdatasyncs
// at most every batch_interval. The thread also rotates segments at segment_bytes and on
// request (a checkpoint), and survives ENOSPC/EIO: it cuts the segment back to what was
// synced, keeps the unsynced records, refuses appends ("failing") and retries every 500 ms.
//
// Preallocation (Options::preallocate): once the active segment is half full, a helper thread
// writes the next one ahead of time as wal/next-segment.tmp, segment_bytes of zeros, synced.
// Rotation writes its header, syncs, renames it and writes records over the zeros: each
// fdatasync then writes data only, where appending also commits the file's new size to the
// journal (about twice the time on ext4). Readers take a zero tail for the end of a segment;
// a closed segment is cut back to its records. When the file is not ready, or there is not
// room for it, rotation creates a segment as before.
//
// Recycling (Options::recycle, on by default): segments that a checkpoint has made useless
// are handed to the writer (recycle()) instead of being deleted, kept as wal/recycled-<n>.tmp
// (up to Options::recycle_pool of them), and rotation takes one for the next segment when no
// zero-filled one is ready: records go over the older segment's, so an fdatasync need not
// commit a new file size, and nothing is written twice. The segment's header says so (format
// version 2): readers take the first record that is not this segment's (the older segment's,
// or its bytes cut mid-record) for its end. A closed segment is cut back to its records.
//
// Design: a record's crc is computed by the writer thread (fill_record_crcs), not under the
// callers' mutex, which then covers only a memcpy. Durable means the same as in Store.
//
// Thread-safety: append(), durable_lsn(), rotate() and stats are safe from any thread;
// start(), set_on_durable() and stop() are for the owner (Store), once each.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/file_ops.h"
#include "store/histogram.h"
#include "store/log_format.h"
#include "store/store_options.h"

namespace mqbase::store {

class WalWriter {
 public:
  struct Options {
    std::string wal_dir;
    Durability durability = Durability::sync;  // batch or sync
    std::chrono::milliseconds batch_interval{10};
    uint64_t segment_bytes = 64ull << 20;
    bool preallocate = false;
    bool recycle = true;
    size_t recycle_pool = 4;  // freed segments kept for reuse at most (Store: checkpoint_bytes / segment_bytes)
    uint64_t disk_budget = 0;
    std::function<void(const std::string&)> log;
    FileOps* io = nullptr;
    Histogram* write_latency = nullptr;  // each write() of records to a segment (may be null)
    Histogram* sync_latency = nullptr;   // each fdatasync of a segment (may be null)
  };
  // Called on the writer thread when segment `number` (now `bytes` long) is closed and fully
  // synced. `relieve_budget`: wal/ is over its budget and deletes have been written since, so
  // a checkpoint may free space now.
  using SegmentClosedFn = std::function<void(uint64_t number, uint64_t bytes, bool relieve_budget)>;

  // `wal_bytes` is the store's count of bytes in wal/: the writer adds what it writes.
  WalWriter(Options options, std::atomic<uint64_t>& wal_bytes, SegmentClosedFn segment_closed);
  ~WalWriter();
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  // Creates segment `segment_number` whose first record will be `next_lsn` and starts the
  // thread. Throws StoreError when the segment cannot be created.
  void start(uint64_t segment_number, Lsn next_lsn);

  // Queues one record. Returns its LSN and sets *status ok, or returns 0 with the reason:
  // too_large, closed, failing, over_budget (unless `deletes_only`). `has_deletes`: the record
  // deletes keys (over budget, that asks for a checkpoint soon). Never blocks on I/O.
  //
  // `waited` false (sync mode): nobody waits for this record to be durable (QoS 0 telemetry
  // without a reply topic), so it need not have an fdatasync of its own. Such records gather
  // for up to kGatherTime (or kGatherBytes) and are written, which is all a kill -9 needs;
  // their fdatasync comes with the next record someone waits for, or batch_interval after the
  // last one, whichever is first. durable_lsn() passes them only once synced, as ever. Without
  // this a stream of them kept the writer in one fdatasync after another, each about 45 us of
  // the broker's core here. In batch mode every record is handled so anyway.
  Lsn append(uint8_t type, std::string_view payload, bool deletes_only, bool has_deletes, WriteStatus* status,
             bool waited = true);

  // Takes back the record `lsn` if it is still waiting to be written: it is then written as an
  // empty batch (the LSNs stay without gaps), and its payload never reaches the disk. True when
  // taken back; false when it is already on its way (or was never appended here). For a put
  // that is moot before it is written: a message its subscriber has already acknowledged.
  bool cancel(Lsn lsn);
  Lsn durable_lsn() const { return durable_.load(std::memory_order_acquire); }
  // `fn` runs on the writer thread after each commit with the new durable LSN. Call before start().
  void set_on_durable(std::function<void(Lsn)> fn) { on_durable_ = std::move(fn); }

  // Writes what is pending, closes the active segment and opens the next. Blocks until done.
  // Returns the closed segment's number, or 0 when the log is failing, stopping, or the next
  // segment cannot be created.
  uint64_t rotate();

  // Writes and fdatasyncs what is pending (one last retry if failing), then ends the thread.
  // Idempotent.
  void stop();

  bool failing() const { return failing_.load(std::memory_order_acquire); }
  uint64_t records_written() const { return records_.load(std::memory_order_relaxed); }
  uint64_t records_cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  uint64_t bytes_written() const { return bytes_written_.load(std::memory_order_relaxed); }
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // Segments that were filled ahead of time and used.
  uint64_t preallocated_segments() const { return preallocated_segments_.load(std::memory_order_relaxed); }
  // Segments written into the file of an older one.
  uint64_t recycled_segments() const { return recycled_segments_.load(std::memory_order_relaxed); }

  // A segment a checkpoint no longer needs (`path`, `bytes` long, counted in wal_bytes), from
  // the checkpoint thread: true when the writer took it (renamed it to wal/recycled-<n>.tmp;
  // its bytes stay counted), false when the caller is to delete it (recycling off, the pool
  // full, the log over half its disk budget, the writer stopped, a file under half a segment,
  // or the rename failed).
  bool recycle(const std::string& path, uint64_t bytes);
  double last_sync_seconds() const { return last_sync_seconds_.load(std::memory_order_relaxed); }

 private:
  enum class RotateResult : uint8_t { ok, create_failed, sync_failed };
  using Clock = std::chrono::steady_clock;

  void run();
  // Writes `buf` (whole records, crcs filled) to the log, rotating at segment_bytes; false
  // after a failure (the unwritten rest is back in pending_, failing_ is set).
  bool commit(std::string& buf);
  // Rewrites the cancelled records of `buf` as empty batches (the writer thread, unlocked).
  void compact_cancelled(std::string& buf);
  // Writes one chunk of records; fdatasyncs the segment when `sync` (sync mode, waited records).
  bool write_chunk(const char* data, size_t n, Lsn last, bool sync);
  bool sync_active();
  // The batch interval's fdatasync of what was written unsynced. It does not publish: in sync
  // mode run() does after each round (a retry publishes only once it is done). False after a
  // failure (failing_ set).
  bool sync_written();
  RotateResult rotate_segment(bool relieve_budget);
  int create_segment(uint64_t number, Lsn first_lsn);
  // Writes the header into `fd` (open on `tmp_path`), syncs, renames it to segment `number`'s
  // name and syncs the directory. Returns fd, or -1 with fd closed and the file deleted.
  int install_segment(int fd, const std::string& tmp_path, uint64_t number, Lsn first_lsn, bool recycled = false);
  // Turns a recycled file from the pool into segment `number` (its size in *bytes); -1 when
  // the pool is empty or every file in it failed (those are deleted).
  int take_recycled(uint64_t number, Lsn first_lsn, uint64_t* bytes);
  // Deletes the pool's files (at stop).
  void discard_recycled();
  // Preallocation: starts the helper when the active segment is half full and there is room.
  void maybe_prepare();
  // The helper thread's body: writes and syncs next-segment.tmp; sets prep_state_.
  void prepare_file();
  // Turns the prepared file into segment `number`; -1 (and deletes it) on failure.
  int activate_prepared(uint64_t number, Lsn first_lsn);
  // A preallocated active segment (file_size_ > written_size_): ftruncate to written_size_
  // (what recovery would do).
  void cut_preallocated();
  // Ends the helper; deletes a prepared or half-written file.
  void discard_prepared();
  std::string prepared_path() const { return options_.wal_dir + "/next-segment.tmp"; }
  // Cuts the segment back to what is synced and puts the unsynced bytes and `rest` back in
  // front of pending_.
  void fail(int err, const char* what, std::string_view rest);
  void publish(Lsn lsn);
  std::string segment_name() const;
  void log(const std::string& line) const;

  Options options_;
  FileOps& io_;
  std::atomic<uint64_t>& wal_bytes_;
  SegmentClosedFn segment_closed_;
  std::function<void(Lsn)> on_durable_;
  std::thread thread_;

  // Shared with callers, under mu_.
  mutable std::mutex mu_;
  std::condition_variable wake_;          // the writer waits here
  std::condition_variable rotated_;       // rotate() callers wait here
  std::string pending_;                   // records not yet written, crcs not filled
  // Where each record appended since pending_ was last taken starts in it (cancel()): the one
  // of LSN pending_first_lsn_ + i at pending_offsets_[i]. Bytes put back by fail() are not
  // listed. pending_cancelled_: records in pending_ marked cancelled.
  std::vector<size_t> pending_offsets_;
  Lsn pending_first_lsn_ = 0;
  size_t pending_cancelled_ = 0;
  Lsn last_assigned_ = 0;
  bool writer_idle_ = false;              // append() notifies only then
  // batch mode, and sync mode while no record in pending_ is waited for: the writer lets
  // records gather for up to kGatherTime after the first one (a write per record cost the
  // broker's core more than the records did); append() notifies it early only once
  // kGatherBytes are pending, or (sync mode) when a record someone waits for comes.
  bool gathering_ = false;
  bool pending_waited_ = false;           // sync mode: someone waits for a record in pending_
  Clock::time_point first_pending_at_{};  // when pending_ last became non-empty
  bool stop_ = false;
  bool running_ = false;
  bool relief_wanted_ = false;            // deletes appended while over budget
  uint64_t rotations_requested_ = 0, rotations_done_ = 0, rotation_result_ = 0;
  std::atomic<bool> failing_{false};
  std::atomic<Lsn> durable_{0};

  // The writer thread's own.
  int fd_ = -1;
  uint64_t segment_number_ = 0;
  uint64_t written_size_ = 0;  // bytes in the active segment
  uint64_t synced_size_ = 0;   // of which fdatasync'd
  uint64_t file_size_ = 0;     // the file's size: larger than written_size_ while preallocated
  Lsn written_lsn_ = 0;        // last LSN written to the active segment
  Lsn synced_lsn_ = 0;
  std::string unsynced_;       // the bytes in [synced_size_, written_size_) (batch mode; sync: unwaited records)
  bool buf_waited_ = false;    // sync mode: the buffer taken from pending_ holds a waited record
  size_t buf_cancelled_ = 0;   // cancelled records in the buffer taken from pending_
  std::string compacted_;      // compact_cancelled()'s scratch, swapped with the buffer
  Clock::time_point last_sync_{};
  Clock::time_point retry_at_{};
  Clock::time_point rotate_retry_at_{};
  Clock::time_point next_relief_{};
  Clock::time_point next_prepare_check_{};
  uint64_t failed_attempts_ = 0;
  bool rotation_failing_ = false;  // creating the next segment failed (logged once)

  // Preallocation. prep_state_: 0 idle, 1 the helper is writing, 2 prepared (synced, closed,
  // counted in wal_bytes_), 3 it failed (retried after the next rotation). The writer thread
  // starts and joins the helper; the helper only adds to wal_bytes_ and sets prep_state_.
  enum PrepState : int { prep_idle = 0, prep_running = 1, prep_ready = 2, prep_failed = 3 };
  std::thread prep_thread_;
  std::atomic<int> prep_state_{prep_idle};
  std::atomic<bool> prep_cancel_{false};

  // Recycled segments, filled by the checkpoint thread (recycle()), taken by the writer.
  std::mutex recycle_mu_;
  std::vector<std::pair<std::string, uint64_t>> recycled_;  // path, bytes
  uint64_t recycle_seq_ = 0;
  bool recycle_closed_ = false;  // stopped: the pool takes nothing more

  std::atomic<uint64_t> records_{0}, bytes_written_{0}, syncs_{0}, preallocated_segments_{0}, cancelled_{0};
  std::atomic<uint64_t> recycled_segments_{0};
  std::atomic<double> last_sync_seconds_{0};
};

}  // namespace mqbase::store
