// Session: the state MQTT keeps for one client id across connections: its subscriptions,
// the QoS 1/2 messages in flight to it or queued for it, the QoS 2 packet ids it has sent us
// and not yet released, and how long it outlives its connection (Session Expiry Interval;
// 3.1.1's Clean Session maps to 0 or "never"). A connection attaches on CONNECT and
// detaches on close.
//
// Thread-safety: every public method is safe from any thread (one 4-byte Mutex per session).
// Deliveries arrive from the publishers' event loops; acknowledgements from the loop of the
// attached connection. Each attachment gets a generation number: calls made on behalf of a
// connection carry it, so a connection that has been taken over can no longer change the
// session. deliver_qos0() takes no lock: it reads the attached link through an atomic pointer,
// so whoever detaches a link keeps it alive until such calls that may have read it are over
// (the Broker runs them under the subscription index's read lock and waits out the readers).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "auth/acl_file.h"
#include "auth/token_grants.h"
#include "broker/client_link.h"
#include "broker/limits.h"
#include "broker/message.h"
#include "broker/mutex.h"
#include "broker/persistence.h"
#include "broker/replay.h"
#include "broker/ring.h"
#include "broker/stats.h"
#include "broker/subscription_index.h"
#include "mqtt/types.h"

namespace mqbase::broker {

inline constexpr uint32_t kSessionNeverExpires = 0xFFFFFFFF;

// How one message goes to this session: the QoS (already the min of the message's and the
// subscription's), the RETAIN bit to send, the Subscription Identifiers to attach, and the
// shared subscription it came through (null for ordinary subscriptions).
struct Delivery {
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> identifiers;
  std::shared_ptr<const std::string> share;
  // For QoS 0: the PUBLISH already encoded for MQTT 3.x, shared by every 3.x subscriber of
  // the message (encode once per variant, not per subscriber). Valid during deliver() only.
  std::string_view encoded_v3;
  // QoS 0 sent even when the connection is backed up: the caller paces the sends itself to
  // the client's speed (retained messages after a SUBSCRIBE).
  bool paced = false;
};

// A shared-subscription message taken back from a session whose client left, to be handed to
// another member of the group.
struct Undelivered {
  MessagePtr msg;
  Delivery delivery;
  uint64_t seq = 0;  // its record in the store (0: none); the taker deletes it once handed on
};

// A will as its session keeps it until it is published or discarded.
struct Will {
  MessagePtr msg;
  uint32_t delay = 0;   // Will Delay Interval, seconds
  uint32_t expiry = 0;  // Message Expiry Interval from the will's publication, seconds (0: none)
};

class Session {
 public:
  Session(std::string client_id, uint32_t expiry_interval, const Limits& limits, Stats& stats);
  // 3.1.1 form: a clean session ends with its connection, a persistent one never expires.
  Session(std::string client_id, bool clean, const Limits& limits, Stats& stats)
      : Session(std::move(client_id), clean ? 0 : kSessionNeverExpires, limits, stats) {}
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& client_id() const { return client_id_; }

  // Durability: from now on this session writes its held messages, their QoS 2 states and the
  // incoming QoS 2 ids to `p` while its expiry interval is not 0, as `incarnation`. Call once,
  // before the session is shared.
  void set_persistence(Persistence* p, uint64_t incarnation);
  uint64_t incarnation() const { return incarnation_; }
  // The session record as it stands (what Persistence::put_session writes).
  SessionImage image() const;
  // Rebuilds what a recovered session held: its messages (in flight or queued; it takes r's
  // spill file) and incoming QoS 2 ids. Before the session is shared.
  void restore(RecoveredSession& r, Clock::time_point disconnected_at);
  // The sequence numbers of the messages it holds in the store and its incoming QoS 2 ids,
  // for Persistence::delete_session; without the shared-subscription messages that
  // take_shared_messages() would hand on (whoever hands them on deletes them).
  void durable_records(std::vector<uint64_t>& seqs, std::vector<uint16_t>& incoming) const;

