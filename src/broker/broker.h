// Broker: the state every connection shares — the sessions by client id, the subscription
// index, the retained messages, pending wills, the enhanced authenticators and the counters —
// and the routing of a PUBLISH to its subscribers. One Broker per server; net creates a
// Client per connection that calls into it.
// Thread-safety: every public method is safe from any thread.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/access_control.h"
#include "auth/enhanced_auth.h"
#include "broker/client_link.h"
#include "broker/limits.h"
#include "broker/message.h"
#include "broker/message_sink.h"
#include "broker/persistence.h"
#include "broker/replay.h"
#include "broker/retained_store.h"
#include "broker/session.h"
#include "broker/stats.h"
#include "broker/subscription_index.h"
#include "mqtt/packet.h"

namespace mqbase::broker {

// What a CONNECT asks of the session, already validated by the Client.
struct ConnectRequest {
  mqtt::Version version = mqtt::Version::v311;
  std::string client_id;  // empty: assign one
  bool clean_start = true;
  uint32_t session_expiry = 0;  // seconds; kSessionNeverExpires for 3.1.1 persistent sessions
  PeerLimits peer;
  Will will;  // msg null: none
  std::shared_ptr<const std::string> username;  // as authenticated (null: none)
  std::shared_ptr<const auth::TokenGrants> grants;  // a token's grants (null: none)
};

struct ConnectOutcome {
  mqtt::ReasonCode reason = mqtt::ReasonCode::success;
  std::shared_ptr<Session> session;  // set on success
  uint64_t generation = 0;
  std::string assigned_client_id;  // set when the server chose the id
  // The CONNACK waits for the session's record to be on disk: call Session::start(generation)
  // once Persistence::durable_lsn() has reached the calling thread's tracker.
  bool deferred = false;
  bool store_refused = false;  // refused because the store takes no records now
};

// Builds the CONNACK bytes once the session is known: (session present, assigned id).
using ConnackBuilder = std::function<std::string(bool session_present, const std::string& assigned_id)>;

class Broker {
 public:
  explicit Broker(Limits limits, ShareStrategy share_strategy = ShareStrategy::round_robin);
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  const Limits& limits() const { return limits_; }
  Stats& stats() { return stats_; }
  SubscriptionIndex& subscriptions() { return index_; }
  RetainedStore& retained() { return retained_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Registers an enhanced authentication method (MQTT 5 AUTH). Call before serving.
  void add_authenticator(std::shared_ptr<auth::EnhancedAuthenticator> a);

  // The authenticator for `method`, or null.
  std::shared_ptr<auth::EnhancedAuthenticator> authenticator(std::string_view method) const;

  // Password logins and ACL checks (docs/security.md). Set before serving; the broker keeps
  // it alive. The default (no files) lets in whom the listener's allow_anonymous lets in,
  // and allows everything.
  void set_access_control(std::shared_ptr<auth::AccessControl> access);
  auth::AccessControl* access_control() const { return access_.get(); }  // never null
  // The access control when it has an ACL to check, else null: the hot paths test only this.
  const auth::AccessControl* acl() const { return acl_; }

  // Durability: rebuilds the sessions, subscriptions, held messages, pending wills and
  // retained messages that `r` recovered from `p`, and from then on writes to `p` what must
  // survive a restart. Call once, before serving. Returns the wills that are due now (of
  // sessions that ended while the server was down, or whose delay has passed), for the
  // caller to publish once it serves.
  std::vector<MessagePtr> start_persistence(Persistence& p, Recovered& r);
  Persistence* persistence() const { return persist_; }
  // Messages whose topic the sink wants go to it too (telemetry into tables). Set before the
  // server starts; the sink outlives the broker's event loops.
  void set_sink(MessageSink* sink) { sink_ = sink; }
  MessageSink* sink() const { return sink_; }
  // Replays of history (broker/replay.h): SUBSCRIBE with replay-from asks `provider`. Set
  // before the server starts; it outlives the event loops. Null: no replays.
  void set_replay_provider(ReplayProvider* provider) { replay_ = provider; }
  ReplayProvider* replay_provider() const { return replay_; }
  // The session of `client_id`, or null.
  std::shared_ptr<Session> find_session(std::string_view client_id) const;

  // Admits a CONNECT: checks the client id, takes over any connection of the same id
  // ([MQTT-3.1.4-2]: the old one is closed, v5: DISCONNECT 0x8E), cancels its pending will,
  // resumes or replaces the session as Clean Start asks, and attaches `link`, sending the
  // CONNACK from `connack` first. On refusal returns the reason and sends nothing.
  ConnectOutcome connect(const ConnectRequest& req, const std::shared_ptr<ClientLink>& link,
                         const ConnackBuilder& connack);
  // 3.1.1 convenience form (used by tests): CONNACK without properties.
  ConnectOutcome connect(const mqtt::Connect& c, const std::shared_ptr<ClientLink>& link);

  // The connection of `session` at `generation` has ended. A session with expiry 0 is
  // discarded (with its subscriptions); others stay to collect messages until they expire.
  // The shared-subscription messages the client had not confirmed go at once to a connected
  // member of their group; when there is none they stay with the session (which completes
  // them on reconnect), or, for a discarded session, go to any member's session.
  void disconnect(const std::shared_ptr<Session>& session, uint64_t generation);

  // Routes `msg` to every matching subscriber, storing it first when retained. Returns the
  // number of deliveries. `publisher` is the link of the client that sent it: when a
  // subscriber's queue is full under QueueFullPolicy::backpressure, the subscriber remembers
  // it to resume it later, and `notes->congested` is set: the caller then pauses the
  // publisher. A retained message the store's quota refuses is still routed, and
  // `notes->retain_refused` is set.
  struct PublishNotes {
    bool congested = false;
    bool retain_refused = false;
  };
  size_t publish(const MessagePtr& msg, const std::shared_ptr<ClientLink>* publisher = nullptr,
                 PublishNotes* notes = nullptr);
  // Whether the ACL lets a message on `topic` go to the client of `session` (true without an ACL).
  bool may_receive(const Session& session, std::string_view topic) const;
  // The same check as a function of the topic alone, for a check made later under a session's
  // lock (a replay's messages, a resumed queue): client `client_id` logged in as `login`, the
  // ACL as it is at each call; a refusal counts in acl_denied. Empty without an ACL.
  std::function<bool(std::string_view topic)> read_check(std::string client_id, auth::Identity login);
  // Publishes the will of the client of `session` (null: its session is gone; then the check
  // made at CONNECT stands), unless the ACL, as it is now (a SIGHUP may have changed it since
  // the CONNECT), no longer lets that client write to the will's topic, as mosquitto checks.
  void publish_will(const MessagePtr& will, const Session* session);
  // Whether the ACL lets client `client_id`, logged in as `login`, publish its will to `topic`
  // now; a refusal is logged and counted (acl_denied, a not_authorized drop).
  bool will_permitted(const std::string& client_id, const auth::Identity& login, std::string_view topic);

  // store_refused: the session outlives its connection and the store takes no records now
  // (full or failing disk, over its budget): a subscription it could not keep is not made.
  enum class SubscribeResult : uint8_t { added, replaced, quota_exceeded, store_refused };
  // The filters of one SUBSCRIBE from the connection of `session` at `generation`, added under
  // one exclusive lock of the index (and remembered by the session). A filter beyond
  // Limits::max_subscriptions_per_client is refused. Returns one result per filter, or nothing
  // when that connection has been taken over: then nothing changes, since the session (or its
  // successor) belongs to the new connection.
  std::optional<std::vector<SubscribeResult>> subscribe(
      const std::shared_ptr<Session>& session, uint64_t generation,
      const std::vector<std::pair<std::string, SubscriptionOptions>>& subs);
  // The same for UNSUBSCRIBE: per filter, whether a subscription existed.
  std::optional<std::vector<bool>> unsubscribe(const std::shared_ptr<Session>& session, uint64_t generation,
                                               const std::vector<std::string>& filters);

  // A normal DISCONNECT from the connection of `session` at `generation` (its will cleared, its
  // expiry as the DISCONNECT set it): writes what that changes in the session's record, or
  // deletes the record when the session ends with the connection. Before the close, so that
  // the close can wait for it.
  void persist_disconnect(const std::shared_ptr<Session>& session, uint64_t generation);

  // The connection of `session` at `generation` ended without a normal DISCONNECT: its will
  // goes out at `when` unless the client reconnects first (Will Delay Interval). Returns
  // false, scheduling nothing, when a new connection has already taken the session over
  // (which cancels the will, [MQTT-3.1.3-9]). Atomic with connect(): a takeover either
  // happens before (false) or finds the will scheduled and cancels it.
  // The session keeps the will meanwhile (its record carries it across a restart).
  bool schedule_will(const std::shared_ptr<Session>& session, uint64_t generation, Will will,
                     Clock::time_point when);

  // $SYS: `refresh` brings the retained $SYS values up to date (the server sets it when $SYS
  // is on; call before serving). refresh_sys() runs it, or nothing when none is set.
  void set_sys_refresh(std::function<void()> refresh) { sys_refresh_ = std::move(refresh); }
  void refresh_sys() const {
    if (sys_refresh_) sys_refresh_();
  }

  // Periodic work: publishes wills whose delay ran out, ends expired sessions, removes expired
  // retained messages. Returns the number of sessions ended. Looks only at what is due, never
  // at every session.
  size_t tick(Clock::time_point now);

  size_t session_count() const;
  // Messages queued and in flight over all sessions (/metrics). Visits every session: for a
  // scrape every few seconds, not for a hot path.
  struct QueueTotals {
    uint64_t queued = 0, inflight = 0, sessions = 0;
  };
  QueueTotals queue_totals() const;
  // An operator ends the connection of `client_id` (HTTP POST /api/clients/disconnect): an
  // MQTT 5 client hears DISCONNECT 0x98 (administrative action). Like any connection that ends
  // without a DISCONNECT of its own, its will goes out and a persistent session stays. False
  // when no such client is connected.
  bool disconnect_client(std::string_view client_id);
  // Every session's Info (a copy: the SQL views of the broker), and the retained messages
  // (but $SYS), in no particular order.
  std::vector<Session::Info> sessions_snapshot() const;
  std::vector<MessagePtr> retained_snapshot();

 private:
  // Removes `session` and its subscriptions; returns whether that took the index's exclusive
  // lock (so every reader that started before is done).
  bool discard_locked(const std::shared_ptr<Session>& session);
  // Writes the record of `session` when it has one to keep (it outlives its connection or
  // holds a will).
  void persist_session_locked(Session& session);
  // Deletes the record of `session` and all it holds on disk (subscriptions `filters`).
  void delete_records_locked(Session& session, const std::vector<std::string>& filters);
  void redistribute(const std::shared_ptr<Session>& from, bool discarded);
  void forget_expiry_locked(const Session* session);
  std::string assign_client_id();

  const Limits limits_;
  Stats stats_;
  SubscriptionIndex index_;
  RetainedStore retained_;
  const std::chrono::steady_clock::time_point started_;
  std::map<std::string, std::shared_ptr<auth::EnhancedAuthenticator>, std::less<>> authenticators_;
  std::shared_ptr<auth::AccessControl> access_;
  const auth::AccessControl* acl_ = nullptr;  // access_, when it has an ACL file

  mutable std::mutex sessions_mutex_;
  // By client id. A key views its Session's own client id (const, and alive as long as the
  // entry holds the Session), so the registry keeps no second copy of every id.
  std::unordered_map<std::string_view, std::shared_ptr<Session>> sessions_;
  struct PendingWill {
    MessagePtr msg;
    Clock::time_point when;
    std::weak_ptr<Session> session;
  };
  std::unordered_map<std::string, PendingWill> pending_wills_;  // under sessions_mutex_
  // Disconnected sessions that expire, by when (under sessions_mutex_), and each one's entry.
  std::multimap<Clock::time_point, std::shared_ptr<Session>> expiring_;
  std::unordered_map<const Session*, std::multimap<Clock::time_point, std::shared_ptr<Session>>::iterator> expiry_of_;
  uint64_t next_assigned_id_ = 0;
  Persistence* persist_ = nullptr;
  MessageSink* sink_ = nullptr;
  ReplayProvider* replay_ = nullptr;
  uint64_t last_incarnation_ = 0;  // under sessions_mutex_
  std::function<void()> sys_refresh_;
};

}  // namespace mqbase::broker
