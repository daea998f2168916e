#include "store/recovery.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "store/log_scanner.h"
#include "store/wal_files.h"
#include "store/write_batch.h"

namespace mqbase::store {
namespace {

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace

Recovery::Recovery(const StoreOptions& options, FileOps& io, bool modify, RecoveryReport& report, RecordFn on_record)
    : options_(options),
      io_(io),
      modify_(modify),
      report_(report),
      on_record_(std::move(on_record)),
      wal_dir_(wal_dir_of(options.dir)) {}

void Recovery::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void Recovery::warn(const std::string& line) {
  report_.warnings.push_back(line);
  log("recovery: " + line);
}

void Recovery::remove_file(const std::string& name, const char* why) {
  if (!modify_) return;
  if (io_.unlink(wal_dir_ + "/" + name) != 0 && errno != ENOENT)
    warn("cannot delete wal/" + name + " (" + why + "): " + errno_text(errno));
  else
    log("recovery: deleted wal/" + name + " (" + why + ")");
}

bool Recovery::cut_segment(const std::string& name, uint64_t offset, bool sync) {
  int fd = io_.open(wal_dir_ + "/" + name, O_WRONLY);
  bool ok = fd >= 0 && io_.ftruncate(fd, static_cast<off_t>(offset)) == 0 && (!sync || io_.fdatasync(fd) == 0);
  int err = errno;
  if (fd >= 0) io_.close(fd);
  errno = err;
  return ok;
}

void Recovery::corruption(const std::string& what) {
  if (!options_.skip_corrupt) throw StoreError(what);
  report_.skipped.push_back(what);
  log("recovery: skipped: " + what);
}

void Recovery::progress(uint64_t file_offset) {
  // Reading the clock per record would cost more than the record: look every 256 records.
  if (options_.progress_interval.count() > 0 && ++records_since_clock_ < 256) return;
  records_since_clock_ = 0;
  auto now = std::chrono::steady_clock::now();
  if (now - last_progress_ < options_.progress_interval) return;
  last_progress_ = now;
  uint64_t done = done_bytes_ + file_offset;
  double percent = total_bytes_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_bytes_) : 100.0;
  if (percent > 100) percent = 100;
  char buf[160];
  std::snprintf(buf, sizeof buf, "recovery: %llu records, %s of %s (%.0f%%)",
                static_cast<unsigned long long>(report_.records), mib(done).c_str(), mib(total_bytes_).c_str(), percent);
  log(buf);
}

bool Recovery::load_checkpoint(uint64_t number, RecoveredState& state, Lsn& covered) {
  std::string name = checkpoint_file_name(number);
  ValueIndex kv(io_);
  // At most what the end record says (a wrong count is caught below): 64 M keys would be ~6 GiB
  // of log, more than any checkpoint this size of machine writes.
  kv.reserve(std::min<uint64_t>(ValueIndex::checkpoint_keys(io_, wal_dir_ + "/" + name, "wal/" + name), 64u << 20));
  uint32_t file = kv.add_file(wal_dir_ + "/" + name, "wal/" + name);
  uint64_t records = 0;
  ScanOptions so;
  so.kind = FileKind::checkpoint;
  ScanResult r = scan_log_file(io_, wal_dir_ + "/" + name, "wal/" + name, so, [&](const LogReader::Record& rec) {
    ++records;
    progress(rec.offset);
    return kv.apply(file, rec, /*puts_only=*/true);
  });
  done_bytes_ += r.file_size;
  std::string why;
  if (!r.corruption.empty()) why = r.describe(r.corruption.front());
  else if (r.header.number != number) why = "the header says checkpoint " + std::to_string(r.header.number);
  else if (!r.has_end) why = "no end record (incomplete)";
  else if (r.end_keys != kv.size())
    why = "the end record counts " + std::to_string(r.end_keys) + " keys, the records hold " + std::to_string(kv.size());
  else if (r.end_covered_lsn + 1 != r.header.first_lsn) why = "the end record and the header disagree on its LSN";
  if (!why.empty()) {
    warn("checkpoint wal/" + name + " ignored: " + why);
    return false;
  }
  state.kv = std::move(kv);
  state.checkpoint_number = number;
  covered = r.end_covered_lsn;
  report_.records += records;
  report_.bytes += r.bytes;
  log("recovery: loaded wal/" + name + ": " + std::to_string(state.kv.size()) + " keys through LSN " +
      std::to_string(covered));
  return true;
}

void Recovery::replay_segment(uint64_t number, bool last, Lsn& expected, RecoveredState& state) {
  std::string name = segment_file_name(number);
  ScanOptions so;
  so.kind = FileKind::segment;
  so.last_segment = last;
  so.skip_corrupt = options_.skip_corrupt;
  so.expected_first_lsn = expected;
  uint32_t file = state.kv.add_file(wal_dir_ + "/" + name, "wal/" + name);
  ScanResult r = scan_log_file(io_, wal_dir_ + "/" + name, "wal/" + name, so, [&](const LogReader::Record& rec) {
    progress(rec.offset);
    if (rec.type != kTypeKvBatch) {
      if (on_record_) on_record_(rec.type, rec.lsn, rec.payload);
      return true;
    }
    return state.kv.apply(file, rec);
  });
  done_bytes_ += r.file_size;
  report_.records += r.records;
  report_.bytes += r.bytes;
  for (const ScanProblem& p : r.corruption) {
    std::string what = r.describe(p);
    if (options_.skip_corrupt)
      what += "; skipped " + std::to_string(p.resume_offset - p.offset) + " bytes to offset " +
              std::to_string(p.resume_offset);
    corruption(what);
  }
  if (r.header_ok && r.records > 0) state.last_lsn = r.last_lsn;
  else if (r.header_ok && state.last_lsn < r.last_lsn) state.last_lsn = r.last_lsn;
  uint64_t size = r.file_size;
  // Zeros after the last record (a preallocated segment's unused rest): cut quietly, and a cut
  // that fails is harmless (they read as the end again). A torn tail must go for good.
  if (r.zero_tail_offset && modify_ && cut_segment(name, *r.zero_tail_offset, false)) size = *r.zero_tail_offset;
  // The same for what a recycled segment held before: an older segment's bytes.
  if (r.stale_tail_offset && modify_ && cut_segment(name, *r.stale_tail_offset, false)) size = *r.stale_tail_offset;
  if (r.torn_offset) {
    uint64_t cut = *r.torn_offset;
    warn("torn record at wal/" + name + " offset " + std::to_string(cut) + ": " + (modify_ ? "truncated " : "ignored ") +
         std::to_string(r.file_size - cut) + " bytes (" + r.torn_reason + ")");
    if (modify_) {
      if (!cut_segment(name, cut, true))
        throw StoreError("cannot truncate wal/" + name + " at offset " + std::to_string(cut) + ": " + errno_text(errno));
      size = cut;
    }
  }
  state.later_segments[number] = size;
  // After a segment whose header could not be read the next one's first LSN cannot be checked.
  expected = r.header_ok ? r.last_lsn + 1 : 0;
}

RecoveredState Recovery::run() {
  auto start = std::chrono::steady_clock::now();
  last_progress_ = start;
  RecoveredState state(io_);
  WalFiles files = WalFiles::list(wal_dir_);
  for (const std::string& name : files.temporary) remove_file(name, "unfinished temporary file");
  for (const std::string& name : files.other) warn("wal/" + name + " is not a store file: ignored");

  // Progress counts the newest checkpoint and the segments after it (what a normal start reads).
  uint64_t newest_checkpoint = files.checkpoints.empty() ? 0 : files.checkpoints.rbegin()->first;
  if (newest_checkpoint) total_bytes_ += files.checkpoints.rbegin()->second;
  for (auto& [n, size] : files.segments)
    if (n > newest_checkpoint) total_bytes_ += size;

  Lsn covered = 0;
  for (auto it = files.checkpoints.rbegin(); it != files.checkpoints.rend(); ++it) {
    if (load_checkpoint(it->first, state, covered)) break;
  }
  const uint64_t c = state.checkpoint_number;
  for (auto& [n, size] : files.checkpoints)
    if (n < c) remove_file(checkpoint_file_name(n), "older than the checkpoint in use");
  for (auto& [n, size] : files.segments)
    if (n <= c) remove_file(segment_file_name(n), "covered by the checkpoint");

  Lsn expected = c ? covered + 1 : 1;
  state.last_lsn = c ? covered : 0;
  uint64_t want = c + 1;
  auto first_later = files.segments.upper_bound(c);
  for (auto it = first_later; it != files.segments.end(); ++it) {
    uint64_t n = it->first;
    if (n != want) {
      corruption("missing segment" + std::string(n - want > 1 ? "s " : " ") + "wal/" + segment_file_name(want) +
                 (n - want > 1 ? " to wal/" + segment_file_name(n - 1) : "") + " (the log continues at wal/" +
                 segment_file_name(n) + ")");
      expected = 0;
    }
    replay_segment(n, std::next(it) == files.segments.end(), expected, state);
    want = n + 1;
  }
  state.last_segment_number = files.segments.empty() ? 0 : files.segments.rbegin()->first;
  if (state.last_segment_number < c) state.last_segment_number = c;
  state.wal_bytes = modify_ ? WalFiles::list(wal_dir_).total_bytes() : files.total_bytes();

  report_.last_lsn = state.last_lsn;
  report_.live_keys = state.kv.size();
  report_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char buf[200];
  std::snprintf(buf, sizeof buf, "recovery: done in %.3f s: %llu records, %s, %llu live keys, last LSN %llu",
                report_.seconds, static_cast<unsigned long long>(report_.records), mib(report_.bytes).c_str(),
                static_cast<unsigned long long>(report_.live_keys), static_cast<unsigned long long>(report_.last_lsn));
  log(buf);
  return state;
}

}  // namespace mqbase::store
