// Config: every key of the TOML file and its effect, the defaults, and the errors a user sees
// ("origin:line: key: what").
#include "app/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

namespace mqbase::app {
namespace {

using ::testing::HasSubstr;

Config load(const std::string& text) {
  Config c;
  load_config_text(text, "test.toml", c);
  return c;
}

// The ConfigError message `text` produces, or "<no error>".
std::string error_of(const std::string& text) {
  Config c;
  try {
    load_config_text(text, "test.toml", c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

void expect_default_limits(const broker::Limits& l) {
  broker::Limits d;
  EXPECT_EQ(l.max_packet_size, d.max_packet_size);
  EXPECT_EQ(l.max_queued_messages, d.max_queued_messages);
  EXPECT_EQ(l.max_inflight_messages, d.max_inflight_messages);
  EXPECT_EQ(l.max_write_buffer, d.max_write_buffer);
  EXPECT_EQ(l.connect_timeout_ms, d.connect_timeout_ms);
  EXPECT_EQ(l.max_connections, d.max_connections);
  EXPECT_EQ(l.max_keep_alive, d.max_keep_alive);
  EXPECT_EQ(l.receive_maximum, d.receive_maximum);
  EXPECT_EQ(l.topic_alias_maximum, d.topic_alias_maximum);
  EXPECT_EQ(l.max_topic_levels, d.max_topic_levels);
  EXPECT_EQ(l.max_retained_messages, d.max_retained_messages);
  EXPECT_EQ(l.max_retained_bytes, d.max_retained_bytes);
}

TEST(ConfigTest, DefaultsListenOnLoopback1883) {
  Config c;
  ASSERT_EQ(c.server.listeners.size(), 1u);
  EXPECT_EQ(c.server.listeners[0].bind, "127.0.0.1");
  EXPECT_EQ(c.server.listeners[0].port, 1883);
  EXPECT_EQ(c.data_dir, "./mqbase-data");
  EXPECT_EQ(c.log_level, "info");
}

TEST(ConfigTest, EmptyTextLeavesEveryDefault) {
  Config c = load("");
  Config d;
  ASSERT_EQ(c.server.listeners.size(), 1u);
  EXPECT_EQ(c.server.listeners[0].bind, d.server.listeners[0].bind);
  EXPECT_EQ(c.server.listeners[0].port, d.server.listeners[0].port);
  EXPECT_EQ(c.server.threads, d.server.threads);
  EXPECT_EQ(c.server.sys_interval_s, d.server.sys_interval_s);
  EXPECT_EQ(c.data_dir, d.data_dir);
  EXPECT_EQ(c.log_level, d.log_level);
  EXPECT_EQ(c.share_strategy, broker::ShareStrategy::round_robin);
  EXPECT_TRUE(c.hmac_challenge_secret.empty());
  expect_default_limits(c.limits);
  // Comments and empty sections change nothing either.
  c = load("# nothing here\n[server]\n[limits]\n");
  EXPECT_EQ(c.data_dir, d.data_dir);
  expect_default_limits(c.limits);
}

TEST(ConfigTest, EveryKeyAndItsEffect) {
  Config c = load(R"(
[server]
threads = 4
data_dir = "/var/lib/mqbase"

[limits]
max_packet_size = 2048
max_queued_messages = 50
max_inflight_messages = 5
max_write_buffer = 4096
connect_timeout = 3
max_connections = 100
max_keep_alive = 120
receive_maximum = 100
topic_alias_maximum = 0
max_topic_levels = 0
max_retained_messages = 5000
max_retained_bytes = 1048576

[shared]
strategy = "hash_topic"

[auth]
hmac_challenge_secret = "s3cret"

[sys]
interval = 30

[log]
level = "debug"

[[listener]]
bind = "0.0.0.0"
port = 1884
)");
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(c.data_dir, "/var/lib/mqbase");
  EXPECT_EQ(c.limits.max_packet_size, 2048u);
  EXPECT_EQ(c.limits.max_queued_messages, 50u);
  EXPECT_EQ(c.limits.max_inflight_messages, 5u);
  EXPECT_EQ(c.limits.max_write_buffer, 4096u);
  EXPECT_EQ(c.limits.connect_timeout_ms, 3000u) << "seconds in the file, milliseconds in Limits";
  EXPECT_EQ(c.limits.max_connections, 100u);
  EXPECT_EQ(c.limits.max_keep_alive, 120);
  EXPECT_EQ(c.limits.receive_maximum, 100);
  EXPECT_EQ(c.limits.topic_alias_maximum, 0);
  EXPECT_EQ(c.limits.max_topic_levels, 0u);
  EXPECT_EQ(c.limits.max_retained_messages, 5000u);
  EXPECT_EQ(c.limits.max_retained_bytes, 1048576u);
  EXPECT_EQ(c.share_strategy, broker::ShareStrategy::hash_topic);
  EXPECT_EQ(c.hmac_challenge_secret, "s3cret");
  EXPECT_EQ(c.server.sys_interval_s, 30u);
  EXPECT_EQ(c.log_level, "debug");
  ASSERT_EQ(c.server.listeners.size(), 1u);
  EXPECT_EQ(c.server.listeners[0].bind, "0.0.0.0");
  EXPECT_EQ(c.server.listeners[0].port, 1884);
}

TEST(ConfigTest, StorageKeysAndTheirEffect) {
  Config d;
  EXPECT_EQ(d.storage.durability, store::Durability::sync);
  EXPECT_FALSE(d.storage.preallocate) << "off unless asked for (docs/durability.md)";
  EXPECT_TRUE(d.storage.recycle_segments) << "on unless turned off (docs/durability.md)";
  Config c = load(R"(
[storage]
durability = "batch"
batch_interval_ms = 25
segment_size = 1048576
preallocate = true
recycle_segments = false
checkpoint_bytes = 8388608
queue_in_memory = 500
disk_budget = 1073741824
)");
  EXPECT_EQ(c.storage.durability, store::Durability::batch);
  EXPECT_EQ(c.storage.batch_interval_ms, 25u);
  EXPECT_EQ(c.storage.segment_bytes, 1048576u);
  EXPECT_TRUE(c.storage.preallocate);
  EXPECT_FALSE(c.storage.recycle_segments);
  EXPECT_EQ(c.storage.checkpoint_bytes, 8388608u);
  EXPECT_EQ(c.storage.queue_in_memory, 500u);
  EXPECT_EQ(c.storage.disk_budget, 1073741824u);

  std::string e = error_of("[storage]\npreallocate = 1\n");
  EXPECT_THAT(e, HasSubstr("test.toml:2:"));
  EXPECT_THAT(e, HasSubstr("storage.preallocate"));
  EXPECT_THAT(e, HasSubstr("expected true or false"));
  EXPECT_THAT(error_of("[storage]\npreallocate = \"yes\"\n"), HasSubstr("expected true or false"));
  EXPECT_THAT(error_of("[storage]\nrecycle_segments = 0\n"), HasSubstr("storage.recycle_segments"));
  EXPECT_THAT(error_of("[storage]\ndurability = \"fast\"\n"), HasSubstr("must be one of sync, batch, none"));
}

TEST(ConfigTest, TablesKeysAndTheirEffect) {
  Config d;
  EXPECT_TRUE(d.tables.auto_create);
  EXPECT_EQ(d.tables.timeformat, "ns");
  EXPECT_EQ(d.tables.max_tables, 10000u);
  Config c = load(R"(
[tables]
auto_create = false
timeformat = "ms"
tz = "Asia/Seoul"
memory_budget = 16777216
block_rows = 500
max_tables = 0
)");
  EXPECT_FALSE(c.tables.auto_create);
  EXPECT_EQ(c.tables.timeformat, "ms");
  EXPECT_EQ(c.tables.tz, "Asia/Seoul");
  EXPECT_EQ(c.tables.memory_budget, 16777216u);
  EXPECT_EQ(c.tables.block_rows, 500u);
  EXPECT_EQ(c.tables.max_tables, 0u);
  std::string e = error_of("[tables]\ntimeformat = \"minutes\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:2:"));
  EXPECT_THAT(e, HasSubstr("must be one of s, ms, us, ns, rfc3339"));
  EXPECT_THAT(error_of("[tables]\nblock_rows = 1\n"), HasSubstr("tables.block_rows"));
  EXPECT_THAT(error_of("[tables]\nmax_tables = -1\n"), HasSubstr("tables.max_tables"));
}

TEST(ConfigTest, HttpKeysAndTheirEffect) {
  Config d;
  EXPECT_TRUE(d.http.enabled);
  EXPECT_EQ(d.http.listen, "127.0.0.1:8080");
  EXPECT_FALSE(d.http.listen_given);
  EXPECT_EQ(d.http.query_threads, 2u);
  EXPECT_EQ(d.http.query_timeout_s, 30u);
  EXPECT_EQ(d.http.max_body, 64ull << 20);
  Config c = load(R"(
[http]
enabled = false
listen = "[::1]:0"
query_threads = 4
query_queue = 0
query_timeout = 0
query_memory_limit = 1048576
max_body = 4096
read_timeout = 5
)");
  EXPECT_FALSE(c.http.enabled);
  EXPECT_EQ(c.http.listen, "[::1]:0");
  EXPECT_TRUE(c.http.listen_given);
  EXPECT_EQ(c.http.query_threads, 4u);
  EXPECT_EQ(c.http.query_queue, 0u);
  EXPECT_EQ(c.http.query_timeout_s, 0u);
  EXPECT_EQ(c.http.query_memory_limit, 1048576u);
  EXPECT_EQ(c.http.max_body, 4096u);
  EXPECT_EQ(c.http.read_timeout_s, 5u);
  std::string e = error_of("[http]\nquery_threads = 2\nlisten = \"localhost:80\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
  EXPECT_THAT(e, HasSubstr("http.listen"));
  EXPECT_THAT(e, HasSubstr("not an IP address"));
  EXPECT_THAT(error_of("[http]\nlisten = \"127.0.0.1\"\n"), HasSubstr("host:port"));
  EXPECT_THAT(error_of("[http]\nquery_threads = 0\n"), HasSubstr("http.query_threads"));
  EXPECT_THAT(error_of("[http]\nmax_body = 10\n"), HasSubstr("http.max_body"));
  EXPECT_THAT(error_of("[http]\nenabled = 1\n"), HasSubstr("expected true or false"));
  EXPECT_THAT(error_of("[http]\nport = 1\n"), HasSubstr("http.port: unknown key"));
}

TEST(ConfigTest, HttpTlsKeys) {
  EXPECT_FALSE(Config().http.tls.enabled());
  Config c = load(R"(
[http]
tls_cert = "/etc/mqbase/tls/server.crt"
tls_key = "/etc/mqbase/tls/server.key"
tls_min_version = "1.3"
tls_ciphersuites = "TLS_AES_256_GCM_SHA384"
)");
  EXPECT_TRUE(c.http.tls.enabled());
  EXPECT_EQ(c.http.tls.cert_file, "/etc/mqbase/tls/server.crt");
  EXPECT_EQ(c.http.tls.key_file, "/etc/mqbase/tls/server.key");
  EXPECT_EQ(c.http.tls.min_version, "1.3");
  EXPECT_EQ(c.http.tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
  // The same rules as a listener's, naming [http] and its line.
  std::string e = error_of("[http]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"c.pem\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:1: http: tls_cert and tls_key go together"));
  EXPECT_THAT(error_of("[http]\ntls_min_version = \"1.1\"\n"), HasSubstr("http.tls_min_version: expected"));
  EXPECT_THAT(error_of("[http]\ntls_cert = \"c\"\ntls_key = \"k\"\ntls_client_certificates = \"required\"\n"),
              HasSubstr("http.tls_client_certificates: needs tls_ca"));
  EXPECT_THAT(error_of("[http]\ntls_certs = \"c\"\n"), HasSubstr("http.tls_certs: unknown key"));
}

TEST(ConfigTest, IngestRules) {
  Config c = load(R"(
[[ingest]]
topic = "plant/+line/temp"
table = "temps"
tags = { site = "$.site" }
fields.value = "$.v"
time = "$.ts"
timeformat = "ms"

[[ingest]]
topic = "plant/#"
table = "archive"
archive = true
)");
  ASSERT_EQ(c.ingest_rules.size(), 2u);
  EXPECT_EQ(c.ingest_rules[0].topic, "plant/+line/temp");
  EXPECT_EQ(c.ingest_rules[0].tags, (std::vector<std::pair<std::string, std::string>>{{"site", "$.site"}}));
  EXPECT_EQ(c.ingest_rules[0].fields, (std::vector<std::pair<std::string, std::string>>{{"value", "$.v"}}));
  EXPECT_EQ(c.ingest_rules[0].time, "$.ts");
  EXPECT_TRUE(c.ingest_rules[1].archive);
  std::string e = error_of("\n[[ingest]]\ntopic = \"a/+1x\"\ntable = \"t\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:2:"));
  EXPECT_THAT(e, HasSubstr("ingest rule 'a/+1x'"));
  EXPECT_THAT(error_of("[[ingest]]\ntopic = \"a\"\ntable = \"t\"\ncolour = 1\n"), HasSubstr("ingest.colour: unknown key"));
  EXPECT_THAT(error_of("[ingest]\ntopic = \"a\"\n"), HasSubstr("expected [[ingest]] tables"));
}

TEST(ConfigTest, TablesDefinedInTheConfig) {
  Config c = load(R"(
[[table]]
name = "Sensors"
columns = ["name TAG", "time TIMESTAMP", "value DOUBLE", "ok BOOL"]
partition = "6h"
retention = "30d"
out_of_order_window = "10m"
duplicates = "all"
disk_budget = 1048576
)");
  ASSERT_EQ(c.tables_defined.size(), 1u);
  const auto& t = c.tables_defined[0];
  EXPECT_EQ(t.name, "sensors");
  ASSERT_EQ(t.columns.size(), 4u);
  EXPECT_EQ(t.columns[1].type, store::tables::ColumnType::time);
  EXPECT_EQ(t.columns[3].type, store::tables::ColumnType::boolean);
  EXPECT_EQ(t.options.partition_ns, 6 * 3600 * store::tables::kNanosPerSecond);
  EXPECT_EQ(t.options.ttl_ns, 30 * store::tables::kDay);
  EXPECT_EQ(t.options.ooo_window_ns, 600 * store::tables::kNanosPerSecond);
  EXPECT_EQ(t.options.duplicates, store::tables::DuplicatePolicy::keep_all);
  EXPECT_EQ(t.options.disk_budget, 1048576u);
  std::string e = error_of("[[table]]\nname = \"t\"\ncolumns = [\"time TIME\", \"v DOUBLE\"]\npartition = \"often\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:4:"));
  EXPECT_THAT(e, HasSubstr("table.partition"));
  EXPECT_THAT(error_of("[[table]]\nname = \"t\"\ncolumns = [\"v DOUBLE\"]\n"), HasSubstr("exactly one TIME column"));
}

TEST(ConfigTest, OneKeyChangesOnlyItself) {
  Config c = load("[limits]\nmax_inflight_messages = 7\n");
  EXPECT_EQ(c.limits.max_inflight_messages, 7u);
  broker::Limits d;
  EXPECT_EQ(c.limits.max_queued_messages, d.max_queued_messages);
  EXPECT_EQ(c.limits.max_packet_size, d.max_packet_size);
  EXPECT_EQ(c.limits.connect_timeout_ms, d.connect_timeout_ms);
  EXPECT_EQ(c.data_dir, "./mqbase-data");
  ASSERT_EQ(c.server.listeners.size(), 1u);
  EXPECT_EQ(c.server.listeners[0].port, 1883);

  c = load("[log]\nlevel = \"off\"\n");
  EXPECT_EQ(c.log_level, "off");
  expect_default_limits(c.limits);
}

TEST(ConfigTest, LoadsOverTheValuesAlreadyInTheConfig) {
  Config c;
  c.data_dir = "/from/flags";
  c.limits.max_inflight_messages = 3;
  load_config_text("[limits]\nmax_queued_messages = 9\n", "t", c);
  EXPECT_EQ(c.data_dir, "/from/flags");
  EXPECT_EQ(c.limits.max_inflight_messages, 3u);
  EXPECT_EQ(c.limits.max_queued_messages, 9u);
}

TEST(ConfigTest, DottedKeysAreTheSameAsSections) {
  Config c = load("limits.max_inflight_messages = 8\nlog.level = \"warn\"\n");
  EXPECT_EQ(c.limits.max_inflight_messages, 8u);
  EXPECT_EQ(c.log_level, "warn");
}

TEST(ConfigTest, EveryLogLevelIsAccepted) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    Config c = load(std::string("[log]\nlevel = \"") + level + "\"\n");
    EXPECT_EQ(c.log_level, level);
  }
}

TEST(ConfigTest, EveryShareStrategyIsAccepted) {
  const std::pair<const char*, broker::ShareStrategy> kAll[] = {
      {"round_robin", broker::ShareStrategy::round_robin}, {"random", broker::ShareStrategy::random},
      {"sticky", broker::ShareStrategy::sticky},           {"hash_client", broker::ShareStrategy::hash_client},
      {"hash_topic", broker::ShareStrategy::hash_topic}};
  for (const auto& [name, strategy] : kAll) {
    Config c = load(std::string("[shared]\nstrategy = \"") + name + "\"\n");
    EXPECT_EQ(c.share_strategy, strategy) << name;
  }
}

TEST(ConfigTest, BadShareStrategyAndSecret) {
  std::string e = error_of("[shared]\nstrategy = \"fastest\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:2:"));
  EXPECT_THAT(e, HasSubstr("shared.strategy"));
  EXPECT_THAT(e, HasSubstr("round_robin"));
  EXPECT_THAT(error_of("[shared]\nstrategy = 1\n"), HasSubstr("expected a string"));
  EXPECT_THAT(error_of("[shared]\ngroups = 1\n"), HasSubstr("shared.groups"));
  e = error_of("[auth]\nhmac_challenge_secret = \"\"\n");
  EXPECT_THAT(e, HasSubstr("auth.hmac_challenge_secret"));
  EXPECT_THAT(e, HasSubstr("must not be empty"));
  EXPECT_THAT(error_of("[auth]\nldap_url = \"x\"\n"), HasSubstr("auth.ldap_url: unknown key"));
}

TEST(ConfigTest, RangeBoundsAreInclusive) {
  Config c = load(
      "[limits]\nmax_packet_size = 268435460\nmax_inflight_messages = 0\nmax_queued_messages = 0\n"
      "connect_timeout = 3600\nmax_keep_alive = 65535\nmax_write_buffer = 1024\n"
      "[server]\nthreads = 1024\n[sys]\ninterval = 0\n");
  EXPECT_EQ(c.limits.max_packet_size, 268435460u);
  EXPECT_EQ(c.limits.max_inflight_messages, 0u);
  EXPECT_EQ(c.limits.max_queued_messages, 0u);
  EXPECT_EQ(c.limits.connect_timeout_ms, 3'600'000u);
  EXPECT_EQ(c.limits.max_keep_alive, 65535);
  EXPECT_EQ(c.limits.max_write_buffer, 1024u);
  EXPECT_EQ(c.server.threads, 1024u);
  EXPECT_EQ(c.server.sys_interval_s, 0u);

  c = load("[limits]\nmax_packet_size = 16\nconnect_timeout = 1\nmax_keep_alive = 1\n");
  EXPECT_EQ(c.limits.max_packet_size, 16u);
  EXPECT_EQ(c.limits.connect_timeout_ms, 1000u);
  EXPECT_EQ(c.limits.max_keep_alive, 1);
}

TEST(ConfigTest, ListenerArrayWithTwoListeners) {
  Config c = load(R"(
[[listener]]
bind = "0.0.0.0"
port = 1883

[[listener]]
port = 0
)");
  ASSERT_EQ(c.server.listeners.size(), 2u) << "the default listener is replaced, not kept";
  EXPECT_EQ(c.server.listeners[0].bind, "0.0.0.0");
  EXPECT_EQ(c.server.listeners[0].port, 1883);
  EXPECT_EQ(c.server.listeners[1].bind, "127.0.0.1") << "bind defaults per listener";
  EXPECT_EQ(c.server.listeners[1].port, 0) << "0 = ephemeral";
}

// --- errors -------------------------------------------------------------------------------

TEST(ConfigTest, UnknownKeyNamesTheKeyAndItsLine) {
  std::string e = error_of("[limits]\nmax_inflight_messages = 3\nfoo = 1\n");
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
  EXPECT_THAT(e, HasSubstr("limits.foo"));
  EXPECT_THAT(e, HasSubstr("unknown key"));
}

TEST(ConfigTest, UnknownKeyInEverySection) {
  EXPECT_THAT(error_of("[server]\nport = 1\n"), HasSubstr("server.port"));
  EXPECT_THAT(error_of("[sys]\nintervall = 1\n"), HasSubstr("sys.intervall"));
  EXPECT_THAT(error_of("[log]\nfiles = \"x\"\n"), HasSubstr("log.files"));
  std::string e = error_of("[[listener]]\nport = 1\nhost = \"x\"\n");
  EXPECT_THAT(e, HasSubstr("listener.host"));
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
}

TEST(ConfigTest, EveryMistakeIsReportedInTheFilesOrder) {
  // A TOML table keeps its keys by name; the report follows the lines.
  std::string e = error_of("[server]\nthreads = \"x\"\n\n[limits]\nbogus = 1\n\n[log]\nformat = \"xml\"\n");
  size_t threads = e.find("test.toml:2: server.threads"), bogus = e.find("test.toml:5: limits.bogus"),
         format = e.find("test.toml:8: log.format: must be text or json");
  ASSERT_NE(threads, std::string::npos) << e;
  ASSERT_NE(bogus, std::string::npos) << e;
  ASSERT_NE(format, std::string::npos) << e;
  EXPECT_LT(threads, bogus);
  EXPECT_LT(bogus, format);
}

TEST(ConfigTest, LogKeys) {
  Config c;
  load_config_text("[log]\nformat = \"json\"\nfile = \"/tmp/m.log\"\nmax_size = 1000\nmax_files = 3\n", "t", c);
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.log.file, "/tmp/m.log");
  EXPECT_EQ(c.log.max_size, 1000u);
  EXPECT_EQ(c.log.max_files, 3u);
  EXPECT_THAT(error_of("[log]\nmax_files = 0\n"), HasSubstr("log.max_files"));
}

TEST(ConfigTest, UnknownSection) {
  std::string e = error_of("[server]\nthreads = 1\n\n[bogus]\nx = 1\n");
  EXPECT_THAT(e, HasSubstr("test.toml:4:"));
  EXPECT_THAT(e, HasSubstr("bogus"));
  EXPECT_THAT(e, HasSubstr("unknown section"));
}

TEST(ConfigTest, EmptyUnknownSectionIsAnErrorToo) {
  // A misspelt section with no keys under it must not pass silently.
  std::string e = error_of("[limits]\nmax_queued_messages = 5\n[limts]\n");
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
  EXPECT_THAT(e, HasSubstr("limts"));
  EXPECT_THAT(e, HasSubstr("unknown section"));
}

TEST(ConfigTest, TopLevelKeyIsRejected) {
  std::string e = error_of("threads = 4\n");
  EXPECT_THAT(e, HasSubstr("test.toml:1:"));
  EXPECT_THAT(e, HasSubstr("threads"));
}

TEST(ConfigTest, WrongTypes) {
  std::string e = error_of("[server]\nthreads = \"four\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:2:"));
  EXPECT_THAT(e, HasSubstr("server.threads"));
  EXPECT_THAT(e, HasSubstr("expected an integer"));

