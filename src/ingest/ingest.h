// Ingest: telemetry published over MQTT becomes rows of tables (docs/ingest.md). It is the
// broker's MessageSink for the topics machbase-neo uses:
//
//   db/append/{table}[:json|:csv|:ndjson][:gzip]   rows (JSON by default)
//   db/write/{table}[...]                          the same
//   db/metrics/{table}[:gzip]                      InfluxDB line protocol (Telegraf's MQTT output)
//
// MQTT 5 user properties refine a message: format, timeformat (s, ms, us, ns, rfc3339 or a Go
// layout), tz, header (csv: "columns" names them from the first line, "skip" drops it),
// delimiter, and reply (a reply topic; the Response Topic property is one too).
//
// A message is atomic: its rows are checked and converted first, then written as one WAL
// record (Tables::write), so all of them are stored or none; its PUBACK waits for that record
// like for any of the broker's records. A message that fails gets, from an MQTT 5 publisher's
// point of view, PUBACK/PUBREC 0x99 (payload format invalid) with a reason string naming the
// row and column, or 0x97 when the store refuses writes. A reply topic receives
// {"success":false,"reason":...} or {"success":true,"reason":"success, N record(s) inserted",
// "elapse":...}, once the rows are durable. A failed message from a publisher that can hear
// neither (MQTT 3.x, no reply topic) is kept in the table _dead_letter (time, client, topic,
// payload, error) and logged. Ingest never stops for one bad message.
//
// A table that does not exist is created from the first message's shape when auto-create is
// on (the default), and grows the new columns later messages bring.
//
// The HTTP write endpoints (docs/http.md) take the same path through submit(), with the same
// atomicity and the same wait for the disk before their answer.
//
// Thread-safety: take() runs on every event loop at once, submit() on any thread; the Tables
// serialize the writes.
#pragma once
#include <map>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "broker/message_sink.h"
#include "ingest/ingest_rules.h"
#include "ingest/payload.h"
#include "store/store.h"
#include "store/tables.h"

namespace mqbase::broker {
class Broker;
}

namespace mqbase::ingest {

struct IngestOptions {
  bool auto_create = true;          // create tables (and add columns) from what messages carry
  std::string timeformat = "ns";    // for epoch numbers when a message does not say
  std::string tz = "UTC";           // for layouts without an offset
  std::string dead_letter_table = "_dead_letter";
  std::vector<RuleConfig> rules;    // [[ingest]]: ordinary topics into tables (ingest_rules.h)
};

struct IngestStats {
  uint64_t messages = 0, rows = 0, errors = 0, dead_letters = 0, replies = 0;
};
// Rows stored and messages (or HTTP writes) refused, by table (/metrics). Names that are not
// table names count under "(invalid)", and past kMaxTrackedTables names under "(other)", so a
// client publishing to random topics cannot grow the metrics without bound.
struct TableIngestStats {
  uint64_t rows = 0, errors = 0;
};

// One message's destination and format, read from its topic and properties.
struct Target {
  std::string table;
  Format format = Format::json;
  bool gzip = false;
};
// Parses "db/append/t:csv:gzip" and the like; nullopt when the topic is not an ingest topic,
// and an error text in *error when it is one but malformed ("db/append/" without a table).
std::optional<Target> parse_target(std::string_view topic, std::string* error);

// What an HTTP write (http/: POST /db/write/{table}, /metrics/write, /api/v2/write) says about
// its payload: the counterpart of a message's user properties.
struct WriteOptions {
  std::string timeformat;    // "": IngestOptions::timeformat
  std::string tz;            // "": IngestOptions::tz
  bool header = false;       // csv: the first line names the columns
  bool skip_header = false;  // csv: the first line is dropped
  char delimiter = ',';      // csv
};

// How a submit() ended.
struct WriteOutcome {
  bool ok = false;
  bool refused = false;  // the store takes no writes now (full disk, disk budget): may succeed later
  std::string reason;    // "success, N record(s) inserted", or why nothing was stored
  size_t rows = 0;       // rows stored
};

// gzip (or zlib) bytes inflated into `out` (at most 64 MiB); false with *error when they do
// not inflate, are truncated, or inflate to more.
bool gunzip(std::string_view in, std::string& out, std::string* error);

// A format named as the topic suffixes and the `format` property name them (json, csv,
// ndjson; line, influx or lineprotocol for line protocol); case-insensitive.
std::optional<Format> format_named(std::string_view name);

class Ingest : public broker::MessageSink {
 public:
  // Throws std::invalid_argument for a rule that does not compile (the config checks first).
  Ingest(store::tables::Tables& tables, store::Store& store, broker::Broker& broker, IngestOptions options);
  ~Ingest() override;  // stop()
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  bool wants(std::string_view topic) const override;
  Outcome take(const broker::Message& m, const Publisher& publisher) override;
  // ingest/messages, ingest/rows, ingest/errors, ingest/dead letters, ingest/replies, and the
  // tables' tables/count, tables/memory bytes, tables/late rows.
  std::vector<std::pair<std::string, std::string>> sys_figures() const override;

