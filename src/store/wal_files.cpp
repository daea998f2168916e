#include "store/wal_files.h"

#include <filesystem>
#include <system_error>

#include "store/log_format.h"
#include "store/store_options.h"

namespace mqbase::store {

namespace fs = std::filesystem;

WalFiles WalFiles::list(const std::string& wal_dir) {
  WalFiles files;
  std::error_code ec;
  if (!fs::exists(wal_dir, ec)) return files;
  fs::directory_iterator it(wal_dir, ec);
  if (ec) throw StoreError("cannot list " + wal_dir + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw StoreError("cannot list " + wal_dir + ": " + ec.message());
    std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec)) {
      files.other.push_back(name);
      continue;
    }
    uint64_t size = it->file_size(ec);
    if (ec) throw StoreError("cannot stat " + wal_dir + "/" + name + ": " + ec.message());
    if (auto n = parse_segment_file_name(name)) files.segments[*n] = size;
    else if (auto c = parse_checkpoint_file_name(name)) files.checkpoints[*c] = size;
    else if (name.size() > 4 && name.ends_with(".tmp")) files.temporary.push_back(name);
    else files.other.push_back(name);
  }
  return files;
}

uint64_t WalFiles::total_bytes() const {
  uint64_t total = 0;
  for (auto& [n, size] : segments) total += size;
  for (auto& [n, size] : checkpoints) total += size;
  return total;
}

std::string wal_dir_of(const std::string& dir) { return dir + "/wal"; }

}  // namespace mqbase::store
