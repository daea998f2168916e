#include "auth/token_grants.h"

#include <algorithm>

#include <fmt/format.h>

#include "mqtt/topic.h"

namespace mqbase::auth {

std::shared_ptr<const TokenGrants> TokenGrants::make(std::vector<std::string> publish,
                                                     std::vector<std::string> subscribe, std::string* error) {
  for (const auto* list : {&publish, &subscribe})
    for (const auto& pattern : *list)
      if (!mqtt::valid_topic_filter(pattern)) {
        if (error) *error = fmt::format("'{}' in a topic claim is not a valid topic filter", pattern);
        return nullptr;
      }
  auto g = std::make_shared<TokenGrants>();
  g->publish_ = std::move(publish);
  g->subscribe_ = std::move(subscribe);
  return g;
}

bool TokenGrants::may_write(std::string_view topic) const {
  return std::any_of(publish_.begin(), publish_.end(), [&](const std::string& p) { return mqtt::topic_matches(p, topic); });
}

bool TokenGrants::may_read(std::string_view topic) const {
  return std::any_of(subscribe_.begin(), subscribe_.end(),
                     [&](const std::string& p) { return mqtt::topic_matches(p, topic); });
}

bool TokenGrants::may_subscribe(std::string_view filter) const {
  return std::any_of(subscribe_.begin(), subscribe_.end(),
                     [&](const std::string& p) { return mqtt::filter_covers(p, filter); });
}

}  // namespace mqbase::auth
