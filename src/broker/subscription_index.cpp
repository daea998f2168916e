#include "broker/subscription_index.h"

#include <algorithm>
#include <array>
#include <functional>
#include <mutex>
#include <random>
#include <tuple>
#include <utility>

#include "broker/session.h"
#include "broker/topic_map.h"
#include "mqtt/topic.h"

namespace mqbase::broker {

struct SubscriptionIndex::Group {
  struct Member {
    std::shared_ptr<Session> session;
    SubscriptionOptions opts;
  };
  std::shared_ptr<const std::string> key;  // "$share/g/f"
  std::vector<Member> members;
  mutable std::atomic<size_t> next{0};     // round robin / sticky position
};

struct SubscriptionIndex::Node {
  struct Entry {
    std::shared_ptr<Session> session;
    SubscriptionOptions opts;
  };
  TopicLevelMap<std::unique_ptr<Node>> children;
  // The "+" and "#" children, also in `children`, kept at hand: every match looks for them.
  Node* plus = nullptr;
  Node* hash = nullptr;
  std::vector<Entry> subscribers;
  TopicLevelMap<std::unique_ptr<Group>> groups;
  Node* parent = nullptr;
  std::string level;

  bool unused() const { return children.empty() && subscribers.empty() && groups.empty(); }

  ~Node() { destroy_children(children); }
};

namespace {

std::atomic<uint64_t> next_version{1};

// Set by add_node when a match's result depends on more than the topic, so it is not cached:
// a No Local subscription (it depends on the publisher) or a shared group (it picks its
// member per message).
thread_local bool t_result_varies = false;

// Recent match results of this thread, by topic (direct-mapped on the topic's hash).
struct RouteCache {
  struct Entry {
    const SubscriptionIndex* index = nullptr;  // whose result it is
    uint64_t version = 0;  // the index state the result belongs to; 0: empty
    std::string topic;
    std::vector<MatchedSubscriber> subscribers;
  };
  static constexpr size_t kEntries = 64;
  // Longer lists and topics are not kept: the walk is a small part of what they cost, and
  // they would hold memory in every thread (at most 64 x 256 bytes of topics here).
  static constexpr size_t kMaxSubscribers = 64;
  static constexpr size_t kMaxTopic = 256;
  std::array<Entry, kEntries> entries;
  std::vector<MatchedSubscriber> uncached;
};
thread_local RouteCache t_routes;
thread_local uint64_t t_cache_walks = 0;

}  // namespace

SubscriptionIndex::SubscriptionIndex(ShareStrategy strategy)
    : strategy_(strategy), root_(std::make_unique<Node>()), version_(next_version.fetch_add(1)), floor_(version_) {}
SubscriptionIndex::~SubscriptionIndex() = default;

bool SubscriptionIndex::add(const std::shared_ptr<Session>& session, std::string_view filter,
                            SubscriptionOptions opts) {
  std::unique_lock lock(mutex_);
  return add_locked(session, filter, opts);
}

std::vector<bool> SubscriptionIndex::add_all(const std::shared_ptr<Session>& session,
                                             const std::vector<std::pair<std::string, SubscriptionOptions>>& subs) {
  std::vector<bool> fresh;
  fresh.reserve(subs.size());
  std::unique_lock lock(mutex_);
  for (const auto& [filter, opts] : subs) fresh.push_back(add_locked(session, filter, opts));
  return fresh;
}

std::vector<bool> SubscriptionIndex::remove_all(const Session* session, const std::vector<std::string>& filters) {
  std::vector<bool> removed;
  removed.reserve(filters.size());
  std::unique_lock lock(mutex_);
  for (const auto& f : filters) removed.push_back(remove_locked(session, f));
  return removed;
}

bool SubscriptionIndex::add_locked(const std::shared_ptr<Session>& session, std::string_view filter,
                                   SubscriptionOptions opts) {
  mqtt::SharedFilter shared;
  bool is_shared = mqtt::parse_shared(filter, shared) == mqtt::ShareParse::ok;
  std::string_view path = is_shared ? shared.filter : filter;
  changed(path);  // a new subscription or new options: new results for the topics it matches
  Node* node = root_.get();
  mqtt::for_each_level(path, [&](std::string_view level) {
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      auto child = std::make_unique<Node>();
      child->parent = node;
      child->level = std::string(level);
      if (level == "+") node->plus = child.get();
      if (level == "#") node->hash = child.get();
      it = node->children.emplace(child->level, std::move(child)).first;
    }
    node = it->second.get();
  });
  if (is_shared) {
    auto& group = node->groups[std::string(shared.group)];
    if (!group) {
      group = std::make_unique<Group>();
      group->key = std::make_shared<const std::string>(filter);
    }
    for (auto& m : group->members) {
      if (m.session.get() == session.get()) {
        m.opts = opts;
        return false;
      }
    }
    group->members.push_back({session, opts});
    ++count_;
    return true;
  }
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

SubscriptionIndex::Node* SubscriptionIndex::find(std::string_view filter) const {
  Node* node = root_.get();
  bool found = true;
  mqtt::for_each_level(filter, [&](std::string_view level) {
    if (!found) return;
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      found = false;
      return;
    }
    node = it->second.get();
  });
  return found ? node : nullptr;
}

