// TopicLevelMap: the children of a trie node keyed by topic level, looked up by string_view
// without building a std::string per level (C++20 heterogeneous lookup). Used by
// SubscriptionIndex and RetainedStore, whose match paths run once per PUBLISH.
// A trie is as deep as its deepest topic has levels (65536 for "/" repeated), so nothing that
// walks one may recurse per level: destroy_children() is the destructor's loop.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mqbase::broker {

struct LevelHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <typename V>
using TopicLevelMap = std::unordered_map<std::string, V, LevelHash, std::equal_to<>>;

// Destroys every node below `children` in a loop: each node is emptied of its own children
// before it goes, so no destructor recurses. Call from a trie node's destructor.
template <typename Node>
void destroy_children(TopicLevelMap<std::unique_ptr<Node>>& children) {
  if (children.empty()) return;
  std::vector<std::unique_ptr<Node>> doomed;
  for (auto& entry : children) doomed.push_back(std::move(entry.second));
  children.clear();
  while (!doomed.empty()) {
    std::unique_ptr<Node> node = std::move(doomed.back());
    doomed.pop_back();
    for (auto& entry : node->children) doomed.push_back(std::move(entry.second));
    node->children.clear();
  }
}

}  // namespace mqbase::broker
