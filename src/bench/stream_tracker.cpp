#include "bench/stream_tracker.h"

namespace mqbase::bench {

StreamTracker::StreamTracker(bool from_zero) : started_(from_zero) {}

StreamTracker::Arrival StreamTracker::on_message(uint64_t seq) {
  if (!started_) {
    started_ = true;
    first_ = next_ = seq;
  }
  if (seq >= next_) {
    Arrival a = seq == next_ ? Arrival::in_order : Arrival::ahead;
    if (seq - next_ >= kWindow) {
      bits_.fill(0);
    } else {
      for (uint64_t s = next_; s < seq; ++s) clear(s);
    }
    set(seq);
    next_ = seq + 1;
    ++unique_;
    return a;
  }
  if (next_ - seq > kWindow || seq < first_ || seen(seq)) {
    ++duplicates_;
    return Arrival::duplicate;
  }
  set(seq);
  ++unique_;
  ++reordered_;
  return Arrival::late;
}

}  // namespace mqbase::bench
