// SpillFile: a first-in first-out queue of opaque records kept in a file instead of memory,
// for a queue that may grow far past what memory should hold (an offline session's ten million
// messages). It is not durable and not part of the log: it holds copies of records the log
// already keeps, so a crash loses nothing by losing it, and recovery builds new ones. Writes
// go through a 64 KiB buffer (one pwrite per buffer, never an fsync); records are read back
// in large preads. Each record is framed as u32 length, u32 CRC32C of the bytes, the bytes.
//
// I/O errors never lose a record silently: a failed write keeps the bytes in memory (and is
// tried again once another 64 KiB have come); a record that cannot be read back (EIO, a bad
// checksum) is reported through `log` with what was lost from this file; the log still holds
// it for the next start.
// The file is created on the first write, emptied (deleted) whenever every record has been
// read, and deleted with the object.
// Thread-safety: none; the owner serializes calls (a session does, under its lock).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "store/file_ops.h"

namespace mqbase::store {

class SpillFile {
 public:
  using LogFn = std::function<void(const std::string&)>;
  // `path` must not exist yet, or be a leftover that may be overwritten.
  explicit SpillFile(std::string path, LogFn log = {}, FileOps& io = FileOps::posix());
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Appends one record (at most 4 GiB). Never fails: see the class comment for errors.
  void append(std::string_view record);
  // Takes up to `max` records from the front, in order, calling fn(record) for each (valid
  // during the call). Returns how many it took.
  size_t read(size_t max, const std::function<void(std::string_view record)>& fn);
  // Calls fn for every record not yet read, in order, without taking any.
  void peek_all(const std::function<void(std::string_view record)>& fn);

  size_t size() const { return file_records_ + buf_records_; }
  bool empty() const { return size() == 0; }
  const std::string& path() const { return path_; }
  // Records lost to read errors so far (reported through the log as they happen).
  uint64_t lost() const { return lost_; }

 private:
  void flush();
  // Makes the record at file offset `at` available: its bytes in *out. False on an error
  // (logged, and the rest of the file dropped).
  bool file_record(uint64_t at, std::string_view* out, uint32_t* framed);
  void drop_file(const std::string& why);
  void reset_file();

  std::string path_;
  LogFn log_;
  FileOps& io_;
  int fd_ = -1;
  uint64_t file_end_ = 0;      // bytes written to the file
  uint64_t read_off_ = 0;      // bytes of it already taken
  size_t file_records_ = 0;    // records in [read_off_, file_end_)
  std::string rbuf_;           // a window of the file: [rbuf_at_, rbuf_at_ + rbuf_.size())
  uint64_t rbuf_at_ = 0;
  std::string wbuf_;           // records not yet written; [wbuf_read_, end) not yet taken
  size_t wbuf_read_ = 0;
  size_t buf_records_ = 0;     // records in wbuf_ not yet taken
  size_t flush_at_;            // wbuf_ is written once it holds this much
  bool write_failing_ = false;
  uint64_t lost_ = 0;
};

}  // namespace mqbase::store
