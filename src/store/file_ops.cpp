#include "store/file_ops.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mqbase::store {

int FileOps::open(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

int FileOps::close(int fd) { return ::close(fd); }

ssize_t FileOps::pwrite(int fd, const void* buf, size_t n, off_t offset) { return ::pwrite(fd, buf, n, offset); }

ssize_t FileOps::pread(int fd, void* buf, size_t n, off_t offset) { return ::pread(fd, buf, n, offset); }

int FileOps::fdatasync(int fd) { return ::fdatasync(fd); }

int FileOps::fsync(int fd) { return ::fsync(fd); }

int FileOps::ftruncate(int fd, off_t length) { return ::ftruncate(fd, length); }

int FileOps::rename(const std::string& from, const std::string& to) { return ::rename(from.c_str(), to.c_str()); }

int FileOps::unlink(const std::string& path) { return ::unlink(path.c_str()); }

FileOps& FileOps::posix() {
  static FileOps ops;
  return ops;
}

bool write_all(FileOps& io, int fd, const void* buf, size_t n, off_t offset) {
  auto p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = io.pwrite(fd, p, n, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (w == 0) {
      errno = EIO;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
  return true;
}

bool read_exact(FileOps& io, int fd, void* buf, size_t n, off_t offset) {
  auto p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = io.pread(fd, p, n, offset);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) {
      errno = EIO;
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
    offset += r;
  }
  return true;
}

bool fsync_dir(FileOps& io, const std::string& dir) {
  int fd = io.open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  bool ok = io.fsync(fd) == 0;
  int saved = errno;
  io.close(fd);
  errno = saved;
  return ok;
}

void subtract_bytes(std::atomic<uint64_t>& count, uint64_t n) {
  uint64_t old = count.load(std::memory_order_relaxed);
  while (!count.compare_exchange_weak(old, old > n ? old - n : 0, std::memory_order_relaxed)) {
  }
}

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the message (maybe not in buf).
  const char* msg = strerror_r(err, buf, sizeof buf);
  return msg;
}

}  // namespace mqbase::store
