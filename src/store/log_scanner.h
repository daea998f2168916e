// LogScanner: reads one whole segment or checkpoint file in order and classifies what it
// finds, the one place that decides what a bad record means (docs/store-format.md, Recovery):
// zeros from a record boundary to the end of a segment are its unused preallocated space; a
// bad record in the last segment with nothing valid after it is a torn tail; any other bad
// record, an LSN out of sequence, a bad header or a payload the caller rejects is corruption,
// at which the scan stops or (skip_corrupt) resumes at the next valid record. It changes
// nothing on disk: recovery, the checkpointer and check() act on its result.
// Thread-safety: none; a scanner is a function call's worth of state.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/file_ops.h"
#include "store/log_format.h"
#include "store/log_reader.h"

namespace mqbase::store {

struct ScanOptions {
  FileKind kind = FileKind::segment;
  // A bad record with no valid record after it is a torn tail, not corruption.
  bool last_segment = false;
  // Resume after corruption at the next valid record instead of stopping.
  bool skip_corrupt = false;
  // Segments: the first LSN the header must announce (0: whatever it says).
  Lsn expected_first_lsn = 0;
};

struct ScanProblem {
  uint64_t offset = 0;
  std::string reason;
  uint64_t resume_offset = 0;  // where the scan went on (the file size when nothing valid followed)
};

struct ScanResult {
  std::string name;  // "wal/0000000000000003.log"
  uint64_t file_size = 0;
  bool header_ok = false;
  FileHeader header;
  uint64_t records = 0, bytes = 0;  // good records, and their bytes with headers
  Lsn first_lsn = 0, last_lsn = 0;  // of the good records; last_lsn = first - 1 when there are none
  uint64_t valid_end = 0;           // offset just after the last good record (or the header)
  std::optional<uint64_t> torn_offset;  // a torn tail starts here (last segment only)
  std::string torn_reason;
  // Segments: the rest of the file from here on is zeros, the unused part of a preallocated
  // segment. Not a problem: the log simply ends there.
  std::optional<uint64_t> zero_tail_offset;
  // Recycled segments: nothing of this segment from here on (an older segment's bytes, which a
  // crash left behind the last record written). Not a problem either.
  std::optional<uint64_t> stale_tail_offset;
  std::vector<ScanProblem> corruption;
  bool stopped = false;  // stopped at the first corruption (not skip_corrupt)
  // Checkpoints: what the end record says.
  bool has_end = false;
  uint64_t end_keys = 0;
  Lsn end_covered_lsn = 0;

  bool clean() const { return header_ok && corruption.empty(); }
  // "corrupt record in wal/0000000000000003.log at offset 12345: checksum mismatch"
  std::string describe(const ScanProblem& p) const;
};

// Scans `path` (named `name` in messages). `on_record` sees every good record in order and may
// reject one by returning false (a malformed payload: corruption). Throws StoreError on I/O errors.
ScanResult scan_log_file(FileOps& io, const std::string& path, const std::string& name, const ScanOptions& options,
                         const std::function<bool(const LogReader::Record&)>& on_record);

}  // namespace mqbase::store
