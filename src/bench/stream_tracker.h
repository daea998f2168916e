// StreamTracker: the correctness accounting of one (publisher, subscriber) stream. The
// subscriber feeds it the sequence number of every message it receives from one publisher;
// it counts unique messages, duplicates, and messages that arrived after a later one
// (reordered). Loss is what was expected minus what arrived once.
//
// A ring of the last kWindow sequence numbers remembers which were seen, so a duplicate or a
// late arrival within that distance is told apart exactly; a message more than kWindow behind
// the newest one cannot be, and counts as a duplicate (loss is then never under-reported).
// No allocation after construction. Not thread-safe: one subscriber owns it.
#pragma once
#include <array>
#include <cstdint>

namespace mqbase::bench {

class StreamTracker {
 public:
  static constexpr uint64_t kWindow = 4096;

  enum class Arrival {
    in_order,   // the next sequence number
    ahead,      // later than the next: the ones between are missing (for now)
    late,       // a missing one arrived after a later one (reordered)
    duplicate,  // seen before
  };

  // `from_zero`: the stream is known to start at sequence 0 (the subscriber was subscribed
  // before the publisher began), so missing first messages count as lost. Otherwise the first
  // arrival starts the stream (a subscriber that joins a running publisher).
  explicit StreamTracker(bool from_zero = true);

  Arrival on_message(uint64_t sequence);

  uint64_t unique() const { return unique_; }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t reordered() const { return reordered_; }
  // Highest sequence number seen + 1 (0 before the first message); the publisher's
  // end-to-end flow control reads this.
  uint64_t next() const { return next_; }
  // First sequence number of the stream (0 with from_zero).
  uint64_t first() const { return first_; }
  // Messages the stream carried so far as far as this subscriber can tell: next() - first().
  uint64_t span() const { return next_ - first_; }

 private:
  bool seen(uint64_t seq) const { return (bits_[(seq % kWindow) / 64] >> (seq % 64)) & 1; }
  void set(uint64_t seq) { bits_[(seq % kWindow) / 64] |= uint64_t{1} << (seq % 64); }
  void clear(uint64_t seq) { bits_[(seq % kWindow) / 64] &= ~(uint64_t{1} << (seq % 64)); }

  bool started_;
  uint64_t first_ = 0;
  uint64_t next_ = 0;
  uint64_t unique_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t reordered_ = 0;
  std::array<uint64_t, kWindow / 64> bits_{};
};

}  // namespace mqbase::bench
