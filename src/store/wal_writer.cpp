#include "store/wal_writer.h"

#include <fcntl.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <utility>

#include "store/coding.h"
#include "store/thread_setup.h"
#include "store/write_batch.h"

namespace mqbase::store {
namespace {

constexpr auto kRetryInterval = std::chrono::milliseconds(500);
// Over budget, deletes ask for a checkpoint at most this often.
constexpr auto kReliefInterval = std::chrono::seconds(1);
// The writer's spare buffer is kept up to this capacity.
constexpr size_t kKeepBuffer = 4 << 20;
// batch mode: records gather this long (or to this size) before the writer writes them.
constexpr auto kGatherTime = std::chrono::milliseconds(1);
constexpr size_t kGatherBytes = 256 << 10;
// Preallocation: the zeros are written in pieces of this size, and the file is made only
// while the file system has at least kPrepareRoom segments' worth free (checked at most every
// kPrepareCheckInterval), so that it never takes the last of the space.
constexpr size_t kPrepareChunk = 1 << 20;
constexpr uint64_t kPrepareRoom = 4;
constexpr auto kPrepareCheckInterval = std::chrono::seconds(1);

}  // namespace

WalWriter::WalWriter(Options options, std::atomic<uint64_t>& wal_bytes, SegmentClosedFn segment_closed)
    : options_(std::move(options)),
      io_(options_.io ? *options_.io : FileOps::posix()),
      wal_bytes_(wal_bytes),
      segment_closed_(std::move(segment_closed)) {}

WalWriter::~WalWriter() { stop(); }

void WalWriter::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

std::string WalWriter::segment_name() const { return "wal/" + segment_file_name(segment_number_); }

void WalWriter::start(uint64_t segment_number, Lsn next_lsn) {
  written_lsn_ = synced_lsn_ = next_lsn - 1;
  last_assigned_ = next_lsn - 1;
  durable_.store(next_lsn - 1, std::memory_order_release);
  int fd = create_segment(segment_number, next_lsn);
  if (fd < 0)
    throw StoreError("cannot create wal/" + segment_file_name(segment_number) + ": " + errno_text(errno));
  fd_ = fd;
  segment_number_ = segment_number;
  written_size_ = synced_size_ = file_size_ = kFileHeaderSize;
  last_sync_ = Clock::now();
  {
    std::lock_guard lock(mu_);
    running_ = true;
  }
  thread_ = std::thread([this] { run(); });
}

Lsn WalWriter::append(uint8_t type, std::string_view payload, bool deletes_only, bool has_deletes,
                      WriteStatus* status, bool waited) {
  const bool sync = options_.durability == Durability::sync;
  WriteStatus st = WriteStatus::ok;
  Lsn lsn = 0;
  bool wake = false;
  if (payload.size() > kMaxRecordPayload) {
    st = WriteStatus::too_large;
  } else {
    std::lock_guard lock(mu_);
    bool over = options_.disk_budget != 0 && wal_bytes_.load(std::memory_order_relaxed) > options_.disk_budget;
    if (stop_ || !running_) st = WriteStatus::closed;
    else if (failing_.load(std::memory_order_relaxed)) st = WriteStatus::failing;
    else if (over && !deletes_only) st = WriteStatus::over_budget;
    else {
      if (over && has_deletes) relief_wanted_ = true;
      lsn = ++last_assigned_;
      if (pending_.empty() && (!sync || !waited)) first_pending_at_ = Clock::now();
      if (pending_offsets_.empty()) pending_first_lsn_ = lsn;
      pending_offsets_.push_back(pending_.size());
      append_record_unsealed(pending_, type, lsn, payload);
      if (sync && waited) {
        pending_waited_ = true;
        wake = writer_idle_ || gathering_;  // ends a gathering of unwaited records
      } else {
        wake = writer_idle_ || (gathering_ && pending_.size() >= kGatherBytes);
      }
    }
  }
  if (wake) wake_.notify_one();
  if (status) *status = st;
  return lsn;
}

// A mark in pending_ only: compact_cancelled() writes such a record as an empty batch.
constexpr uint8_t kTypeCancelled = 0xff;
constexpr size_t kTypeOffset = 8;  // in the record header: crc u32, length u32, type u8, LSN u64

bool WalWriter::cancel(Lsn lsn) {
  std::lock_guard lock(mu_);
  if (pending_offsets_.empty() || lsn < pending_first_lsn_ || lsn - pending_first_lsn_ >= pending_offsets_.size())
    return false;
  char* rec = pending_.data() + pending_offsets_[lsn - pending_first_lsn_];
  if (record_lsn(rec) != lsn || static_cast<uint8_t>(rec[kTypeOffset]) == kTypeCancelled) return false;
  rec[kTypeOffset] = static_cast<char>(kTypeCancelled);
  ++pending_cancelled_;
  cancelled_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void WalWriter::compact_cancelled(std::string& buf) {
  static const WriteBatch kEmpty;  // what every reader takes for "no change"
  compacted_.clear();
  size_t pos = 0;
  while (pos + kRecordHeaderSize <= buf.size()) {
    const uint32_t length = decode_u32(buf.data() + pos + 4);
    const size_t size = kRecordHeaderSize + length;
    if (static_cast<uint8_t>(buf[pos + kTypeOffset]) == kTypeCancelled)
      append_record_unsealed(compacted_, kTypeKvBatch, record_lsn(buf.data() + pos), kEmpty.rep());
    else
      compacted_.append(buf, pos, size);
    pos += size;
  }
  buf.swap(compacted_);
  if (compacted_.capacity() > kKeepBuffer) std::string().swap(compacted_);
}

uint64_t WalWriter::rotate() {
  std::unique_lock lock(mu_);
  if (stop_ || !running_ || failing_.load()) return 0;
  uint64_t mine = ++rotations_requested_;
  if (writer_idle_) wake_.notify_one();
  rotated_.wait(lock, [&] { return rotations_done_ >= mine || !running_; });
  return rotations_done_ >= mine ? rotation_result_ : 0;
}

void WalWriter::stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_ && !thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void WalWriter::publish(Lsn lsn) {
  if (lsn <= durable_.load(std::memory_order_relaxed)) return;  // the writer thread alone stores it
  durable_.store(lsn, std::memory_order_release);
  if (on_durable_) on_durable_(lsn);
}

void WalWriter::run() {
  name_this_thread("mqbase-wal");
  // Swapped with pending_ each round, so the two buffers keep their capacity instead of
  // growing from nothing every time (one that grew past kKeepBuffer in a burst is let go).
  std::string buf;
  auto take_pending = [&] {
    if (buf.capacity() > kKeepBuffer) std::string().swap(buf);
    buf.clear();
    buf.swap(pending_);
    pending_offsets_.clear();  // what is taken can no longer be cancelled
    buf_cancelled_ = std::exchange(pending_cancelled_, 0);
    buf_waited_ = std::exchange(pending_waited_, false);
  };
  const bool sync = options_.durability == Durability::sync;
  // In sync mode, what an fdatasync made durable besides the waited records it was for (the
  // batch interval's sync of unwaited records, a rotation's) is published here; called
  // without mu_.
  auto publish_synced = [&] {
    if (sync && !failing_.load(std::memory_order_relaxed)) publish(synced_lsn_);
  };
  std::unique_lock lock(mu_);
  for (;;) {
    if (failing_.load(std::memory_order_relaxed)) {
      // rotate() callers are not kept waiting through a failure.
      if (rotations_requested_ > rotations_done_) {
        rotation_result_ = 0;
        rotations_done_ = rotations_requested_;
        rotated_.notify_all();
      }
      if (!stop_) wake_.wait_until(lock, retry_at_, [&] { return stop_; });
      take_pending();
      lock.unlock();
      bool ok = commit(buf);
      lock.lock();
      if (!ok && stop_) {
        log("wal: closing while the log is failing: " + std::to_string(pending_.size()) +
            " bytes of records after LSN " + std::to_string(durable_lsn()) + " were never written");
        break;
      }
      continue;
    }
    bool rotation_wanted = rotations_requested_ > rotations_done_;
    bool relief = relief_wanted_ && Clock::now() >= next_relief_;
    if (pending_.empty() && !rotation_wanted && !relief) {
      if (stop_) break;
      writer_idle_ = true;
      if (!unsynced_.empty()) {  // batch mode, or unwaited records in sync mode
        auto due = last_sync_ + options_.batch_interval;
        if (Clock::now() >= due) {
          writer_idle_ = false;
          lock.unlock();
          sync_written();
          publish_synced();
          lock.lock();
          continue;
        }
        wake_.wait_until(lock, due);
      } else {
        wake_.wait(lock);
      }
      writer_idle_ = false;
      continue;
    }
    if ((options_.durability == Durability::batch || (sync && !pending_waited_)) && !stop_ && !rotation_wanted &&
        !relief && pending_.size() < kGatherBytes && Clock::now() < first_pending_at_ + kGatherTime) {
      // Nobody waits for these records (batch mode; unwaited ones in sync mode): let more
      // records join this write.
      gathering_ = true;
      wake_.wait_until(lock, first_pending_at_ + kGatherTime, [&] {
        return stop_ || pending_.size() >= kGatherBytes || rotations_requested_ > rotations_done_ ||
               (sync && pending_waited_);
      });
      gathering_ = false;
      rotation_wanted = rotations_requested_ > rotations_done_;
    }
    take_pending();
    uint64_t requested = rotations_requested_;
    if (relief) {
      relief_wanted_ = false;
      next_relief_ = Clock::now() + kReliefInterval;
    }
    lock.unlock();
    bool ok = commit(buf);
    uint64_t closed = 0;
    if (ok && (rotation_wanted || relief)) {
      uint64_t number = segment_number_;
      RotateResult r = rotate_segment(relief);
      if (r == RotateResult::ok) closed = number;
      else if (r == RotateResult::sync_failed) fail(errno, "fdatasync", {});
    }
    publish_synced();
    lock.lock();
    if (rotation_wanted) {
      rotation_result_ = closed;
      rotations_done_ = requested;
      rotated_.notify_all();
    }
  }
  // Stopping: everything written is fdatasync'd before the segment is closed.
  lock.unlock();
  if (!failing_.load() && written_size_ > synced_size_ && !sync_active())
    log("wal: fdatasync of " + segment_name() + " at close failed: " + errno_text(errno));
  if (fd_ >= 0) {
    cut_preallocated();  // if this fails, recovery cuts the zeros
    io_.close(fd_);
  }
  fd_ = -1;
  discard_prepared();
  discard_recycled();
  lock.lock();
  running_ = false;
  rotated_.notify_all();
}

bool WalWriter::commit(std::string& buf) {
  if (buf_cancelled_) {
    compact_cancelled(buf);
    buf_cancelled_ = 0;
  }
  fill_record_crcs(buf);
  // A retry publishes only once all of it is written (and synced), after failing_ is
  // cleared: whoever sees durable_lsn catch up can write again.
  const bool retry = failing_.load(std::memory_order_relaxed);
  Lsn last_written = 0;
  size_t pos = 0;
  while (pos < buf.size()) {
    // Whole records until the segment reaches segment_bytes (at least one: a record never
    // spans two segments, and one larger than segment_bytes gets a segment of its own).
    size_t end = pos;
    Lsn last = 0;
    uint64_t count = 0;
    do {
      uint32_t length = decode_u32(buf.data() + end + 4);
      last = record_lsn(buf.data() + end);
      end += kRecordHeaderSize + length;
      ++count;
    } while (end < buf.size() && (written_size_ >= options_.segment_bytes  // the rotation failed: no point in small pieces
                                  || written_size_ + (end - pos) < options_.segment_bytes));
    const bool sync = options_.durability == Durability::sync && buf_waited_;
    if (!write_chunk(buf.data() + pos, end - pos, last, sync)) {
      fail(errno, sync ? "write or fdatasync" : "write", std::string_view(buf).substr(pos));
      return false;
    }
    records_.fetch_add(count, std::memory_order_relaxed);
    // Durable now: synced (sync mode), or written (batch mode). Unwaited records in sync mode
    // are published by the fdatasync that covers them.
    if (!retry && (sync || options_.durability == Durability::batch)) publish(last);
    maybe_prepare();
    last_written = last;
    pos = end;
    if (written_size_ >= options_.segment_bytes && Clock::now() >= rotate_retry_at_) {
      RotateResult r = rotate_segment(false);
      if (r == RotateResult::sync_failed) {
        fail(errno, "fdatasync", std::string_view(buf).substr(pos));
        return false;
      }
    }
  }
  if (!unsynced_.empty() && Clock::now() >= last_sync_ + options_.batch_interval && !sync_written())
    return false;
  if (retry) {
    {
      std::lock_guard lock(mu_);
      failing_.store(false, std::memory_order_release);
    }
    log("wal: writes succeed again after " + std::to_string(failed_attempts_) + " failed attempts; accepting writes");
    failed_attempts_ = 0;
    if (last_written != 0) publish(last_written);
  }
  return true;
}

bool WalWriter::write_chunk(const char* data, size_t n, Lsn last, bool sync) {
  auto t0 = Clock::now();
  if (!write_all(io_, fd_, data, n, static_cast<off_t>(written_size_))) return false;
  if (options_.write_latency) options_.write_latency->observe(Clock::now() - t0);
  written_size_ += n;
  written_lsn_ = last;
  if (written_size_ > file_size_) {  // past a preallocated segment's end, or appending
    wal_bytes_.fetch_add(written_size_ - file_size_, std::memory_order_relaxed);
    file_size_ = written_size_;
  }
  bytes_written_.fetch_add(n, std::memory_order_relaxed);
  if (sync) return sync_active();  // covers the unwaited records written before too
  unsynced_.append(data, n);
  return true;
}

bool WalWriter::sync_written() {
  if (sync_active()) return true;
  fail(errno, "fdatasync", {});
  return false;
}

bool WalWriter::sync_active() {
  auto t0 = Clock::now();
  int rc = io_.fdatasync(fd_);
  auto t1 = Clock::now();
  syncs_.fetch_add(1, std::memory_order_relaxed);
  last_sync_seconds_.store(std::chrono::duration<double>(t1 - t0).count(), std::memory_order_relaxed);
  if (options_.sync_latency) options_.sync_latency->observe(t1 - t0);
  last_sync_ = t1;
  if (rc != 0) return false;
  synced_size_ = written_size_;
  synced_lsn_ = written_lsn_;
  unsynced_.clear();
  return true;
}

void WalWriter::fail(int err, const char* what, std::string_view rest) {
  // The bytes after synced_size_ may or may not be on disk (after a failed fdatasync the page
  // cache may have dropped them; a failed write may have written part): cut the file back and
  // write them again on the next attempt.
  if (io_.ftruncate(fd_, static_cast<off_t>(synced_size_)) != 0 && !failing_.load(std::memory_order_relaxed))
    log("wal: cannot truncate " + segment_name() + " back to " + std::to_string(synced_size_) + " bytes: " +
        errno_text(errno) + " (the retry overwrites the bytes after it)");
  subtract_bytes(wal_bytes_, file_size_ - synced_size_);
  file_size_ = synced_size_;  // a preallocated segment is one no more
  written_size_ = synced_size_;
  written_lsn_ = synced_lsn_;
  std::string restore = std::move(unsynced_);
  unsynced_.clear();
  restore.append(rest);
  ++failed_attempts_;
  retry_at_ = Clock::now() + kRetryInterval;
  bool first = !failing_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    pending_.insert(0, restore);
    pending_waited_ = true;    // the retry fdatasyncs whatever it writes, unwaited records too
    pending_offsets_.clear();  // the offsets moved; nothing in pending_ is cancelled from now on
    failing_.store(true, std::memory_order_release);
  }
  if (first)
    log(std::string("wal: ") + what + " of " + segment_name() + " at offset " + std::to_string(synced_size_) +
        " failed: " + errno_text(err) + "; refusing writes, retrying every 500 ms (LSNs after " +
        std::to_string(durable_lsn()) + " are kept in memory)");
}

WalWriter::RotateResult WalWriter::rotate_segment(bool relieve_budget) {
  if (written_size_ > synced_size_ && !sync_active()) return RotateResult::sync_failed;
  uint64_t next = segment_number_ + 1;
  int fd = -1;
  bool prepared = false;
  uint64_t recycled_bytes = 0;
  if (prep_state_.load(std::memory_order_acquire) == prep_ready) {
    fd = activate_prepared(next, written_lsn_ + 1);
    prepared = fd >= 0;
  }
  if (fd < 0) fd = take_recycled(next, written_lsn_ + 1, &recycled_bytes);
  if (fd < 0) fd = create_segment(next, written_lsn_ + 1);
  if (fd < 0) {
    if (!rotation_failing_)
      log("wal: cannot create wal/" + segment_file_name(next) + ": " + errno_text(errno) + "; " + segment_name() +
          " grows past segment_bytes until it can (retrying every 500 ms)");
    rotation_failing_ = true;
    rotate_retry_at_ = Clock::now() + kRetryInterval;
    return RotateResult::create_failed;
  }
  if (rotation_failing_) log("wal: created wal/" + segment_file_name(next) + " after failed attempts");
  rotation_failing_ = false;
  // A prepared segment is cut back to its records. Should the cut not survive a crash, the
  // zeros after them read as the segment's end all the same.
  cut_preallocated();
  const uint64_t closed_file_size = file_size_;
  io_.close(fd_);
  file_size_ = prepared ? options_.segment_bytes : std::max<uint64_t>(recycled_bytes, kFileHeaderSize);
  if (prep_state_.load(std::memory_order_acquire) == prep_failed) {
    if (prep_thread_.joinable()) prep_thread_.join();
    prep_state_.store(prep_idle, std::memory_order_relaxed);
  }
  uint64_t closed = segment_number_, closed_bytes = closed_file_size;
  fd_ = fd;
  segment_number_ = next;
  written_size_ = synced_size_ = kFileHeaderSize;
  if (segment_closed_) segment_closed_(closed, closed_bytes, relieve_budget);
  return RotateResult::ok;
}

int WalWriter::create_segment(uint64_t number, Lsn first_lsn) {
  std::string tmp_path = options_.wal_dir + "/" + segment_file_name(number) + ".tmp";
  int fd = io_.open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC);
  if (fd < 0) return -1;
  fd = install_segment(fd, tmp_path, number, first_lsn);
  if (fd >= 0) wal_bytes_.fetch_add(kFileHeaderSize, std::memory_order_relaxed);
  return fd;
}

