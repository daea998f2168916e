// check(): the offline verification of a data directory (declared in store.h). It reads the
// files the way recovery would (log_scanner.h) but reports every problem instead of stopping
// at the first, and changes nothing.
#include <ostream>
#include <string>

#include "store/log_scanner.h"
#include "store/store.h"
#include "store/wal_files.h"
#include "store/write_batch.h"

namespace mqbase::store {

bool check(const std::string& dir, std::ostream& out) {
  FileOps& io = FileOps::posix();
  const std::string wal_dir = wal_dir_of(dir);
  bool ok = true;
  WalFiles files;
  try {
    files = WalFiles::list(wal_dir);
  } catch (const StoreError& e) {
    out << e.what() << "\n";
    return false;
  }
  for (const std::string& name : files.temporary) out << "wal/" << name << ": temporary file, ignored (deleted at open)\n";
  for (const std::string& name : files.other) out << "wal/" << name << ": not a store file, ignored\n";
  uint64_t total_records = 0, total_bytes = 0;

  // The newest checkpoint that reads completely is where recovery would start.
  uint64_t used_checkpoint = 0;
  Lsn expected = 1;
  for (auto it = files.checkpoints.rbegin(); it != files.checkpoints.rend(); ++it) {
    std::string name = "wal/" + checkpoint_file_name(it->first);
    if (used_checkpoint != 0) {
      out << name << ": older checkpoint, not read (deleted at open)\n";
      continue;
    }
    ScanOptions so;
    so.kind = FileKind::checkpoint;
    so.skip_corrupt = true;
    uint64_t keys = 0;
    bool has_delete = false;
    try {
      ScanResult r = scan_log_file(io, wal_dir + "/" + checkpoint_file_name(it->first), name, so,
                                   [&](const LogReader::Record& rec) {
                                     return WriteBatch::for_each(rec.payload, [&](bool is_put, std::string_view, std::string_view) {
                                       if (is_put) ++keys;
                                       else has_delete = true;
                                     });
                                   });
      out << name << ": " << r.records << " records, " << r.bytes << " bytes";
      bool good = r.clean() && r.has_end && r.end_keys == keys && !has_delete;
      if (r.has_end) out << ", " << r.end_keys << " keys through LSN " << r.end_covered_lsn;
      if (good) {
        out << ": ok\n";
        used_checkpoint = it->first;
        expected = r.end_covered_lsn + 1;
        total_records += r.records;
        total_bytes += r.bytes;
        continue;
      }
      ok = false;
      out << ": INVALID (recovery ignores it)\n";
      for (const ScanProblem& p : r.corruption) out << "  " << r.describe(p) << "\n";
      if (!r.has_end) out << "  no end record\n";
      else if (r.end_keys != keys) out << "  the end record counts " << r.end_keys << " keys, the records hold " << keys << "\n";
      if (has_delete) out << "  a checkpoint record deletes keys\n";
    } catch (const StoreError& e) {
      ok = false;
      out << name << ": " << e.what() << "\n";
    }
  }

  uint64_t want = used_checkpoint + 1;
  for (auto it = files.segments.begin(); it != files.segments.end(); ++it) {
    uint64_t n = it->first;
    std::string name = "wal/" + segment_file_name(n);
    if (n <= used_checkpoint) {
      out << name << ": covered by the checkpoint, not read (deleted at open)\n";
      continue;
    }
    if (n != want) {
      ok = false;
      out << "missing segment(s) wal/" << segment_file_name(want) << " to wal/" << segment_file_name(n - 1) << "\n";
      expected = 0;
    }
    want = n + 1;
    ScanOptions so;
    so.kind = FileKind::segment;
    so.last_segment = std::next(it) == files.segments.end();
    so.skip_corrupt = true;
    so.expected_first_lsn = expected;
    try {
      ScanResult r = scan_log_file(io, wal_dir + "/" + segment_file_name(n), name, so, [](const LogReader::Record& rec) {
        return rec.type != kTypeKvBatch || WriteBatch::for_each(rec.payload, [](bool, std::string_view, std::string_view) {});
      });
      out << name << ": " << r.records << " records, " << r.bytes << " bytes";
      if (r.records > 0) out << ", LSN " << r.first_lsn << ".." << r.last_lsn;
      if (r.clean() && !r.torn_offset) out << ": ok\n";
      else out << "\n";
      for (const ScanProblem& p : r.corruption) {
        ok = false;
        out << "  " << r.describe(p) << " (the next valid record is at offset " << p.resume_offset << ")\n";
      }
      if (r.zero_tail_offset)
        out << "  preallocated space from offset " << *r.zero_tail_offset << ": " << r.file_size - *r.zero_tail_offset
            << " bytes of zeros, the log ends there\n";
      if (r.stale_tail_offset)
        out << "  recycled segment: its records end at offset " << *r.stale_tail_offset << "; the "
            << r.file_size - *r.stale_tail_offset << " bytes after it are the older segment's\n";
      if (r.torn_offset)
        out << "  torn tail at offset " << *r.torn_offset << " (" << r.torn_reason << "): "
            << r.file_size - *r.torn_offset << " bytes, truncated at open\n";
      total_records += r.records;
      total_bytes += r.bytes;
      expected = r.header_ok ? r.last_lsn + 1 : 0;
    } catch (const StoreError& e) {
      ok = false;
      out << name << ": " << e.what() << "\n";
    }
  }
  out << (ok ? "ok" : "CORRUPT") << ": " << total_records << " records, " << total_bytes << " bytes\n";
  return ok;
}

}  // namespace mqbase::store
