// TopicRuleIndex: the rules of one ACL section (their topic filters and what each grants or
// denies) as a trie of the filters' levels, so that checking a topic costs in proportion to
// its levels and the wildcards on its path, not to the section's rules: with a 10,000-rule
// section, a PUBLISH and each delivery read a handful of trie nodes instead of every rule.
// Matching is MQTT's (docs/mqtt.md): "+" one level, "#" the rest (also none: "a/#" matches
// "a"), and a topic starting with "$" is not matched by a leading wildcard.
// Thread-safety: built by one thread, then only read (match() from any thread).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mqbase::auth {

class TopicRuleIndex {
 public:
  TopicRuleIndex();
  ~TopicRuleIndex();
  TopicRuleIndex(TopicRuleIndex&&) noexcept;
  TopicRuleIndex& operator=(TopicRuleIndex&&) noexcept;

  // A rule: `filter` (a valid topic filter) grants `access` (bits: 1 read, 2 write), or
  // denies everything it matches when `access` is 0.
  void add(std::string_view filter, uint8_t access);

  struct Match {
    bool deny = false;    // a deny rule matches
    uint8_t granted = 0;  // the access bits of the granting rules that match
  };
  // Every rule whose filter matches `topic` (a topic name), folded.
  Match match(std::string_view topic) const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
};

}  // namespace mqbase::auth
