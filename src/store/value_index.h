// ValueIndex: where each live value of the log lies (file, offset, length), not the values
// themselves. Recovery and the checkpointer replay a checkpoint and the segments after it into
// one, so that a log of ten million queued messages costs a key and 16 bytes per value in
// memory instead of every value; the values are read back from the files when asked for,
// through a read buffer that turns reads of neighbouring values into one large pread.
//
// The files it indexes stay open (through FileOps) until it is destroyed, so a file that is
// deleted meanwhile (a checkpoint freeing segments) still reads.
// Thread-safety: none; one owner at a time.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/file_ops.h"
#include "store/log_reader.h"

namespace mqbase::store {

struct ValueLocation {
  uint32_t file;    // index into the files added with add_file()
  uint32_t length;
  uint64_t offset;  // of the value's first byte in the file
};

class ValueIndex {
 public:
  explicit ValueIndex(FileOps& io) : io_(&io) {}
  ~ValueIndex();
  ValueIndex(ValueIndex&& other) noexcept;
  ValueIndex& operator=(ValueIndex&& other) noexcept;
  ValueIndex(const ValueIndex&) = delete;
  ValueIndex& operator=(const ValueIndex&) = delete;

  // Opens `path` for reading (named `name` in errors, "wal/0000000000000003.log") and returns
  // its number for apply(). Throws StoreError when it cannot be opened.
  uint32_t add_file(const std::string& path, const std::string& name);
  // Applies the KV batch in `rec`, read from file `file`: puts record where their values lie,
  // deletes forget the key. False when the payload is not a valid batch (nothing is applied
  // past the bad part). `puts_only`: a delete makes the batch invalid (checkpoints hold none).
  bool apply(uint32_t file, const LogReader::Record& rec, bool puts_only = false);

  // Makes room for `keys` keys at once (a checkpoint says how many it holds).
  void reserve(size_t keys);
  // The key count a checkpoint file's end record states (it is the file's last 33 bytes), read
  // ahead of the scan to reserve(); 0 when it cannot be read (the scan then finds out why).
  static uint64_t checkpoint_keys(FileOps& io, const std::string& path, const std::string& name);
  size_t size() const { return live_count_; }
  bool empty() const { return live_count_ == 0; }
  void clear();

  // Calls fn(key, value) for every live key whose key starts with `prefix` ("" for all), in
  // key order (bytewise). Values are valid during the call. Throws StoreError when a value
  // cannot be read. Sorts the matching keys first: for a small part of a large index, or a
  // small index.
  void for_each(std::string_view prefix, const std::function<void(std::string_view key, std::string_view value)>& fn) const;
  // Calls fn(key, where) for every live key that starts with `prefix`, in no particular order,
  // without reading values: a caller that orders a large set better than bytewise (by a number
  // inside the key) collects the locations, orders them, and reads them with value().
  void for_each_key(std::string_view prefix, const std::function<void(std::string_view key, ValueLocation where)>& fn) const;
  // The value at `where` (from for_each_key()), valid until the next read. Reads in file order
  // are fast: the read buffer serves neighbours. Throws StoreError when it cannot be read.
  std::string_view value(const ValueLocation& where) const { return read(where); }
  // The same in the order the values lie in the files (file, then offset): the fastest way to
  // read them all, as a checkpoint does.
  void for_each_in_file_order(const std::function<void(std::string_view key, std::string_view value)>& fn) const;

 private:
  struct File {
    std::string name;
    int fd = -1;
  };
  // One slot of the open-addressing table (linear probing): 32 bytes, and nothing allocated
  // per key. key: in the arena; null: never used; tombstone(): erased.
  struct Entry {
    const char* key = nullptr;
    uint32_t key_len = 0;
    uint32_t hash = 0;
    ValueLocation loc{};
    std::string_view name() const { return {key, key_len}; }
  };
  static const char* tombstone();
  static bool is_live(const Entry& e) { return e.key && e.key != tombstone(); }
  // The slot holding `key`, or null.
  Entry* find(std::string_view key, uint32_t hash);
  // Puts `key` (new to the table) with `loc`, growing the table when needed.
  void insert(std::string_view key, uint32_t hash, const ValueLocation& loc);
  // Rebuilds the table with room for `keys` live keys, without tombstones.
  void rehash(size_t keys);
  // A copy of `key` in the arena, for a key new to the table.
  std::string_view intern(std::string_view key);
  // The live entries by the first byte of their key (built by the first read; a prefix is
  // looked for only among the keys with its first byte).
  const std::vector<const Entry*>& with_first_byte(uint8_t b) const;
  // The value at `loc`, from the read buffer, refilled with one pread when it does not hold it.
  std::string_view read(const ValueLocation& loc) const;
  void close_files();

  FileOps* io_;
  // Keys point into arena_: one allocation per megabyte of keys, not one per key (millions of
  // small strings and hash nodes cost more to allocate and free than to index).
  std::vector<Entry> slots_;  // a power of two in size, or empty
  size_t live_count_ = 0;
  size_t used_ = 0;  // slots not null: live + tombstones
  std::vector<std::unique_ptr<char[]>> arena_;
  char* arena_next_ = nullptr;  // where the next key goes in the last block
  size_t arena_left_ = 0;
  mutable std::vector<std::vector<const Entry*>> by_first_;  // 256 buckets once built; empty: not built
  std::vector<File> files_;
  // The read buffer: bytes [buf_offset_, buf_offset_ + buf_.size()) of file buf_file_.
  mutable std::string buf_;
  mutable uint32_t buf_file_ = ~0u;
  mutable uint64_t buf_offset_ = 0;
  mutable uint64_t last_end_ = 0;  // where the last value read ended: a read just after it is sequential
};

}  // namespace mqbase::store
