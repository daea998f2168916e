#include "store/value_index.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "store/coding.h"
#include "store/log_format.h"
#include "store/store_options.h"
#include "store/write_batch.h"

namespace mqbase::store {
namespace {

// A read that continues where the last one ended fetches this much at once: the values of one
// session's queue were written one after the other, and are read back in that order.
constexpr size_t kSequentialRead = 1 << 20;
// Any other read fetches at least this much (a page or so around a small value).
constexpr size_t kRandomRead = 4096;

}  // namespace

ValueIndex::~ValueIndex() { close_files(); }

// Keys are copied into blocks of this size (a longer key gets a block of its own).
constexpr size_t kArenaBlock = 1 << 20;

ValueIndex::ValueIndex(ValueIndex&& other) noexcept : io_(other.io_) { *this = std::move(other); }

ValueIndex& ValueIndex::operator=(ValueIndex&& other) noexcept {
  if (this != &other) {
    close_files();
    io_ = other.io_;
    slots_ = std::move(other.slots_);
    live_count_ = other.live_count_;
    used_ = other.used_;
    arena_ = std::move(other.arena_);
    arena_next_ = other.arena_next_;
    arena_left_ = other.arena_left_;
    files_ = std::move(other.files_);
    other.files_.clear();
    other.slots_.clear();
    other.live_count_ = other.used_ = 0;
    other.arena_.clear();
    other.arena_next_ = nullptr;
    other.arena_left_ = 0;
    other.by_first_.clear();
    by_first_.clear();
    buf_.clear();
    buf_file_ = ~0u;
  }
  return *this;
}

void ValueIndex::close_files() {
  for (File& f : files_)
    if (f.fd >= 0) io_->close(f.fd);
  files_.clear();
}

uint64_t ValueIndex::checkpoint_keys(FileOps& io, const std::string& path, const std::string& name) {
  constexpr uint64_t kEndRecord = kRecordHeaderSize + 16;  // u64 keys, u64 covered LSN
  int fd = io.open(path, O_RDONLY);
  if (fd < 0) return 0;
  uint64_t keys = 0;
  struct stat st;
  if (::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) >= kEndRecord) {
    try {
      LogReader reader(io, fd, static_cast<uint64_t>(st.st_size), name);
      LogReader::Record rec;
      if (!reader.read(static_cast<uint64_t>(st.st_size) - kEndRecord, &rec) && rec.type == kTypeCheckpointEnd &&
          rec.payload.size() == 16)
        keys = decode_u64(rec.payload.data());
    } catch (const StoreError&) {
      keys = 0;
    }
  }
  io.close(fd);
  return keys;
}

const char* ValueIndex::tombstone() {
  static const char mark = 0;
  return &mark;
}

ValueIndex::Entry* ValueIndex::find(std::string_view key, uint32_t hash) {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    Entry& e = slots_[i];
    if (!e.key) return nullptr;
    if (e.hash == hash && e.key != tombstone() && e.name() == key) return &e;
  }
}

void ValueIndex::insert(std::string_view key, uint32_t hash, const ValueLocation& loc) {
  // At most 70 % of the slots in use (tombstones count: they lengthen the probes too).
  if ((used_ + 1) * 10 > slots_.size() * 7) rehash(std::max<size_t>(live_count_ + 1, 2 * live_count_));
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (is_live(slots_[i])) i = (i + 1) & mask;
  if (!slots_[i].key) ++used_;  // a tombstone is reused as it is
  slots_[i] = Entry{intern(key).data(), static_cast<uint32_t>(key.size()), hash, loc};
  ++live_count_;
}

void ValueIndex::reserve(size_t keys) {
  if (keys * 10 > slots_.size() * 7) rehash(keys);
}

void ValueIndex::rehash(size_t keys) {
  size_t n = 16;
  while (n * 7 < keys * 10) n *= 2;
  std::vector<Entry> old(n);
  old.swap(slots_);
  const size_t mask = n - 1;
  for (const Entry& e : old) {
    if (!is_live(e)) continue;
    size_t i = e.hash & mask;
    while (slots_[i].key) i = (i + 1) & mask;
    slots_[i] = e;
  }
  used_ = live_count_;
  by_first_.clear();
}

std::string_view ValueIndex::intern(std::string_view key) {
  if (key.empty()) return {};
  if (key.size() > arena_left_) {
    size_t n = std::max(kArenaBlock, key.size());
    arena_.push_back(std::make_unique<char[]>(n));
    arena_next_ = arena_.back().get();
    arena_left_ = n;
  }
  std::memcpy(arena_next_, key.data(), key.size());
  std::string_view copy(arena_next_, key.size());
  arena_next_ += key.size();
  arena_left_ -= key.size();
  return copy;
}

