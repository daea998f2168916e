#include "store/value_index.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

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

ValueIndex::ValueIndex(ValueIndex&& other) noexcept
    : io_(other.io_), live_(std::move(other.live_)), files_(std::move(other.files_)) {
  other.files_.clear();
  other.live_.clear();
}

ValueIndex& ValueIndex::operator=(ValueIndex&& other) noexcept {
  if (this != &other) {
    close_files();
    io_ = other.io_;
    live_ = std::move(other.live_);
    files_ = std::move(other.files_);
    other.files_.clear();
    other.live_.clear();
    sorted_.clear();
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

void ValueIndex::clear() {
  std::unordered_map<std::string, ValueLocation> empty;
  live_.swap(empty);
  std::vector<const Entry*>().swap(sorted_);
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
  const char* base = rec.payload.data();
  const uint64_t payload_offset = rec.offset + kRecordHeaderSize;
  bool bad = false;
  bool ok = WriteBatch::for_each(rec.payload, [&](bool is_put, std::string_view key, std::string_view value) {
    sorted_.clear();
    if (is_put) {
      live_.insert_or_assign(std::string(key), ValueLocation{file, static_cast<uint32_t>(value.size()),
                                                             payload_offset + static_cast<uint64_t>(value.data() - base)});
    } else if (puts_only) {
      bad = true;
    } else {
      live_.erase(std::string(key));
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
  if (sorted_.size() != live_.size()) {  // sorted once, then each prefix is a range of it
    sorted_.clear();
    sorted_.reserve(live_.size());
    for (const Entry& e : live_) sorted_.push_back(&e);
    std::sort(sorted_.begin(), sorted_.end(), [](const Entry* a, const Entry* b) { return a->first < b->first; });
  }
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), prefix,
                             [](const Entry* e, std::string_view p) { return std::string_view(e->first) < p; });
  for (; it != sorted_.end() && std::string_view((*it)->first).substr(0, prefix.size()) == prefix; ++it)
    fn((*it)->first, read((*it)->second));
}

void ValueIndex::for_each_in_file_order(
    const std::function<void(std::string_view key, std::string_view value)>& fn) const {
  std::vector<const Entry*> order;
  order.reserve(live_.size());
  for (const Entry& e : live_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->second.file != b->second.file ? a->second.file < b->second.file : a->second.offset < b->second.offset;
  });
  for (const Entry* e : order) fn(e->first, read(e->second));
}

}  // namespace mqbase::store