  // The will of the connection, kept for the session's record (set at CONNECT, cleared when
  // it goes out or is discarded).
  void set_will(Will w);
  void clear_will();
  // The same for the connection of generation `gen` only (nothing once it was taken over).
  void clear_will(uint64_t gen);
  bool has_will() const;
  // Whether the broker has written this session's record (so ending it deletes records).
  void mark_recorded(bool recorded = true);
  bool recorded() const;
  // True when the session ends with its connection (expiry interval 0).
  bool clean() const;
  uint32_t expiry_interval() const;
  void set_expiry_interval(uint32_t seconds);

  // Attaches `link` as the connection of this session, sends `connack` on it first, then
  // resends every unacknowledged message (PUBLISH with DUP, or PUBREL) in their original
  // order, then as much of the queue as the in-flight window allows. Returns the generation
  // that identifies this attachment. Any previous link must have been released.
  //
  // With `defer_start`, nothing is sent yet: the session keeps the CONNACK until start(),
  // called once what the CONNECT changed is on disk, and queues meanwhile as if offline.
  uint64_t attach(std::shared_ptr<ClientLink> link, const PeerLimits& peer, uint32_t expiry_interval,
                  std::string_view connack, bool defer_start = false);
  // Sends the CONNACK attach() kept, then the resends and the queue. Nothing when `gen` is no
  // longer current.
  void start(uint64_t gen);
  uint64_t attach(std::shared_ptr<ClientLink> link, mqtt::Version version, bool clean, std::string_view connack) {
    return attach(std::move(link), PeerLimits{version}, clean ? 0 : kSessionNeverExpires, connack);
  }

  // Releases the link for a takeover and returns it (null when none); the old connection's
  // later calls no longer match the generation.
  std::shared_ptr<ClientLink> release_link();
  // The connection the session is attached to now (null: none).
  std::shared_ptr<ClientLink> link() const;

  // Detaches the connection of generation `gen` at `now`. Returns false when `gen` is not
  // current (the session was taken over), in which case nothing changes. The link moves to
  // `released` when given (for a caller that must outlive deliver_qos0() calls with it).
  bool detach(uint64_t gen, Clock::time_point now = Clock::now(), std::shared_ptr<ClientLink>* released = nullptr);

  // The user name the client logged in with (null: none) and its token's grants (null: none),
  // for the ACL's checks of what is delivered to it. Set by the Broker at each CONNECT, before
  // attach(), and by the Client when a re-authentication brings new grants.
  void set_username(std::shared_ptr<const std::string> username,
                    std::shared_ptr<const auth::TokenGrants> grants = nullptr);
  std::shared_ptr<const std::string> username() const;
  // The user name and the grants, read together.
  auth::Identity login() const;

  bool is_current(uint64_t gen) const;
  bool connected() const;
  // When a detached session's expiry interval has run out at `now`.
  bool expired(Clock::time_point now) const;

  // Routes `msg` to this session. QoS 0 goes out at once or is dropped when the connection is
  // backed up or absent; QoS 1/2 go out when the in-flight window has room, else wait in the
  // queue. Expired messages are dropped; a message larger than the client's Maximum Packet
  // Size is skipped.
  //
  // A full queue (Limits::max_queued_messages or max_queued_bytes) drops the newest message,
  // counted, while the session is offline or under QueueFullPolicy::drop, unless the session
  // is durable (persistence on, expiry not 0): its queue is bounded by the store's budget. Under
  // QueueFullPolicy::backpressure a connected session keeps it (the limit is then the point
  // where its publishers stop), and when `publisher` is given, the publisher's link is
  // remembered and true returned: the caller pauses that link (ClientLink::pause_reading),
  // and the session resumes it once its queue is down to half the limit, or when its client
  // leaves.
  bool deliver(const MessagePtr& msg, const Delivery& d, const std::shared_ptr<ClientLink>* publisher = nullptr);
  void deliver(const MessagePtr& msg, uint8_t qos, bool retain_flag) { deliver(msg, Delivery{qos, retain_flag, {}, {}, {}}); }
  // deliver() of a QoS 0 `d` without the session's lock, for the common case where the bytes
  // depend on nothing but the message and the client's limits. Returns false, having done
  // nothing, when the client uses topic aliases (session state): then call deliver(). The
  // caller keeps the attached link alive for the call (see the thread-safety note above).
  bool deliver_qos0(const Message& msg, const Delivery& d);

