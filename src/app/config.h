// Config: everything `mqbase serve` reads from its TOML file and flags, with the embedded
// defaults (MQTT on 127.0.0.1:1883, data in ./mqbase-data). Every key is listed in
// docs/configuration.md. Loaded once at start-up on the main thread.
#pragma once
#include <optional>
#include <stdexcept>
#include <string>

#include "auth/access_control.h"
#include "ingest/ingest_rules.h"
#include "store/table_schema.h"
#include "broker/limits.h"
#include "broker/subscription_index.h"
#include "net/server.h"
#include "store/store.h"

namespace mqbase::app {

// [storage]: the data directory's write-ahead log (docs/durability.md).
struct StorageConfig {
  store::Durability durability = store::Durability::sync;
  uint32_t batch_interval_ms = 10;
  uint64_t segment_bytes = 64ull << 20;
  bool preallocate = false;  // fill the next log segment with zeros ahead of time
  bool recycle_segments = true;  // write the log into the files of segments a checkpoint freed
  uint64_t checkpoint_bytes = 256ull << 20;
  uint64_t disk_budget = 0;  // 0: none
  // Messages of one persistent session's queue kept in memory; the rest wait in a spill file
  // under <data_dir>/spill and are read back as the client drains the queue. 0: all in memory.
  uint32_t queue_in_memory = 10'000;
};

// [tables]: the time-series tables and the ingest of db/... topics (docs/tables.md,
// docs/ingest.md).
struct TablesConfig {
  bool auto_create = true;           // tables (and new columns) from the first message's shape
  std::string timeformat = "ns";     // epoch numbers without a timeformat property
  std::string tz = "UTC";
  uint64_t memory_budget = 256ull << 20;
  uint32_t block_rows = 1000;
  uint32_t max_tables = 10'000;      // 0: no limit
};

// [http]: the HTTP API, SQL over HTTP and MQTT, and the query pool (docs/http.md).
// [log] (docs/operations.md#logs): level is Config::log_level.
struct LogConfig {
  std::string format = "text";  // text, or json: one object per line
  std::string file;             // "": stderr; else appended to, and reopened on SIGHUP
  uint64_t max_size = 0;        // bytes; > 0: rotate at this size, keeping max_files old files
  uint32_t max_files = 5;
};

struct HttpConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:8080";  // host:port, [::1]:port; port 0 = ephemeral
  bool listen_given = false;  // set in the file or by --http-listen: failing to bind it stops the start
  unsigned query_threads = 2;
  uint32_t query_queue = 16;           // queries waiting for a thread; past it: 503
  uint32_t query_timeout_s = 30;       // when a request gives none, and the most it may ask; 0: none
  uint64_t query_memory_limit = 256ull << 20;  // bytes a query's sorts and groups may hold; 0: none
  uint64_t max_body = 64ull << 20;     // bytes of a request body; past it: 413
  uint32_t read_timeout_s = 30;        // a request's header, an idle keep-alive connection
  // Requests without credentials (HTTP Basic, checked against auth.password_file): unset =
  // allowed when the HTTP API listens on a loopback address, as for an MQTT listener.
  std::optional<bool> allow_anonymous;
  // HTTPS: the same tls_* settings as a listener's (docs/security.md#https); cert_file "": plain HTTP.
  net::TlsSettings tls;
};

struct Config {
  net::ServerOptions server;
  HttpConfig http;
  broker::Limits limits;
  std::string data_dir = "./mqbase-data";
  StorageConfig storage;
  TablesConfig tables;
  std::vector<ingest::RuleConfig> ingest_rules;  // [[ingest]]
  std::vector<store::tables::Schema> tables_defined;  // [[table]]: made (or grown) at start
  std::string log_level = "info";
  LogConfig log;
  broker::ShareStrategy share_strategy = broker::ShareStrategy::round_robin;
  std::string hmac_challenge_secret;  // enables the MQBASE-HMAC-SHA256 AUTH method when set
  auth::AccessOptions access;  // [auth]: password_file, acl_file, failed_*, jwt_*, scram_file
};

// A configuration mistake, with the file, line and key in its message; one line per mistake
// when the file has several.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads `path` over the defaults in `config`. Unknown keys, wrong types and out-of-range
// values throw ConfigError naming the key and its line.
void load_config_file(const std::string& path, Config& config);

// Same, from TOML text (`origin` names it in errors). Used by tests.
void load_config_text(const std::string& text, const std::string& origin, Config& config);

}  // namespace mqbase::app