int WalWriter::install_segment(int fd, const std::string& tmp_path, uint64_t number, Lsn first_lsn, bool recycled) {
  // Written under a temporary name and renamed once synced: a segment with its final name
  // always has a whole header.
  std::string final_path = options_.wal_dir + "/" + segment_file_name(number);
  std::string header = encode_file_header({FileKind::segment, number, first_lsn, recycled});
  if (!write_all(io_, fd, header.data(), header.size(), 0) || io_.fdatasync(fd) != 0 ||
      io_.rename(tmp_path, final_path) != 0) {
    int err = errno;
    io_.close(fd);
    io_.unlink(tmp_path);
    errno = err;
    return -1;
  }
  if (!fsync_dir(io_, options_.wal_dir)) {
    // The segment exists but its name may not survive a crash: do not write records into it.
    int err = errno;
    io_.close(fd);
    io_.unlink(final_path);
    errno = err;
    return -1;
  }
  return fd;
}

void WalWriter::cut_preallocated() {
  if (file_size_ <= written_size_) return;  // not preallocated, or filled
  if (io_.ftruncate(fd_, static_cast<off_t>(written_size_)) != 0) return;
  subtract_bytes(wal_bytes_, file_size_ - written_size_);
  file_size_ = written_size_;
}

bool WalWriter::recycle(const std::string& path, uint64_t bytes) {
  if (!options_.recycle || bytes < options_.segment_bytes / 2 || bytes < kFileHeaderSize) return false;
  // Under a disk budget, freed space is worth more than faster syncs once half of it is used.
  if (options_.disk_budget != 0 && wal_bytes_.load(std::memory_order_relaxed) > options_.disk_budget / 2) return false;
  std::lock_guard lock(recycle_mu_);
  if (recycle_closed_ || recycled_.size() >= options_.recycle_pool) return false;
  std::string to = options_.wal_dir + "/recycled-" + std::to_string(++recycle_seq_) + ".tmp";
  if (io_.rename(path, to) != 0) return false;
  recycled_.emplace_back(std::move(to), bytes);
  return true;
}

