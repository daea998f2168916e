#include "auth/topic_rule_index.h"

#include <vector>

namespace mqbase::auth {

namespace {
struct LevelHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
}  // namespace

struct TopicRuleIndex::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, std::equal_to<>> children;  // exact levels
  std::unique_ptr<Node> plus;  // "+"
  // Rules whose filter ends here, and rules whose filter ends with "#" after here.
  Match here, rest;
  bool has_here = false, has_rest = false;
};

namespace {
void fold(TopicRuleIndex::Match& into, const TopicRuleIndex::Match& m) {
  into.deny = into.deny || m.deny;
  into.granted |= m.granted;
}
}  // namespace

TopicRuleIndex::TopicRuleIndex() : root_(std::make_unique<Node>()) {}
TopicRuleIndex::~TopicRuleIndex() = default;
TopicRuleIndex::TopicRuleIndex(TopicRuleIndex&&) noexcept = default;
TopicRuleIndex& TopicRuleIndex::operator=(TopicRuleIndex&&) noexcept = default;

void TopicRuleIndex::add(std::string_view filter, uint8_t access) {
  Match m;
  m.deny = access == 0;
  m.granted = access;
  Node* n = root_.get();
  while (true) {
    size_t slash = filter.find('/');
    std::string_view level = filter.substr(0, slash);
    if (level == "#") {
      fold(n->rest, m);
      n->has_rest = true;
      return;
    }
    std::unique_ptr<Node>* next;
    if (level == "+") {
      next = &n->plus;
    } else {
      auto it = n->children.find(level);
      if (it == n->children.end()) it = n->children.emplace(std::string(level), nullptr).first;
      next = &it->second;
    }
    if (!*next) *next = std::make_unique<Node>();
    n = next->get();
    if (slash == std::string_view::npos) break;
    filter.remove_prefix(slash + 1);
  }
  fold(n->here, m);
  n->has_here = true;
}

TopicRuleIndex::Match TopicRuleIndex::match(std::string_view topic) const {
  // The topic's levels, then a walk over every trie path that matches them (exact and "+"
  // branches; a "#" ends a path). Iterative: a topic of thousands of levels uses no stack.
  thread_local std::vector<std::string_view> levels;
  thread_local std::vector<std::pair<const Node*, size_t>> todo;
  levels.clear();
  for (size_t start = 0;;) {
    size_t slash = topic.find('/', start);
    levels.push_back(topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  const bool system = !topic.empty() && topic.front() == '$';
  Match out;
  todo.clear();
  todo.emplace_back(root_.get(), 0);
  while (!todo.empty()) {
    auto [n, i] = todo.back();
    todo.pop_back();
    const bool wildcards_ok = !(system && i == 0);  // "#" and "+" never match a leading "$" level
    if (n->has_rest && wildcards_ok) fold(out, n->rest);
    if (i == levels.size()) {
      if (n->has_here) fold(out, n->here);
      continue;
    }
    if (auto it = n->children.find(levels[i]); it != n->children.end()) todo.emplace_back(it->second.get(), i + 1);
    if (n->plus && wildcards_ok) todo.emplace_back(n->plus.get(), i + 1);
  }
  return out;
}

}  // namespace mqbase::auth
