// SubscriptionIndex: every subscription of every session, as a trie over topic levels, so a
// PUBLISH finds its subscribers by walking the topic's levels instead of testing each filter.
// Shared subscriptions ("$share/{group}/{filter}") hang off the same trie node as their
// filter, one group per name; a message matching a group goes to one of its members.
// Thread-safety: all methods are safe from any thread. Matching takes a shared lock (many
// publishers at once, each loop through its own slot of a ReadMostlyMutex, no locked
// instruction); subscribe/unsubscribe take it exclusively. Read-mostly by design. Each
// thread also keeps a small cache of recent match results (match_cached_locked).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/message.h"
#include "broker/mutex.h"

namespace mqbase::broker {

class Session;

struct SubscriptionOptions {
  uint8_t qos = 0;
  bool no_local = false;             // v5: not delivered to the publishing session
  bool retain_as_published = false;  // v5: keep the publisher's RETAIN flag on forward
  uint8_t retain_handling = 0;       // v5: 0 send retained, 1 only if new, 2 never
  uint32_t identifier = 0;           // v5 Subscription Identifier, 0 = none
  bool operator==(const SubscriptionOptions&) const = default;
};

// How a shared subscription group picks the member that gets a message.
enum class ShareStrategy { round_robin, random, sticky, hash_client, hash_topic };

// One delivery of a PUBLISH: a session, the QoS to send at (the highest of its matching
// filters, before the min with the message's QoS), and what the matching subscriptions add.
// The session is not owned: it stays alive while the index's read lock is held (the index
// holds a reference to every subscribed session), or while the caller holds one.
struct MatchedSubscriber {
  Session* session = nullptr;
  uint8_t qos = 0;
  bool retain_as_published = false;
  std::vector<uint32_t> identifiers;             // Subscription Identifiers, ascending
  std::shared_ptr<const std::string> share;      // the "$share/g/f" it came through, if shared
};

class SubscriptionIndex {
 public:
  explicit SubscriptionIndex(ShareStrategy strategy = ShareStrategy::round_robin);
  ~SubscriptionIndex();
  SubscriptionIndex(const SubscriptionIndex&) = delete;
  SubscriptionIndex& operator=(const SubscriptionIndex&) = delete;

  // Adds or replaces `session`'s subscription to `filter` (a valid filter, or a valid
  // "$share/{group}/{filter}"). Returns true when it is new, false when an existing one was
  // replaced ([MQTT-3.8.4-3]).
  bool add(const std::shared_ptr<Session>& session, std::string_view filter, SubscriptionOptions opts);

  // Removes `session`'s subscription to `filter`. Returns whether one existed.
  bool remove(const Session* session, std::string_view filter);

  // add() and remove() of many filters under one exclusive lock (a SUBSCRIBE with many
  // filters, a session that ends): publishers wait for the index once, not once per filter.
  // Return, per filter in order, what add() / remove() would.
  std::vector<bool> add_all(const std::shared_ptr<Session>& session,
                            const std::vector<std::pair<std::string, SubscriptionOptions>>& subs);
  std::vector<bool> remove_all(const Session* session, const std::vector<std::string>& filters);

  // The shared lock. While it is held no subscription is added or removed, so the sessions
  // match_locked() returns stay alive: deliver to them before letting go. Take it once per
  // message; it must not be held while subscribing.
  std::shared_lock<ReadMostlyMutex> read_lock() const { return std::shared_lock(mutex_); }

  // Returns once every read_lock() taken before the call has been let go (a grace period, as
  // RCU's synchronize): what readers may have reached through the index before is then no
  // longer in use. Must not be called while holding read_lock().
  void synchronize() const { std::unique_lock wait_for_readers(mutex_); }

  // Fills `out` (cleared first) with the deliveries of a message on `topic` published by
  // `origin` (for No Local; may be null): one entry per session over its ordinary
  // subscriptions ([MQTT-3.3.5-1]), plus one entry per matching shared group. The caller holds
  // read_lock().
  void match_locked(std::string_view topic, const Session* origin, std::vector<MatchedSubscriber>& out) const;
  // match_locked() through a small per-thread cache of recent topics: a result is kept until
  // a subscription whose filter matches its topic is added, changed or removed, so a topic
  // published again skips the walk down the trie, also while other clients subscribe and
  // unsubscribe (a storm of devices reconnecting). Results that depend on the publisher (a No
  // Local subscription matched) or that pick a shared-group member per message, and long
  // lists, are not kept. The caller holds
  // read_lock(); the reference is valid until this thread's next call.
  const std::vector<MatchedSubscriber>& match_cached_locked(std::string_view topic, const Session* origin) const;
  // How many times match_cached_locked() walked the trie on this thread (a result not in the
  // cache, or no longer valid): for tests.
  static uint64_t thread_cache_walks();
  // The same, taking the lock for the match only (the caller keeps the sessions alive).
  void match(std::string_view topic, const Session* origin, std::vector<MatchedSubscriber>& out) const {
    auto lock = read_lock();
    match_locked(topic, origin, out);
  }
  void match(std::string_view topic, std::vector<MatchedSubscriber>& out) const { match(topic, nullptr, out); }

  // Picks a member of the shared subscription `share` ("$share/g/f") other than `exclude`,
  // preferring connected ones, to take over a message. Returns it in `out` and `owner` (a
  // reference that keeps it alive). Returns false when there is none, or, with
  // `connected_only`, when none is connected.
  bool pick_other_member(const std::string& share, const Session* exclude, MatchedSubscriber& out,
                         std::shared_ptr<Session>& owner, bool connected_only = false) const;

  size_t size() const;

 private:
  struct Node;
  struct Group;
  bool add_locked(const std::shared_ptr<Session>& session, std::string_view filter, SubscriptionOptions opts);
  bool remove_locked(const Session* session, std::string_view filter);
  void match_walk(std::string_view topic, const Session* origin, std::vector<MatchedSubscriber>& out) const;
  void add_node(const Node& n, std::string_view topic, const Session* origin,
                std::vector<MatchedSubscriber>& out) const;
  Node* find(std::string_view filter) const;
  // Records a change to the subscriptions of `filter` (the path, without "$share/g/"): a new
  // version_, and the filter in changes_. Under the write lock.
  void changed(std::string_view filter);
  // Whether a cached result of `topic` made at `version` still holds: no change since then has
  // a filter matching the topic (all of them still in changes_, and few enough to check). The
  // caller holds read_lock().
  bool still_valid(uint64_t version, std::string_view topic) const;

  const ShareStrategy strategy_;
  mutable ReadMostlyMutex mutex_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
  // Names this state of the index for match_cached_locked(): a fresh number from a
  // process-wide counter at construction and at every change (under the write lock), so no
  // two states of any two indexes share one.
  uint64_t version_;
  // The latest changes, in a ring: a cached result from version v is carried forward when
  // every change after v is here (v >= floor_, the newest one evicted) and none matches it.
  struct Change {
    uint64_t version = 0;
    std::string filter;
  };
  static constexpr size_t kChanges = 32;
  static constexpr size_t kMaxChecked = 16;
  std::array<Change, kChanges> changes_;
  size_t changes_count_ = 0;
  uint64_t floor_;
};

}  // namespace mqbase::broker