  EXPECT_THAT(error_of("[limits]\nmax_inflight_messages = 2.5\n"), HasSubstr("expected an integer"));
  EXPECT_THAT(error_of("[limits]\nmax_inflight_messages = 2.0\n"), HasSubstr("expected an integer"));
  EXPECT_THAT(error_of("[limits]\nmax_connections = true\n"), HasSubstr("expected an integer"));
  // A float past int64's range (the config fuzzer's find: toml++ casts it when asked for an integer).
  EXPECT_THAT(error_of("[[listener]]\nport = 18e83\n"), HasSubstr("listener.port: expected an integer"));
  EXPECT_THAT(error_of("[limits]\nmax_connections = -1e300\n"), HasSubstr("expected an integer"));
  EXPECT_THAT(error_of("[limits]\nmax_connections = nan\n"), HasSubstr("expected an integer"));

  e = error_of("[server]\ndata_dir = 5\n");
  EXPECT_THAT(e, HasSubstr("server.data_dir"));
  EXPECT_THAT(e, HasSubstr("expected a string"));
  EXPECT_THAT(error_of("[log]\nlevel = 1\n"), HasSubstr("expected a string"));
  EXPECT_THAT(error_of("[[listener]]\nbind = 127\n"), HasSubstr("listener.bind"));