  // Stores the rows of `payload` (gunzipped first when target.gzip) in target.table exactly as
  // a message on db/write/{table} would be, as one record: all rows or none. The HTTP write
  // endpoints use it. `done` runs once: on the calling thread when nothing was stored, else on
  // the reply thread once the rows are durable (the same wait as a reply topic's answer). It
  // must be quick and must not call into Ingest. Any thread; blocks for the parse and the
  // write, never for the disk. After stop(), a `done` still waiting is dropped uncalled.
  void submit(const Target& target, const WriteOptions& options, std::string payload,
              std::function<void(const WriteOutcome&)> done);

  // The store's group commit reached `lsn` (from Store::set_on_durable; quick: it only wakes
  // the thread that publishes the replies waiting for it).
  void durable(store::Lsn lsn);
  // Ends the reply thread; replies still waiting are dropped. Idempotent.
  void stop();
  IngestStats stats() const;
  std::map<std::string, TableIngestStats> table_stats() const;
  static constexpr size_t kMaxTrackedTables = 1000;

 private:
  // Parses, converts and writes one message's rows. Returns "" or the error for the publisher;
  // *rows and *lsn tell what was written.
  // `json_reply` (may be null): set to the "reply" member of a JSON object payload.
  // `waited` false: nobody waits for the rows to be durable (QoS 0, no reply topic so far); a
  // "reply" found in the payload makes them waited again (store::Tables::write).
  std::string store_rows(const broker::Message& m, const Target& target, size_t* rows, store::Lsn* lsn,
                         bool* refused, std::string* json_reply = nullptr, bool waited = true);
  // store_rows() once the message's properties are read (and submit()'s whole work).
  std::string store_payload(std::string_view payload, const Target& target, const ParseOptions& po,
                            std::string_view timeformat, std::string_view tz, bool skip_header, size_t* rows,
                            store::Lsn* lsn, bool* refused, std::string* json_reply, bool waited = true);
  // How the columns of a table made from a message get their types: `payload`: text columns
  // are tags, numbers DOUBLE (JSON, CSV, NDJSON); `declared`: only the columns the parser
  // flags are tags, text is VARCHAR, numbers DOUBLE (rules); `exact`: as `declared`, but
  // integers are BIGINT (line protocol, archive rules).
  enum class Typing : uint8_t { payload, declared, exact };
  // The second half of store_rows(): parsed rows into `table` (created or grown as allowed).
  // Rows without a time get `received` (ns since the epoch; 0: now). `waited`: as store_rows().
  std::string write_parsed(const ParsedRows& pr, const std::string& table, Typing typing, std::string_view timeformat,
                           std::string_view tz, bool keep_all, size_t* rows, store::Lsn* lsn, bool* refused,
                           int64_t received = 0, bool waited = true);
  // The rules matching a message that is not on a db/... topic.
  void take_by_rules(const broker::Message& m, const Publisher& publisher);
  void reply(const broker::Message& m, std::string_view topic, bool ok, const std::string& reason,
             std::chrono::steady_clock::time_point began, store::Lsn lsn);
  void dead_letter(const broker::Message& m, const Publisher& p, const std::string& error);
  void reply_loop();

  store::tables::Tables& tables_;
  store::Store& store_;
  broker::Broker& broker_;
  IngestOptions options_;
  std::vector<IngestRule> rules_;

  std::atomic<uint64_t> messages_{0}, rows_{0}, errors_{0}, dead_letters_{0}, replies_{0};
  // Counts rows (or one error) for `table`, in the calling thread's shard (broker::thread_slot),
  // so the event loops do not share one lock per message. `normal_name`: `table` is in its normal
  // form already (a rule's table).
  void count(std::string_view table, size_t rows, bool error, bool normal_name = false);
  struct alignas(64) TableShard {
    mutable std::mutex mu;
    std::map<std::string, TableIngestStats, std::less<>> tables;
  };
  std::array<TableShard, 16> table_shards_;
  std::atomic<size_t> tracked_tables_{0};  // names in all shards, an upper bound

  // Replies (a message to publish, or submit()'s `done`) that wait for their rows to be
  // durable, in LSN order.
  struct Waiting {
    store::Lsn lsn = 0;
    broker::MessagePtr reply;
    std::function<void()> done;
  };
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Waiting> waiting_;
  store::Lsn durable_ = 0;
  bool stop_ = false;
  std::thread replier_;
};

}  // namespace mqbase::ingest
