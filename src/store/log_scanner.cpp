#include "store/log_scanner.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "store/coding.h"
#include "store/store_options.h"

namespace mqbase::store {
namespace {

// Closes the descriptor when the scan ends, however it ends.
struct FdCloser {
  FileOps& io;
  int fd;
  ~FdCloser() {
    if (fd >= 0) io.close(fd);
  }
};

}  // namespace

std::string ScanResult::describe(const ScanProblem& p) const {
  return "corrupt record in " + name + " at offset " + std::to_string(p.offset) + ": " + p.reason;
}

ScanResult scan_log_file(FileOps& io, const std::string& path, const std::string& name, const ScanOptions& options,
                         const std::function<bool(const LogReader::Record&)>& on_record) {
  ScanResult result;
  result.name = name;
  int fd = io.open(path, O_RDONLY);
  if (fd < 0) throw StoreError("cannot open " + name + ": " + errno_text(errno));
  FdCloser closer{io, fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw StoreError("cannot stat " + name + ": " + errno_text(errno));
  result.file_size = static_cast<uint64_t>(st.st_size);
  LogReader reader(io, fd, result.file_size, name);

  auto corrupt = [&](uint64_t offset, std::string reason, uint64_t resume) {
    result.corruption.push_back({offset, std::move(reason), resume});
    if (!options.skip_corrupt) result.stopped = true;
    return !result.stopped;
  };

  std::string why;
  auto header = decode_file_header(reader.header_bytes(), &why);
  if (header && header->kind != options.kind) {
    header.reset();
    why = "wrong magic for this file";
  }
  if (!header) {
    // Nothing in the file can be trusted without its header: the whole file is skipped.
    corrupt(0, why, result.file_size);
    return result;
  }
  result.header_ok = true;
  result.header = *header;
  Lsn expected = options.kind == FileKind::checkpoint ? 1 : header->first_lsn;
  if (options.kind == FileKind::segment && options.expected_first_lsn != 0 &&
      header->first_lsn != options.expected_first_lsn) {
    if (!corrupt(24, "LSN gap: the segment starts at LSN " + std::to_string(header->first_lsn) + ", expected " +
                         std::to_string(options.expected_first_lsn),
                 kFileHeaderSize))
      return result;
  }
  result.first_lsn = expected;
  result.last_lsn = expected - 1;
  result.valid_end = kFileHeaderSize;

  // After skipping corrupt bytes the next LSN is unknown: any later one is accepted once.
  bool resync = false;
  uint64_t offset = kFileHeaderSize;
  LogReader::Record rec;
  while (offset < result.file_size) {
    const char* bad = reader.read(offset, &rec);
    std::string reason;
    if (bad == nullptr && !valid_record_type(rec.type, options.kind)) {
      reason = "invalid record type " + std::to_string(rec.type);
    } else if (bad == nullptr && result.has_end) {
      reason = "record after the checkpoint's end record";
    } else if (bad != nullptr) {
      reason = bad;
    } else if (header->recycled && rec.lsn < header->first_lsn) {
      reason = "a record of the older segment this file was";  // sound, but not this segment's
    }
    if (reason.empty()) {
      // The record itself is sound; now its place in the sequence.
      if (rec.lsn != expected && !(resync && rec.lsn > result.last_lsn)) {
        if (!corrupt(offset,
                     "LSN gap: expected LSN " + std::to_string(expected) + ", found " + std::to_string(rec.lsn),
                     offset + rec.size()))
          return result;
        if (rec.lsn < expected) {
          offset += rec.size();  // an old or repeated record: skipping it keeps the sequence
          continue;
        }
      }
      resync = false;
      uint64_t size = rec.size();
      if (rec.type == kTypeCheckpointEnd) {
        if (rec.payload.size() != 16) {
          if (!corrupt(offset, "malformed end record", offset + size)) return result;
          offset += size;
          continue;
        }
        result.has_end = true;
        result.end_keys = decode_u64(rec.payload.data());
        result.end_covered_lsn = decode_u64(rec.payload.data() + 8);
      } else if (on_record && !on_record(rec)) {
        if (!corrupt(offset, "malformed payload", offset + size)) return result;
        offset += size;
        expected = rec.lsn + 1;
        continue;
      }
      if (result.records == 0) result.first_lsn = rec.lsn;
      ++result.records;
      result.bytes += size;
      result.last_lsn = rec.lsn;
      expected = rec.lsn + 1;
      offset += size;
      result.valid_end = offset;
      continue;
    }
    if (options.kind == FileKind::segment && bad != nullptr && reader.zero_from(offset)) {
      result.zero_tail_offset = offset;
      break;
    }
    auto next = reader.find_next_valid(offset + 1, result.last_lsn, options.kind);
    if (!next && header->recycled) {  // only segments are ever recycled
      // Nothing of this segment after here: the rest is what the recycled file held before
      // (or, in the last segment, possibly a torn record, which no one was told was stored).
      // A record lost from the end of a segment that is not the last shows as a gap at the
      // start of the next.
      result.stale_tail_offset = offset;
      break;
    }
    if (!next && options.last_segment) {
      result.torn_offset = offset;
      result.torn_reason = reason;
      break;
    }
    uint64_t resume = next.value_or(result.file_size);
    if (!corrupt(offset, reason, resume)) return result;
    offset = resume;
    resync = true;
  }
  return result;
}

}  // namespace mqbase::store