  e = error_of("server = 1\n");
  EXPECT_THAT(e, HasSubstr("server"));
  EXPECT_THAT(e, HasSubstr("expected a table"));

  e = error_of("[listener]\nport = 1883\n");
  EXPECT_THAT(e, HasSubstr("listener"));
  EXPECT_THAT(e, HasSubstr("[[listener]]"));
}

TEST(ConfigTest, PortOutOfRange) {
  std::string e = error_of("[[listener]]\nbind = \"0.0.0.0\"\nport = 70000\n");
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
  EXPECT_THAT(e, HasSubstr("listener.port"));
  EXPECT_THAT(e, HasSubstr("70000"));
  EXPECT_THAT(error_of("[[listener]]\nport = -1\n"), HasSubstr("listener.port"));
  EXPECT_EQ(error_of("[[listener]]\nport = 65535\n"), "<no error>");
}

TEST(ConfigTest, OtherValuesOutOfRange) {
  EXPECT_THAT(error_of("[limits]\nmax_packet_size = 15\n"), HasSubstr("limits.max_packet_size"));
  EXPECT_THAT(error_of("[limits]\nmax_packet_size = 268435461\n"), HasSubstr("limits.max_packet_size"));
  EXPECT_THAT(error_of("[limits]\nconnect_timeout = 0\n"), HasSubstr("limits.connect_timeout"));
  EXPECT_THAT(error_of("[limits]\nconnect_timeout = 3601\n"), HasSubstr("limits.connect_timeout"));
  EXPECT_THAT(error_of("[limits]\nmax_keep_alive = 0\n"), HasSubstr("limits.max_keep_alive"));
  EXPECT_THAT(error_of("[limits]\nmax_keep_alive = 65536\n"), HasSubstr("limits.max_keep_alive"));
  EXPECT_THAT(error_of("[limits]\nmax_inflight_messages = 65536\n"), HasSubstr("limits.max_inflight_messages"));
  EXPECT_THAT(error_of("[limits]\nmax_queued_messages = -1\n"), HasSubstr("limits.max_queued_messages"));
  EXPECT_THAT(error_of("[limits]\nmax_write_buffer = 1023\n"), HasSubstr("limits.max_write_buffer"));
  EXPECT_THAT(error_of("[server]\nthreads = 1025\n"), HasSubstr("server.threads"));
  EXPECT_THAT(error_of("[sys]\ninterval = 86401\n"), HasSubstr("sys.interval"));
  EXPECT_THAT(error_of("[limits]\nreceive_maximum = 0\n"), HasSubstr("limits.receive_maximum"));
  EXPECT_THAT(error_of("[limits]\nreceive_maximum = 65536\n"), HasSubstr("limits.receive_maximum"));
  EXPECT_THAT(error_of("[limits]\ntopic_alias_maximum = -1\n"), HasSubstr("limits.topic_alias_maximum"));
  EXPECT_THAT(error_of("[limits]\ntopic_alias_maximum = 65536\n"), HasSubstr("limits.topic_alias_maximum"));
  EXPECT_THAT(error_of("[limits]\nmax_topic_levels = 65537\n"), HasSubstr("limits.max_topic_levels"));
  EXPECT_THAT(error_of("[limits]\nmax_retained_messages = -1\n"), HasSubstr("limits.max_retained_messages"));
  EXPECT_THAT(error_of("[limits]\nmax_retained_bytes = -1\n"), HasSubstr("limits.max_retained_bytes"));
  std::string e = error_of("[limits]\n\nmax_connections = 100000001\n");
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
  EXPECT_THAT(e, HasSubstr("between 0 and 100000000"));
}

