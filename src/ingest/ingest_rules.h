// Ingest rules ([[ingest]] in the config, docs/ingest.md#ingest-rules): ordinary topics feed
// tables without changing the devices. A rule maps a topic filter onto a table:
//
//   [[ingest]]
//   topic = "plant/+line/+device/temp"   # "+name": the level becomes tag `name`
//   table = "temps"
//   tags = { site = "$.site" }            # tags from JSON paths
//   fields = { value = "$.v" }            # fields from JSON paths; none: every number and boolean
//   time = "$.ts"                         # a JSON path; none: the time the message arrived
//   timeformat = "ms"                     # of that time (default: tables.timeformat)
//
// A payload that is a plain number ("21.5") is the field `value`. With `archive = true` the
// rule instead keeps every message of its filter whole: (time, topic TAG, payload VARCHAR,
// qos BIGINT, properties JSON), in a table that keeps duplicates, so past messages can be
// queried and replayed.
//
// A rule turns one message into one named row (ParsedRows), which then goes the way every
// db/... message goes (schema, conversion, one WAL record).
//
// Thread-safety: rules are immutable once made; apply() may run on every loop at once.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest/payload.h"

namespace mqbase::ingest {

// A rule as the config spells it.
struct RuleConfig {
  std::string topic, table, time, timeformat;
  std::vector<std::pair<std::string, std::string>> tags, fields;  // column -> JSON path
  bool archive = false;
};

class IngestRule {
 public:
  // Checks and compiles `c`; throws std::invalid_argument naming the problem ("ingest rule
  // 'plant/+x/#': JSON path 'a..b' is not valid").
  explicit IngestRule(const RuleConfig& c);

  const std::string& table() const { return table_; }
  const std::string& timeformat() const { return timeformat_; }
  bool archive() const { return archive_; }
  bool matches(std::string_view topic) const;
  // The row of one message: "" and `out` filled, or why the payload does not fit the rule.
  // Cells point into `topic` and `payload`: they must outlive the use of `out`.
  // `properties_json`: the message's user properties as a JSON object (archive rules).
  std::string apply(std::string_view topic, std::string_view payload, uint8_t qos, std::string_view properties_json,
                    ParsedRows& out) const;

 private:
  uint64_t id_ = 0;  // unique in the process (copies share it): what apply() remembers it by
  std::string filter_;                                     // the MQTT filter ("+" for "+name")
  std::vector<std::pair<size_t, std::string>> topic_tags_;  // level -> tag
  std::string table_, timeformat_;
  std::vector<std::pair<std::string, std::string>> tags_, fields_;  // column -> JSON pointer
  std::string time_pointer_;
  std::string time_key_;  // when the time is a member of the top object ("$.time"): its key
  bool has_time_ = false;
  bool archive_ = false;
};

// "$.a.b[0]", "a.b", "$['a b']" -> a JSON pointer ("/a/b/0"); nullopt when not a path.
std::optional<std::string> json_path_to_pointer(std::string_view path);

}  // namespace mqbase::ingest
