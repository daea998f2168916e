#include "store/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "store/file_ops.h"
#include "store/store_options.h"

namespace mqbase::store {

DirLock::DirLock(const std::string& dir) {
  std::string path = dir + "/LOCK";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw StoreError("cannot open " + path + ": " + errno_text(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) throw StoreError("data directory " + dir + " is in use by another mqbase (pid " + pid + ")");
    throw StoreError("cannot lock " + path + ": " + errno_text(err));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  // The pid is a courtesy for the next one who finds the lock taken: failing to write it is not fatal.
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] ssize_t n = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
}

DirLock::~DirLock() { release(); }

void DirLock::release() {
  if (fd_ >= 0) ::close(fd_);  // closing the file drops the flock
  fd_ = -1;
}

}  // namespace mqbase::store