int WalWriter::take_recycled(uint64_t number, Lsn first_lsn, uint64_t* bytes) {
  for (;;) {
    std::pair<std::string, uint64_t> file;
    {
      std::lock_guard lock(recycle_mu_);
      if (recycled_.empty()) return -1;
      file = std::move(recycled_.back());
      recycled_.pop_back();
    }
    int fd = io_.open(file.first, O_WRONLY);
    if (fd >= 0) fd = install_segment(fd, file.first, number, first_lsn, true);
    if (fd >= 0) {
      recycled_segments_.fetch_add(1, std::memory_order_relaxed);
      *bytes = file.second;
      return fd;
    }
    io_.unlink(file.first);  // if the open failed, install_segment did not
    subtract_bytes(wal_bytes_, file.second);
  }
}

void WalWriter::discard_recycled() {
  std::lock_guard lock(recycle_mu_);
  recycle_closed_ = true;
  for (auto& [path, bytes] : recycled_)
    if (io_.unlink(path) == 0) subtract_bytes(wal_bytes_, bytes);
  recycled_.clear();
}

void WalWriter::maybe_prepare() {
  if (!options_.preallocate || written_size_ < options_.segment_bytes / 2 ||
      prep_state_.load(std::memory_order_acquire) != prep_idle)
    return;
  auto now = Clock::now();
  if (now < next_prepare_check_) return;
  struct statvfs fs;
  bool room = (options_.disk_budget == 0 ||
               wal_bytes_.load(std::memory_order_relaxed) + 2 * options_.segment_bytes <= options_.disk_budget) &&
              ::statvfs(options_.wal_dir.c_str(), &fs) == 0 &&
              static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize >= kPrepareRoom * options_.segment_bytes;
  if (!room) {
    next_prepare_check_ = now + kPrepareCheckInterval;
    return;
  }
  if (prep_thread_.joinable()) prep_thread_.join();
  prep_cancel_.store(false, std::memory_order_relaxed);
  prep_state_.store(prep_running, std::memory_order_relaxed);
  prep_thread_ = std::thread([this] { prepare_file(); });
}

