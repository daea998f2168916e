// WalFiles: what <dir>/wal/ holds, by kind: segments and checkpoints by number with their
// sizes, leftover *.tmp files, and anything else. Recovery, the checkpointer and check() list
// the directory through it; names follow log_format.h.
// Thread-safety: a value; list() reads the directory once.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mqbase::store {

struct WalFiles {
  std::map<uint64_t, uint64_t> segments;     // number -> size
  std::map<uint64_t, uint64_t> checkpoints;  // number -> size
  std::vector<std::string> temporary;        // names of *.tmp files
  std::vector<std::string> other;            // names of anything else

  // Lists `wal_dir`; a missing directory lists as empty. Throws StoreError when it cannot be read.
  static WalFiles list(const std::string& wal_dir);
  uint64_t total_bytes() const;
};

// "<dir>/wal"
std::string wal_dir_of(const std::string& dir);

}  // namespace mqbase::store