  // The batch that holds the publish_stored entry `seq` was written at `lsn` (0: refused; it is
  // then sent at once, as a write the store took no longer would be). See
  // Persistence::begin_batch.
  void stored_at(uint64_t seq, Lsn lsn);

  // The store's durable LSN has reached `durable` (the link's loop, after
  // ClientLink::await_durable()): the QoS 2 PUBLISHes that waited for it go out, in order.
  void on_durable(Lsn durable);

  // Outgoing acknowledgements from the client of generation `gen`.
  void on_puback(uint64_t gen, uint16_t packet_id);   // QoS 1 done
  // QoS 2 step 1. Returns the reason of the PUBREL the caller must send (through its
  // durability gate: the state change is written to the store first), or nothing when no
  // PUBREL follows (an error PUBREC, or an acknowledgement of an old generation).
  std::optional<mqtt::ReasonCode> on_pubrec(uint64_t gen, uint16_t packet_id, bool error = false);
  void on_pubcomp(uint64_t gen, uint16_t packet_id);  // QoS 2 done

  // Incoming QoS 2: returns true the first time `packet_id` is seen (the message must be
  // routed), false for a resend before PUBREL (it must not be routed again).
  bool begin_incoming_qos2(uint16_t packet_id);
  // Writes that `packet_id` was seen to the store (durable sessions), so that after a restart
  // a resent PUBLISH with it is not routed again. In one atomic batch with the routing of the
  // message (Persistence::begin_batch): split by a crash, the message would be lost (the resend
  // taken as seen, the message's records gone) or delivered twice.
  void persist_incoming_qos2(uint16_t packet_id);
  // PUBREL received: forgets `packet_id`. Returns whether it was known.
  bool release_incoming_qos2(uint16_t packet_id);
  size_t incoming_qos2_count() const;

  // The shared subscriptions ("$share/g/f") of the messages take_shared_messages() would take.
  std::vector<std::shared_ptr<const std::string>> shared_groups_held() const;
  // Takes back the shared-subscription messages of the groups `take(share)` accepts that the
  // client has not confirmed (queued, or QoS 1 unacknowledged), in order, so another member
  // of the group can have them. A QoS 2 message once sent stays: only this client may
  // complete it, on reconnect, and no one else may have it if it does not ([MQTT-4.8.2-4/5]).
  std::vector<Undelivered> take_shared_messages(const std::function<bool(const std::string& share)>& take);

  // Replay of history (broker/replay.h). From now on the session sends `feed`'s messages,
  // with Subscription Identifier `identifier` (0: none), before any live one: those wait in
  // its queue meanwhile, QoS 0 too (within the queue's limits). Several replays go one after
  // the other. Call before the subscription that it follows is made, and ReplayProvider::start
  // after: a live message in between waits too.
  // `may_read` (empty: everything) decides each replayed message's topic as the ACL decides a
  // delivery: a filter the ACL granted may cover topics a deny rule withholds. It runs under
  // the session's lock, so it must not call into the session.
  void begin_replay(std::shared_ptr<ReplayFeed> feed, uint32_t identifier,
                    std::function<bool(std::string_view topic)> may_read = {});
  // Before attach() resumes the session: the messages its queue holds meet `may_read` again as
  // they are sent, until the queue has drained once. One it refuses is dropped (its record
  // too), counted as not_authorized. Under the session's lock, as begin_replay's.
  void recheck_queue(std::function<bool(std::string_view topic)> may_read);
  // The feed has more, or is done (any thread): sends what the window takes.
  void replay_ready();
  // Replays not finished (begun and not done).
  size_t replays() const;
  // A replay, or the seam after one, still has live QoS 0 take the locked path.
  bool replaying() const { return replaying_.load(std::memory_order_acquire); }

