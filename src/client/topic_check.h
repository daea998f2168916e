// Checks of the topics and filters a user gives `mqbase pub` / `mqbase sub`, run before
// anything is sent so that a mistake is a clear message rather than a packet the server
// refuses (or, at QoS 0, silently drops with the connection). Built on the server's own
// rules (mqtt/topic.h, mqtt/utf8.h), so the client refuses exactly what the server would.
// Pure functions, safe from any thread.
#pragma once
#include <string>
#include <string_view>

namespace mqbase::client {

// Why `topic` cannot be the topic name of a PUBLISH (or a will or response topic): empty,
// longer than 65535 bytes, malformed UTF-8, or holding '+' or '#'. Empty when it can.
// `what` names the topic in the message ("publish topic", "will topic", ...), e.g.
// "Invalid publish topic 'a/#': '+' and '#' are wildcards, for subscriptions only".
std::string topic_name_problem(std::string_view topic, std::string_view what);

// Why `filter` cannot be the topic filter of a SUBSCRIBE: empty, too long, malformed UTF-8,
// a wildcard that is not a whole level ('a+', 'a/#/b'), or a `$share/` form without a
// group or a filter. Empty when it can.
std::string topic_filter_problem(std::string_view filter);

}  // namespace mqbase::client