const std::vector<const ValueIndex::Entry*>& ValueIndex::with_first_byte(uint8_t b) const {
  if (by_first_.empty()) {
    by_first_.resize(256);
    for (const Entry& e : slots_)
      if (is_live(e) && e.key_len > 0) by_first_[static_cast<uint8_t>(e.key[0])].push_back(&e);
  }
  return by_first_[b];
}

void ValueIndex::clear() {
  std::vector<Entry>().swap(slots_);
  live_count_ = used_ = 0;
  arena_.clear();
  arena_next_ = nullptr;
  arena_left_ = 0;
  by_first_.clear();
  close_files();
  std::string().swap(buf_);
  buf_file_ = ~0u;
}

uint32_t ValueIndex::add_file(const std::string& path, const std::string& name) {
  int fd = io_->open(path, O_RDONLY);
  if (fd < 0) throw StoreError("cannot open " + name + ": " + errno_text(errno));
  files_.push_back({name, fd});
  return static_cast<uint32_t>(files_.size() - 1);
}

bool ValueIndex::apply(uint32_t file, const LogReader::Record& rec, bool puts_only) {
  by_first_.clear();
  const char* base = rec.payload.data();
  const uint64_t payload_offset = rec.offset + kRecordHeaderSize;
  bool bad = false;
  bool ok = WriteBatch::for_each(rec.payload, [&](bool is_put, std::string_view key, std::string_view value) {
    if (is_put) {
      ValueLocation loc{file, static_cast<uint32_t>(value.size()), payload_offset + static_cast<uint64_t>(value.data() - base)};
      const uint32_t h = static_cast<uint32_t>(std::hash<std::string_view>{}(key));
      if (Entry* e = find(key, h))
        e->loc = loc;
      else
        insert(key, h, loc);
    } else if (puts_only) {
      bad = true;
    } else {
      if (Entry* e = find(key, static_cast<uint32_t>(std::hash<std::string_view>{}(key)))) {
        e->key = tombstone();  // its copy stays in the arena until the index goes
        --live_count_;
      }
    }
  });
  return ok && !bad;
}

std::string_view ValueIndex::read(const ValueLocation& loc) const {
  if (loc.length == 0) return {};
  if (loc.file != buf_file_ || loc.offset < buf_offset_ || loc.offset + loc.length > buf_offset_ + buf_.size()) {
    const bool sequential = loc.file == buf_file_ && loc.offset >= last_end_ && loc.offset - last_end_ < kSequentialRead;
    size_t n = std::max<size_t>(loc.length, sequential ? kSequentialRead : kRandomRead);
    buf_.resize(n);
    const File& f = files_.at(loc.file);
    // Short reads at the end of the file are fine: only the value's own bytes must be there.
    size_t got = 0;
    while (got < n) {
      ssize_t r = io_->pread(f.fd, buf_.data() + got, n - got, static_cast<off_t>(loc.offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        buf_file_ = ~0u;
        throw StoreError("cannot read " + f.name + " at offset " + std::to_string(loc.offset) + ": " + errno_text(errno));
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    if (got < loc.length) {
      buf_file_ = ~0u;
      throw StoreError("cannot read " + f.name + " at offset " + std::to_string(loc.offset) + ": the file ends early");
    }
    buf_.resize(got);
    buf_file_ = loc.file;
    buf_offset_ = loc.offset;
  }
  last_end_ = loc.offset + loc.length;
  return std::string_view(buf_).substr(loc.offset - buf_offset_, loc.length);
}

void ValueIndex::for_each(std::string_view prefix,
                          const std::function<void(std::string_view key, std::string_view value)>& fn) const {
  std::vector<const Entry*> order;
  if (prefix.empty()) {
    order.reserve(live_count_);
    for (const Entry& e : slots_)
      if (is_live(e)) order.push_back(&e);
  } else {
    for (const Entry* e : with_first_byte(static_cast<uint8_t>(prefix[0])))
      if (e->name().substr(0, prefix.size()) == prefix) order.push_back(e);
  }
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->name() < b->name(); });
  for (const Entry* e : order) fn(e->name(), read(e->loc));
}

void ValueIndex::for_each_key(std::string_view prefix,
                              const std::function<void(std::string_view key, ValueLocation where)>& fn) const {
  if (prefix.empty()) {
    for (const Entry& e : slots_)
      if (is_live(e)) fn(e.name(), e.loc);
    return;
  }
  for (const Entry* e : with_first_byte(static_cast<uint8_t>(prefix[0])))
    if (e->name().substr(0, prefix.size()) == prefix) fn(e->name(), e->loc);
}

void ValueIndex::for_each_in_file_order(
    const std::function<void(std::string_view key, std::string_view value)>& fn) const {
  std::vector<const Entry*> order;
  order.reserve(live_count_);
  for (const Entry& e : slots_)
    if (is_live(e)) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->loc.file != b->loc.file ? a->loc.file < b->loc.file : a->loc.offset < b->loc.offset;
  });
  for (const Entry* e : order) fn(e->name(), read(e->loc));
}

}  // namespace mqbase::store
