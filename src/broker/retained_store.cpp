#include "broker/retained_store.h"

#include <optional>

#include <spdlog/spdlog.h>

#include "broker/persistence.h"
#include "broker/topic_map.h"
#include "mqtt/topic.h"

namespace mqbase::broker {

struct RetainedStore::Node {
  TopicLevelMap<std::unique_ptr<Node>> children;
  MessagePtr message;
  std::optional<ExpiryIndex::iterator> expiry;  // set while `message` has an expiry
  Node* parent = nullptr;
  std::string level;

  ~Node() { destroy_children(children); }
};

namespace {

// What a retained message counts against limits.max_retained_bytes: everything a client chose
// the size of, so a small payload cannot smuggle in large properties. 0 for $SYS topics.
size_t quota_bytes(const Message& m) {
  if (mqtt::is_sys_topic(m.topic)) return 0;
  size_t n = m.topic.size() + m.payload.size();
  if (m.content_type) n += m.content_type->size();
  if (m.response_topic) n += m.response_topic->size();
  if (m.correlation_data) n += m.correlation_data->size();
  for (const auto& [key, value] : m.user_properties) n += key.size() + value.size();
  return n;
}

}  // namespace

RetainedStore::RetainedStore(size_t max_messages, size_t max_bytes)
    : root_(std::make_unique<Node>()), max_messages_(max_messages), max_bytes_(max_bytes) {}
RetainedStore::~RetainedStore() = default;

RetainedStore::Node* RetainedStore::find_locked(std::string_view topic) const {
  Node* node = root_.get();
  mqtt::for_each_level(topic, [&](std::string_view level) {
    if (!node) return;
    auto it = node->children.find(level);
    node = it == node->children.end() ? nullptr : it->second.get();
  });
  return node;
}

bool RetainedStore::fits_quota_locked(const Message& msg, const char*& why) const {
  if (mqtt::is_sys_topic(msg.topic)) return true;  // the broker's own, a few dozen at most
  const Node* node = find_locked(msg.topic);
  const Message* old = node ? node->message.get() : nullptr;
  if (!old && max_messages_ && quota_messages_ >= max_messages_) {
    why = "limits.max_retained_messages";
    return false;
  }
  if (max_bytes_ && quota_bytes_ - (old ? quota_bytes(*old) : 0) + quota_bytes(msg) > max_bytes_) {
    why = "limits.max_retained_bytes";
    return false;
  }
  return true;
}

bool RetainedStore::set(const MessagePtr& msg) {
  std::lock_guard lock(mutex_);
  bool clear = msg->payload.empty();
  if (!clear && (max_messages_ || max_bytes_)) {
    if (!expiry_.empty()) remove_expired_locked(Clock::now());  // expired ones hold no quota
    const char* why = nullptr;
    if (!fits_quota_locked(*msg, why)) {
      ++refused_;
      spdlog::debug("retained message on '{}' not stored: {} reached", msg->topic, why);
      return false;
    }
  }
  Node* node = root_.get();
  bool missing = false;
  mqtt::for_each_level(msg->topic, [&](std::string_view level) {
    if (missing) return;
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      if (clear) {
        missing = true;
        return;
      }
      auto child = std::make_unique<Node>();
      child->parent = node;
      child->level = std::string(level);
      it = node->children.emplace(child->level, std::move(child)).first;
    }
    node = it->second.get();
  });
  if (missing) return true;
  assign_locked(node, clear ? nullptr : msg);
  if (persist_ && !mqtt::is_sys_topic(msg->topic)) {
    if (clear)
      persist_->delete_retained(msg->topic);
    else
      persist_->put_retained(*msg);
  }
  return true;
}

void RetainedStore::assign_locked(Node* node, MessagePtr msg) {
  if (node->message) {
    --count_;
    if (size_t bytes = quota_bytes(*node->message)) {
      --quota_messages_;
      quota_bytes_ -= bytes;
    }
    if (node->expiry) expiry_.erase(*node->expiry);
    node->expiry.reset();
  }
  node->message = std::move(msg);
  if (node->message) {
    ++count_;
    if (size_t bytes = quota_bytes(*node->message)) {
      ++quota_messages_;
      quota_bytes_ += bytes;
    }
    if (node->message->expires_at) node->expiry = expiry_.emplace(*node->message->expires_at, node);
    return;
  }
  while (node != root_.get() && !node->message && node->children.empty()) {
    Node* parent = node->parent;
    parent->children.erase(node->level);
    node = parent;
  }
}

size_t RetainedStore::remove_expired_locked(Clock::time_point now) {
  size_t removed = 0;
  while (!expiry_.empty() && expiry_.begin()->first <= now) {  // Message::expired's "now >= expiry"
    Node* node = expiry_.begin()->second;
    if (persist_ && node->message) persist_->delete_retained(node->message->topic);
    assign_locked(node, nullptr);
    ++removed;
  }
  return removed;
}

size_t RetainedStore::remove_expired(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return remove_expired_locked(now);
}

void RetainedStore::collect(const Node& root, std::string_view filter, std::vector<MessagePtr>& out) const {
  // Depth first with a stack of its own, not recursion: a filter may have 65536 levels.
  // Each step is a node and the start in `filter` of the level to match among its children.
  struct Step {
    const Node* node;
    size_t pos;
  };
  std::vector<Step> todo{{&root, 0}};
  while (!todo.empty()) {
    auto [node, pos] = todo.back();
    todo.pop_back();
    bool at_root = node == &root;
    size_t slash = filter.find('/', pos);
    std::string_view level = filter.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    auto descend = [&](const Node& child) {
      if (slash == std::string_view::npos) {
        if (child.message) out.push_back(child.message);
      } else {
        todo.push_back({&child, slash + 1});
      }
    };
    if (level == "#") {
      // Everything below `node`, and `node` itself when it is a topic ("a/#" matches "a").
      if (!at_root && node->message) out.push_back(node->message);
      std::vector<const Node*> below;
      for (const auto& [name, child] : node->children)
        if (!(at_root && !name.empty() && name[0] == '$')) below.push_back(child.get());
      while (!below.empty()) {
        const Node* n = below.back();
        below.pop_back();
        if (n->message) out.push_back(n->message);
        for (const auto& [name, child] : n->children) below.push_back(child.get());
      }
    } else if (level == "+") {
      for (const auto& [name, child] : node->children) {
        if (at_root && !name.empty() && name[0] == '$') continue;  // [MQTT-4.7.2-1]
        descend(*child);
      }
    } else if (auto it = node->children.find(level); it != node->children.end()) {
      descend(*it->second);
    }
  }
}

void RetainedStore::match(std::string_view filter, std::vector<MessagePtr>& out) {
  std::lock_guard lock(mutex_);
  if (!expiry_.empty()) remove_expired_locked(Clock::now());
  collect(*root_, filter, out);
}

size_t RetainedStore::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

uint64_t RetainedStore::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

}  // namespace mqbase::broker
