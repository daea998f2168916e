#include "store/checkpointer.h"

#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cerrno>
#include <vector>

#include "store/coding.h"
#include "store/thread_setup.h"
#include "store/log_scanner.h"
#include "store/store_options.h"
#include "store/value_index.h"
#include "store/wal_files.h"
#include "store/write_batch.h"

namespace mqbase::store {
namespace {

// A checkpoint record holds puts up to about this much payload (one big value gets its own).
constexpr size_t kCheckpointRecordBytes = 1 << 20;
// Buffered output is written in pieces of about this size.
constexpr size_t kWriteChunk = 1 << 20;
// A failed background checkpoint is tried again after this.
constexpr auto kRetryAfterFailure = std::chrono::seconds(5);

// The index of a large log is many small allocations, freed at once when a checkpoint is done;
// glibc keeps such pages in the process unless asked to return them.
void give_back_memory() {
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

class CheckpointError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

}  // namespace

Checkpointer::Checkpointer(Options options, std::atomic<uint64_t>& wal_bytes, std::atomic<uint64_t>& checkpoints)
    : options_(std::move(options)),
      io_(options_.io ? *options_.io : FileOps::posix()),
      wal_bytes_(wal_bytes),
      checkpoints_(checkpoints) {}

Checkpointer::~Checkpointer() { stop(); }

void Checkpointer::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void Checkpointer::start(uint64_t checkpoint_number, std::map<uint64_t, uint64_t> closed) {
  current_ = checkpoint_number;
  closed_ = std::move(closed);
  thread_ = std::thread([this] { run(); });
}

void Checkpointer::segment_closed(uint64_t number, uint64_t bytes, bool force) {
  {
    std::lock_guard lock(mu_);
    closed_[number] = bytes;
    if (force && number > forced_through_) forced_through_ = number;
  }
  wake_.notify_one();
}

bool Checkpointer::checkpoint_through(uint64_t number) {
  std::unique_lock lock(mu_);
  if (stop_) return false;
  if (current_ >= number) return true;
  failed_forced_ = 0;
  if (number > forced_through_) forced_through_ = number;
  wake_.notify_one();
  done_.wait(lock, [&] { return current_ >= number || failed_forced_ >= number || stop_; });
  return current_ >= number;
}

void Checkpointer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stopping_.store(true);
  wake_.notify_one();
  done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::run() {
  name_this_thread("mqbase-ckpt");
  // A checkpoint can wait; the event loops sharing this core cannot.
  lower_this_thread_priority(10);
  std::unique_lock lock(mu_);
  while (!stop_) {
    uint64_t last_closed = closed_.empty() ? 0 : closed_.rbegin()->first;
    uint64_t accumulated = 0;
    for (auto& [n, bytes] : closed_) accumulated += bytes;
    bool forced = forced_through_ > current_;
    uint64_t target = 0;
    if (forced || (accumulated >= options_.checkpoint_bytes && last_closed > current_ &&
                   std::chrono::steady_clock::now() >= retry_at_))
      target = last_closed;
    if (target == 0) {
      if (last_closed > current_ && accumulated >= options_.checkpoint_bytes)
        wake_.wait_until(lock, retry_at_);
      else
        wake_.wait(lock);
      continue;
    }
    lock.unlock();
    auto began = std::chrono::steady_clock::now();
    bool ok = write_checkpoint(target);
    if (ok && options_.duration) options_.duration->observe(std::chrono::steady_clock::now() - began);
    lock.lock();
    if (ok) {
      current_ = target;
      closed_.erase(closed_.begin(), closed_.upper_bound(target));
    } else {
      retry_at_ = std::chrono::steady_clock::now() + kRetryAfterFailure;
      if (forced && forced_through_ <= target) {
        failed_forced_ = target;
        forced_through_ = current_;
      }
    }
    done_.notify_all();
  }
}

bool Checkpointer::write_checkpoint(uint64_t number) {
  const std::string& dir = options_.wal_dir;
  const std::string final_name = checkpoint_file_name(number);
  const std::string tmp_path = dir + "/" + final_name + ".tmp";
  ValueIndex live(io_);  // its input files stay open while the new checkpoint is written
  int out_fd = -1;
  auto close_all = [&] {
    live.clear();
    if (out_fd >= 0) io_.close(out_fd);
    out_fd = -1;
  };
  auto now = std::chrono::steady_clock::now();
  uint64_t current;
  {
    std::lock_guard lock(mu_);
    current = current_;
  }
  try {
    WalFiles files = WalFiles::list(dir);
    auto open_input = [&](const std::string& name) { return live.add_file(dir + "/" + name, "wal/" + name); };

    Lsn covered = 0, expected = 0;
    if (current != 0) {
      std::string name = checkpoint_file_name(current);
      live.reserve(std::min<uint64_t>(ValueIndex::checkpoint_keys(io_, dir + "/" + name, "wal/" + name), 64u << 20));
      uint32_t file = open_input(name);
      ScanOptions so;
      so.kind = FileKind::checkpoint;
      ScanResult r = scan_log_file(io_, dir + "/" + name, "wal/" + name, so,
                                   [&](const LogReader::Record& rec) { return live.apply(file, rec); });
      if (!r.clean() || !r.has_end)
        throw CheckpointError("the current checkpoint wal/" + name + " does not read back: " +
                              (r.corruption.empty() ? "no end record" : r.describe(r.corruption.front())));
      covered = r.end_covered_lsn;
      expected = covered + 1;
    }
    for (uint64_t n = current + 1; n <= number; ++n) {
      std::string name = segment_file_name(n);
      if (!files.segments.count(n)) {
        if (!options_.skip_corrupt) throw CheckpointError("segment wal/" + name + " is missing");
        expected = 0;
        continue;
      }
      uint32_t file = open_input(name);
      ScanOptions so;
      so.kind = FileKind::segment;
      so.skip_corrupt = options_.skip_corrupt;
      so.expected_first_lsn = expected;
      ScanResult r = scan_log_file(io_, dir + "/" + name, "wal/" + name, so, [&](const LogReader::Record& rec) {
        return rec.type != kTypeKvBatch || live.apply(file, rec);
      });
      if (r.stopped) throw CheckpointError(r.corruption.empty() ? "cannot read wal/" + name : r.describe(r.corruption.front()));
      for (const ScanProblem& p : r.corruption) log("checkpoint: skipping " + r.describe(p));
      if (r.header_ok) covered = r.last_lsn;
      expected = r.header_ok ? covered + 1 : 0;
      if (stopping_.load()) throw CheckpointError("stopping");
    }

    // The records of callers' own types through `covered` go with the segments: their owner
    // must keep what they carried first.
    if (options_.before_checkpoint && !options_.before_checkpoint(covered))
      throw CheckpointError("the owner of the log's other records (types 2..126) could not keep them through LSN " +
                            std::to_string(covered));
    out_fd = io_.open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC);
    if (out_fd < 0) throw CheckpointError("cannot create wal/" + final_name + ".tmp: " + errno_text(errno));
    std::string out = encode_file_header({FileKind::checkpoint, number, covered + 1});
    uint64_t out_offset = 0;
    auto flush = [&] {
      if (!write_all(io_, out_fd, out.data(), out.size(), static_cast<off_t>(out_offset)))
        throw CheckpointError("cannot write wal/" + final_name + ".tmp: " + errno_text(errno));
      out_offset += out.size();
      out.clear();
    };
    Lsn record_number = 1;
    WriteBatch batch;
    // In the order the values lie in the inputs: each input is read front to back, in large
    // reads, and a session's queue stays in the order it was written.
    live.for_each_in_file_order([&](std::string_view key, std::string_view value) {
      if (!batch.empty() && batch.bytes() + key.size() + value.size() + 11 > kCheckpointRecordBytes) {
        append_record(out, kTypeKvBatch, record_number++, batch.rep());
        batch.clear();
        if (out.size() >= kWriteChunk) flush();
        if (stopping_.load()) throw CheckpointError("stopping");
      }
      batch.put(key, value);
    });
    if (!batch.empty()) append_record(out, kTypeKvBatch, record_number++, batch.rep());
    std::string end;
    const size_t keys = live.size();
    put_u64(end, keys);
    put_u64(end, covered);
    append_record(out, kTypeCheckpointEnd, record_number++, end);
    flush();
    if (io_.fdatasync(out_fd) != 0)
      throw CheckpointError("cannot fdatasync wal/" + final_name + ".tmp: " + errno_text(errno));
    int fd = out_fd;
    out_fd = -1;
    if (io_.close(fd) != 0) throw CheckpointError("cannot close wal/" + final_name + ".tmp: " + errno_text(errno));
    if (io_.rename(tmp_path, dir + "/" + final_name) != 0)
      throw CheckpointError("cannot rename wal/" + final_name + ".tmp: " + errno_text(errno));
    close_all();
    wal_bytes_.fetch_add(out_offset, std::memory_order_relaxed);
    if (auto same = files.checkpoints.find(number); same != files.checkpoints.end())
      subtract_bytes(wal_bytes_, same->second);  // the rename replaced it (an earlier attempt)
    // From here the new checkpoint may be what recovery finds. Until the directory is synced
    // it may also not be: the old files stay until then.
    if (!fsync_dir(io_, dir)) {
      log("checkpoint: cannot fsync wal/ after renaming wal/" + final_name + ": " + errno_text(errno) +
          "; keeping the files it replaces");
      return false;
    }
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
    uint64_t freed = 0;
    auto remove = [&](const std::string& name, uint64_t size) {
      if (io_.unlink(dir + "/" + name) == 0) {
        subtract_bytes(wal_bytes_, size);
        freed += size;
      } else if (errno != ENOENT) {
        log("checkpoint: cannot delete wal/" + name + ": " + errno_text(errno) + " (deleted at the next open)");
      }
    };
    for (auto& [n, size] : files.checkpoints)
      if (n < number) remove(checkpoint_file_name(n), size);
    uint64_t recycled = 0;
    for (auto& [n, size] : files.segments) {
      if (n > number) continue;
      if (options_.recycle && options_.recycle(dir + "/" + segment_file_name(n), size)) ++recycled;
      else remove(segment_file_name(n), size);
    }
    fsync_dir(io_, dir);  // best effort: a deletion that does not survive a crash is redone at open
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - now).count();
    log("checkpoint: wrote wal/" + final_name + ": " + std::to_string(keys) + " keys through LSN " +
        std::to_string(covered) + ", " + std::to_string(out_offset) + " bytes, freed " + std::to_string(freed) +
        " bytes" + (recycled ? ", kept a segment to write the log into again" : "") + " in " + std::to_string(seconds) + " s");
    give_back_memory();
    return true;
  } catch (const std::exception& e) {
    close_all();
    io_.unlink(tmp_path);
    if (!stopping_.load()) log("checkpoint " + std::to_string(number) + " failed: " + e.what());
    return false;
  }
}

}  // namespace mqbase::store
