#include "store/log_reader.h"

#include <algorithm>
#include <cerrno>

#include "store/coding.h"
#include "store/store_options.h"

namespace mqbase::store {
namespace {

// Large enough that a segment is read in few calls, small enough to be cheap per reader.
constexpr size_t kReadChunk = 1 << 20;

}  // namespace

bool valid_record_type(uint8_t type, FileKind kind) {
  if (kind == FileKind::checkpoint) return type == kTypeKvBatch || type == kTypeCheckpointEnd;
  return type == kTypeKvBatch || is_user_record_type(type);
}

LogReader::LogReader(FileOps& io, int fd, uint64_t file_size, std::string name)
    : io_(io), fd_(fd), file_size_(file_size), name_(std::move(name)) {}

const char* LogReader::fetch(uint64_t offset, size_t n) {
  if (offset >= buf_offset_ && offset + n <= buf_offset_ + buf_.size()) return buf_.data() + (offset - buf_offset_);
  size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, kReadChunk), file_size_ - offset));
  buf_.resize(want);
  buf_offset_ = offset;
  if (!read_exact(io_, fd_, buf_.data(), want, static_cast<off_t>(offset))) {
    int err = errno;
    buf_.clear();
    throw StoreError("cannot read " + name_ + " at offset " + std::to_string(offset) + ": " + errno_text(err));
  }
  return buf_.data();
}

std::string_view LogReader::header_bytes() {
  if (file_size_ < kFileHeaderSize) return {};
  return {fetch(0, kFileHeaderSize), kFileHeaderSize};
}

const char* LogReader::read(uint64_t offset, Record* rec) {
  if (file_size_ - offset < kRecordHeaderSize) return "short record header";
  const char* h = fetch(offset, kRecordHeaderSize);
  if (std::all_of(h, h + kRecordHeaderSize, [](char c) { return c == 0; })) return "zeroed record header";
  uint32_t length = decode_u32(h + 4);
  if (length > kMaxRecordPayload) return "length over the 64 MiB limit";
  if (file_size_ - offset - kRecordHeaderSize < length) return "length past end of file";
  const char* r = fetch(offset, kRecordHeaderSize + length);
  if (decode_u32(r) != record_crc(r, length)) return "checksum mismatch";
  uint8_t type = static_cast<uint8_t>(r[8]);
  if (type == 0 || type > kTypeCheckpointEnd) return "invalid record type";
  rec->offset = offset;
  rec->type = type;
  rec->lsn = record_lsn(r);
  rec->payload = {r + kRecordHeaderSize, length};
  return nullptr;
}

std::optional<uint64_t> LogReader::find_next_valid(uint64_t from, Lsn after_lsn, FileKind kind) {
  const Lsn max_lsn = after_lsn + 1 + file_size_ / kRecordHeaderSize;
  for (uint64_t pos = from; pos < file_size_ && file_size_ - pos >= kRecordHeaderSize; ++pos) {
    // Cheap filters first (length, type, LSN window); the crc only for the rare survivor.
    const char* h = fetch(pos, kRecordHeaderSize);
    uint32_t length = decode_u32(h + 4);
    if (length > kMaxRecordPayload || file_size_ - pos - kRecordHeaderSize < length) continue;
    if (!valid_record_type(static_cast<uint8_t>(h[8]), kind)) continue;
    Lsn lsn = record_lsn(h);
    if (lsn <= after_lsn || lsn > max_lsn) continue;
    Record rec;
    if (read(pos, &rec) == nullptr) return pos;
  }
  return std::nullopt;
}

bool LogReader::zero_from(uint64_t from) {
  for (uint64_t pos = from; pos < file_size_;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kReadChunk, file_size_ - pos));
    const char* p = fetch(pos, n);
    if (std::any_of(p, p + n, [](char c) { return c != 0; })) return false;
    pos += n;
  }
  return true;
}

}  // namespace mqbase::store
