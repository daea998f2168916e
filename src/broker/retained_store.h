// RetainedStore: the last retained message of each topic, as a trie over topic levels so a
// wildcard SUBSCRIBE finds its retained messages without scanning every topic.
// Thread-safety: all methods are safe from any thread (one mutex; retained traffic is light
// next to routing, and lookups happen on SUBSCRIBE, not per PUBLISH).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/message.h"

namespace mqbase::broker {

class RetainedStore {
 public:
  RetainedStore();
  ~RetainedStore();
  RetainedStore(const RetainedStore&) = delete;
  RetainedStore& operator=(const RetainedStore&) = delete;

  // Stores `msg` as the retained message of its topic, replacing any; an empty payload
  // clears the topic instead ([MQTT-3.3.1-10/11]).
  void set(const MessagePtr& msg);

  // Appends to `out` the retained messages whose topics match `filter` (a valid filter).
  void match(std::string_view filter, std::vector<MessagePtr>& out) const;

  size_t size() const;

 private:
  struct Node;
  void collect(const Node& node, std::string_view filter, size_t pos, bool root, std::vector<MessagePtr>& out) const;

  mutable std::mutex mutex_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
};

}  // namespace mqbase::broker