TEST(ConfigTest, BadLogLevel) {
  std::string e = error_of("[log]\nlevel = \"loud\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:2:"));
  EXPECT_THAT(e, HasSubstr("log.level"));
  EXPECT_THAT(e, HasSubstr("trace, debug, info, warn, error, off"));
  EXPECT_NE(error_of("[log]\nlevel = \"INFO\"\n"), "<no error>") << "levels are lower case";
}

TEST(ConfigTest, TomlSyntaxErrorReportsItsLine) {
  std::string e = error_of("[server]\nthreads = 4\ndata_dir = = \"x\"\n");
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
  e = error_of("[server\n");
  EXPECT_THAT(e, HasSubstr("test.toml:1:"));
  e = error_of("[limits]\nmax_inflight_messages = 1\nmax_inflight_messages = 2\n");  // duplicate key
  EXPECT_THAT(e, HasSubstr("test.toml:3:"));
}

TEST(ConfigTest, OriginIsNamedInErrors) {
  Config c;
  try {
    load_config_text("[limits]\nfoo = 1\n", "/etc/mqbase/mqbase.toml", c);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/etc/mqbase/mqbase.toml:2:"));
  }
}

TEST(ConfigTest, LoadConfigFile) {
  std::string path = ::testing::TempDir() + "mqbase_config_test.toml";
  {
    std::ofstream out(path);
    out << "[limits]\nmax_inflight_messages = 11\n[server]\nbogus = 1\n";
  }
  Config c;
  try {
    load_config_file(path, c);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path + ":4:"));
    EXPECT_THAT(e.what(), HasSubstr("server.bogus"));
  }
  {
    std::ofstream out(path, std::ios::trunc);
    out << "[limits]\nmax_inflight_messages = 11\n";
  }
  Config ok;
  load_config_file(path, ok);
  EXPECT_EQ(ok.limits.max_inflight_messages, 11u);
  std::remove(path.c_str());
}