  // Subscriptions as the session remembers them (the index holds the routing copy).
  void remember_subscription(const std::string& filter, SubscriptionOptions opts);
  void forget_subscription(const std::string& filter);
  bool has_subscription(const std::string& filter) const;
  size_t subscription_count() const;
  std::map<std::string, SubscriptionOptions> take_subscriptions();
  std::vector<std::string> subscription_filters() const;

  // Messages waiting to be sent: in memory and, past Persistence::queue_in_memory(), in the
  // spill file.
  // What the mqtt_sessions, mqtt_clients and mqtt_subscriptions views show of a session.
  struct Info {
    std::string client_id;
    bool connected = false;
    uint8_t protocol = 4;       // 3: MQTT 3.1, 4: 3.1.1, 5: 5.0
    uint32_t expiry_interval = 0;
    size_t queued = 0, inflight = 0;
    std::string address;        // of the connection, when connected
    std::shared_ptr<const std::string> username;  // of the last login (null: none)
    int64_t disconnected_wall_ms = 0;
    std::map<std::string, SubscriptionOptions> subscriptions;
  };
  Info info() const;
  size_t queued() const;
  size_t queued_in_memory() const;
  size_t inflight() const;

 private:
  enum class InflightState : uint8_t {
    publish_sent,
    // A PUBLISH (with DUP) to resend after a reconnect, held back while the new connection's
    // Receive Maximum has no room for it.
    publish_unsent,
    pubrel_sent,
    // QoS 2 to a durable session, its packet id assigned: sent once its records (the message,
    // the id) are on disk. Sent earlier, a crash could make the client take it twice: the
    // publisher, not yet acknowledged, sends it again, or the restart resends it under
    // another id.
    publish_stored,
  };
  struct Inflight {
    uint16_t packet_id;
    InflightState state;
    MessagePtr msg;
    Delivery delivery;
    uint64_t seq = 0;  // its record in the store; 0: none
    Lsn lsn = 0;       // publish_stored: sent once the store is durable up to here
    bool settles = false;  // counts in msg->unsettled until its PUBACK (Persistence::Tracker::routing)
    Lsn put_lsn = 0;       // its record, while the PUBACK may still take it back (cancel_message)
  };
  struct Queued {
    MessagePtr msg;
    Delivery delivery;
    uint64_t seq = 0;
    bool settles = false;
    Lsn put_lsn = 0;
    // Restored after a restart from the front of the queue, QoS 1: it may have gone out before
    // the crash (QoS 1 sends leave no record), so it goes with DUP ([MQTT-3.3.1-1]).
    bool maybe_sent = false;
  };

  uint16_t next_packet_id();
  // Connected, and the CONNACK is out: PUBLISHes may go.
  bool live() const { return link_ && connack_.empty(); }
  // Writes go to the store (persistence on, and the session outlives its connection).
  bool durable() const { return persist_ && expiry_interval_ != 0; }
  // The store forgets the message of `seq` (acknowledged, expired, skipped).
  void forget_durable(uint64_t seq, bool with_state = true) {
    if (seq && persist_) persist_->delete_message(client_id_, seq, with_state);
  }
  // Sends the kept CONNACK, the resends, and what the window takes of the queue.
  void start_locked();
  // Sends the publish_stored entries whose records are durable at `durable`, in their order,
  // up to the first that is not; asks the link to call back for the rest.
  void send_stored(Lsn durable);
  // Sends `q` under a new packet id and puts it in flight.
  void send_new(Queued q);
  // A copy that counted in msg.unsettled was acknowledged by this session's client.
  static void settle(const Message& msg);
  // Encodes and sends on link_; false when the message cannot go to this client (too large
  // for its Maximum Packet Size), in which case it counts as delivered.
  bool send_publish(const Message& m, const Delivery& d, uint16_t packet_id, bool dup);
  void send_pubrel(uint16_t packet_id, mqtt::ReasonCode reason = mqtt::ReasonCode::success);
  void pump();  // resends held-back PUBLISHes, then moves queued messages into the window while it has room
  // pump()'s part for replays: sends what the feeds have while the window and the connection's
  // write buffer have room. True once every feed is done (the queue may go).
  bool pump_replay();
  // The seam between a replay and the live messages (broker/replay.h): true when `msg` is a
  // live copy of one the replay has already sent (drop it).
  bool replayed_already(const Message& msg);
  size_t window() const;
  size_t our_window() const;  // limits.max_inflight_messages, whatever the client's Receive Maximum
  // The queue has reached its message or byte limit.
  bool queue_full() const;
  size_t queue_size() const { return queue_.size() + (spill_ ? spill_->size() : 0); }
  bool queue_empty() const { return queue_.empty() && !spill_; }
  // Appends to the queue: in memory, or in the spill file once queue_in_memory() are in memory
  // (and then until the spill file is empty again, so that the order holds).
  void push_queue(Queued q);
  // The front of the queue; the queue must not be empty. Reads the spill file back into
  // memory once the queue in memory is down to half of queue_in_memory().
  std::optional<Queued> pop_queue();
  // Moves up to `max` messages from the spill file to the end of the queue in memory.
  void unspill(size_t max);
  // Resumes every publisher paused on this session (wake_publishers_ is set).
  void wake_publishers();

