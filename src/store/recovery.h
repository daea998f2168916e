// Recovery: rebuilds the key/value state from <dir>/wal when a Store opens: deletes *.tmp
// files, loads the newest checkpoint that reads completely (older ones and the segments it
// covers are leftovers of an interrupted cleanup and are deleted), then replays every later
// segment in order. Truncates a torn tail of the last segment; throws StoreError naming file
// and offset on corruption unless skip_corrupt. Records of types other than 1 go to the
// caller's on_record. With modify = false (durability none) it reads the same way but changes
// nothing on disk.
// Thread-safety: none; Store::open() runs it before any other thread touches the directory.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "store/file_ops.h"
#include "store/log_format.h"
#include "store/store_options.h"
#include "store/value_index.h"

namespace mqbase::store {

struct RecoveredState {
  explicit RecoveredState(FileOps& io) : kv(io) {}
  ValueIndex kv;  // where each live value lies; its files stay open while it lives
  Lsn last_lsn = 0;
  uint64_t checkpoint_number = 0;               // the checkpoint recovery started from (0: none)
  uint64_t last_segment_number = 0;             // the highest segment number in wal/ (0: none)
  std::map<uint64_t, uint64_t> later_segments;  // number -> size of the segments after the checkpoint
  uint64_t wal_bytes = 0;                       // what wal/ holds once recovery is done
};

class Recovery {
 public:
  using RecordFn = std::function<void(uint8_t type, Lsn lsn, std::string_view payload)>;

  Recovery(const StoreOptions& options, FileOps& io, bool modify, RecoveryReport& report, RecordFn on_record);
  Recovery(const Recovery&) = delete;
  Recovery& operator=(const Recovery&) = delete;

  // Runs recovery once. Throws StoreError on corruption (unless skip_corrupt) and I/O errors.
  RecoveredState run();

 private:
  void log(const std::string& line) const;
  void warn(const std::string& line);
  void remove_file(const std::string& name, const char* why);
  bool load_checkpoint(uint64_t number, RecoveredState& state, Lsn& covered);
  void replay_segment(uint64_t number, bool last, Lsn& expected, RecoveredState& state);
  void corruption(const std::string& what);
  // Truncates wal/<name> at `offset` (and fdatasyncs it when `sync`); false with errno set.
  bool cut_segment(const std::string& name, uint64_t offset, bool sync);
  void progress(uint64_t file_offset);

  const StoreOptions& options_;
  FileOps& io_;
  bool modify_;
  RecoveryReport& report_;
  RecordFn on_record_;
  std::string wal_dir_;

  // Progress: bytes of files finished, the total to read, when the last line went out.
  uint64_t done_bytes_ = 0, total_bytes_ = 0;
  std::chrono::steady_clock::time_point last_progress_;
  uint64_t records_since_clock_ = 0;
};

}  // namespace mqbase::store