bool SubscriptionIndex::remove(const Session* session, std::string_view filter) {
  std::unique_lock lock(mutex_);
  return remove_locked(session, filter);
}

bool SubscriptionIndex::remove_locked(const Session* session, std::string_view filter) {
  mqtt::SharedFilter shared;
  bool is_shared = mqtt::parse_shared(filter, shared) == mqtt::ShareParse::ok;
  Node* node = find(is_shared ? shared.filter : filter);
  if (!node) return false;
  auto owned_by = [&](const auto& e) { return e.session.get() == session; };
  if (is_shared) {
    auto git = node->groups.find(shared.group);
    if (git == node->groups.end()) return false;
    auto& members = git->second->members;
    auto it = std::find_if(members.begin(), members.end(), owned_by);
    if (it == members.end()) return false;
    members.erase(it);
    if (members.empty()) node->groups.erase(git);
  } else {
    auto& subs = node->subscribers;
    auto it = std::find_if(subs.begin(), subs.end(), owned_by);
    if (it == subs.end()) return false;
    subs.erase(it);
  }
  --count_;
  changed(is_shared ? shared.filter : filter);
  // Prune empty branches so the trie does not keep every filter ever used.
  while (node != root_.get() && node->unused()) {
    Node* parent = node->parent;
    if (parent->plus == node) parent->plus = nullptr;
    if (parent->hash == node) parent->hash = nullptr;
    parent->children.erase(node->level);
    node = parent;
  }
  return true;
}

namespace {

// A member index for `strategy`, preferring members whose client is connected.
template <typename Members>
size_t choose(ShareStrategy strategy, const Members& members, std::atomic<size_t>& next, std::string_view topic,
              const Session* origin, const Session* exclude) {
  const size_t n = members.size();
  auto usable = [&](size_t i, bool need_connected) {
    const auto& s = members[i].session;
    return s.get() != exclude && (!need_connected || s->connected());
  };
  size_t start = 0;
  switch (strategy) {
    case ShareStrategy::round_robin: start = next.fetch_add(1, std::memory_order_relaxed); break;
    case ShareStrategy::sticky: start = next.load(std::memory_order_relaxed); break;
    case ShareStrategy::random: {
      thread_local std::minstd_rand rng{std::random_device{}()};
      start = rng();
      break;
    }
    case ShareStrategy::hash_client:
      start = std::hash<std::string_view>{}(origin ? std::string_view(origin->client_id()) : std::string_view());
      break;
    case ShareStrategy::hash_topic: start = std::hash<std::string_view>{}(topic); break;
  }
  for (bool need_connected : {true, false}) {
    for (size_t k = 0; k < n; ++k) {
      size_t i = (start + k) % n;
      if (!usable(i, need_connected)) continue;
      if (strategy == ShareStrategy::sticky) next.store(i, std::memory_order_relaxed);
      return i;
    }
  }
  return n;
}

}  // namespace

