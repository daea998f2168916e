// TopicLevelMap: the children of a trie node keyed by topic level, looked up by string_view
// without building a std::string per level (C++20 heterogeneous lookup). Used by
// SubscriptionIndex and RetainedStore, whose match paths run once per PUBLISH.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mqbase::broker {

struct LevelHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <typename V>
using TopicLevelMap = std::unordered_map<std::string, V, LevelHash, std::equal_to<>>;

}  // namespace mqbase::broker
