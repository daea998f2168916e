// LogReader: reads the records of one segment or checkpoint file by offset, through FileOps
// with a read buffer, and checks each one on its own (complete header, length within the
// 64 MiB limit and the file, crc, a valid type). It also searches forward byte by byte for the
// next record that checks out, which is how a torn tail is told from corruption. It knows
// nothing of LSN sequences or what a file's position in the log means: LogScanner does.
// Thread-safety: none; one reader per thread. The file must not change while it is read.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/file_ops.h"
#include "store/log_format.h"

namespace mqbase::store {

class LogReader {
 public:
  struct Record {
    uint64_t offset = 0;  // of the record header in the file
    uint8_t type = 0;
    Lsn lsn = 0;
    std::string_view payload;  // valid until the next call on the reader
    uint64_t size() const { return kRecordHeaderSize + payload.size(); }
  };

  // `fd` is open for reading and `file_size` bytes long; `name` ("wal/0000000000000003.log")
  // is used in error messages. The reader does not own fd.
  LogReader(FileOps& io, int fd, uint64_t file_size, std::string name);
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  uint64_t file_size() const { return file_size_; }

  // The file's first 32 bytes, or empty if the file is shorter. Throws StoreError on an I/O error.
  std::string_view header_bytes();

  // Reads and checks the record at `offset`. Returns nullptr and fills *rec when it is good,
  // else what is wrong ("checksum mismatch", "length 123 past end of file", ...). Throws
  // StoreError on an I/O error.
  const char* read(uint64_t offset, Record* rec);

  // The first offset in [from, file_size) where a record starts that reads as good, whose type
  // is valid in a file of `kind`, and whose LSN is after `after_lsn` but not implausibly far
  // (each record takes at least 17 bytes). nullopt when there is none.
  std::optional<uint64_t> find_next_valid(uint64_t from, Lsn after_lsn, FileKind kind);

  // True when every byte in [from, file_size) is zero: the unused rest of a preallocated
  // segment (WalWriter fills a new segment with zeros before it writes records into it).
  bool zero_from(uint64_t from);

 private:
  // Makes [offset, offset + n) available in buf_ (n <= file_size_ - offset); returns a pointer to it.
  const char* fetch(uint64_t offset, size_t n);

  FileOps& io_;
  int fd_;
  uint64_t file_size_;
  std::string name_;
  std::string buf_;
  uint64_t buf_offset_ = 0;
};

// Whether `type` may appear in a file of `kind`: segments hold types 1..126, checkpoints 1 and 127.
bool valid_record_type(uint8_t type, FileKind kind);

}  // namespace mqbase::store
