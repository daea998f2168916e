// RetainedStore: the last retained message of each topic, as a trie over topic levels so a
// wildcard SUBSCRIBE finds its retained messages without scanning every topic. A message with
// an MQTT 5 Message Expiry Interval leaves the store once it expires: match() drops what has
// expired before it looks, and remove_expired() (from Broker::tick) sweeps the rest, so an
// expired message neither reaches a subscriber nor holds memory or counts in size(). An
// optional quota (limits.max_retained_messages / max_retained_bytes) bounds what clients keep.
// Thread-safety: all methods are safe from any thread (one mutex; retained traffic is light
// next to routing, and lookups happen on SUBSCRIBE, not per PUBLISH).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/message.h"

namespace mqbase::broker {

class Persistence;

class RetainedStore {
 public:
  // `max_messages` and `max_bytes` (0 = unlimited) bound the retained messages clients keep:
  // topic + payload + MQTT 5 properties count as bytes; $SYS topics (the broker's own) count
  // in neither.
  explicit RetainedStore(size_t max_messages = 0, size_t max_bytes = 0);
  ~RetainedStore();
  RetainedStore(const RetainedStore&) = delete;
  RetainedStore& operator=(const RetainedStore&) = delete;

  // Stores `msg` as the retained message of its topic, replacing any; an empty payload
  // clears the topic instead ([MQTT-3.3.1-10/11]). Returns false, storing nothing and
  // keeping what the topic had, when the quota refuses it: a new topic past max_messages,
  // or a message that would take the bytes past max_bytes. Clearing is always allowed.
  bool set(const MessagePtr& msg);

  // From now on every change (but of $SYS topics) is written to `p`, under the store's lock so
  // that the records of one topic are in the order of the changes. Before serving.
  void set_persistence(Persistence* p) { persist_ = p; }

  // Appends to `out` the retained messages whose topics match `filter` (a valid filter).
  // Messages that have expired are removed first and never appended ([MQTT-3.3.2-5]).
  void match(std::string_view filter, std::vector<MessagePtr>& out);

  // Removes every message that has expired at `now`. Returns how many went.
  size_t remove_expired(Clock::time_point now);

  size_t size() const;
  // How many set() calls the quota refused since start.
  uint64_t refused() const;

 private:
  struct Node;
  // When each message with a Message Expiry Interval expires, earliest first.
  using ExpiryIndex = std::multimap<Clock::time_point, Node*>;

  void collect(const Node& root, std::string_view filter, std::vector<MessagePtr>& out) const;
  size_t remove_expired_locked(Clock::time_point now);
  // Sets or clears `node`'s message, keeping the count and the expiry index right; a node
  // left with neither a message nor children is removed, and so are its empty parents.
  void assign_locked(Node* node, MessagePtr msg);
  // Whether the quota lets `msg` replace what its topic holds; if not, names the limit in `why`.
  bool fits_quota_locked(const Message& msg, const char*& why) const;
  Node* find_locked(std::string_view topic) const;

  mutable std::mutex mutex_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
  ExpiryIndex expiry_;
  const size_t max_messages_;
  const size_t max_bytes_;
  size_t quota_messages_ = 0;  // what counts against the quota: all but $SYS
  size_t quota_bytes_ = 0;
  uint64_t refused_ = 0;
  Persistence* persist_ = nullptr;
};

}  // namespace mqbase::broker
