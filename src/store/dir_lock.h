// DirLock: the exclusive hold a Store keeps on its data directory: flock(LOCK_EX|LOCK_NB) on
// <dir>/LOCK, which holds the holder's pid so the refusal can say who has it. flock locks
// belong to the open file, so a second Store in the same process is refused too. Released
// when the DirLock is destroyed or release() is called (the file stays).
// Thread-safety: none; owned by one Store.
#pragma once
#include <string>

namespace mqbase::store {

class DirLock {
 public:
  // Takes the lock. Throws StoreError "data directory D is in use by another mqbase (pid N)"
  // when another holder has it, or naming the error when the file cannot be opened.
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  void release();

 private:
  int fd_ = -1;
};

}  // namespace mqbase::store