void SubscriptionIndex::add_node(const Node& n, std::string_view topic, const Session* origin,
                                 std::vector<MatchedSubscriber>& out) const {
  for (const auto& e : n.subscribers) {
    if (e.opts.no_local) {
      t_result_varies = true;
      if (e.session.get() == origin) continue;
    }
    MatchedSubscriber m{e.session.get(), e.opts.qos, e.opts.retain_as_published, {}, nullptr};
    if (e.opts.identifier) m.identifiers.push_back(e.opts.identifier);
    out.push_back(std::move(m));
  }
  for (const auto& [name, g] : n.groups) {
    t_result_varies = true;
    size_t i = choose(strategy_, g->members, g->next, topic, origin, nullptr);
    if (i == g->members.size()) continue;
    const auto& member = g->members[i];
    MatchedSubscriber m{member.session.get(), member.opts.qos, member.opts.retain_as_published, {}, g->key};
    if (member.opts.identifier) m.identifiers.push_back(member.opts.identifier);
    out.push_back(std::move(m));
  }
}

void SubscriptionIndex::match_walk(std::string_view topic, const Session* origin,
                                   std::vector<MatchedSubscriber>& out) const {
  // Walks down the topic's levels in a loop, not by recursion (a topic may have 65536 levels).
  // A level can lead two ways, its exact child and "+": the walk follows the exact child and
  // leaves the "+" branch on `pending` for later (depth first, the order recursion had).
  thread_local std::vector<std::pair<const Node*, size_t>> pending;  // node, start of its level
  pending.clear();
  const bool dollar = !topic.empty() && topic[0] == '$';  // [MQTT-4.7.2-1]: at the root only
  const Node* node = root_.get();
  size_t pos = 0;
  while (true) {
    bool wildcards = !(dollar && node == root_.get());
    // '#' matches the rest, including the parent level itself ("a/#" matches "a").
    if (wildcards && node->hash) add_node(*node->hash, topic, origin, out);
    size_t slash = topic.find('/', pos);
    std::string_view level = topic.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    const Node* exact = nullptr;
    if (auto it = node->children.find(level); it != node->children.end()) exact = it->second.get();
    const Node* plus = wildcards ? node->plus : nullptr;
    if (slash == std::string_view::npos) {
      for (const Node* child : {exact, plus}) {
        if (!child) continue;
        add_node(*child, topic, origin, out);
        // "a/#" also matches "a": the '#' child of the last matched level.
        if (child->hash) add_node(*child->hash, topic, origin, out);
      }
    } else if (exact || plus) {
      if (exact && plus) pending.emplace_back(plus, slash + 1);
      node = exact ? exact : plus;
      pos = slash + 1;
      continue;
    }
    if (pending.empty()) return;
    std::tie(node, pos) = pending.back();
    pending.pop_back();
  }
}

void SubscriptionIndex::match_locked(std::string_view topic, const Session* origin,
                                     std::vector<MatchedSubscriber>& out) const {
  out.clear();
  match_walk(topic, origin, out);
  if (out.size() < 2) return;
  // One copy per session over its ordinary subscriptions, at the highest QoS, with every
  // matching Subscription Identifier ([MQTT-3.3.5-1], [MQTT-3.3.4-3]). Shared deliveries stay
  // separate: each group delivers its own copy. Most matches list every session once: for a
  // short list a pairwise look settles that without sorting.
  if (out.size() <= 32) {
    bool repeated = false;
    for (size_t i = 1; i < out.size() && !repeated; ++i) {
      if (out[i].share) continue;
      for (size_t j = 0; j < i; ++j) {
        if (out[j].session == out[i].session && !out[j].share) {
          repeated = true;
          break;
        }
      }
    }
    if (!repeated) return;
  }
  // The merge below is order-independent (max, or, identifiers sorted after), so a plain
  // sort (no temporary buffer) will do.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.share != b.share) return a.share < b.share;
    return a.session < b.session;
  });
  size_t w = 0;
  for (size_t r = 0; r < out.size(); ++r) {
    if (w > 0 && !out[r].share && !out[w - 1].share && out[w - 1].session == out[r].session) {
      auto& m = out[w - 1];
      m.qos = std::max(m.qos, out[r].qos);
      m.retain_as_published = m.retain_as_published || out[r].retain_as_published;
      m.identifiers.insert(m.identifiers.end(), out[r].identifiers.begin(), out[r].identifiers.end());
    } else {
      if (w != r) out[w] = std::move(out[r]);  // never self-move: it would empty the vectors
      ++w;
    }
  }
  out.resize(w);
  for (auto& m : out)
    if (m.identifiers.size() > 1) std::sort(m.identifiers.begin(), m.identifiers.end());
}

