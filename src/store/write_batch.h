// WriteBatch: puts and deletes that Store::write() appends as one WAL record, so recovery
// applies all of them or none. The rep (rep()) is the record's payload byte for byte:
// u32 count, then per entry u8 op (1 put, 2 delete), varint key length, key and, for a put,
// varint value length and value (docs/store-format.md).
// Thread-safety: none; a batch belongs to the thread that fills it. Store::write() only reads it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace mqbase::store {

class WriteBatch {
 public:
  WriteBatch();

  void put(std::string_view key, std::string_view value);
  void del(std::string_view key);

  bool empty() const { return count() == 0; }
  // Entries (puts + deletes).
  size_t count() const;
  // Size of rep(), the record payload.
  size_t bytes() const { return rep_.size(); }
  // True when the batch holds no put (an empty batch counts): such a batch only frees space,
  // so Store::write() accepts it over the disk budget.
  bool deletes_only() const { return puts_ == 0; }
  bool has_deletes() const { return count() > puts_; }
  void clear();
  const std::string& rep() const { return rep_; }

  // Calls fn for each entry of `rep` in order (value is empty for deletes; views point into
  // rep). Checks the whole rep first: returns false, calling fn for nothing, when it is
  // malformed (short, unknown op, count mismatch, trailing bytes).
  static bool for_each(std::string_view rep,
                       const std::function<void(bool is_put, std::string_view key, std::string_view value)>& fn);

 private:
  void set_count(uint32_t n);

  std::string rep_;
  size_t puts_ = 0;
};

}  // namespace mqbase::store