TEST(ConfigTest, MissingFileIsAConfigError) {
  Config c;
  EXPECT_THROW(load_config_file("/nonexistent/dir/mqbase.toml", c), ConfigError);
}

TEST(ConfigTest, AuthKeys) {
  Config d;
  EXPECT_TRUE(d.access.password_file.empty());
  EXPECT_TRUE(d.access.acl_file.empty());
  EXPECT_EQ(d.access.failed_attempts, 5u);
  EXPECT_EQ(d.access.failed_delay.count(), 1000);
  Config c = load(R"([auth]
password_file = "/etc/mqbase/passwd"
acl_file = "/etc/mqbase/acl"
failed_attempts = 3
failed_delay_ms = 250
)");
  EXPECT_EQ(c.access.password_file, "/etc/mqbase/passwd");
  EXPECT_EQ(c.access.acl_file, "/etc/mqbase/acl");
  EXPECT_EQ(c.access.failed_attempts, 3u);
  EXPECT_EQ(c.access.failed_delay.count(), 250);
  EXPECT_THAT(error_of("[auth]\npassword_file = \"\"\n"), HasSubstr("test.toml:2: auth.password_file: must not be empty"));
  EXPECT_THAT(error_of("[auth]\nacl_file = 1\n"), HasSubstr("auth.acl_file: expected a string"));
  EXPECT_THAT(error_of("[auth]\nfailed_delay_ms = 600001\n"), HasSubstr("must be between 0 and 600000"));
  EXPECT_THAT(error_of("[auth]\nfailed_attempts = -1\n"), HasSubstr("auth.failed_attempts"));
}


}  // namespace
}  // namespace mqbase::app
