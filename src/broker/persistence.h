// Persistence: the broker's one narrow door to the store. It says what of the broker's state
// must survive a restart, as keyed records: the sessions that outlive their connection (client
// id, expiry, will), their subscriptions, the QoS 1/2 messages queued or in flight to them,
// the QoS 2 packet ids they sent us and have not released, and the retained messages. Clean
// sessions (expiry 0) keep nothing, except a will, which must still go out after a crash.
//
// Acknowledgements wait for what they promise. Every write made on a thread while it handles
// one packet is noted in that thread's Tracker: the highest LSN it needs (and whether the
// store refused a write). The Client reads it when it sends the acknowledgement and holds the
// packet until the store's durable LSN has caught up (sync mode only; batch and none do not
// wait). Writes that must be ordered (a message's put before the delete its acknowledgement
// causes) are made under the lock that orders the state change itself: the session's, the
// retained store's, the broker's registry lock.
//
// Recovery reads every live record back (load()), drops what belongs to an older incarnation
// of a client id or to a session whose expiry passed while the server was down, and hands the
// broker the rest to rebuild its sessions, subscriptions, queues and retained messages.
//
// Thread-safety: every method may be called from any thread (the store serializes writes).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/message.h"
#include "broker/subscription_index.h"
#include "store/spill_file.h"
#include "store/store.h"

namespace mqbase::broker {

struct Delivery;
class Session;
using Lsn = store::Lsn;
// The LSN of a write collected in a batch (Persistence::begin_batch) that is not written yet.
inline constexpr Lsn kLsnPending = ~Lsn{0};

// The state of a message held for a session, as recovered.
enum class HeldState : uint8_t { queued = 0, publish_sent = 1, pubrel_sent = 2 };

// A persistent session's record: who it is and what survives its connection.
struct SessionImage {
  std::string client_id;
  uint64_t incarnation = 0;  // a new one per Clean Start: older records of the id are stale
  uint32_t expiry_interval = 0;
  int64_t disconnected_at_ms = 0;  // wall clock, ms since the epoch; 0: connected
  uint8_t protocol = 4;            // 3, 4 or 5
  MessagePtr will;                 // null: none
  uint32_t will_delay = 0;         // seconds
  uint32_t will_expiry = 0;        // seconds, counted from the will's publication; 0: none
  // The user name of the last login (null: none), so that the ACL sees the same client after
  // a restart: messages queued for it while it is away, and its delayed will. (JWT grants are
  // not kept: they end with the token.) Older records have none.
  std::shared_ptr<const std::string> username;
};

// What load() found for one session.
struct RecoveredEntry {
  uint64_t seq = 0;
  MessagePtr msg;  // null once a QoS 2 message is past PUBREC (pubrel_sent)
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> identifiers;
  std::shared_ptr<const std::string> share;
  uint16_t packet_id = 0;
  HeldState state = HeldState::queued;
};
struct RecoveredSession {
  SessionImage image;
  std::vector<std::pair<std::string, SubscriptionOptions>> subscriptions;
  std::vector<RecoveredEntry> entries;  // by seq
  // The queue past the first queue_in_memory() messages, in a spill file (null: none), in
  // order after `entries`: records as Persistence::encode_queued() writes them.
  std::unique_ptr<store::SpillFile> spill;
  uint64_t spilled_bytes = 0;     // topic + payload bytes of the messages in `spill`
  uint64_t last_spilled_seq = 0;  // the highest seq in `spill`
  std::vector<uint16_t> incoming_qos2;
  size_t held() const { return entries.size() + (spill ? spill->size() : 0); }
};
struct Recovered {
  std::vector<RecoveredSession> sessions;
  std::vector<MessagePtr> retained;
  uint64_t max_incarnation = 0;
  uint64_t stale_records = 0;    // of older incarnations or expired sessions: deleted
  uint64_t expired_sessions = 0;  // ended while the server was down
  uint64_t expired_messages = 0;  // Message Expiry passed while the server was down
};

class Persistence {
 public:
  // What one thread's writes during one operation need before their acknowledgement goes out.
  struct Tracker {
    Lsn needed = 0;
    bool refused = false;  // the store refused a write (full disk, budget): answer with an error
    // The records of copies that their subscribers' PUBACKs settle (Message::unsettled): the
    // publisher's PUBACK waits for them, or for every copy to be acknowledged. Everything
    // else waits for `needed` alone.
    Lsn settled_by_ack = 0;
    // The QoS 1 message this thread is routing for a publisher whose PUBACK may go early; its
    // copies to connected durable sessions count in its Message::unsettled.
    const Message* routing = nullptr;
  };
  // The calling thread's tracker; reset() before an operation, read after.
  static Tracker& tracker();
  static void reset_tracker() { tracker() = Tracker{}; }

  // Atomic groups. Between begin_batch() and end_batch() the calling thread's writes are
  // collected into one record, written by end_batch(): at recovery all of them are there or
  // none. A QoS 2 PUBLISH uses it, so that "packet id seen" and the message's records for its
  // subscribers cannot be split by a crash (split one way the message is lost, the other way
  // delivered twice). Writes in a batch return kLsnPending; a session that must wait for such
  // a write registers with note_pending() and end_batch() tells it the LSN. Call end_batch()
  // while those sessions are alive (Broker::publish does, under the index's read lock).
  void begin_batch();
  bool batching() const;
  Lsn end_batch();
  void note_pending(Session* s, uint64_t seq);

