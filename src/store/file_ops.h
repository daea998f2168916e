// FileOps: every system call the store makes on its files (open, close, pwrite, pread,
// fdatasync, fsync, ftruncate, rename, unlink), as virtual functions with the POSIX calls as
// the default. Tests derive from it to inject ENOSPC or EIO on the Nth call, torn writes (part
// of the bytes, then an error) or a simulated crash (every call fails from some point on).
// Each function returns what the system call returns and sets errno the same way.
// The LOCK file and directory listings do not go through FileOps.
// Thread-safety: the store calls one FileOps from its writer thread, its checkpoint thread and
// the thread that opens it, concurrently: an implementation must be safe for that (PosixFileOps
// is: it keeps no state).
#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace mqbase::store {

class FileOps {
 public:
  virtual ~FileOps() = default;

  virtual int open(const std::string& path, int flags, mode_t mode = 0644);
  virtual int close(int fd);
  virtual ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset);
  virtual ssize_t pread(int fd, void* buf, size_t n, off_t offset);
  virtual int fdatasync(int fd);
  virtual int fsync(int fd);
  virtual int ftruncate(int fd, off_t length);
  virtual int rename(const std::string& from, const std::string& to);
  virtual int unlink(const std::string& path);

  // The process-wide POSIX implementation (this class's defaults).
  static FileOps& posix();
};

// Calls on top of FileOps that loop and report errors as text. Return true on success; on
// failure false with errno set (a short write or read past EOF sets EIO).
bool write_all(FileOps& io, int fd, const void* buf, size_t n, off_t offset);
bool read_exact(FileOps& io, int fd, void* buf, size_t n, off_t offset);
// Opens `dir` read-only, fsyncs it, closes it: makes a create, rename or unlink in it durable.
bool fsync_dir(FileOps& io, const std::string& dir);
// Subtracts n from a byte count without wrapping below zero (a count that went wrong must not
// turn into a huge one, which a disk budget would take for a full disk).
void subtract_bytes(std::atomic<uint64_t>& count, uint64_t n);
// strerror(errno) for log lines and exceptions.
std::string errno_text(int err);

}  // namespace mqbase::store

namespace mqbase::store {

// Copies n bytes from a read-only file mapping into dst; false when reading them raised SIGBUS
// (the file was cut shorter than the mapping, or the disk failed to read a page) instead of
// ending the process. A SIGBUS anywhere else goes to the handler that was there before (by
// default: the process ends, as it would have). Async-signal-safe in the sense that matters:
// the handler only jumps back out of this function's memcpy.
bool copy_from_mapping(void* dst, const void* src, size_t n);

// Runs fn(ctx), which reads from a file mapping, as copy_from_mapping copies: false when a
// read raised SIGBUS, and then fn was left where it read. So fn must be plain code that holds
// nothing to release when left: only trivially destructible locals in every frame it runs (no
// std::string, no vector of its own, no lock), and no call into a library that could be in
// the middle of a read from the mapping (memcpy under a sanitizer is its interceptor).
bool read_mapping(void (*fn)(void*), void* ctx);

}  // namespace mqbase::store
