// SubscriptionIndex: every subscription of every session, as a trie over topic levels, so a
// PUBLISH finds its subscribers by walking the topic's levels instead of testing each filter.
// Thread-safety: all methods are safe from any thread. Matching takes a shared lock (many
// publishers at once); subscribe/unsubscribe take it exclusively. Read-mostly by design.
#pragma once
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mqbase::broker {

class Session;

struct SubscriptionOptions {
  uint8_t qos = 0;
  bool operator==(const SubscriptionOptions&) const = default;
};

// One subscriber of a PUBLISH: a session with the highest QoS among its matching filters.
struct MatchedSubscriber {
  std::shared_ptr<Session> session;
  uint8_t qos = 0;
};

class SubscriptionIndex {
 public:
  SubscriptionIndex();
  ~SubscriptionIndex();
  SubscriptionIndex(const SubscriptionIndex&) = delete;
  SubscriptionIndex& operator=(const SubscriptionIndex&) = delete;

  // Adds or replaces `session`'s subscription to `filter` (a valid filter). Returns true when
  // it is new, false when an existing one was replaced ([MQTT-3.8.4-3]).
  bool add(const std::shared_ptr<Session>& session, std::string_view filter, SubscriptionOptions opts);

  // Removes `session`'s subscription to `filter`. Returns whether one existed.
  bool remove(const Session* session, std::string_view filter);

  // Appends to `out` one entry per session with a filter matching `topic`, at the highest QoS
  // of its matching filters ([MQTT-3.3.5-1]). `out` is cleared first.
  void match(std::string_view topic, std::vector<MatchedSubscriber>& out) const;

  size_t size() const;

 private:
  struct Node;
  void match_level(const Node& node, std::string_view topic, size_t pos, bool first,
                   std::vector<MatchedSubscriber>& out) const;

  mutable std::shared_mutex mutex_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
};

}  // namespace mqbase::broker