  explicit Persistence(store::Store& store);
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Whether acknowledgements wait for the disk (sync mode).
  bool acks_wait() const { return waits_; }
  // The store takes new records now (see store::Store::accepting()).
  bool accepting() const { return store_.accepting(); }
  Lsn durable_lsn() const { return store_.durable_lsn(); }
  store::Store& store() { return store_; }

  // The session record (a put replaces it).
  void put_session(const SessionImage& s);
  // Removes a session's record and everything it held: its subscriptions (`filters`), the
  // messages of `seqs`, and the incoming QoS 2 ids of `incoming`, in one record.
  void delete_session(std::string_view client_id, const std::vector<std::string>& filters,
                      const std::vector<uint64_t>& seqs, const std::vector<uint16_t>& incoming);
  void put_subscriptions(std::string_view client_id, uint64_t incarnation,
                         const std::vector<std::pair<std::string, SubscriptionOptions>>& subs);
  void delete_subscriptions(std::string_view client_id, const std::vector<std::string>& filters);

  // A QoS 1/2 message held for a session, under its sequence number.
  // `settles`: the copy counts in m.unsettled, its record in Tracker::settled_by_ack. Returns
  // the record's LSN when it is a record of its own (cancel_message() may take it back), else 0.
  Lsn put_message(std::string_view client_id, uint64_t incarnation, uint64_t seq, const Message& m,
                  const Delivery& d, bool settles = false);
  // The message put at `lsn` was acknowledged by its subscriber: if its record is not written
  // yet it never will be (true), and no delete is needed; false: delete_message() as usual.
  bool cancel_message(Lsn lsn) { return lsn != 0 && store_.cancel(lsn); }
  // QoS 2 out: the packet id it went with (so a restart resends it with the same id), or, past
  // PUBREC, only that (the payload is gone).
  // Returns the record's LSN (0 when the store refused it).
  Lsn put_sent(std::string_view client_id, uint64_t incarnation, uint64_t seq, uint16_t packet_id) {
    return put_state(client_id, incarnation, seq, packet_id, HeldState::publish_sent);
  }
  void put_released(std::string_view client_id, uint64_t incarnation, uint64_t seq, uint16_t packet_id) {
    put_state(client_id, incarnation, seq, packet_id, HeldState::pubrel_sent);
  }
  // The message of `seq` is done (acknowledged, expired, or handed to another session).
  // with_state = false: it never had a QoS 2 state record ('p'), e.g. an acknowledged QoS 1
  // message, and only its message record is deleted (a smaller record on the hot path).
  void delete_message(std::string_view client_id, uint64_t seq, bool with_state = true);

  // QoS 2 in: a packet id received and not yet released.
  void put_incoming(std::string_view client_id, uint64_t incarnation, uint16_t packet_id);
  void delete_incoming(std::string_view client_id, uint16_t packet_id);

  void put_retained(const Message& m);
  void delete_retained(std::string_view topic);

  // Reads every record back (call once, before serving) and deletes the stale ones. A queue
  // longer than queue_in_memory() goes to its spill file past that point as it is read, so
  // recovery holds no more of it in memory than serving will.
  Recovered load();

  // Queues larger than memory. A durable session keeps the first `in_memory` messages of its
  // queue in memory and the rest in a spill file under `dir` (store::SpillFile: copies of what
  // the log holds, read back as the client drains the queue). `dir` is created, and emptied of
  // what an earlier run left. 0 or no dir: everything in memory. `log` reports spill I/O
  // errors. Call before load(). Throws store::StoreError when `dir` cannot be made.
  void set_spill(const std::string& dir, size_t in_memory, store::SpillFile::LogFn log = {});
  size_t queue_in_memory() const { return spill_dir_.empty() ? 0 : in_memory_; }
  // A new spill file of its own (null when spilling is off).
  std::unique_ptr<store::SpillFile> new_spill_file();
  // A queued message as a spill file keeps it: u64 seq, then the value of its 'q' record.
  static void encode_queued(std::string& out, uint64_t seq, uint64_t incarnation, const Message& m, const Delivery& d);
  // The reverse; false when `in` is malformed.
  static bool decode_queued(std::string_view in, RecoveredEntry& e);

 private:
  // Appends `b` (or adds it to the thread's batch) and raises the tracker's `into` to its LSN.
  Lsn write(const store::WriteBatch& b, Lsn Tracker::*into = &Tracker::needed);
  Lsn put_state(std::string_view client_id, uint64_t incarnation, uint64_t seq, uint16_t packet_id, HeldState state);

  store::Store& store_;
  const bool waits_;
  std::string spill_dir_;
  size_t in_memory_ = 0;
  store::SpillFile::LogFn spill_log_;
  std::atomic<uint64_t> spill_files_{0};
};

// Wall clock <-> the steady clock the broker runs on, for expiry times on disk.
int64_t wall_ms_now();
int64_t to_wall_ms(Clock::time_point t);
Clock::time_point from_wall_ms(int64_t ms);

}  // namespace mqbase::broker
