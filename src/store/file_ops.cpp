#include "store/file_ops.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

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

namespace mqbase::store {

namespace {

struct sigaction g_previous_bus{};
// Set while this thread copies from a mapping: where its SIGBUS goes.
thread_local sigjmp_buf* t_bus_escape = nullptr;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  if (sigjmp_buf* escape = t_bus_escape) {
    t_bus_escape = nullptr;
    // The jump does not restore the signal mask (sigsetjmp saved none, to keep the copy free of
    // system calls), and SIGBUS is blocked while its handler runs: unblocked here, or the next
    // one would end the process. (SA_NODEFER would do it, but a sanitizer's own handler that
    // calls this one need not have it.)
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &bus, nullptr);
    siglongjmp(*escape, 1);
  }
  // Not one of our copies: whoever had the signal before takes it. With the default (or
  // "ignore", which the kernel does not honour for a fault), the access faults again on return
  // and ends the process as it would have without us.
  if ((g_previous_bus.sa_flags & SA_SIGINFO) && g_previous_bus.sa_sigaction) {
    g_previous_bus.sa_sigaction(sig, info, context);
  } else if (!(g_previous_bus.sa_flags & SA_SIGINFO) && g_previous_bus.sa_handler != SIG_DFL &&
             g_previous_bus.sa_handler != SIG_IGN) {
    g_previous_bus.sa_handler(sig);
  } else {
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &dfl, nullptr);
  }
}

void install_sigbus_handler() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction sa{};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_previous_bus);
  });
}

}  // namespace

bool read_mapping(void (*fn)(void*), void* ctx) {
  install_sigbus_handler();
  sigjmp_buf escape;
  if (sigsetjmp(escape, 0) != 0) return false;  // 0: no signal mask saved, so no system call
  t_bus_escape = &escape;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fn(ctx);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_bus_escape = nullptr;
  return true;
}

bool copy_from_mapping(void* dst, const void* src, size_t n) {
  struct Copy {
    void* dst;
    const void* src;
    size_t n;
  } copy{dst, src, n};
  return read_mapping(
      [](void* p) {
        auto* c = static_cast<Copy*>(p);
#if defined(__x86_64__)
        // Not memcpy: under a sanitizer memcpy is the sanitizer's interceptor, and jumping out
        // of its runtime in the middle of a call would leave that runtime's state behind. rep
        // movsb copies blocks of KBs at memcpy's speed.
        asm volatile("rep movsb" : "+D"(c->dst), "+S"(c->src), "+c"(c->n) : : "memory");
#else
        std::memcpy(c->dst, c->src, c->n);
#endif
      },
      &copy);
}

}  // namespace mqbase::store
