#include "store/spill_file.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "store/coding.h"
#include "store/crc32c.h"

namespace mqbase::store {
namespace {

constexpr size_t kFrame = 8;               // u32 length, u32 masked CRC32C
constexpr size_t kWriteBuffer = 64 << 10;  // written in pieces of about this size
constexpr size_t kReadAhead = 256 << 10;   // read back in pieces of about this size

}  // namespace

SpillFile::SpillFile(std::string path, LogFn log, FileOps& io)
    : path_(std::move(path)), log_(std::move(log)), io_(io), flush_at_(kWriteBuffer) {}

SpillFile::~SpillFile() { reset_file(); }

void SpillFile::reset_file() {
  if (fd_ >= 0) {
    io_.close(fd_);
    io_.unlink(path_);
  }
  fd_ = -1;
  file_end_ = read_off_ = rbuf_at_ = 0;
  file_records_ = 0;
  std::string().swap(rbuf_);
}

void SpillFile::append(std::string_view record) {
  char frame[kFrame];
  encode_u32(frame, static_cast<uint32_t>(record.size()));
  encode_u32(frame + 4, crc32c_mask(crc32c(record.data(), record.size())));
  wbuf_.append(frame, kFrame);
  wbuf_.append(record);
  ++buf_records_;
  if (wbuf_.size() - wbuf_read_ >= flush_at_) flush();
}

void SpillFile::flush() {
  if (buf_records_ == 0) return;
  if (fd_ < 0) {
    fd_ = io_.open(path_, O_RDWR | O_CREAT | O_TRUNC, 0600);
    file_end_ = read_off_ = 0;
  }
  const size_t n = wbuf_.size() - wbuf_read_;
  if (fd_ < 0 || !write_all(io_, fd_, wbuf_.data() + wbuf_read_, n, static_cast<off_t>(file_end_))) {
    int err = errno;
    if (!write_failing_ && log_)
      log_("cannot write " + path_ + ": " + errno_text(err) + "; queued messages stay in memory until it works again");
    write_failing_ = true;
    flush_at_ = n + kWriteBuffer;  // try again once another buffer's worth has come
    return;
  }
  if (write_failing_ && log_) log_("writing " + path_ + " works again");
  write_failing_ = false;
  flush_at_ = kWriteBuffer;
  file_end_ += n;
  file_records_ += buf_records_;
  buf_records_ = 0;
  wbuf_.clear();
  wbuf_read_ = 0;
  if (wbuf_.capacity() > 2 * kWriteBuffer) std::string().swap(wbuf_);
}

void SpillFile::drop_file(const std::string& why) {
  lost_ += file_records_;
  if (log_)
    log_("cannot read back " + path_ + " at offset " + std::to_string(read_off_) + ": " + why + "; " +
         std::to_string(file_records_) +
         " queued messages in it are skipped until the next start (the log still holds them)");
  reset_file();
}

bool SpillFile::file_record(uint64_t at, std::string_view* out, uint32_t* framed) {
  auto have = [&](uint64_t n) { return at >= rbuf_at_ && at + n <= rbuf_at_ + rbuf_.size(); };
  auto fetch = [&](uint64_t n) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(std::max<uint64_t>(n, kReadAhead), file_end_ - at));
    rbuf_.resize(want);
    if (!read_exact(io_, fd_, rbuf_.data(), want, static_cast<off_t>(at))) {
      rbuf_.clear();
      drop_file(errno_text(errno));
      return false;
    }
    rbuf_at_ = at;
    return true;
  };
  if (at + kFrame > file_end_) {
    drop_file("a record runs past the end of the file");
    return false;
  }
  if (!have(kFrame) && !fetch(kFrame)) return false;
  const char* p = rbuf_.data() + (at - rbuf_at_);
  uint32_t len = decode_u32(p);
  if (at + kFrame + len > file_end_) {
    drop_file("a record runs past the end of the file");
    return false;
  }
  if (!have(kFrame + len) && !fetch(kFrame + len)) return false;
  p = rbuf_.data() + (at - rbuf_at_);
  std::string_view rec(p + kFrame, len);
  if (crc32c_unmask(decode_u32(p + 4)) != crc32c(rec.data(), rec.size())) {
    drop_file("checksum mismatch");
    return false;
  }
  *out = rec;
  *framed = static_cast<uint32_t>(kFrame + len);
  return true;
}

size_t SpillFile::read(size_t max, const std::function<void(std::string_view record)>& fn) {
  size_t taken = 0;
  while (taken < max && file_records_ > 0) {
    std::string_view rec;
    uint32_t framed = 0;
    if (!file_record(read_off_, &rec, &framed)) break;
    read_off_ += framed;
    --file_records_;
    ++taken;
    fn(rec);
  }
  if (file_records_ == 0 && fd_ >= 0) reset_file();  // every record in it is taken: start over
  // The file is empty: the rest comes straight from the write buffer.
  while (taken < max && file_records_ == 0 && buf_records_ > 0) {
    const char* p = wbuf_.data() + wbuf_read_;
    uint32_t len = decode_u32(p);
    std::string_view rec(p + kFrame, len);
    wbuf_read_ += kFrame + len;
    --buf_records_;
    ++taken;
    fn(rec);
  }
  if (buf_records_ == 0) {
    wbuf_.clear();
    wbuf_read_ = 0;
  }
  return taken;
}

void SpillFile::peek_all(const std::function<void(std::string_view record)>& fn) {
  uint64_t at = read_off_;
  for (size_t i = 0; i < file_records_; ++i) {
    std::string_view rec;
    uint32_t framed = 0;
    if (!file_record(at, &rec, &framed)) break;
    at += framed;
    fn(rec);
  }
  size_t pos = wbuf_read_;
  for (size_t i = 0; i < buf_records_; ++i) {
    uint32_t len = decode_u32(wbuf_.data() + pos);
    fn(std::string_view(wbuf_.data() + pos + kFrame, len));
    pos += kFrame + len;
  }
}

}  // namespace mqbase::store