const std::vector<MatchedSubscriber>& SubscriptionIndex::match_cached_locked(std::string_view topic,
                                                                          const Session* origin) const {
  RouteCache& cache = t_routes;
  auto& e = cache.entries[std::hash<std::string_view>{}(topic) % RouteCache::kEntries];
  if (e.index == this && e.topic == topic && (e.version == version_ || still_valid(e.version, topic))) {
    e.version = version_;
    return e.subscribers;
  }
  t_result_varies = false;
  ++t_cache_walks;
  match_locked(topic, origin, cache.uncached);
  if (t_result_varies || cache.uncached.size() > RouteCache::kMaxSubscribers || topic.size() > RouteCache::kMaxTopic)
    return cache.uncached;
  e.index = this;
  e.version = version_;
  e.topic.assign(topic);
  e.subscribers.swap(cache.uncached);
  return e.subscribers;
}

uint64_t SubscriptionIndex::thread_cache_walks() { return t_cache_walks; }

void SubscriptionIndex::changed(std::string_view filter) {
  Change& c = changes_[changes_count_++ % kChanges];
  if (changes_count_ > kChanges) floor_ = c.version;  // evicted: older results can no longer be carried forward
  version_ = next_version.fetch_add(1);
  c.version = version_;
  c.filter.assign(filter);
}

bool SubscriptionIndex::still_valid(uint64_t version, std::string_view topic) const {
  // topic_matches() follows the walk's rules, [MQTT-4.7.2-1] for $ topics included.
  if (version < floor_) return false;
  size_t n = std::min(changes_count_, kChanges);
  size_t checked = 0;
  for (size_t k = 0; k < n; ++k) {
    const Change& c = changes_[(changes_count_ - 1 - k) % kChanges];
    if (c.version <= version) return true;  // every change since the result was checked
    // A long run of changes: walking the trie again is as cheap.
    if (++checked > kMaxChecked || mqtt::topic_matches(c.filter, topic)) return false;
  }
  return true;  // (n == changes_count_) no change was evicted, and every one of them was checked
}

bool SubscriptionIndex::pick_other_member(const std::string& share, const Session* exclude,
                                          MatchedSubscriber& out, std::shared_ptr<Session>& owner,
                                          bool connected_only) const {
  mqtt::SharedFilter shared;
  if (mqtt::parse_shared(share, shared) != mqtt::ShareParse::ok) return false;
  std::shared_lock lock(mutex_);
  Node* node = find(shared.filter);
  if (!node) return false;
  auto git = node->groups.find(shared.group);
  if (git == node->groups.end()) return false;
  const Group& g = *git->second;
  size_t i = choose(strategy_, g.members, g.next, {}, nullptr, exclude);
  if (i == g.members.size()) return false;
  if (connected_only && !g.members[i].session->connected()) return false;
  const auto& member = g.members[i];
  owner = member.session;
  out = MatchedSubscriber{member.session.get(), member.opts.qos, member.opts.retain_as_published, {}, g.key};
  if (member.opts.identifier) out.identifiers.push_back(member.opts.identifier);
  return true;
}

size_t SubscriptionIndex::size() const {
  std::shared_lock lock(mutex_);
  return count_;
}

}  // namespace mqbase::broker
