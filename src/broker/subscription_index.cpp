#include "broker/subscription_index.h"

#include <algorithm>
#include <mutex>

#include "mqtt/topic.h"

namespace mqbase::broker {

struct SubscriptionIndex::Node {
  struct Entry {
    std::shared_ptr<Session> session;
    SubscriptionOptions opts;
  };
  std::unordered_map<std::string, std::unique_ptr<Node>> children;
  std::vector<Entry> subscribers;
  Node* parent = nullptr;
  std::string level;

  bool unused() const { return children.empty() && subscribers.empty(); }
};

SubscriptionIndex::SubscriptionIndex() : root_(std::make_unique<Node>()) {}
SubscriptionIndex::~SubscriptionIndex() = default;

bool SubscriptionIndex::add(const std::shared_ptr<Session>& session, std::string_view filter,
                            SubscriptionOptions opts) {
  std::unique_lock lock(mutex_);
  Node* node = root_.get();
  mqtt::for_each_level(filter, [&](std::string_view level) {
    auto it = node->children.find(std::string(level));
    if (it == node->children.end()) {
      auto child = std::make_unique<Node>();
      child->parent = node;
      child->level = std::string(level);
      it = node->children.emplace(child->level, std::move(child)).first;
    }
    node = it->second.get();
  });
  for (auto& e : node->subscribers) {
    if (e.session.get() == session.get()) {
      e.opts = opts;
      return false;
    }
  }
  node->subscribers.push_back({session, opts});
  ++count_;
  return true;
}

bool SubscriptionIndex::remove(const Session* session, std::string_view filter) {
  std::unique_lock lock(mutex_);
  Node* node = root_.get();
  bool found = true;
  mqtt::for_each_level(filter, [&](std::string_view level) {
    if (!found) return;
    auto it = node->children.find(std::string(level));
    if (it == node->children.end()) {
      found = false;
      return;
    }
    node = it->second.get();
  });
  if (!found) return false;
  auto& subs = node->subscribers;
  auto it = std::find_if(subs.begin(), subs.end(), [&](const auto& e) { return e.session.get() == session; });
  if (it == subs.end()) return false;
  subs.erase(it);
  --count_;
  // Prune empty branches so the trie does not keep every filter ever used.
  while (node != root_.get() && node->unused()) {
    Node* parent = node->parent;
    parent->children.erase(node->level);
    node = parent;
  }
  return true;
}

void SubscriptionIndex::match_level(const Node& node, std::string_view topic, size_t pos, bool first,
                                    std::vector<MatchedSubscriber>& out) const {
  // `pos` is the start of the current level in `topic`; npos means the topic is exhausted.
  auto add_all = [&](const Node& n) {
    for (const auto& e : n.subscribers) out.push_back({e.session, e.opts.qos});
  };
  bool dollar = first && !topic.empty() && topic[0] == '$';
  if (!dollar) {
    // '#' matches the rest, including the parent level itself ("a/#" matches "a").
    if (auto it = node.children.find("#"); it != node.children.end()) add_all(*it->second);
  }
  if (pos == std::string_view::npos) return;
  size_t slash = topic.find('/', pos);
  std::string_view level = topic.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
  size_t next = slash == std::string_view::npos ? std::string_view::npos : slash + 1;
  auto visit = [&](const Node& child) {
    if (next == std::string_view::npos) {
      add_all(child);
      // "a/#" also matches "a": the '#' child of the last matched level.
      if (auto it = child.children.find("#"); it != child.children.end()) add_all(*it->second);
    } else {
      match_level(child, topic, next, false, out);
    }
  };
  // Heterogeneous lookup is C++20 for unordered_map only with a transparent hash; a short
  // std::string per level is cheap next to the rest of routing and keeps the code plain.
  if (auto it = node.children.find(std::string(level)); it != node.children.end()) visit(*it->second);
  if (!dollar) {
    if (auto it = node.children.find("+"); it != node.children.end()) visit(*it->second);
  }
}

void SubscriptionIndex::match(std::string_view topic, std::vector<MatchedSubscriber>& out) const {
  out.clear();
  {
    std::shared_lock lock(mutex_);
    match_level(*root_, topic, 0, true, out);
  }
  if (out.size() < 2) return;
  // One copy per session at the highest QoS of its matching subscriptions ([MQTT-3.3.5-1]).
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.session < b.session; });
  size_t w = 0;
  for (size_t r = 0; r < out.size(); ++r) {
    if (w > 0 && out[w - 1].session == out[r].session) {
      out[w - 1].qos = std::max(out[w - 1].qos, out[r].qos);
    } else {
      out[w++] = std::move(out[r]);
    }
  }
  out.resize(w);
}

size_t SubscriptionIndex::size() const {
  std::shared_lock lock(mutex_);
  return count_;
}

}  // namespace mqbase::broker