void WalWriter::prepare_file() {
  // Plain POSIX calls: this file holds no records until activate_prepared() takes it (through
  // io_), so a test's injected faults are kept for the files that matter.
  name_this_thread("mqbase-prealloc");
  lower_this_thread_priority(19);
  FileOps& posix = FileOps::posix();
  const std::string path = prepared_path();
  int fd = posix.open(path, O_RDWR | O_CREAT | O_TRUNC);
  bool ok = fd >= 0;
  const std::string zeros(kPrepareChunk, '\0');
  for (uint64_t pos = 0; ok && pos < options_.segment_bytes; pos += kPrepareChunk) {
    if (prep_cancel_.load(std::memory_order_relaxed)) ok = false;
    else ok = write_all(posix, fd, zeros.data(), static_cast<size_t>(std::min<uint64_t>(kPrepareChunk, options_.segment_bytes - pos)),
                        static_cast<off_t>(pos));
  }
  if (ok) ok = posix.fdatasync(fd) == 0;
  if (fd >= 0) posix.close(fd);
  if (!ok) {
    posix.unlink(path);
    prep_state_.store(prep_failed, std::memory_order_release);
    return;
  }
  wal_bytes_.fetch_add(options_.segment_bytes, std::memory_order_relaxed);
  prep_state_.store(prep_ready, std::memory_order_release);
}

int WalWriter::activate_prepared(uint64_t number, Lsn first_lsn) {
  if (prep_thread_.joinable()) prep_thread_.join();
  prep_state_.store(prep_idle, std::memory_order_relaxed);
  // Opened again through io_, which the helper did not use. Counted in wal_bytes_ since it
  // was prepared: on failure the file is gone and so are its bytes.
  int fd = io_.open(prepared_path(), O_WRONLY);
  if (fd >= 0) fd = install_segment(fd, prepared_path(), number, first_lsn);
  if (fd < 0) {
    FileOps::posix().unlink(prepared_path());  // if the open failed, install_segment did not
    subtract_bytes(wal_bytes_, options_.segment_bytes);
    return -1;
  }
  preallocated_segments_.fetch_add(1, std::memory_order_relaxed);
  return fd;
}

void WalWriter::discard_prepared() {
  prep_cancel_.store(true, std::memory_order_relaxed);
  if (prep_thread_.joinable()) prep_thread_.join();
  if (prep_state_.exchange(prep_idle) == prep_ready && FileOps::posix().unlink(prepared_path()) == 0)
    subtract_bytes(wal_bytes_, options_.segment_bytes);
}

}  // namespace mqbase::store
