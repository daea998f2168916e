#include "client/topic_check.h"

#include "mqtt/topic.h"
#include "mqtt/utf8.h"

namespace mqbase::client {
namespace {

// A topic is a UTF-8 string field: a two-byte length in front of it ([MQTT-1.5.3]).
constexpr size_t kMaxTopicBytes = 65535;

// The checks names and filters share; empty when none of them applies.
std::string string_field_problem(std::string_view s, std::string_view what) {
  std::string head = "Invalid " + std::string(what);
  if (s.empty()) return head + " '': a topic is at least one character";
  if (s.size() > kMaxTopicBytes)
    return head + ": it is " + std::to_string(s.size()) + " bytes long, MQTT allows at most 65535";
  // The text is not printed: it is not UTF-8, and may not be printable at all.
  if (!mqtt::valid_utf8(s)) return head + ": malformed UTF-8 (or a NUL character)";
  return {};
}

}  // namespace

std::string topic_name_problem(std::string_view topic, std::string_view what) {
  if (auto problem = string_field_problem(topic, what); !problem.empty()) return problem;
  if (mqtt::has_wildcard(topic))
    return "Invalid " + std::string(what) + " '" + std::string(topic) +
           "': '+' and '#' are wildcards, for subscriptions only";
  return {};
}

std::string topic_filter_problem(std::string_view filter) {
  if (auto problem = string_field_problem(filter, "subscription topic"); !problem.empty()) return problem;
  mqtt::SharedFilter shared;
  switch (mqtt::parse_shared(filter, shared)) {
    case mqtt::ShareParse::ok:
    case mqtt::ShareParse::not_shared:
      break;
    case mqtt::ShareParse::invalid:
      return "Invalid shared subscription '" + std::string(filter) +
             "': the form is $share/GROUP/FILTER, with a GROUP of at least one character and "
             "no '+' or '#', and a valid FILTER";
  }
  if (!mqtt::valid_topic_filter(filter))
    return "Invalid subscription topic '" + std::string(filter) +
           "': '+' must be a whole level and '#' the whole last level (a/+/c, a/#)";
  return {};
}

}  // namespace mqbase::client