  // Idle sessions are the common case, so members are ordered largest alignment first (no
  // padding between them) and state most sessions never use sits behind a null pointer.
  const std::string client_id_;
  const Limits& limits_;
  Stats& stats_;
  std::shared_ptr<ClientLink> link_;
  std::shared_ptr<const std::string> username_;
  std::shared_ptr<const auth::TokenGrants> grants_;
  // link_, for deliver_qos0(): set once attach() has queued the CONNACK and the resends,
  // cleared when the link goes
  std::atomic<ClientLink*> fast_link_{nullptr};
  uint64_t generation_ = 0;
  Clock::time_point disconnected_at_{};
  Ring<Inflight> inflight_;  // in send order; acknowledgements mostly take the front
  size_t unsent_ = 0;               // entries of inflight_ in state publish_unsent
  bool ids_in_order_ = true;        // inflight_'s packet ids all came from next_packet_id(), in order
  std::list<Queued> queue_;  // a list: an empty one allocates nothing (idle sessions are the common case)
  // The queue behind queue_, when it outgrew Persistence::queue_in_memory(); null when empty.
  std::unique_ptr<store::SpillFile> spill_;
  std::map<std::string, SubscriptionOptions> subscriptions_;
  // Incoming QoS 2 packet ids awaiting PUBREL; allocated on the first, freed when the last goes.
  std::unique_ptr<std::unordered_set<uint16_t>> incoming_qos2_;
  // Outgoing topic aliases, this connection only; allocated for clients that allow aliases.
  std::unique_ptr<std::unordered_map<std::string, uint16_t>> topic_aliases_;
  // Publishers paused until this session's queue drains (backpressure); allocated on first use.
  std::unique_ptr<std::vector<std::weak_ptr<ClientLink>>> paused_publishers_;
  uint64_t queued_bytes_ = 0;  // payload and topic bytes of queue_
  Persistence* persist_ = nullptr;
  uint64_t incarnation_ = 0;
  uint64_t last_seq_ = 0;  // the last sequence number a held message got in the store
  std::string connack_;    // kept by a deferred attach() until start()
  std::unique_ptr<Will> will_;
  // Replays under way and the seam's memory; null when none (the common case).
  struct ReplayState;
  std::unique_ptr<ReplayState> replay_;
  // recheck_queue()'s check; null when none (the common case).
  std::unique_ptr<std::function<bool(std::string_view)>> recheck_;
  int64_t disconnected_wall_ms_ = 0;
  uint8_t protocol_ = 4;
  bool recorded_ = false;
  // replay_ is set: QoS 0 takes the locked path (deliver_qos0() declines).
  std::atomic<bool> replaying_{false};
  mutable Mutex mutex_;
  uint32_t expiry_interval_;
  uint16_t last_packet_id_ = 0;
};

}  // namespace mqbase::broker
