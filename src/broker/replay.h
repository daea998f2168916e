// Replay of history to one session (docs/replay.md): past messages, read from an archive
// table by whoever implements ReplayFeed (http/replay.h), go to a session before its live
// ones, at its client's pace.
//
// A session that replays (Session::begin_replay) sends the feed's messages while its
// in-flight window has room (QoS 1/2) or its connection's write buffer is low (QoS 0), and
// holds every live message in its queue behind them, QoS 0 too, until the feed is done. The
// broker knows nothing of tables: the feed hands it ready Messages.
//
// The seam with the live messages. A replay that follows a new subscription reads the
// messages archived before `cut` (the wall-clock time, in ns, taken once the subscription
// is in the index). An archived message is stored before it is routed (MessageSink), so
// every message the subscription missed is in the archive, and the only messages both
// replayed and delivered live are those received shortly before `cut` and routed after the
// subscription was made. They carry the same Message::received_ns as their archived row:
// the session keeps the identity of such messages from both sides, and whichever comes
// second is dropped. No gap, no duplicate.
//
// Thread-safety: next() and cancel() are called under the session's lock; they must not
// block or call into the session. The feed calls Session::replay_ready() (from any thread,
// without its own locks held) when next() had nothing and it has more.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "broker/message.h"

namespace mqbase::broker {

class Session;

class ReplayFeed {
 public:
  enum class Next : uint8_t {
    message,  // *out is the next message to send
    later,    // nothing ready yet: replay_ready() follows when there is
    done,     // the replay is over
  };
  struct Item {
    MessagePtr msg;
    uint8_t qos = 1;  // the QoS to deliver it with
  };

  virtual ~ReplayFeed() = default;
  virtual Next next(Item* out) = 0;
  // The session ends (or is discarded) before the feed is done: stop reading.
  virtual void cancel() = 0;
  // Live messages received (Message::received_ns) before this were maybe archived before the
  // feed read them: the seam check applies to them. INT64_MIN: no seam (a replay of a closed
  // range, db/replay).
  virtual int64_t cut() const = 0;
};

// What the broker asks when a SUBSCRIBE carries the user property `replay-from`.
class ReplayProvider {
 public:
  virtual ~ReplayProvider() = default;
  // A feed of the archived messages matching `filter` from `from` (the property's value) on,
  // delivered at QoS min(its own, `qos`), not started yet; or null with *error (for the
  // SUBACK's reason string) when no archive covers the filter or `from` is not a time.
  virtual std::shared_ptr<ReplayFeed> prepare(const std::string& filter, uint8_t qos, std::string_view from,
                                              std::string* error) = 0;
  // The subscription is in the index: `feed` reads what was archived before now.
  virtual void start(const std::shared_ptr<ReplayFeed>& feed, const std::shared_ptr<Session>& session) = 0;
};

}  // namespace mqbase::broker
